"""Classifying a value against warning and critical levels, with hysteresis against flapping."""

from __future__ import annotations

import math
from enum import Enum


class Status(str, Enum):
    NO_DATA = "no_data"
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return {"no_data": -1, "ok": 0, "warning": 1, "critical": 2}[self.value]


def classify(value: float | None, warning: float | None, critical: float | None,
             higher_is_worse: bool = True, previous: Status | None = None,
             hysteresis: float = 0.0) -> Status:
    """The status of ``value``: a breach is strictly past a level (error rate > 1 %).

    A state already reached clears only once the value has recovered by ``hysteresis`` (a fraction
    of the level), so a value hovering at a threshold does not flap.
    """
    if value is None or math.isnan(value):     # infinity is past every level: judged
        return Status.NO_DATA
    v = value

    def hit(level: float | None, state: Status) -> bool:
        if level is None or not math.isfinite(level):
            return False
        holding = previous is not None and previous.rank >= state.rank
        margin = abs(level) * hysteresis if holding else 0.0
        if higher_is_worse:
            return v > level - margin if holding else v > level
        return v < level + margin if holding else v < level

    if hit(critical, Status.CRITICAL):
        return Status.CRITICAL
    if hit(warning, Status.WARNING):
        return Status.WARNING
    return Status.OK


__all__ = ["Status", "classify"]
