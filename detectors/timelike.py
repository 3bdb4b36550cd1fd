"""Columns whose reference and windows cannot overlap by construction: timestamps, dates, years,
sequence numbers and row ids. Drift-tested, such a column is critical at D = 1 in every window
(a later window holds later times), so it is left out of the test with the reason, and offered
as what it does measure: freshness (its latest value) and volume (rows per window).

Recognised from the reference alone, by dtype, by order and by name, in that order (the first
rule that holds is the reason); a name of a clock or calendar counts only over values that
behave like a time axis. A caller may declare more columns and may switch the guessing off.
Pure: arrays in, a reason (or None) out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np

MIN_ROWS = 20          # fewer rows cannot tell a sequence from a small sample
MIN_DISTINCT = 10      # a monotonic column with fewer values is a sorted code, not a clock
ORDERED = 0.9          # share of a column's value changes that go one way: rows in time order
_WORD = r"(?:^|[^a-z])(?:{})(?:$|[^a-z])"
#: names of ids and row numbers: a whole word of the name (``customer_id``, ``row``); such a
#: column is no measurement, whatever order its rows are in
ID_NAME = re.compile(_WORD.format("id|ids|uuid|guid|key|index|idx|seq|sequence|serial|row"))
#: names of clocks and calendars (``event_time``, ``createdAt``, ``year``); ``model_year`` or
#: ``birth_year`` say so too, so the name alone is not enough: see :func:`time_axis`
TIME_NAME = re.compile(_WORD.format("time|times|timestamp|ts|date|dates|datetime|day|week|"
                                    "month|year|years|yr|quarter|period|epoch|created|"
                                    "updated|modified|at"))
#: text that is a date or a time of day (ISO 8601 and the common spellings)
DATE_TEXT = re.compile(r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})"
                       r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?\s*$")
SAMPLE = 200           # values looked at for a text or object column's type


def _words(name: str) -> str:
    """``createdAt`` -> ``created at``: camel case split, so the name rule sees words."""
    return re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()


def named_like_time(name: str) -> bool:
    """A clock, calendar or id by its name (either list)."""
    words = _words(name)
    return bool(ID_NAME.search(words) or TIME_NAME.search(words))


def time_axis(values: np.ndarray) -> str | None:
    """How numbers (NaN-free, in row order) behave like the time the rows were taken at, or
    None: one value all through (the reference is one period: the census ``year`` is 2015 in
    every reference row), or rows in time order (at least ``ORDERED`` of the changes between
    consecutive rows go the same way; a month or day counter wraps now and then). A
    ``model_year`` or ``birth_year`` spread over the rows in no order is neither: a measurement
    of the row, drift-tested like any other."""
    steps = np.diff(values)
    changes = steps[steps != 0]
    if changes.size == 0:
        return "one value all through the reference"
    up = float(np.count_nonzero(changes > 0)) / changes.size
    if max(up, 1.0 - up) >= ORDERED:
        return f"rows in time order ({max(up, 1.0 - up):.0%} of its changes go one way)"
    return None


def _sample(values: Sequence[Any] | np.ndarray) -> list[Any]:
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            continue
        out.append(v)
        if len(out) >= SAMPLE:
            break
    return out


def time_like_reason(name: str, values: Any) -> str | None:
    """Why the column ``name`` holding ``values`` (in row order) is time-like, or None.

    - datetime/timedelta dtype, or date, time or datetime objects;
    - text that reads as dates or timestamps;
    - integer-valued numbers, or text, every value distinct: row ids (and integer epochs);
    - numbers that only increase (or only decrease) over the rows, with at least
      ``MIN_DISTINCT`` distinct values: sequence numbers, epochs, a sorted log;
    - a name that says id (``customer_id``, ``row``) over integer-valued numbers;
    - a name that says time, date or year (``event_time``, ``year``) over integer-valued
      numbers that behave like a time axis too (:func:`time_axis`): ``model_year`` in no
      order is a measurement (declare it ``time_like`` if it is a clock after all).
    """
    arr = values if isinstance(values, np.ndarray) else np.asarray(_as_list(values))
    kind = arr.dtype.kind
    if kind in "mM":
        return f"datetime values ({arr.dtype})"
    if kind in "OUS":
        sample = _sample(arr.tolist() if kind == "O" else arr[:SAMPLE].tolist())
        if sample and all(isinstance(v, (datetime, date, time, timedelta)) for v in sample):
            return "date or time values"
        if sample and all(isinstance(v, str) and DATE_TEXT.match(v) for v in sample):
            return "text that reads as dates or timestamps"
        if kind != "O" or all(isinstance(v, str) for v in sample):
            texts = [v for v in (arr.tolist() if kind == "O" else arr) if v is not None]
            if len(texts) >= MIN_ROWS and len(set(texts)) == len(texts):
                return "identifier-like: every value is distinct"
        return None
    if kind not in "iufb" or kind == "b":
        return None
    num = arr.astype(np.float64, copy=False)
    num = num[~np.isnan(num)]
    if num.size < MIN_ROWS:
        return None
    steps = np.diff(num)
    distinct = np.unique(num).size
    integral = bool(np.all(num == np.floor(num)))
    if integral and distinct == num.size:
        return "identifier-like: every value is distinct"
    if distinct >= MIN_DISTINCT and ((steps >= 0).all() or (steps <= 0).all()):
        return "monotonic: the values only increase (or only decrease) over the rows"
    if not integral:
        return None
    words = _words(name)
    if ID_NAME.search(words):
        return f"named like an id column ({name!r}) with integer values"
    if TIME_NAME.search(words):
        axis = time_axis(num)
        if axis is not None:
            return f"named like a time or date column ({name!r}), integer values, {axis}"
    return None


def _as_list(values: Any) -> Any:
    """A pandas Series or other sequence as numpy sees it (datetime dtypes kept)."""
    to_numpy = getattr(values, "to_numpy", None)
    if to_numpy is not None:
        try:
            return to_numpy()
        except (TypeError, ValueError):
            pass
    return values
