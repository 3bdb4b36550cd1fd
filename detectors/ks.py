"""Two-sample Kolmogorov–Smirnov against a reference that is sorted once.

The statistic equals ``scipy.stats.ks_2samp``'s bit for bit: the ECDF difference only changes at
data points, so with the reference sorted it is enough to place the sorted window's points in the
reference (``searchsorted`` left and right) — no concatenation and no re-sort of the reference per
window — and, past 128 points, only those in blocks that can hold a maximum gap. P-values come
from scipy's own distributions with scipy's method choice (exact when both samples are at most
10,000, else the asymptotic ``kstwo``), so they match it too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

MAX_AUTO_N = 10_000  # scipy's threshold for trying the exact distribution


@dataclass(frozen=True)
class KSResult:
    statistic: float
    p_value: float
    n_reference: int
    n_window: int
    method: str  # exact | asymp | empty


def sorted_reference(values: ArrayLike) -> NDArray[np.float64]:
    """Float64, NaN-free, sorted copy: what :func:`ks_presorted` expects as ``reference``."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    arr = arr[~np.isnan(arr)]
    arr.sort(kind="stable")
    return arr


def sorted_window(values: ArrayLike) -> NDArray[np.float64]:
    """Float64, NaN-free, sorted copy of a window (for ``ks_many(..., presorted=True)``)."""
    arr = np.sort(np.asarray(values, dtype=np.float64).ravel())   # NaNs sort last
    if arr.size and np.isnan(arr[-1]):
        arr = arr[: int(np.searchsorted(np.isnan(arr), True))]
    return arr


def sorted_windows(columns: Sequence[NDArray[np.float64]]) -> list[NDArray[np.float64]]:
    """:func:`sorted_window` of each column; columns of one length are copied once into a
    block and sorted in place in one call (no second copy, no call per column)."""
    if len(columns) < 2 or len({c.shape[0] for c in columns}) != 1:
        return [sorted_window(c) for c in columns]
    rows = np.stack([np.asarray(c, dtype=np.float64) for c in columns])
    rows.sort(axis=1)                                         # NaNs sort last
    out = []
    for row in rows:
        if row.size and np.isnan(row[-1]):
            row = row[: int(np.searchsorted(np.isnan(row), True))]
        out.append(row)
    return out


@lru_cache(maxsize=32)
def _steps(n2: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The window's ECDF just after and just before each of its sorted points, ``(i + 1) / n2``
    and ``i / n2``, computed as scipy computes them; read-only, shared by windows of one size."""
    idx = np.arange(n2, dtype=np.float64)
    after, before = (idx + 1.0) / n2, idx / n2
    after.setflags(write=False)
    before.setflags(write=False)
    return after, before


def _d_from_sorted(ref: NDArray[np.float64], win: NDArray[np.float64]) -> float:
    """Two-sided D for sorted NaN-free arrays, computed exactly as scipy's cdf1 - cdf2.

    Only the points that can hold a maximum are placed in the reference (:func:`_candidates`);
    each gap is the same float expression of the same integer ranks as over every point, so
    the maximum is the same number."""
    n1, n2 = ref.shape[0], win.shape[0]
    after, before = _steps(n2)
    block = 32 if n2 >= 50_000 else 16
    if n2 >= 8 * block:
        idx = _candidates(ref, win, after, before, block)
        after, before, win = after[idx], before[idx], win[idx]
    right = np.searchsorted(ref, win, side="right")
    # left == right except where a window value also occurs in the reference (ties); where
    # right is 0 the clipped take reads ref[0] > value, so no tie is seen there
    tied = ref.take(right - 1, mode="clip") == win
    below = right / n1
    # window-above-reference gap, at window points (last of each tie group wins the max)
    min_s = float(np.max(after - below))
    if tied.any():
        left = right.copy()
        left[tied] = np.searchsorted(ref, win[tied], side="left")
        below = left / n1
    # reference-above-window gap, just below each window point (first of a tie group wins)
    max_s = float(np.max(below - before))
    min_s = min(max(min_s, 0.0), 1.0)
    return min_s if min_s > max_s else max(max_s, 0.0)


def _candidates(ref: NDArray[np.float64], win: NDArray[np.float64], after: NDArray[np.float64],
                before: NDArray[np.float64], block: int) -> NDArray[np.intp]:
    """Indices of the window points in blocks of ``block`` consecutive points that can hold
    either gap's maximum: a binary search per window point is most of the statistic's cost,
    and a few blocks hold the maxima.

    Ranks rise with the point, so within a block the rank at its first point bounds every
    point's from below and the rank at the next block's first point from above; the float
    gaps ``a/n2 - r/n1`` are monotone in both integers, so a block whose bound is below the
    gap found at some block's first point cannot hold the maximum, and is left out."""
    n1, n2 = ref.shape[0], win.shape[0]
    starts = np.arange(0, n2, block)
    ws = win[starts]
    r_st = np.searchsorted(ref, ws, side="right")
    l_st = r_st.copy()
    tied = ref.take(r_st - 1, mode="clip") == ws
    if tied.any():
        l_st[tied] = np.searchsorted(ref, ws[tied], side="left")
    # a rank at or above every rank in the block: the next block's first, or the last point's
    r_up = np.concatenate((r_st[1:], np.searchsorted(ref, win[n2 - 1:], side="right")))
    lo = r_st / n1
    last = starts + (block - 1)
    last[-1] = n2 - 1
    keep = after[last] - lo >= np.max(after[starts] - lo)
    keep |= r_up / n1 - before[starts] >= np.max(l_st / n1 - before[starts])
    idx = (starts[keep][:, None] + np.arange(block)).ravel()
    return idx[idx < n2] if idx.size and idx[-1] >= n2 else idx


def _p_value(d: float, n1: int, n2: int, method: str) -> tuple[float, float, str]:
    """(statistic, p-value, method) following scipy's ks_2samp for the two-sided alternative."""
    if method == "auto":
        method = "exact" if max(n1, n2) <= MAX_AUTO_N else "asymp"
    g = math.gcd(n1, n2)
    if method == "exact" and (n1 // g) >= np.iinfo(np.int32).max / (n2 // g):
        method = "asymp"
    if method == "exact":
        ok, d_exact, prob = _exact(n1, n2, g, d)
        if ok:
            return float(d_exact), float(np.clip(prob, 0, 1)), "exact"
        d = d_exact
        method = "asymp"

    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(d), float(kstwo_sf(np.asarray([d]), np.asarray([np.round(en)]))[0]), "asymp"


def _smirnov_sf(n: int, x: float) -> float:
    """P(D+_n >= x), the one-sided exact Smirnov tail (Birnbaum–Tingey sum), all n terms in one
    vectorised pass. scipy.special.smirnov evaluates the same sum term by term, ~90 ms at
    n = 50,000; agreement is to ~1e-10 relative."""
    from scipy.special import gammaln

    jmax = int(np.floor(n * (1.0 - x)))
    j = np.arange(jmax + 1, dtype=np.float64)
    a = 1.0 - x - j / n
    b = x + j / n
    with np.errstate(divide="ignore", invalid="ignore"):
        log_terms = (gammaln(n + 1.0) - gammaln(j + 1.0) - gammaln(n - j + 1.0)
                     + (n - j) * np.log(a) + (j - 1.0) * np.log(b))
    log_terms = np.where(a > 0, log_terms, -np.inf)
    top = float(np.max(log_terms))
    if not np.isfinite(top):
        return 0.0
    return float(x * np.exp(top) * np.sum(np.exp(log_terms - top)))


def kstwo_sf(d: NDArray[np.float64], n: NDArray[np.float64]) -> NDArray[np.float64]:
    """``scipy.stats.kstwo.sf(d, n)``, clipped to [0, 1], with scipy's own choice of method;
    the one regime where scipy is slow (exact Smirnov sum for large n) is vectorised here."""
    from scipy.stats import kstwo

    out = np.empty(d.shape, dtype=np.float64)
    for i, (x, m) in enumerate(zip(d.tolist(), n.tolist(), strict=True)):
        nx2 = m * x * x
        if m > 140 and 1.0 < m * x < m - 1 and x < 0.5 and 2.2 <= nx2 < 370.0:
            out[i] = 2.0 * _smirnov_sf(int(m), x)     # scipy's branch for this regime
        else:
            out[i] = float(kstwo.sf(x, m))
    return np.clip(out, 0.0, 1.0)


def _prob_outside_square(n: int, h: int) -> float:
    """P(D_{n,n} >= h/n): scipy's alternating series, vectorised over its n/h terms.

    scipy evaluates it with a Python loop of n multiplications (about 1 ms at n = 10,000); here
    each term is one product over a row and the Horner form is unrolled into a cumulative
    product. Agreement with scipy is to ~1e-13, well inside the 1e-9 the project promises.
    """
    k_max = n // h
    k = np.arange(k_max + 1, dtype=np.float64)[:, None]
    j = np.arange(h, dtype=np.float64)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.prod((n - k * h - j) / (n + k * h + j + 1), axis=1)   # A_k, k = 0..k_max
    # P = A0 (1 - A1 (1 - A2 (...))) = sum_k (-1)^k A0 A1 ... Ak
    chain = np.cumprod(terms)
    signs = np.where(np.arange(k_max + 1) % 2 == 0, 1.0, -1.0)
    return float(2.0 * np.sum(signs * chain))


def _exact(n1: int, n2: int, g: int, d: float) -> tuple[bool, float, float]:
    if n1 == n2:
        lcm = (n1 // g) * n2
        h = int(np.round(d * lcm))
        d_exact = h * 1.0 / lcm
        if h == 0:
            return True, d_exact, 1.0
        prob = _prob_outside_square(n1, h)
        # Near 1, scipy's own rounding decides whether its exact attempt "succeeds" (p <= 1) or
        # falls back to the asymptotic formula; defer to it there so the choice is the same.
        if math.isfinite(prob) and 0.0 <= prob < 1.0 - 1e-9:
            return True, d_exact, prob
    try:
        from scipy.stats._stats_py import _attempt_exact_2kssamp
    except ImportError:  # scipy moved its private helper: ask the public API instead
        return _exact_public(n1, n2, d)
    ok, d_out, prob = _attempt_exact_2kssamp(n1, n2, g, d, "two-sided")
    return bool(ok), float(d_out), float(prob)


def _exact_public(n1: int, n2: int, d: float) -> tuple[bool, float, float]:  # pragma: no cover
    from scipy.stats import ks_2samp

    # Two synthetic samples with the same sizes and statistic give the same exact p-value.
    h = round(d * n1 * n2 / math.gcd(n1, n2))
    a = np.arange(n1, dtype=float)
    b = np.arange(n2, dtype=float) + h / max(n1, 1)
    res = ks_2samp(a, b, method="exact")
    return True, float(res.statistic), float(res.pvalue)


def ks_presorted(reference: NDArray[np.float64], window: ArrayLike,
                 method: str = "auto") -> KSResult:
    """KS test of ``window`` against a reference from :func:`sorted_reference`.

    NaNs in the window are dropped; an empty side gives ``method='empty'`` and a NaN p-value
    instead of scipy's ValueError, because an empty window is a normal state for a monitor.
    """
    win = np.asarray(window, dtype=np.float64).ravel()
    win = np.sort(win[~np.isnan(win)])
    n1, n2 = reference.shape[0], win.shape[0]
    if n1 == 0 or n2 == 0:
        return KSResult(math.nan, math.nan, n1, n2, "empty")
    d = _d_from_sorted(reference, win)
    stat, p, used = _p_value(d, n1, n2, method)
    return KSResult(stat, p, n1, n2, used)


def ks_many(references: Sequence[NDArray[np.float64]], windows: Sequence[ArrayLike] | ArrayLike,
            method: str = "auto", presorted: bool = False) -> list[KSResult]:
    """KS per feature; ``windows`` is a list of 1-D arrays or a 2-D (rows × features) array.

    Asymptotic p-values for all features are computed in one vectorised ``kstwo.sf`` call.
    ``presorted``: the windows come from :func:`sorted_window` (a caller reusing them).
    """
    if presorted:
        sorted_windows = [np.asarray(w, dtype=np.float64) for w in windows]  # type: ignore[union-attr]
    elif isinstance(windows, np.ndarray) and windows.ndim == 2:
        cols = np.sort(windows.astype(np.float64, copy=False), axis=0)  # NaNs sort last
        counts = (~np.isnan(cols)).sum(axis=0)
        sorted_windows = [cols[: counts[j], j] for j in range(cols.shape[1])]
    else:
        sorted_windows = []
        for w in windows:  # type: ignore[union-attr]
            arr = np.asarray(w, dtype=np.float64).ravel()
            sorted_windows.append(np.sort(arr[~np.isnan(arr)]))
    if len(sorted_windows) != len(references):
        raise ValueError(f"{len(references)} references but {len(sorted_windows)} windows")
    results: list[KSResult | None] = [None] * len(references)
    asymp_idx: list[int] = []
    asymp_d: list[float] = []
    asymp_en: list[float] = []
    for j, (ref, win) in enumerate(zip(references, sorted_windows, strict=True)):
        n1, n2 = ref.shape[0], win.shape[0]
        if n1 == 0 or n2 == 0:
            results[j] = KSResult(math.nan, math.nan, n1, n2, "empty")
            continue
        d = _d_from_sorted(ref, win)
        chosen = method if method != "auto" else ("exact" if max(n1, n2) <= MAX_AUTO_N
                                                  else "asymp")
        if chosen == "exact":
            stat, p, used = _p_value(d, n1, n2, "exact")
            results[j] = KSResult(stat, p, n1, n2, used)
        else:
            m, n = sorted([float(n1), float(n2)], reverse=True)
            asymp_idx.append(j)
            asymp_d.append(d)
            asymp_en.append(float(np.round(m * n / (m + n))))
    if asymp_idx:
        probs = kstwo_sf(np.asarray(asymp_d), np.asarray(asymp_en))
        for j, d, p in zip(asymp_idx, asymp_d, probs, strict=True):
            ref_n, win_n = references[j].shape[0], sorted_windows[j].shape[0]
            results[j] = KSResult(d, float(p), ref_n, win_n, "asymp")
    return [r for r in results if r is not None]
