"""Cold-path recorders for queues and datasets, and the conversions that make user values
(features, predictions, labels, frames) safe to ship: bounded, plain JSON types, never raising
into user code (callers guard them)."""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent.sdk.labels import clean

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


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _plain(v: Any) -> Any:
    if isinstance(v, (bool, int, float, str)):
        return v
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)



def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) or str(a) == str(b)
    except Exception:
        return False


def _size(obj: Any) -> float | None:
    if obj is None:
        return None
    if hasattr(obj, "qsize"):
        return float(obj.qsize())
    return float(len(obj))


def _value(v: Any) -> Any:
    """A plain scalar: None, bool, str, int (kept, so an id past 2^24 ships exactly) or float."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return clean(v)


def _features(raw: Any, limit: int) -> dict[str, Any]:
    """Cleaned name -> plain value, at most ``limit`` names; a str name and a float value (the
    common case) pass through without a conversion call."""
    if isinstance(raw, Mapping):
        out: dict[str, Any] = {}
        for k, v in raw.items():
            if len(out) >= limit:
                break
            out[k if type(k) is str and len(k) <= 128 else clean(k)] = \
                v if type(v) is float else _value(v)
        return out
    if isinstance(raw, Sequence) and not isinstance(raw, (str, bytes)):
        return {f"f{i}": _value(v) for i, v in enumerate(list(raw)[:limit])}
    if hasattr(raw, "tolist"):
        return _features(raw.tolist(), limit)
    return {"value": _value(raw)}
