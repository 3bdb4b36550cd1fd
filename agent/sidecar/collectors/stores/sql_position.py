"""Where a ``since_last_poll`` window stands, as the sidecar's snapshot keeps it.

The position is the newest time value the last applied read saw, in the column's own type
(a timestamp with or without a time zone, a date, epoch seconds as an integer, a float or a
decimal), so the next read after a restart takes exactly the rows newer than it. It is tagged
with what it is a position in (the table or query and the time column, as a digest: a query's
text stays out of the snapshot), and a position of another source is not resumed.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from agent.spec.dataset_sql import SqlSource


def _of(source: SqlSource) -> str:
    what = f"{source.table or ''}\0{source.query or ''}\0{source.time_column or ''}"
    return hashlib.sha256(what.encode()).hexdigest()[:16]


def dump(source: SqlSource, value: Any) -> dict[str, Any] | None:
    """``value`` as JSON for the snapshot, or None when it has no such form."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, datetime):
        kind, text = "datetime", value.isoformat()
    elif isinstance(value, date):
        kind, text = "date", value.isoformat()
    elif isinstance(value, int):
        kind, text = "int", str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        kind, text = "float", repr(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            return None
        kind, text = "decimal", str(value)
    else:
        return None
    return {"of": _of(source), "type": kind, "value": text}


def load(source: SqlSource, saved: Any) -> Any:
    """The saved position as the column's value, or None (none saved, another source's, or
    unreadable: the first read then looks back one poll interval, as on a first start)."""
    if not isinstance(saved, dict) or saved.get("of") != _of(source):
        return None
    kind, text = saved.get("type"), saved.get("value")
    if not isinstance(text, str):
        return None
    try:
        if kind == "datetime":
            return datetime.fromisoformat(text)
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "int":
            return int(text)
        if kind == "float":
            x = float(text)
            return x if math.isfinite(x) else None
        if kind == "decimal":
            d = Decimal(text)
            return d if d.is_finite() else None
    except (ValueError, InvalidOperation):
        return None
    return None
