"""Drift across many features: KS for numbers, chi-square/PSI/Jensen–Shannon for categories.

A feature alarms only when its corrected p-value is significant AND its effect size passes its
threshold: with 100k-row windows every tiny shift is "significant", and an alarm nobody acts on is
noise. The threshold is calibrated on the reference (how far the effect moves between samples of
the window's size when nothing changed, :mod:`detectors.calibration`) and never below a small
absolute floor; with ``calibration=None`` it is the fixed floor alone, as a user may pin it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors.calibration import (
    DEFAULT_QUANTILE,
    CalibrationCache,
    column_quantile,
    ks_threshold,
    psi_threshold,
)
from detectors.ks import ks_many, sorted_window
from detectors.thresholds import Status

Correction = Literal["bh", "bonferroni", "none"]
PSI_EPS = 1e-4  # proportion floor so an empty bin does not make PSI infinite
MAX_CATEGORIES = 50   # more reference categories than this are tested in hash buckets
MIN_KS_EFFECT = 0.025  # floor under a calibrated KS threshold: a 0.06-sd shift of a normal
MIN_PSI = 0.01         # floor under a calibrated PSI threshold (0.1 is "moderate" in credit risk)
ThresholdSource = Literal["calibrated", "floor"]


@dataclass(frozen=True)
class ChiSquareResult:
    statistic: float
    p_value: float
    dof: int
    psi: float
    js_distance: float
    n_reference: int
    n_window: int
    unseen: tuple[Hashable, ...] = ()   # categories in the window never seen in the reference
    new_share: float | None = None      # share of window values in those categories


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    test: str                 # ks | chi2
    statistic: float
    p_value: float
    p_adjusted: float
    effect: float             # KS D for numbers, PSI for categories: compared with the floors
    psi: float
    n_reference: int
    n_window: int
    status: Status
    significant: bool
    unseen: tuple[Hashable, ...] = ()
    new_share: float | None = None     # categorical only: window share of unseen categories
    threshold: float | None = None     # the effect the column was judged against (warning)
    threshold_source: ThresholdSource | None = None
    critical_threshold: float | None = None
    calibrated: float | None = None    # the reference's own noise level, before the floor

    @property
    def score(self) -> float:
        """What the agent exports: the effect size when significant, else 0."""
        return self.effect if self.significant and math.isfinite(self.effect) else 0.0


@dataclass(frozen=True)
class DriftThresholds:
    warning_effect: float = 0.1
    critical_effect: float = 0.25
    alpha: float = 0.01
    correction: Correction = "bh"
    min_samples: int = 30
    categorical_warning_psi: float = 0.1
    categorical_critical_psi: float = 0.25
    calibration: float | None = DEFAULT_QUANTILE   # None: the warning floors above alone
    min_ks_effect: float = MIN_KS_EFFECT
    min_psi: float = MIN_PSI

    def levels(self, test: str, calibrated: float | None
               ) -> tuple[float, ThresholdSource, float]:
        """(warning effect, where it came from, critical effect) for one column."""
        ks = test == "ks"
        crit = self.critical_effect if ks else self.categorical_critical_psi
        if self.calibration is None or calibrated is None:
            warn = self.warning_effect if ks else self.categorical_warning_psi
            return warn, "floor", max(crit, warn)
        floor = self.min_ks_effect if ks else self.min_psi
        if calibrated >= floor:
            return calibrated, "calibrated", max(crit, calibrated)
        return floor, "floor", max(crit, floor)


def psi_from_counts(ref_counts: ArrayLike, win_counts: ArrayLike, eps: float = PSI_EPS) -> float:
    r = np.asarray(ref_counts, dtype=np.float64)
    w = np.asarray(win_counts, dtype=np.float64)
    if r.sum() == 0 or w.sum() == 0:
        return math.nan
    rp = np.clip(r / r.sum(), eps, None)
    wp = np.clip(w / w.sum(), eps, None)
    return float(np.sum((wp - rp) * np.log(wp / rp)))


def numeric_psi(reference_sorted: NDArray[np.float64], window: ArrayLike, bins: int = 10,
                window_sorted: bool = False) -> float:
    """PSI over reference deciles: the effect size teams know from credit-risk monitoring.
    ``window_sorted``: the window is sorted and NaN-free, so its bin counts are read off by
    bisection at the edges instead of placing every value."""
    win = np.asarray(window, dtype=np.float64)
    if not window_sorted:
        win = win[~np.isnan(win)]
    if reference_sorted.size == 0 or win.size == 0:
        return math.nan
    # the reference is sorted: its deciles are read off by position (np.quantile's linear rule)
    # and its bin counts by bisection, instead of partitioning and placing every value again
    n = reference_sorted.size
    pos = np.linspace(0, 1, bins + 1)[1:-1] * (n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    edges = np.unique(reference_sorted[lo] + (reference_sorted[hi] - reference_sorted[lo])
                      * (pos - lo))
    cuts = np.searchsorted(reference_sorted, edges, side="left")
    ref_counts = np.diff(np.concatenate(([0], cuts, [n])))
    if window_sorted:   # bin i holds edges[i-1] <= x < edges[i], as searchsorted(side=right)
        win_counts = np.diff(np.concatenate(([0], np.searchsorted(win, edges, side="left"),
                                             [win.size])))
    else:
        win_counts = np.bincount(np.searchsorted(edges, win, side="right"),
                                 minlength=edges.size + 1)
    return psi_from_counts(ref_counts, win_counts)


def chi_square(reference: Iterable[Hashable] | Mapping[Hashable, int],
               window: Iterable[Hashable] | Mapping[Hashable, int],
               max_categories: int = MAX_CATEGORIES) -> ChiSquareResult:
    """Chi-square test of homogeneity on the 2×K table, plus PSI and Jensen–Shannon distance.

    Every window category the reference never had goes into one ``<unseen>`` bin: scattered over
    thousands of single-count cells (a high-cardinality column whose values are all new) that
    mass would be invisible to the test, in one bin it is the strongest evidence there is. The
    reference's side of that bin is its number of singletons (the Good–Turing estimate of
    unseen mass), so sampling a long tail is not mistaken for drift. A column with more than
    ``max_categories`` reference categories is tested over that many fixed hash buckets, so the
    table stays small. Empty and None values are dropped; one category gives p = 1.
    """
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency

    rc = _counts(reference)
    wc = _counts(window)
    n_ref, n_win = sum(rc.values()), sum(wc.values())
    unseen = tuple(sorted((c for c in wc if c not in rc),
                          key=lambda c: (-wc[c], type(c).__name__, str(c))))
    new_share = sum(wc[c] for c in unseen) / n_win if n_win else None
    if n_ref == 0 or n_win == 0:
        return ChiSquareResult(math.nan, math.nan, 0, math.nan, math.nan, n_ref, n_win, unseen,
                               new_share)
    # Good–Turing: the reference's singletons estimate how much mass it has not seen yet, so a
    # high-cardinality column is not "drifting" merely because a new sample meets new values
    # (only when the window has unseen values: a window re-reading the reference has none)
    unseen_win = sum(wc[c] for c in unseen)
    singletons = sum(1 for n in rc.values() if n == 1) if unseen_win else 0
    if len(rc) <= max_categories:
        ref_row = [rc[c] for c in rc] + [singletons]
        win_row = [wc.get(c, 0) for c in rc] + [unseen_win]
    else:  # the same buckets as reference_cells
        # many categories: fixed hash buckets, not the most frequent ones (choosing by the
        # reference's counts would favour categories that happened to be over-sampled)
        ref_row = [0] * max_categories + [singletons]
        win_row = [0] * max_categories + [unseen_win]
        for c, n in rc.items():
            b = _bucket(c, max_categories)
            ref_row[b] += n
            win_row[b] += wc.get(c, 0)
    table = np.array([ref_row, win_row], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    psi = psi_from_counts(table[0], table[1])
    js = float(jensenshannon(table[0] / table[0].sum(), table[1] / n_win, base=2))
    if table.shape[1] < 2:
        return ChiSquareResult(0.0, 1.0, 0, psi, js, n_ref, n_win, unseen, new_share)
    res = chi2_contingency(table)
    return ChiSquareResult(float(res.statistic), float(res.pvalue), int(res.dof), psi, js,
                           n_ref, n_win, unseen, new_share)


def reference_cells(reference: Iterable[Hashable] | Mapping[Hashable, int],
                    max_categories: int = MAX_CATEGORIES) -> list[int]:
    """The reference's counts in the cells :func:`chi_square` tests (hash buckets past
    ``max_categories``): what the PSI threshold is calibrated on."""
    rc = _counts(reference)
    if len(rc) <= max_categories:
        return list(rc.values())
    cells = [0] * max_categories
    for c, n in rc.items():
        cells[_bucket(c, max_categories)] += n
    return cells


def _bucket(category: Hashable, buckets: int) -> int:
    import zlib

    return zlib.crc32(f"{type(category).__name__}:{category}".encode()) % buckets


def _counts(values: Iterable[Hashable] | Mapping[Hashable, int]) -> Counter[Hashable]:
    if isinstance(values, Mapping):
        return Counter({k: int(v) for k, v in values.items() if int(v) > 0})
    out: Counter[Hashable] = Counter()
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        out[v] += 1
    return out


def adjust_p_values(p_values: Sequence[float], method: Correction = "bh") -> list[float]:
    """Benjamini–Hochberg (default) or Bonferroni; NaNs stay NaN and do not count as tests."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if not ok.any():
        return out.tolist()
    if method == "none":
        out[ok] = p[ok]
    elif method == "bonferroni":
        out[ok] = np.minimum(1.0, p[ok] * ok.sum())
    else:
        from scipy.stats import false_discovery_control

        out[ok] = false_discovery_control(p[ok], method="bh")
    return out.tolist()


@dataclass
class DriftInput:
    """Per-feature reference and window; categorical features hold hashable values."""

    numeric_refs: dict[str, NDArray[np.float64]] = field(default_factory=dict)  # sorted
    numeric_windows: dict[str, ArrayLike] = field(default_factory=dict)
    categorical_refs: dict[str, Mapping[Hashable, int]] = field(default_factory=dict)
    categorical_windows: dict[str, Iterable[Hashable]] = field(default_factory=dict)


def detect_drift(data: DriftInput, thresholds: DriftThresholds | None = None,
                 cache: CalibrationCache | None = None) -> list[FeatureDrift]:
    """Test every feature, correct for multiple testing, and classify each by its effect against
    its threshold (calibrated per column unless ``thresholds.calibration`` is None). ``cache``
    keeps calibrations across calls (one per reference and window size)."""
    t = thresholds or DriftThresholds()
    rows: list[tuple[str, str, float, float, float, float, int, int, tuple[Hashable, ...],
                     float | None]] = []
    names = [f for f in data.numeric_refs if f in data.numeric_windows]
    if names:
        refs = [data.numeric_refs[f] for f in names]
        wins = [sorted_window(data.numeric_windows[f]) for f in names]   # sorted once for both
        for f, ref, win, r in zip(names, refs, wins, ks_many(refs, wins, presorted=True),
                                  strict=True):
            rows.append((f, "ks", r.statistic, r.p_value, r.statistic,
                         numeric_psi(ref, win, window_sorted=True),
                         r.n_reference, r.n_window, (), None))
    for f, ref_counts in data.categorical_refs.items():
        if f not in data.categorical_windows:
            continue
        c = chi_square(ref_counts, data.categorical_windows[f])
        rows.append((f, "chi2", c.statistic, c.p_value, c.psi, c.psi, c.n_reference, c.n_window,
                     c.unseen, c.new_share))
    p_raw = [r[3] if min(r[6], r[7]) >= t.min_samples else math.nan for r in rows]
    p_adj = adjust_p_values(p_raw, t.correction)
    family = sum(not math.isnan(p) for p in p_raw)    # columns judged together
    out = []
    for row, pa in zip(rows, p_adj, strict=True):
        f, test, stat, p, effect, psi, n_ref, n_win, unseen, new_share = row
        if math.isnan(pa):
            out.append(FeatureDrift(f, test, stat, p, pa, effect, psi, n_ref, n_win,
                                    Status.NO_DATA, False, unseen, new_share))
            continue
        significant = pa < t.alpha
        cal = None if t.calibration is None else \
            calibrated_threshold(data, f, test, n_win, t.calibration, family, cache)
        warn, source, crit = t.levels(test, cal)
        if significant and effect >= crit:
            status = Status.CRITICAL
        elif significant and effect >= warn:
            status = Status.WARNING
        else:
            status = Status.OK
        out.append(FeatureDrift(f, test, stat, p, pa, effect, psi, n_ref, n_win, status,
                                significant, unseen, new_share, warn, source, crit, cal))
    return out


def calibrated_threshold(data: DriftInput, feature: str, test: str, n_window: int,
                         quantile: float, family: int = 1,
                         cache: CalibrationCache | None = None) -> float:
    """The feature's effect (KS D or PSI) between reference samples of the window's size that
    ``family`` clean columns all stay under with probability ``quantile``: its reference's own
    noise level (see :func:`detectors.calibration.column_quantile`)."""
    quantile = column_quantile(quantile, family)
    if test == "ks":
        return ks_threshold(data.numeric_refs[feature], n_window, quantile, cache)
    return psi_threshold(reference_cells(data.categorical_refs[feature]), n_window, quantile,
                         cache)
