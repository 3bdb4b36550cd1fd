"""Conversions that make user values (features, predictions, labels) safe to ship: bounded,
plain JSON types. A leaf: the hot path, the series and the recorders all read it."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from agent.sdk.labels import clean


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
