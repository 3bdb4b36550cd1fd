"""Per-column facts the drift and contract checks need: which columns are identifiers (never
drift-tested), which values a contract does not allow, and category names fit to show.

Pure functions on arrays and counts; the sidecar decides what to do with the answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

MIN_ID_ROWS = 20        # fewer rows cannot tell an identifier from a small sample
NAME_CAP = 5            # category names shown per column (status, metrics, webhooks)
NAME_LEN = 64           # characters per shown name: never a whole raw value


def identifier_like(values: Any, kind: str) -> bool:
    """An integer or text column whose every non-null value is distinct (row ids, UUIDs, emails):
    its distribution changes with every batch by construction, so drift on it means nothing.
    Float columns are continuous and distinct anyway; they are never identifiers."""
    if kind not in ("int", "string", "category"):
        return False
    import pandas as pd

    series = pd.Series(values).dropna()
    return len(series) >= MIN_ID_ROWS and bool(series.is_unique)


def shown_names(names: Iterable[Hashable], cap: int = NAME_CAP) -> tuple[list[str], int]:
    """At most ``cap`` names, each cut to ``NAME_LEN`` characters, and how many were left out."""
    out: list[str] = []
    rest = 0
    for n in names:
        if len(out) < cap:
            text = str(n)
            out.append(text if len(text) <= NAME_LEN else text[: NAME_LEN - 1] + "…")
        else:
            rest += 1
    return out, rest


@dataclass(frozen=True)
class ValueCheck:
    """Rows whose value the contract does not allow."""

    column: str
    rows: int            # non-null rows checked
    bad: int
    values: list[str]    # the most frequent disallowed values, capped (see shown_names)
    more: int            # disallowed distinct values not shown

    @property
    def share(self) -> float | None:
        return self.bad / self.rows if self.rows else None


def allowed_values_check(column: str, values: Iterable[Any],
                         allowed: Iterable[Any]) -> ValueCheck:
    """Compare as text, so ``1`` in a CSV matches an allowed ``"1"`` or ``1``."""
    ok = {str(a) for a in allowed}
    counts: Counter[str] = Counter()
    rows = 0
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            continue
        rows += 1
        text = str(v)
        if text not in ok:
            counts[text] += 1
    names, more = shown_names(c for c, _ in counts.most_common())
    return ValueCheck(column, rows, sum(counts.values()), names, more)


def category_labels(values: Iterable[Any]) -> list[str]:
    """Values as category labels (bools and codes as text), nulls dropped."""
    return [str(v) for v in values if v is not None and not (isinstance(v, float) and v != v)]
