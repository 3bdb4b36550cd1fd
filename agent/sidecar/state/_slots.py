"""Sums per time slot: windowed totals over a bounded horizon without keeping events."""

from __future__ import annotations

from typing import Any


class Slots:
    """Sums per time slot over a bounded horizon: windowed totals without keeping events."""

    def __init__(self, slot: float, keep: float) -> None:
        self.slot = slot
        self.keep = keep
        self.data: dict[int, float] = {}
        #: whether ``data`` holds its slots in time order (they arrive so, tick after tick),
        #: which lets a window be read from the newest slot back
        self._ordered = True
        self._last: int | None = None

    def add(self, t: float, value: float) -> None:
        k = int(t // self.slot)
        if k not in self.data:
            if self._last is not None and k < self._last:
                self._ordered = False
            self._last = k if self._last is None else max(self._last, k)
        self.data[k] = self.data.get(k, 0.0) + value
        if len(self.data) > self.keep / self.slot + 2:
            self.prune(t)

    def prune(self, now: float) -> None:
        oldest = int((now - self.keep) // self.slot)
        for k in [k for k in self.data if k < oldest]:
            del self.data[k]

    def total(self, now: float, window: float) -> float:
        """The sum of the slots in ``(now - window, now]``, added in time order. Ticks ask for
        several windows of every objective over days of slots, so slots kept in time order are
        read from the newest back to the window's start (what a 5m window costs is its own
        slots, not the horizon's); otherwise every slot is scanned."""
        start = int((now - window) // self.slot) + 1
        end = int(now // self.slot)
        if not self._ordered:
            return sum(v for k, v in self.data.items() if start <= k <= end)
        inside: list[float] = []
        for k, v in reversed(self.data.items()):
            if k < start:
                break
            if k <= end:
                inside.append(v)
        inside.reverse()
        return sum(inside)

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
        keys = list(out.data)
        out._ordered = keys == sorted(keys)
        out._last = max(keys) if keys else None
        return out
