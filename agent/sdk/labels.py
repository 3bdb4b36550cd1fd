"""Cardinality caps: a metric keeps at most N label sets; the rest fold into ``other``."""

from __future__ import annotations

import threading
from collections.abc import Callable

OTHER = "other"


class LabelCap:
    def __init__(self, metric: str, limit: int, on_overflow: Callable[[str], None]) -> None:
        self.metric = metric
        self.limit = limit
        self._seen: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()
        self._on_overflow = on_overflow

    def __call__(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        if labels in self._seen:
            return labels
        with self._lock:
            if labels in self._seen:
                return labels
            if len(self._seen) < self.limit:
                self._seen.add(labels)
                return labels
        self._on_overflow(self.metric)
        folded = tuple(OTHER for _ in labels)
        self._seen.add(folded)
        return folded


def clean(value: object, max_len: int = 128) -> str:
    """A label value from anything: str(), truncated, never raising."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        return "unprintable"
    return text[:max_len]
