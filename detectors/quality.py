"""Native data-quality checks that run on every window: schema, nulls, ranges, freshness.

They take a pandas DataFrame (or column arrays) and return typed results; great-expectations runs
separately (``detectors.contract``) on the batches users hand over, because it is slow to load.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from detectors.rates import Z_99, ratio_status
from detectors.thresholds import Status

COLUMN_TYPES = ("int", "float", "string", "bool", "datetime", "category")


def column_type(dtype: Any) -> str:
    """Map a numpy/pandas dtype onto the contract's column types."""
    import numpy as np

    kind = getattr(dtype, "kind", None)
    name = str(dtype).lower()
    if name == "category":
        return "category"
    if kind == "b" or name == "boolean":
        return "bool"
    if kind in ("i", "u") or name.startswith(("int", "uint")):
        return "int"
    if kind == "f" or name.startswith("float"):
        return "float"
    if kind == "M" or name.startswith("datetime"):
        return "datetime"
    if kind in ("O", "U", "S") or name in ("string", "str") or isinstance(dtype, np.dtype):
        return "string"
    return "string"


@dataclass(frozen=True)
class SchemaDiff:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    retyped: tuple[tuple[str, str, str], ...]   # (column, expected, observed)
    allow_extra: bool = True

    @property
    def changes(self) -> int:
        """Changes that break the contract: added columns count only when extras are banned."""
        extra = 0 if self.allow_extra else len(self.added)
        return extra + len(self.removed) + len(self.retyped)


_COMPATIBLE = {("int", "float"), ("category", "string"), ("string", "category")}


def schema_diff(expected: Mapping[str, str], observed: Mapping[str, str],
                allow_extra: bool = True) -> SchemaDiff:
    """Columns added, removed, retyped. Ints read as floats (a column with nulls) are compatible.

    Added columns are always listed; ``allow_extra`` decides whether they count as changes.
    """
    added = tuple(sorted(c for c in observed if c not in expected))
    removed = tuple(sorted(c for c in expected if c not in observed))
    retyped = tuple(sorted(
        (c, expected[c], observed[c]) for c in expected
        if c in observed and expected[c] != observed[c]
        and (expected[c], observed[c]) not in _COMPATIBLE
    ))
    return SchemaDiff(added, removed, retyped, allow_extra)


def frame_schema(frame: Any) -> dict[str, str]:
    return {str(c): column_type(t) for c, t in frame.dtypes.items()}


@dataclass(frozen=True)
class NullCheck:
    column: str
    nulls: int
    rows: int
    ratio: float | None   # None without rows
    lower: float | None   # Wilson lower bound of the true null ratio
    limit: float          # the warning level it is judged against (critical: twice it)
    status: Status


NULL_FACTOR = 1.5      # warning once the null rate is credibly 1.5x its baseline (critical 3x)
NULL_MIN_ROWS = 30     # fewer rows are not judged (one null in four rows is not a 25 % null rate)


def null_check(column: str, nulls: int, rows: int, baseline: float | None = None,
               max_ratio: float | None = None, factor: float = NULL_FACTOR, floor: float = 0.01,
               min_rows: int = NULL_MIN_ROWS, z: float = Z_99) -> NullCheck:
    """Is this a null *spike*? Judged like every ratio (:func:`detectors.rates.ratio_status`): the
    Wilson lower bound must pass the level, on at least ``min_rows`` rows.

    The level is the contract's ``max_ratio`` when given, else ``factor`` × the baseline null
    ratio, never below ``floor`` (a column that was 0 % null does not alarm on one null); critical
    at twice the level. The default factor catches a 10 % null rate doubling at 5,000 rows.
    """
    limit = max_ratio if max_ratio is not None else max((baseline or 0.0) * factor, floor)
    r = ratio_status(nulls, rows, limit, 2 * limit, min_count=min_rows, z=z)
    ratio = r.value if rows > 0 else None
    lower = r.lower if rows > 0 else None
    return NullCheck(column, nulls, rows, ratio, lower, limit, r.status)


def null_counts(frame: Any) -> dict[str, tuple[int, int]]:
    """Per column: (nulls, rows)."""
    rows = len(frame)
    counts = frame.isna().sum()
    return {str(c): (int(n), rows) for c, n in counts.items()}


@dataclass(frozen=True)
class RangeCheck:
    column: str
    below: int
    above: int
    rows: int

    @property
    def violations(self) -> int:
        return self.below + self.above


def range_check(column: str, values: Any, minimum: float | None,
                maximum: float | None) -> RangeCheck:
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    below = int((arr < minimum).sum()) if minimum is not None else 0
    above = int((arr > maximum).sum()) if maximum is not None else 0
    return RangeCheck(column, below, above, int(arr.size))


def _as_epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if hasattr(value, "timestamp"):   # pandas Timestamp
        try:
            ts = value if getattr(value, "tzinfo", None) else value.tz_localize("UTC")
            return float(ts.timestamp())
        except (AttributeError, TypeError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return _as_epoch(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def freshness_lag(now: float, newest_event: Any = None, last_mark: Any = None) -> float | None:
    """Seconds since the newest event time or the last "data updated" mark, whichever is newer.

    Naive datetimes are taken as UTC. None when neither is known.
    """
    candidates = [t for t in (_as_epoch(newest_event), _as_epoch(last_mark)) if t is not None]
    if not candidates:
        return None
    return max(0.0, now - max(candidates))


def newest_event_time(frame: Any, column: str) -> float | None:
    """The newest event time in ``column`` as epoch seconds, or None.

    Timestamps and dates as they are (naive ones are UTC), text parsed as dates; numbers are
    epoch seconds, as everywhere in the project (``freshness_lag``, SQL datasets, DuckDB on
    files), not the nanoseconds ``pandas.to_datetime`` takes them for. NaN and infinities are
    no time; booleans are none either."""
    import numpy as np
    import pandas as pd

    if column not in frame.columns or len(frame) == 0:
        return None
    col = frame[column]
    if pd.api.types.is_bool_dtype(col.dtype):
        return None
    if pd.api.types.is_numeric_dtype(col.dtype):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[np.isfinite(values)]
        return float(values.max()) if values.size else None
    series = pd.to_datetime(col, errors="coerce", utc=True).dropna()
    if series.empty:
        return None
    return float(series.max().timestamp())
