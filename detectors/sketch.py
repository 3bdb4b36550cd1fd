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
MAX_VALUE = 1e12       # largest value kept (~31,700 years in seconds); above: clamped
MAX_SUM = 1e30         # sums saturate here: MAX_VALUE x 10**12 counts x 10**6 merges stays finite


def key_range(accuracy: float) -> tuple[int, int]:
    """The bucket keys whose values lie in ``[_MIN_POSITIVE, MAX_VALUE]`` for this accuracy.

    Keys outside it would decode to 0 or overflow (``gamma ** key``), so the ingest door refuses
    them and :meth:`QuantileSketch.from_dict` raises on them."""
    log_gamma = math.log((1.0 + accuracy) / (1.0 - accuracy))
    return (math.floor(math.log(_MIN_POSITIVE) / log_gamma),
            math.ceil(math.log(MAX_VALUE) / log_gamma))


def _saturate(total: float) -> float:
    """Sums never overflow: they stop at ``MAX_SUM`` (and a NaN becomes the cap too)."""
    return total if total <= MAX_SUM else MAX_SUM


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
        value = min(value, MAX_VALUE)
        self.count += weight
        self.sum = _saturate(self.sum + value * weight)
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
        self.sum = _saturate(self.sum + other.sum)
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if len(self.bins) > MAX_BUCKETS:
            self._collapse()

    def rebucketed(self, accuracy: float) -> QuantileSketch:
        """The same counts in the buckets of another accuracy (each bucket moves as one value),
        so a sketch of any accuracy merges into the sidecar's windows."""
        if abs(accuracy - self.accuracy) < 1e-12:
            return self
        out = QuantileSketch(accuracy)
        for k, c in self.bins.items():
            out.add(self.value_of(k), c)
        out.zeros += self.zeros
        out.count += self.zeros
        out.sum, out.min, out.max = self.sum, self.min, self.max
        return out

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
                value = self.value_of(key)
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

    def value_of(self, key: int) -> float:
        """The value a bucket key stands for (its midpoint in relative terms)."""
        return 2.0 * self.gamma ** key / (self.gamma + 1.0)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantileSketch:
        """Inverse of :meth:`to_dict`; raises ValueError on inconsistent input.

        A missing or null ``sum`` is derived from the bucket values (within the sketch's
        relative accuracy); a missing ``min``/``max`` from the lowest/highest bucket."""
        sk = cls(float(data.get("accuracy", DEFAULT_ACCURACY)))
        keys, counts = list(data.get("keys") or []), list(data.get("counts") or [])
        if len(keys) != len(counts):
            raise ValueError("keys and counts differ in length")
        if len(keys) > MAX_BUCKETS:
            raise ValueError(f"at most {MAX_BUCKETS} buckets")
        lo_key, hi_key = key_range(sk.accuracy)
        total = 0
        for k, c in zip(keys, counts, strict=True):
            k, c = int(k), int(c)
            if c < 0 or not lo_key <= k <= hi_key:
                raise ValueError(f"bucket counts must be >= 0 and keys in [{lo_key}, {hi_key}]")
            sk.bins[k] = sk.bins.get(k, 0) + c
            total += c
        sk.zeros = int(data.get("zeros") or 0)
        if sk.zeros < 0:
            raise ValueError("zeros must be >= 0")
        sk.count = total + sk.zeros
        given = data.get("sum")
        if given is None:
            given = sum(sk.value_of(k) * c for k, c in sk.bins.items())
        sk.sum = float(given)
        if not 0.0 <= sk.sum <= MAX_SUM:
            raise ValueError(f"sum must be finite and within [0, {MAX_SUM:g}]")
        lo, hi = data.get("min"), data.get("max")
        sk.min = float(lo) if lo is not None else math.inf
        sk.max = float(hi) if hi is not None else -math.inf
        if sk.count and not (math.isfinite(sk.min) and math.isfinite(sk.max)):
            sk.min = 0.0 if sk.zeros else min((sk.value_of(k) for k in sk.bins), default=0.0)
            # the top key's bucket straddles MAX_VALUE (key_range rounds up), so its value may
            # lie just above it: the largest value a sketch stands for is MAX_VALUE
            sk.max = min(max((sk.value_of(k) for k in sk.bins), default=0.0), MAX_VALUE)
        if sk.count and not 0.0 <= sk.min <= sk.max <= MAX_VALUE:
            raise ValueError(f"need 0 <= min <= max <= {MAX_VALUE:g}")
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
