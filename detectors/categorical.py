"""Category counts and PSI: the chi-square test of homogeneity with its effect sizes (PSI,
Jensen–Shannon), and PSI over a numeric reference's deciles. Pure functions on counts."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors.levels import PSI_EPS as PSI_EPS  # its home is plain Python (generator)

MAX_CATEGORIES = 50   # more reference categories than this are tested in hash buckets


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
    """Counts per category. A number's -0.0 and 0.0 are one category (equal, one hash) named
    ``0.0``: else its name (shown as a new category, hashed into a bucket) would be whichever
    came first, which an unstable sort of the values decides."""
    if isinstance(values, Mapping):
        return Counter({_zero(k): int(v) for k, v in values.items() if int(v) > 0})
    out: Counter[Hashable] = Counter()
    for v in values:
        if v is None:
            continue
        if isinstance(v, float):
            if math.isnan(v):
                continue
            v = _zero(v)
        out[v] += 1
    return out


def _zero(category: Hashable) -> Hashable:
    return abs(category) if isinstance(category, float) and category == 0 else category
