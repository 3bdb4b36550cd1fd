"""State of one decorated (model, version): sharded counters, error types, sampled features."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

from agent.sdk.labels import clean
from agent.sdk.recorders import _value
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
    """Sampled features and predictions awaiting shipment, held as columns (feature name ->
    values, one per sampled row; predictions apart), bounded in rows and in distinct feature
    names; overflow is dropped and counted."""

    def __init__(self, limit: int, max_features: int = 64) -> None:
        self.limit = limit
        self.max_features = max_features
        self.rows = 0
        self.columns: dict[str, list[Any]] = {}
        self.predictions: list[Any] = []
        self.dropped = 0
        self.names_dropped = 0
        self._lock = threading.Lock()

    def add(self, features: Mapping[Any, Any] | None, prediction: Any,
            with_prediction: bool = True) -> bool:
        """One sampled call. ``features`` maps names to values as the user's ``features=``
        returned them: a known str name and a float value (the common case) are stored as they
        are; anything else is cleaned (``clean`` / ``_value``) once, here."""
        with self._lock:
            if self.rows >= self.limit or len(self.predictions) >= self.limit:
                self.dropped += 1
                return False
            if features is not None:
                cols = self.columns
                r = self.rows
                odd = len(features) != len(cols)
                for k, v in islice(features.items(), self.max_features):
                    col = cols.get(k)
                    if col is None:
                        odd = True
                        name = clean(k)
                        col = cols.get(name)
                        if col is None:
                            if len(cols) >= self.max_features:
                                self.names_dropped += 1
                                continue
                            col = cols[name] = [None] * r
                        elif len(col) > r:      # two keys that clean to one name
                            continue
                    col.append(v if type(v) is float else _value(v))
                if odd:                         # names this row lacked: a missing value
                    for col in cols.values():
                        if len(col) == r:
                            col.append(None)
                self.rows = r + 1
            if with_prediction:
                self.predictions.append(prediction)
            return True

    def take(self) -> tuple[dict[str, list[Any]], int, list[Any], int]:
        """(columns padded to ``rows``, rows, predictions, dropped) since the last take."""
        with self._lock:
            cols, rows, preds, dropped = self.columns, self.rows, self.predictions, self.dropped
            self.columns, self.rows, self.predictions, self.dropped = {}, 0, [], 0
        return cols, rows, preds, dropped


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
