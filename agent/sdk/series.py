"""State of one decorated (model, version): sharded counters, error types, sampled features."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from agent.sdk.values import KeyBuckets, ShardSet


class LockedHistogram:
    """A small locked histogram for cold paths (queue waits, feedback scores)."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = list(bounds)
        self.buckets = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        from bisect import bisect_left

        with self._lock:
            self.buckets[bisect_left(self.bounds, value)] += 1
            self.sum += value
            self.count += 1

    def snapshot(self) -> tuple[list[int], float, int]:
        with self._lock:
            return list(self.buckets), self.sum, self.count


class Samples:
    """Feature/prediction samples awaiting shipment, bounded; overflow is dropped and counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.features: list[Any] = []
        self.predictions: list[Any] = []
        self.dropped = 0
        self._lock = threading.Lock()

    def add(self, features: Any, prediction: Any) -> bool:
        with self._lock:
            if len(self.features) >= self.limit:
                self.dropped += 1
                return False
            self.features.append(features)
            self.predictions.append(prediction)
            return True

    def take(self) -> tuple[list[Any], list[Any], int]:
        with self._lock:
            out = self.features, self.predictions, self.dropped
            self.features, self.predictions, self.dropped = [], [], 0
        return out


class Series:
    """One (model, version) of the service; created when a function is decorated."""

    def __init__(self, model: str, version: str, bounds: Sequence[float], sample_limit: int,
                 index: int) -> None:
        self.model = model
        self.version = version
        self.bounds = list(bounds)
        self.keymap = KeyBuckets(self.bounds)
        self.shards = ShardSet(len(self.bounds), self.keymap, index)
        self.error_types: Counter[str] = Counter()
        self._error_lock = threading.Lock()
        self.samples = Samples(sample_limit)
        self.index = index
        self.shipped: dict[str, float] = {}   # totals already shipped, for deltas

    def error(self, error_type: str, limit: int) -> str:
        with self._error_lock:
            if error_type not in self.error_types and len(self.error_types) >= limit:
                error_type = "other"
            self.error_types[error_type] += 1
        return error_type
