"""A drift detector fitted once on a reference, checking any number of windows.

``DriftDetector(reference, categorical=[...])`` reads the reference once: numbers are sorted and
their decile edges kept, categories counted, time-like columns (:mod:`detectors.timelike`) set
aside with their reason. ``check(window)`` then costs a sort of each numeric window column, the
tests and the verdicts; thresholds are calibrated lazily per window size (closed forms at once,
bridge and bootstrap quantiles on first use, or by :meth:`DriftDetector.calibrate` off a
caller's hot path: with ``check(..., calibrate=False)`` a column not calibrated yet is judged on
the distribution-free quantile, a floor, and says so).

Which test a column gets: numbers by KS (with PSI over the reference's deciles beside it);
booleans, text, declared categories and numeric flags (at most two values in the reference) by
chi-square with PSI as the effect.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from detectors import nulls, stattests
from detectors.calibration import (
    CalibrationCache,
    calibration_split,
    category_cap,
    column_quantile,
    drawn_quantile,
    ks_threshold,
    ks_ties_at,
    psi_drawn_at,
    window_key,
)
from detectors.calibration import fingerprint as _fingerprint
from detectors.categorical import chi_square, psi_from_counts, reference_cells
from detectors.ks import ks_many, sorted_reference, sorted_windows
from detectors.thresholds import Status
from detectors.timelike import time_like_reason
from detectors.verdict import (
    DriftThresholds,
    FeatureDrift,
    Levels,
    adjust_p_values,
    decide,
)

FLAG_VALUES = 2        # a numeric column with at most this many values is a flag: a category
PSI_BINS = 10


@dataclass(frozen=True)
class Skipped:
    """A column left out of the test, the rule, why, and what it can be watched as instead."""

    column: str
    reason: str
    rule: Literal["time_like"] = "time_like"
    offered: tuple[str, ...] = ("freshness", "volume")


@dataclass
class DriftReport:
    """One window's verdicts, the columns left out, and those judged before calibration."""

    columns: list[FeatureDrift]
    skipped: list[Skipped] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    #: what the family's calibration quantile was split over (:func:`calibration_split`): pass
    #: it on as ``family`` to calibrate this window's columns elsewhere
    family: float = 1.0

    def __iter__(self) -> Iterator[FeatureDrift]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def by_feature(self) -> dict[str, FeatureDrift]:
        return {r.feature: r for r in self.columns}


@dataclass
class _Numeric:
    reference: NDArray[np.float64]          # sorted, NaN-free
    edges: NDArray[np.float64]              # decile edges (PSI)
    counts: NDArray[np.int64]               # reference counts between them


@dataclass
class _Categorical:
    counts: Mapping[Hashable, int]
    cells: NDArray[np.int64]                # the cells chi-square tests (calibration row)
    reason: str | None = None


def _deciles(ref: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The reference's decile edges and counts between them, exactly as
    :func:`detectors.categorical.numeric_psi` computes them (so PSI is the same number)."""
    n = ref.size
    if n == 0:
        return np.zeros(0), np.zeros(1, dtype=np.int64)
    pos = np.linspace(0, 1, PSI_BINS + 1)[1:-1] * (n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    edges = np.unique(ref[lo] + (ref[hi] - ref[lo]) * (pos - lo))
    cuts = np.searchsorted(ref, edges, side="left")
    return edges, np.diff(np.concatenate(([0], cuts, [n])))


def _values(column: Any) -> Any:
    to_numpy = getattr(column, "to_numpy", None)
    return to_numpy() if to_numpy is not None else column


def _is_numeric(column: Any) -> bool:
    kind = getattr(getattr(column, "dtype", None), "kind", None)
    if kind is None:
        kind = np.asarray(column).dtype.kind
    return kind in "iuf"


def _floats(column: Any) -> NDArray[np.float64]:
    to_numpy = getattr(column, "to_numpy", None)
    if to_numpy is not None:
        return np.asarray(to_numpy(dtype=np.float64, na_value=np.nan))
    return np.asarray(column, dtype=np.float64).ravel()


def _labels(column: Any) -> list[Hashable]:
    return [v for v in np.asarray(_values(column), dtype=object).ravel().tolist()
            if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _columns(data: Any) -> Iterable[tuple[str, Any]]:
    """(name, values) of a mapping of columns or a data frame."""
    if isinstance(data, Mapping):
        return ((str(k), v) for k, v in data.items())
    return ((str(c), data[c]) for c in data.columns)


class DriftDetector:
    """Fitted once on ``reference`` (a mapping of column name to values, or a data frame);
    :meth:`check` tests a window of the same columns.

    ``categorical``: columns tested as categories whatever their dtype. ``time_like``: columns
    left out as clocks, sequences or ids; None recognises them (:mod:`detectors.timelike`), a
    list names exactly these. ``columns`` / ``exclude`` choose what is tested. ``thresholds``:
    significance, calibration and floors. ``cache``: calibrations shared between detectors.
    """

    def __init__(self, reference: Any = None, *, categorical: Iterable[str] = (),
                 time_like: Iterable[str] | None = None, columns: Iterable[str] | None = None,
                 exclude: Iterable[str] = (), thresholds: DriftThresholds | None = None,
                 cache: CalibrationCache | None = None) -> None:
        self.thresholds = thresholds or DriftThresholds()
        self.cache = cache if cache is not None else CalibrationCache()
        self.numeric: dict[str, _Numeric] = {}
        self.categorical: dict[str, _Categorical] = {}
        self.skipped: list[Skipped] = []
        self._lock = threading.Lock()
        if reference is None:
            return
        declared_cat = set(categorical)
        declared_time = None if time_like is None else set(time_like)
        wanted = None if columns is None else set(columns)
        dropped = set(exclude)
        for name, col in _columns(reference):
            if (wanted is not None and name not in wanted) or name in dropped:
                continue
            if declared_time is not None:
                why = "declared time-like" if name in declared_time else None
            else:
                why = None if name in declared_cat else time_like_reason(name, col)
            if why is not None:
                self.skipped.append(Skipped(name, why))
            elif name in declared_cat:
                self.add_categorical(name, Counter(_labels(col)), "declared categorical")
            elif _is_numeric(col):
                self.add_numeric(name, sorted_reference(_floats(col)))
            else:
                self.add_categorical(name, Counter(_labels(col)))

    # -- fitting -------------------------------------------------------------------------------

    def add_numeric(self, name: str, reference_sorted: NDArray[np.float64]) -> None:
        """A numeric column from its sorted, NaN-free reference (:func:`sorted_reference`).
        A flag (at most ``FLAG_VALUES`` values, such as 0/1) is a category: its share is what
        moves, chi-square tests it, and its numeric windows are counted by value."""
        ref = reference_sorted
        distinct = int(np.count_nonzero(np.diff(ref))) + 1 if ref.size else 0
        if 0 < distinct <= FLAG_VALUES:
            values, counts = np.unique(ref, return_counts=True)
            self.add_categorical(name, dict(zip(values.tolist(), counts.tolist(), strict=True)),
                                 f"{distinct} values: a flag, tested as categories")
            return
        self.categorical.pop(name, None)
        edges, counts = _deciles(ref)
        self.numeric[name] = _Numeric(ref, edges, counts)

    def add_categorical(self, name: str, counts: Mapping[Hashable, int],
                        reason: str | None = None) -> None:
        self.numeric.pop(name, None)
        self.categorical[name] = _Categorical(counts, np.asarray(reference_cells(counts),
                                                                 dtype=np.int64), reason)

    # -- checking ------------------------------------------------------------------------------

    def check(self, window: Any, *, calibrate: bool = True,
              thresholds: DriftThresholds | None = None) -> DriftReport:
        """Every fitted column present in ``window`` tested, corrected together, and judged.
        ``calibrate=False``: no bridge or bootstrap now (see :meth:`calibrate`)."""
        t = thresholds or self.thresholds
        num_names: list[str] = []
        num_wins: list[NDArray[np.float64]] = []
        cat_names: list[str] = []
        cat_wins: list[list[Hashable]] = []
        for name, col in _columns(window):
            if name in self.numeric:
                num_names.append(name)
                num_wins.append(_floats(col))
            elif name in self.categorical:
                cat_names.append(name)
                cat_wins.append(_labels(col))
        return self._judge(t, num_names, sorted_windows(num_wins), cat_names, cat_wins,
                           calibrate)

    def check_prepared(self, numeric: Mapping[str, NDArray[np.float64]],
                       categorical: Mapping[str, Iterable[Hashable]], *,
                       calibrate: bool = True,
                       thresholds: DriftThresholds | None = None) -> DriftReport:
        """As :meth:`check`, numeric windows already sorted and NaN-free (a flag's numeric
        window is counted by value)."""
        t = thresholds or self.thresholds
        nn = [k for k in numeric if k in self.numeric]
        cn = [k for k in categorical if k in self.categorical]
        flags = [k for k in numeric if k in self.categorical and k not in categorical]
        return self._judge(t, nn, [numeric[k] for k in nn], cn + flags,
                           [categorical[k] for k in cn]
                           + [np.asarray(numeric[k], dtype=np.float64).tolist() for k in flags],
                           calibrate)

    def _judge(self, t: DriftThresholds, num_names: list[str],
               num_wins: list[NDArray[np.float64]], cat_names: list[str],
               cat_wins: list[Any], calibrate: bool) -> DriftReport:
        rows: list[tuple[str, str, float, float, float, float, int, int,
                         tuple[Hashable, ...], float | None]] = []
        ks = _NUMERIC.name
        refs = [self.numeric[n].reference for n in num_names]
        for name, win, r in zip(num_names, num_wins, ks_many(refs, num_wins, presorted=True),
                                strict=True):
            col = self.numeric[name]
            psi = math.nan
            if win.size and col.reference.size:
                cuts = np.searchsorted(win, col.edges, side="left")
                psi = psi_from_counts(col.counts, np.diff(np.concatenate(([0], cuts,
                                                                            [win.size]))))
            rows.append((name, ks, r.statistic, r.p_value, r.statistic, psi, r.n_reference,
                         r.n_window, (), None))
        for name, win in zip(cat_names, cat_wins, strict=True):
            c = chi_square(self.categorical[name].counts, win)
            rows.append((name, _CATEGORICAL.name, c.statistic, c.p_value, c.psi, c.psi,
                         c.n_reference, c.n_window, c.unseen, c.new_share))
        p_raw = [r[3] if min(r[6], r[7]) >= t.min_samples else math.nan for r in rows]
        p_adj = adjust_p_values(p_raw, t.correction)
        split = calibration_split(p_adj, t.alpha, t.correction)
        tested = [(r[0], r[1], r[7]) for r, p in zip(rows, p_adj, strict=True)
                  if not math.isnan(p)]
        cal: dict[str, float | None] = {}
        pending: list[str] = []
        if t.calibration is not None and tested:
            cal, pending = self._calibrated(tested, t.calibration, split, calibrate)
            for name, _test, n in tested:
                cal[name] = self._held(name, n, cal[name], split, t.alpha, t.calibration)
        out = []
        for row, pa in zip(rows, p_adj, strict=True):
            f, test, stat, p, effect, psi, n_ref, n_win, unseen, new_share = row
            reason = self.categorical[f].reason if f in self.categorical else None
            if math.isnan(pa):
                out.append(FeatureDrift(f, test, stat, p, pa, effect, psi, n_ref, n_win,
                                        Status.NO_DATA, False, unseen, new_share,
                                        rule="too_few", kind_reason=reason))
                continue
            levels = t.resolve(test, cal.get(f), n_win, n_ref)
            if f in pending:
                levels = Levels(levels.warning, levels.critical, "floor",
                                levels.warning, "not calibrated yet: judged on the "
                                "distribution-free quantile until its calibration is done")
            significant = pa < t.alpha
            status, rule = decide(effect, significant, levels)
            out.append(FeatureDrift(f, test, stat, p, pa, effect, psi, n_ref, n_win, status,
                                    significant, unseen, new_share, levels.warning,
                                    levels.source, levels.critical, cal.get(f), rule,
                                    levels.floor, levels.floor_reason, reason))
        return DriftReport(out, list(self.skipped), pending, split)

    # -- calibration ---------------------------------------------------------------------------

    def _calibrated(self, tested: list[tuple[str, str, int]], quantile: float, family: float,
                    compute: bool) -> tuple[dict[str, float | None], list[str]]:
        """Each tested column's calibrated threshold; closed forms always, the rest from the
        cache or (``compute``) now. Columns left without one get the distribution-free
        quantile and are listed as pending."""
        q = column_quantile(quantile, family)
        out: dict[str, float | None] = {}
        pending: list[str] = []
        missing: dict[int, list[tuple[str, int]]] = {}
        for name, _test, n in tested:
            value = self._cached(name, n, q)
            if value is None:
                missing.setdefault(window_key(n), []).append((name, n))
            out[name] = value
        for key, cols in missing.items():
            if compute:
                self._compute([name for name, _ in cols], key, q)
                for name, n in cols:
                    out[name] = self._cached(name, n, q)
            else:
                for name, _ in cols:
                    out[name] = self._provisional(name, key, q)
                    pending.append(name)
        return out, pending

    def _held(self, name: str, n_window: int, value: float | None, family: float,
              alpha: float, quantile: float) -> float | None:
        """``value`` under a well-filled category's cap (:func:`category_cap`)."""
        if value is None or name not in self.categorical:
            return value
        cap = category_cap(self.categorical[name].cells, window_key(n_window), family, alpha,
                           quantile)
        return value if cap is None else min(value, cap)

    def _cached(self, name: str, n_window: int, q: float) -> float | None:
        """The calibration if it is a closed form or already computed, else None."""
        n = window_key(n_window)
        drawn_q = round(drawn_quantile(q), 9)
        if name in self.numeric:
            ref = self.numeric[name].reference
            shape = self.cache.shape(ref)
            if shape.continuous:
                return nulls.ks_continuous(n, ref.size, q)
            drawn = self.cache.peek(("ks", n, drawn_q, shape.key))
            return None if drawn is None else ks_ties_at(drawn, q, shape, n, int(ref.size))
        row = self.categorical[name].cells
        if nulls.psi_is_asymptotic(row, n):
            return nulls.psi_asymptotic(int(np.count_nonzero(row)), n, int(row.sum()), q)
        drawn = self.cache.peek(("psi", n, drawn_q, _fingerprint(row)))
        return None if drawn is None else psi_drawn_at(drawn, q, row)

    def _provisional(self, name: str, n: int, q: float) -> float:
        if name in self.numeric:
            return nulls.ks_continuous(n, self.numeric[name].reference.size, q)
        row = self.categorical[name].cells
        return nulls.psi_asymptotic(int(np.count_nonzero(row)), n, int(row.sum()), q)

    def _compute(self, names: list[str], n: int, q: float) -> None:
        """Bridge quantiles per numeric column (one shared set of paths) and one bootstrap
        call for every sparse categorical column of this window size."""
        rows: list[tuple[str, NDArray[np.int64]]] = []
        with self._lock:
            for name in names:
                if name in self.numeric:
                    ks_threshold(self.numeric[name].reference, n, q, self.cache)
                else:
                    rows.append((name, self.categorical[name].cells))
            drawn_q = drawn_quantile(q)      # one bootstrap serves every quantile past it
            todo = [(nm, r) for nm, r in rows
                    if self.cache.peek(("psi", n, round(drawn_q, 9), _fingerprint(r))) is None]
            values = nulls.psi_bootstrap([r for _, r in todo], n, drawn_q)
            for (_, r), v in zip(todo, values, strict=True):
                self.cache.put(("psi", n, round(drawn_q, 9), _fingerprint(r)), v)

    def calibrate(self, n_window: int, family: float | None = None,
                  quantile: float | None = None) -> None:
        """Calibrate every column for windows of ``n_window`` (``family`` columns tested
        together, default all fitted ones): what a caller runs off its hot path."""
        q = quantile if quantile is not None else self.thresholds.calibration
        if q is None:
            return
        names = list(self.numeric) + list(self.categorical)
        qc = column_quantile(q, family if family is not None else len(names))
        todo = [nm for nm in names if self._cached(nm, n_window, qc) is None]
        if todo:
            self._compute(todo, window_key(n_window), qc)

    def threshold(self, name: str, n_window: int, quantile: float,
                  family: float = 1, alpha: float | None = None) -> float:
        """The column's calibrated threshold for windows of ``n_window`` (computed now if
        needed) with ``family`` columns tested together; ``alpha``: the test's level, which
        caps a well-filled category's (:func:`category_cap`; default the detector's)."""
        q = column_quantile(quantile, family)
        value = self._cached(name, n_window, q)
        if value is None:
            self._compute([name], window_key(n_window), q)
            value = self._cached(name, n_window, q)
        if value is None:
            return self._provisional(name, window_key(n_window), q)
        held = self._held(name, n_window, value, family,
                          self.thresholds.alpha if alpha is None else alpha, quantile)
        return value if held is None else held

    def calibrate_columns(self, sizes: Mapping[str, int], family: float,
                          quantile: float) -> None:
        """Calibrate the named columns, each for its own window size (what a caller queues
        for the columns a check left pending)."""
        q = column_quantile(quantile, family)
        by_key: dict[int, list[str]] = {}
        for name, n in sizes.items():
            if (name in self.numeric or name in self.categorical) \
                    and self._cached(name, n, q) is None:
                by_key.setdefault(window_key(n), []).append(name)
        for key, names in by_key.items():
            self._compute(names, key, q)

    def is_calibrated(self, n_window: int, family: float | None = None,
                      quantile: float | None = None) -> bool:
        q = quantile if quantile is not None else self.thresholds.calibration
        if q is None:
            return True
        names = list(self.numeric) + list(self.categorical)
        qc = column_quantile(q, family if family is not None else len(names))
        return all(self._cached(nm, n_window, qc) is not None for nm in names)


_NUMERIC, _CATEGORICAL = stattests.for_kind("numeric"), stattests.for_kind("categorical")

