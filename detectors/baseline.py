"""Learning a baseline (e.g. of p95 latency) that an incident cannot turn into the new normal.

Warm-up: the median of the first ``warmup`` observations. Then a slow EWMA that freezes while the
signal is degraded (above ``freeze_factor`` × baseline, or below it for lower-is-worse signals).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BaselineLearner:
    warmup: int = 20
    alpha: float = 0.02
    freeze_factor: float = 1.5
    higher_is_worse: bool = True
    value: float | None = None
    frozen: bool = False
    _warm: list[float] = field(default_factory=list)

    def observe(self, x: float | None) -> float | None:
        """Feed one observation (e.g. one tick's p95); returns the baseline (None in warm-up)."""
        if x is None or not math.isfinite(x):
            return self.value
        if self.value is None:
            self._warm.append(x)
            if len(self._warm) >= self.warmup:
                self.value = statistics.median(self._warm)
                self._warm.clear()
            return self.value
        degraded = (x > self.freeze_factor * self.value) if self.higher_is_worse \
            else (x < self.value / self.freeze_factor)
        self.frozen = degraded
        if not degraded:
            self.value = (1 - self.alpha) * self.value + self.alpha * x
        return self.value

    def ratio(self, x: float | None) -> float | None:
        """x relative to the baseline (2.0 = twice the baseline)."""
        if x is None or self.value is None or self.value <= 0 or not math.isfinite(x):
            return None
        return x / self.value

    def state(self) -> dict[str, Any]:
        return {"warmup": self.warmup, "alpha": self.alpha, "freeze_factor": self.freeze_factor,
                "higher_is_worse": self.higher_is_worse, "value": self.value,
                "frozen": self.frozen, "warm": list(self._warm)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BaselineLearner:
        b = cls(int(state["warmup"]), float(state["alpha"]), float(state["freeze_factor"]),
                bool(state["higher_is_worse"]))
        b.value = None if state.get("value") is None else float(state["value"])
        b.frozen = bool(state.get("frozen", False))
        b._warm = [float(x) for x in state.get("warm", [])]
        return b
