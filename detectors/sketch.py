"""A mergeable quantile sketch with bounded relative error (the DDSketch construction).

Values land in logarithmic buckets of ratio ``gamma = (1 + a) / (1 - a)``; any quantile read back is
within a relative error ``a`` (1 % by default) of the true sample quantile — unlike interpolating a
fixed-bucket histogram, which is off by tens of percent at p95 on a lognormal latency. Sketches
merge by adding bucket counts, so the SDK ships them and the sidecar merges windows. ``add`` is pure
Python (one ``log`` and a dict update) because it runs on the decorator's hot path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

DEFAULT_ACCURACY = 0.01
MAX_BUCKETS = 4096
_MIN_POSITIVE = 1e-9   # values at or below this count as zero (latencies are never that short)


class QuantileSketch:
    __slots__ = ("_inv_log_gamma", "accuracy", "bins", "count", "gamma", "max", "min", "sum",
                 "zeros")

    def __init__(self, accuracy: float = DEFAULT_ACCURACY) -> None:
        if not 0.0 < accuracy < 1.0:
            raise ValueError("accuracy must lie between 0 and 1")
        self.accuracy = accuracy
        self.gamma = (1.0 + accuracy) / (1.0 - accuracy)
        self._inv_log_gamma = 1.0 / math.log(self.gamma)
        self.bins: dict[int, int] = {}
        self.zeros = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float, weight: int = 1) -> None:
        """Record a non-negative value; NaN and negative values are ignored."""
        if not value >= 0.0 or value == math.inf:   # also rejects NaN
            return
        self.count += weight
        self.sum += value * weight
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if value <= _MIN_POSITIVE:
            self.zeros += weight
            return
        key = math.ceil(math.log(value) * self._inv_log_gamma)
        bins = self.bins
        bins[key] = bins.get(key, 0) + weight
        if len(bins) > MAX_BUCKETS:
            self._collapse()

    def extend(self, values: Iterable[float]) -> None:
        for v in values:
            self.add(float(v))

    def _collapse(self) -> None:
        """Fold the lowest buckets together: accuracy is kept where it matters (the tail)."""
        keys = sorted(self.bins)
        excess = len(keys) - MAX_BUCKETS + 1
        target = keys[excess]
        moved = sum(self.bins.pop(k) for k in keys[:excess])
        self.bins[target] = self.bins.get(target, 0) + moved

    def merge(self, other: QuantileSketch) -> None:
        if abs(other.gamma - self.gamma) > 1e-12:
            raise ValueError("cannot merge sketches of different accuracy")
        for k, c in other.bins.items():
            self.bins[k] = self.bins.get(k, 0) + c
        self.zeros += other.zeros
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if len(self.bins) > MAX_BUCKETS:
            self._collapse()

    def quantile(self, q: float) -> float:
        """The q-quantile (lower-rank convention, like numpy's ``method='lower'``); NaN if empty."""
        if self.count == 0 or not 0.0 <= q <= 1.0:
            return math.nan
        rank = q * (self.count - 1)
        if rank < self.zeros:
            return 0.0
        seen = self.zeros
        for key in sorted(self.bins):
            seen += self.bins[key]
            if seen > rank:
                value = 2.0 * self.gamma ** key / (self.gamma + 1.0)
                return min(max(value, self.min), self.max)
        return self.max

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        return [self.quantile(q) for q in qs]

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else math.nan

    def copy(self) -> QuantileSketch:
        out = QuantileSketch(self.accuracy)
        out.merge(self)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The wire form shipped by the SDK (JSON-safe)."""
        return {"accuracy": self.accuracy, "zeros": self.zeros, "count": self.count,
                "sum": self.sum, "min": self.min if self.count else None,
                "max": self.max if self.count else None,
                "keys": list(self.bins.keys()), "counts": list(self.bins.values())}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantileSketch:
        """Inverse of :meth:`to_dict`; raises ValueError on inconsistent input."""
        sk = cls(float(data.get("accuracy", DEFAULT_ACCURACY)))
        keys, counts = list(data.get("keys", [])), list(data.get("counts", []))
        if len(keys) != len(counts):
            raise ValueError("keys and counts differ in length")
        if len(keys) > MAX_BUCKETS:
            raise ValueError(f"at most {MAX_BUCKETS} buckets")
        total = 0
        for k, c in zip(keys, counts, strict=True):
            k, c = int(k), int(c)
            if c < 0 or abs(k) > 100_000:
                raise ValueError("bucket counts must be >= 0 and keys in range")
            sk.bins[k] = sk.bins.get(k, 0) + c
            total += c
        sk.zeros = int(data.get("zeros", 0))
        if sk.zeros < 0:
            raise ValueError("zeros must be >= 0")
        sk.count = total + sk.zeros
        sk.sum = float(data.get("sum", 0.0))
        if not math.isfinite(sk.sum):
            raise ValueError("sum must be finite")
        lo, hi = data.get("min"), data.get("max")
        sk.min = float(lo) if lo is not None else math.inf
        sk.max = float(hi) if hi is not None else -math.inf
        if sk.count and not (math.isfinite(sk.min) and math.isfinite(sk.max)):
            sk.min = min((2.0 * sk.gamma ** k / (sk.gamma + 1) for k in sk.bins), default=0.0)
            sk.max = max((2.0 * sk.gamma ** k / (sk.gamma + 1) for k in sk.bins), default=0.0)
        return sk


class WindowedSketch:
    """Sketches per time slot in a ring, merged on query: p95 over the last N slots."""

    def __init__(self, slots: int, slot_seconds: float, accuracy: float = DEFAULT_ACCURACY):
        self.slots = slots
        self.slot_seconds = slot_seconds
        self.accuracy = accuracy
        self._ring: dict[int, QuantileSketch] = {}

    def _slot(self, now: float) -> int:
        return int(now // self.slot_seconds)

    def add_sketch(self, sketch: QuantileSketch, now: float) -> None:
        slot = self._slot(now)
        current = self._ring.get(slot)
        if current is None:
            current = self._ring[slot] = QuantileSketch(self.accuracy)
        current.merge(sketch)
        oldest = slot - self.slots + 1
        for s in [s for s in self._ring if s < oldest]:
            del self._ring[s]

    def merged(self, now: float, slots: int | None = None) -> QuantileSketch:
        newest = self._slot(now)
        oldest = newest - (slots or self.slots) + 1
        out = QuantileSketch(self.accuracy)
        for s, sk in self._ring.items():
            if oldest <= s <= newest:
                out.merge(sk)
        return out

    def state(self) -> dict[str, Any]:
        return {"slots": self.slots, "slot_seconds": self.slot_seconds,
                "accuracy": self.accuracy,
                "ring": {str(k): v.to_dict() for k, v in self._ring.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> WindowedSketch:
        ws = cls(int(state["slots"]), float(state["slot_seconds"]), float(state["accuracy"]))
        ws._ring = {int(k): QuantileSketch.from_dict(v) for k, v in state["ring"].items()}
        return ws
