"""State of one decorated (model, version): sharded counters, error types, sampled features."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from agent.sdk.conversions import _value
from agent.sdk.labels import clean
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
    """Sampled features and predictions awaiting shipment, bounded; overflow is dropped and
    counted. The caller's thread only appends (a copy of) the row; the shipper turns rows into
    columns (feature name -> values), cleaning names and values there, off the hot path."""

    def __init__(self, limit: int, max_features: int = 64) -> None:
        self.limit = limit
        self.max_features = max_features
        self.features: list[dict[Any, Any]] = []
        self.predictions: list[Any] = []
        self.dropped = 0
        self.names_dropped = 0
        self._lock = threading.Lock()

    def add(self, features: dict[Any, Any] | None, prediction: Any,
            with_prediction: bool = True) -> bool:
        """One sampled call: ``features`` is a dict the caller no longer changes (at most
        ``max_features`` names) or None. No lock: ``append`` is atomic and ``take`` removes
        exactly what it read; only a drop (past ``limit``) takes the lock, to count it."""
        feats, preds = self.features, self.predictions
        if len(feats) >= self.limit or len(preds) >= self.limit:
            with self._lock:
                self.dropped += 1
            return False
        if features is not None:
            feats.append(features)
        if with_prediction:
            preds.append(prediction)
        return True

    def take(self) -> tuple[dict[str, list[Any]], int, list[Any], int]:
        """(columns of equal length, rows, predictions, dropped) since the last take."""
        with self._lock:
            n, m = len(self.features), len(self.predictions)
            rows, preds = self.features[:n], self.predictions[:m]
            del self.features[:n], self.predictions[:m]
            dropped, self.dropped = self.dropped, 0
        cols, lost = columns(rows, self.max_features)
        self.names_dropped += lost
        return cols, len(rows), [_value(p) for p in preds], dropped


def columns(rows: list[dict[Any, Any]], limit: int) -> tuple[dict[str, list[Any]], int]:
    """Rows of name -> value as columns (a name a row lacks: None), names cleaned and capped at
    ``limit`` (the rest counted), values plain (``_value``); returns (columns, names dropped)."""
    if not rows:
        return {}, 0
    names: dict[Any, None] = dict.fromkeys(rows[0])
    for row in rows:
        if len(row) != len(names) or row.keys() != names.keys():
            names.update(dict.fromkeys(row))
    out: dict[str, list[Any]] = {}
    dropped = 0
    for key in names:
        name = clean(key)
        if name in out:                 # two keys that clean to one name: the first is kept
            continue
        if len(out) >= limit:
            dropped += 1
            continue
        col = [row.get(key) for row in rows]
        if set(map(type, col)) - {float, type(None)}:
            col = [_value(v) for v in col]
        out[name] = col
    return out, dropped


class Series:
    """One (model, version) of the service; created when a function is decorated."""

    def __init__(self, model: str, version: str, bounds: Sequence[float], sample_limit: int,
                 index: int, max_features: int = 64) -> None:
        self.model = model
        self.version = version
        self.bounds = list(bounds)
        self.keymap = KeyBuckets(self.bounds)
        self.shards = ShardSet(len(self.bounds), self.keymap, index)
        self.error_types: Counter[str] = Counter()
        self._error_lock = threading.Lock()
        self.samples = Samples(sample_limit, max_features)
        self.index = index
        self.shipped: dict[str, float] = {}   # totals already shipped, for deltas

    def error(self, error_type: str, limit: int) -> str:
        with self._error_lock:
            if error_type not in self.error_types and len(self.error_types) >= limit:
                error_type = "other"
            self.error_types[error_type] += 1
        return error_type
