"""What of a polled data file may be a label on the open /metrics (anyone who reaches the port
reads it, token or not): column names the spec or the reference declares, and nothing else; the
rest is counted under one ``__other__`` label, so a file's first line (``/etc/shadow``'s, say)
never becomes a label. Raw category values follow the same rule (see the exposition)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.sidecar.view import EngineView

OTHER_CATEGORY = "__other__"      # raw values never reach the unauthenticated /metrics


def open_columns(eng: EngineView, name: str, d: Any) -> set[str] | None:
    """Columns of a dataset the sidecar reads itself (a file or a SQL table) that may be labels
    on the open /metrics: those the spec names (contract, drift settings, objective selectors)
    or its reference has (the drift results); None for what the SDK sends (a client's own
    column names, not a file's content)."""
    if d.source == "sdk":
        return None
    ds = next((x for x in eng.spec.sources.datasets if x.name == name), None)
    named = set(ds.named_columns) if ds is not None else set()
    named |= {o.selector.column for o in eng.spec.objectives
              if o.selector.dataset == name and o.selector.column}
    return named | {str(r["column"]) for r in d.drift if r.get("column")}


def open_nulls(nulls: Mapping[str, int], rows: int, named: set[str] | None
                ) -> dict[str, float]:
    """Null ratios per named column; the file's other columns as one ``__other__`` series,
    the worst of them, so a column name the spec never declared never becomes a label."""
    out: dict[str, float] = {}
    for col, n in nulls.items():
        if named is None or col in named:
            out[col] = n / rows
        else:
            out[OTHER_CATEGORY] = max(out.get(OTHER_CATEGORY, 0.0), n / rows)
    return out
