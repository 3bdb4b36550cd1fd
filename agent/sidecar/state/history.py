"""Recent history per objective for the status page: values and states over the last hours, and
the last transitions. Bounded (at most ``MAX_POINTS`` points and ``SPAN`` seconds per objective),
kept in memory only: the page shows what this sidecar has seen since it started.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from agent.units import json_number

SPAN = 6 * 3600.0
MAX_POINTS = 2160        # 6h at a 10s interval; 36 minutes at 1s
MAX_TRANSITIONS = 50


@dataclass
class ObjectiveHistory:
    points: deque[tuple[float, float | None, str]]
    transitions: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=MAX_TRANSITIONS))


class History:
    def __init__(self, interval: float) -> None:
        self.step = interval
        self.maxlen = min(MAX_POINTS, max(2, math.ceil(SPAN / max(interval, 1e-3))))
        self._by: dict[str, ObjectiveHistory] = {}

    def _get(self, name: str) -> ObjectiveHistory:
        h = self._by.get(name)
        if h is None:
            h = self._by[name] = ObjectiveHistory(deque(maxlen=self.maxlen))
        return h

    def record(self, name: str, at: float, value: float | None, status: str) -> None:
        """One point per evaluation tick; the oldest fall off past the bound."""
        self._get(name).points.append((at, json_number(value), status))

    def transition(self, name: str, at: float, previous: str, current: str,
                   value: float | None, recovery: float | None = None) -> None:
        self._get(name).transitions.appendleft({
            "at": at, "from": previous, "to": current,
            "value": json_number(value),
            "recovery_seconds": recovery})

    def doc(self, name: str) -> dict[str, Any]:
        h = self._by.get(name)
        if h is None:
            return {"points": [], "transitions": [], "step": self.step, "span": SPAN}
        return {"points": [{"t": t, "v": v, "s": s} for t, v, s in h.points],
                "transitions": list(h.transitions), "step": self.step, "span": SPAN}
