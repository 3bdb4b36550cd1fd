"""Cold-path recorders for queues and datasets, and the conversions that make user values
(features, predictions, labels, frames) safe to ship: bounded, plain JSON types, never raising
into user code (callers guard them)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from agent.sdk.conversions import _is_missing, _plain

if TYPE_CHECKING:
    from agent.sdk.host import MonitorHost as Monitor


class QueueHandle:
    def __init__(self, monitor: Monitor, name: str) -> None:
        self._monitor, self.name = monitor, name

    def set(self, depth: float) -> None:
        try:
            self._monitor._queue_values[self.name] = float(depth)
        except Exception:
            self._monitor.sdk_error("queue")

    def observe_wait(self, seconds: float) -> None:
        try:
            self._monitor._queue_wait(self.name).observe(float(seconds))
        except Exception:
            self._monitor.sdk_error("queue")


class DatasetHandle:
    def __init__(self, monitor: Monitor, name: str) -> None:
        self._monitor, self.name = monitor, name

    def observe(self, frame: Any, event_time_column: str | None = None,
                sample_rows: int = 1000) -> None:
        """Summarise a batch (schema, nulls, rows, newest event, a row sample) for the sidecar."""
        try:
            self._monitor._enqueue_event(_dataset_batch(self.name, frame, event_time_column,
                                                        sample_rows))
        except Exception:
            self._monitor.sdk_error("dataset")

    def mark_fresh(self, ts: float | None = None) -> None:
        """A pipeline says "data updated at ts" (epoch seconds; now by default)."""
        try:
            when = time.time() if ts is None else float(_epoch(ts))
            self._monitor._enqueue_event({"type": "dataset_mark", "dataset": self.name,
                                          "updated_at": when})
        except Exception:
            self._monitor.sdk_error("dataset")


def _epoch(ts: Any) -> float:
    if isinstance(ts, (int, float)):
        return float(ts)
    if hasattr(ts, "timestamp"):
        return float(ts.timestamp())
    raise TypeError("expected epoch seconds or a datetime")


def _dataset_batch(name: str, frame: Any, event_col: str | None, sample_rows: int
                   ) -> dict[str, Any]:
    from detectors.quality import frame_schema, newest_event_time, null_counts

    item: dict[str, Any] = {"type": "dataset_batch", "dataset": name, "rows": len(frame),
                            "columns": frame_schema(frame),
                            "nulls": {c: n for c, (n, _) in null_counts(frame).items()},
                            "observed_at": time.time()}
    if event_col:
        item["newest_event"] = newest_event_time(frame, event_col)
    if sample_rows and len(frame):
        head = frame.sample(n=min(sample_rows, len(frame)), random_state=0) \
            if len(frame) > sample_rows else frame
        item["sample"] = {str(c): [None if _is_missing(v) else _plain(v) for v in head[c].tolist()]
                          for c in head.columns}
    return item
