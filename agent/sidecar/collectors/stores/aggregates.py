"""The aggregates every store returns for one window of a dataset, and what a poll asks for.

Only these leave a store: counts, null counts, the newest event time, the schema, counts per
category (capped) and per reference quantile bin (the cumulative counts of
:mod:`detectors.bins`, as the fleet's drift rules sum them), a bounded set of numeric values for
an exact KS, and allowed-value counts. Labels and comparisons follow Python's ``str`` of a value,
as the file path always did (``True``, ``1``, ``1.0``), so a category or an allowed value means
the same whichever store read it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.columns import shown_names

#: shown disallowed values per column (as the file path: detectors.columns.NAME_CAP)
SHOWN = 5


@dataclass
class Aggregates:
    """One read of one dataset window."""

    rows: int
    columns: dict[str, str]                    # column -> contract type
    nulls: dict[str, int]
    newest_event: float | None = None
    categories: dict[str, Counter[str]] = field(default_factory=dict)
    categories_rest: dict[str, int] = field(default_factory=dict)   # rows past max_categories
    numeric: dict[str, NDArray[np.float64]] = field(default_factory=dict)   # sorted, no NaN
    sampled: dict[str, int] = field(default_factory=dict)    # column -> values sampled from
    bins: dict[str, NDArray[np.int64]] = field(default_factory=dict)   # cumulative, then total
    allowed: dict[str, dict[str, Any]] = field(default_factory=dict)


def label(value: Any, kind: str) -> str:
    """A category as the file path names it: ``str`` of the value as pandas reads it (a float
    column's ``1`` is ``1.0``)."""
    if kind == "float" and not isinstance(value, bool | str):
        try:
            return str(float(value))          # ints, Decimals
        except (TypeError, ValueError):
            pass
    return str(value)


def typed_allowed(kind: str, allowed: Sequence[Any]) -> list[Any]:
    """The values of a column of ``kind`` whose text is in ``allowed``: a database compares
    typed values, the contract compares text (``1`` in a CSV matches an allowed ``"1"``)."""
    texts = {str(a) for a in allowed}
    out: list[Any] = []
    for t in sorted(texts):
        if kind == "string" or kind == "category":
            out.append(t)
        elif kind == "bool":
            if t in ("True", "False"):
                out.append(t == "True")
        elif kind == "int":
            try:
                if str(int(t)) == t:
                    out.append(int(t))
            except ValueError:
                pass
        elif kind == "float":
            try:
                x = float(t)
            except ValueError:
                continue
            if math.isfinite(x) and str(x) == t:
                out.append(x)
    return out


def allowed_result(rows: int, bad: int, worst: Sequence[tuple[Any, int]], distinct_bad: int,
                   kind: str) -> dict[str, Any]:
    """One column's allowed-values check in the shape the state keeps (as
    ``detectors.columns.allowed_values_check``): rows checked, disallowed rows, their share and
    the most frequent disallowed values, capped."""
    names, _ = shown_names(label(v, kind) for v, _ in worst[:SHOWN])
    out: dict[str, Any] = {"rows": rows, "bad": bad, "share": bad / rows if rows else None,
                           "values": names, "more": max(0, distinct_bad - len(names))}
    if not rows:
        out["reason"] = "no non-null values"
    return out


def missing_allowed() -> dict[str, Any]:
    return {"rows": 0, "bad": 0, "share": None, "values": [], "more": 0,
            "reason": "column not in the dataset"}


def epoch(value: Any) -> float | None:
    """An event time as epoch seconds: naive datetimes are UTC, numbers are epoch seconds."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return epoch(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            return None
    try:                                   # Decimal and the like
        return epoch(float(value))
    except (TypeError, ValueError):
        return None


def sorted_finite(values: Any) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return np.sort(arr[~np.isnan(arr)])
