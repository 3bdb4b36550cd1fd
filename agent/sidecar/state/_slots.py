"""Sums per time slot: windowed totals over a bounded horizon without keeping events."""

from __future__ import annotations

from typing import Any


class Slots:
    """Sums per time slot over a bounded horizon: windowed totals without keeping events."""

    def __init__(self, slot: float, keep: float) -> None:
        self.slot = slot
        self.keep = keep
        self.data: dict[int, float] = {}

    def add(self, t: float, value: float) -> None:
        k = int(t // self.slot)
        self.data[k] = self.data.get(k, 0.0) + value
        if len(self.data) > self.keep / self.slot + 2:
            self.prune(t)

    def prune(self, now: float) -> None:
        oldest = int((now - self.keep) // self.slot)
        for k in [k for k in self.data if k < oldest]:
            del self.data[k]

    def total(self, now: float, window: float) -> float:
        start = int((now - window) // self.slot) + 1
        end = int(now // self.slot)
        return sum(v for k, v in self.data.items() if start <= k <= end)

    def absorb(self, other: Slots) -> None:
        """Fold counts kept at another resolution into these slots (each old slot's sum at its
        middle), so a changed window starts from the events kept rather than from nothing."""
        for k in sorted(other.data):
            self.add((k + 0.5) * other.slot, other.data[k])

    def state(self) -> dict[str, Any]:
        return {"slot": self.slot, "keep": self.keep,
                "data": {str(k): v for k, v in self.data.items()}}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Slots:
        out = cls(float(s["slot"]), float(s["keep"]))
        out.data = {int(k): float(v) for k, v in s["data"].items()}
        return out
