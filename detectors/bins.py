"""Mergeable drift counts: window values counted between a reference's quantile edges.

Counts add across replicas (and over time, as counters), so the fleet's window distribution is a
sum that Prometheus can take; PSI and the KS distance over the edges follow from the sums. These
functions are the reference the generated PromQL is checked against: each formula here has one
PromQL twin in ``agent/signals/fleet.py``.

Bins are equal-probability under the reference: ``levels(B)`` = 1/B … (B-1)/B, and the last
bucket (``+Inf``) holds everything. A value ``x`` falls in cumulative bucket ``le=q`` when
``x <= edge(q)`` (Prometheus' ``le``); the reference's own share at or below each edge is kept
beside it (ties make it differ from ``q``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

# shared with the rule generator, in plain Python (re-exported here)
from detectors.levels import PSI_EPS as PSI_EPS
from detectors.levels import chi2_quantile as chi2_quantile
from detectors.levels import level_label as level_label
from detectors.levels import level_values


def levels(bins: int) -> NDArray[np.float64]:
    """The ``bins - 1`` inner quantile levels, rounded so that they print as labels stably."""
    return np.asarray(level_values(bins), dtype=np.float64)


def quantile_edges(reference_sorted: NDArray[np.float64], qs: ArrayLike
                   ) -> NDArray[np.float64]:
    """The reference's value at each level (inverted CDF: an observed value, so ties stay ties;
    edges may repeat on discrete data)."""
    ref = np.asarray(reference_sorted, dtype=np.float64)
    if ref.size == 0:
        raise ValueError("empty reference")
    idx = np.ceil(np.asarray(qs, dtype=np.float64) * ref.size).astype(np.intp) - 1
    return ref[np.clip(idx, 0, ref.size - 1)]


def cumulative_counts(values: ArrayLike, edges: NDArray[np.float64]) -> NDArray[np.int64]:
    """Values at or below each edge, then all values (the ``+Inf`` bucket); NaN is skipped."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    arr = np.sort(arr[~np.isnan(arr)])
    below = np.searchsorted(arr, edges, side="right").astype(np.int64)
    return np.append(below, np.int64(arr.size))


def reference_cumulative(reference_sorted: NDArray[np.float64], edges: NDArray[np.float64]
                         ) -> NDArray[np.float64]:
    """The reference's share at or below each edge, then 1.0 for ``+Inf``."""
    ref = np.asarray(reference_sorted, dtype=np.float64)
    share = np.searchsorted(ref, edges, side="right") / ref.size
    return np.append(share, 1.0)


def ks_from_cumulative(window_cum: ArrayLike, reference_cum: ArrayLike) -> float:
    """KS distance over the edges: max |F_window(edge) - F_reference(edge)|. A lower bound of
    the continuous two-sample D (it looks at B points of the CDFs only)."""
    w = np.asarray(window_cum, dtype=np.float64)
    n = w[-1]
    if n <= 0:
        return math.nan
    return float(np.max(np.abs(w / n - np.asarray(reference_cum, dtype=np.float64))))


def shares(cum: ArrayLike) -> NDArray[np.float64]:
    """Per-bin shares from cumulative shares (or counts divided by the last)."""
    c = np.asarray(cum, dtype=np.float64)
    return np.diff(np.concatenate(([0.0], c)))


def psi_from_cumulative(window_cum: ArrayLike, reference_cum: ArrayLike,
                        eps: float = PSI_EPS) -> float:
    """PSI over the bins, each share floored at ``eps`` (as :func:`psi_from_counts`)."""
    w = np.asarray(window_cum, dtype=np.float64)
    n = w[-1]
    if n <= 0:
        return math.nan
    wp = np.clip(shares(w / n), eps, None)
    rp = np.clip(shares(reference_cum), eps, None)
    return float(np.sum((wp - rp) * np.log(wp / rp)))


def ks_critical(n: float, m: float, alpha: float) -> float:
    """The asymptotic two-sample KS critical value at ``alpha``: c(alpha) * sqrt((n+m)/(n m)),
    c(alpha) = sqrt(-ln(alpha / 2) / 2). The binned D is at most the continuous D, so judging
    it against this is conservative."""
    if n <= 0 or m <= 0:
        return math.inf
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


def psi_critical(n: float, m: float, bins: int, alpha: float) -> float:
    """PSI a clean window of ``n`` values against a reference of ``m`` exceeds with probability
    ``alpha``: PSI ~ chi-square(bins - 1) * (1/n + 1/m) under no drift (the symmetric
    divergence's asymptotic law); the chi-square quantile by Wilson–Hilferty, so the generator
    needs no scipy."""
    if n <= 0 or m <= 0:
        return math.inf
    return chi2_quantile(1 - alpha, bins - 1) * (1 / n + 1 / m)
