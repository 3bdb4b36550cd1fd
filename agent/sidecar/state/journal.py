"""What happened over the last weeks, for the review (``slo-agent report``, ``/report``): each
objective's state changes (with when its breach began), its burn-rate tiers firing and clearing,
and each dataset's events (schema changed, contract failing or passing again, drift found, the
file missing or back).

Bounded: events older than ``KEEP`` go, and each objective or dataset keeps its last
``MAX_PER_KEY`` (the oldest kept time of a trimmed key is remembered, so a report says where its
record begins). Persisted with the snapshot, so a restart keeps the week; a report reads events
only, never the page's 6-hour history.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

KEEP = 35 * 86400.0          # a weekly review and the four weeks before it
MAX_PER_KEY = 200            # events per objective or dataset
MAX_TEXT = 200               # characters of an event's text


class Journal:
    def __init__(self) -> None:
        self.events: dict[str, deque[dict[str, Any]]] = {}
        self.trimmed: dict[str, float] = {}          # key -> time of the oldest event dropped
        self.firing: dict[str, list[str]] = {}       # objective -> tiers firing at last tick
        self.marks: dict[str, dict[str, Any]] = {}   # dataset -> facts at the last tick
        self.started: float | None = None            # first tick this journal saw

    def add(self, key: str, at: float, kind: str, **fields: Any) -> None:
        q = self.events.get(key)
        if q is None:
            q = self.events[key] = deque(maxlen=MAX_PER_KEY)
        if len(q) == q.maxlen:
            self.trimmed[key] = q[0]["t"]
        clean = {k: (v[:MAX_TEXT] if isinstance(v, str) else
                     None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in fields.items()}
        q.append({"t": at, "kind": kind, **clean})

    def prune(self, now: float, keys: set[str]) -> None:
        """Drop events past ``KEEP`` and keys the spec no longer names."""
        for key in [k for k in self.events if k not in keys]:
            del self.events[key]
            self.trimmed.pop(key, None)
        for key in [k for k in self.firing if f"objective:{k}" not in keys]:
            del self.firing[key]
        for key, q in self.events.items():
            while q and q[0]["t"] < now - KEEP:
                self.trimmed[key] = max(self.trimmed.get(key, 0.0), q.popleft()["t"])

    def since(self, key: str, t0: float) -> list[dict[str, Any]]:
        return [e for e in self.events.get(key, ()) if e["t"] >= t0]

    def begins(self, key: str) -> float | None:
        """From when this key's record is complete: the journal's start, or later where older
        events were trimmed (past the cap or ``KEEP``)."""
        trimmed = self.trimmed.get(key)
        return trimmed if trimmed is not None else self.started

    def state(self) -> dict[str, Any]:
        return {"events": {k: list(q) for k, q in self.events.items()},
                "trimmed": dict(self.trimmed), "firing": dict(self.firing),
                "marks": dict(self.marks), "started": self.started}

    def restore(self, s: dict[str, Any]) -> None:
        events = {str(k): deque((dict(e) for e in v if isinstance(e, dict)
                                 and isinstance(e.get("t"), (int, float))),
                                maxlen=MAX_PER_KEY)
                  for k, v in (s.get("events") or {}).items()}
        trimmed = {str(k): float(v) for k, v in (s.get("trimmed") or {}).items()}
        firing = {str(k): [str(x) for x in v] for k, v in (s.get("firing") or {}).items()}
        marks = {str(k): dict(v) for k, v in (s.get("marks") or {}).items()}
        started = s.get("started")
        self.events, self.trimmed, self.firing, self.marks = events, trimmed, firing, marks
        self.started = float(started) if isinstance(started, (int, float)) else None
