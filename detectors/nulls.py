"""Null quantiles of the drift effects, computed for many columns at once.

What a clean window's effect stays under, without a bootstrap per column:

- **KS D, continuous column** (no value holds more than ``1/GRID`` of the reference): the
  two-sample null is distribution-free, so the quantile is the Kolmogorov one at the effective
  size ``n m / (n + m)`` (scipy's ``kstwo``, as the asymptotic p-value uses): one number per
  pair of sizes, shared by every such column.
- **KS D, column with ties**: ``sqrt(1/n + 1/m) · sup_k |B(t_k)|`` over the reference's
  cumulative shares ``t_k`` at its tie-group ends, ``B`` a Brownian bridge (Donsker). One
  matrix of bridge paths (seeded, ``DRAWS`` × ``BRIDGE_GRID``, 4 MB) serves every column and
  every window size; a column only reads its own points of it.
- **PSI, every category expected at least ``MIN_EXPECTED`` times on both sides**:
  ``chi2_q(K - 1) · (1/n + 1/m)`` (small-shift PSI is the chi-square divergence).
- **PSI, sparse categories**: a multinomial bootstrap of window and reference, all such
  columns of one window size drawn in one call (shares padded to the widest row).

``tests/detectors/test_nulls.py`` checks each shortcut against the per-column multinomial
bootstrap of :mod:`detectors.calibration` (the exact model of the reference's own noise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

DRAWS = 1000              # paths / draws: the 0.99 quantile is the 10th largest
MAX_DIRECT = 0.99         # higher quantiles: scaled by the null's tail shape
BRIDGE_GRID = 1024        # points of each bridge path; a share is rounded to 1/1024
GRID = 1024               # a column is continuous when no value holds more than 1/GRID of it
MIN_EXPECTED = 5.0        # the chi-square rule for an asymptotic PSI quantile
SEED = 20_241_130
PSI_EPS = 1e-4


def effective_size(n: int, m: int) -> float:
    return n * m / (n + m) if n > 0 and m > 0 else 0.0


@lru_cache(maxsize=4096)
def ks_continuous(n: int, m: int, quantile: float) -> float:
    """The ``quantile`` of two-sample D for a continuous column: Kolmogorov's at the effective
    size (rounded, as scipy's asymptotic p-value does)."""
    if n <= 0 or m <= 0:
        return 0.0
    from scipy.stats import kstwo

    en = max(1, round(effective_size(n, m)))
    return min(1.0, float(kstwo.isf(1.0 - quantile, en)))


def ks_tail(quantile: float) -> float:
    """How far the ``quantile`` of a KS null lies past its 0.99 quantile (the Kolmogorov tail
    ``P(D > x) ~ 2 exp(-2 n x^2)``); 1 at or below 0.99."""
    if quantile <= MAX_DIRECT:
        return 1.0
    return math.sqrt(math.log(2.0 / (1.0 - quantile)) / math.log(2.0 / (1.0 - MAX_DIRECT)))


class Bridge:
    """``DRAWS`` Brownian-bridge paths on ``BRIDGE_GRID`` points, drawn once (seeded) and read
    by every column with ties: ``sup |B|`` at a column's own cumulative shares."""

    def __init__(self, draws: int = DRAWS, grid: int = BRIDGE_GRID, seed: int = SEED) -> None:
        rng = np.random.default_rng(seed)
        steps = rng.standard_normal((draws, grid), dtype=np.float32)
        walk = np.cumsum(steps, axis=1, dtype=np.float32) / np.float32(math.sqrt(grid))
        t = (np.arange(1, grid + 1, dtype=np.float32) / np.float32(grid))
        self.paths = np.abs(walk - t * walk[:, -1:])      # |B(k / grid)|, k = 1..grid
        self.grid = grid

    def sup(self, shares: NDArray[np.float64], quantile: float) -> float:
        """The ``quantile`` of ``sup_k |B(t_k)|`` over cumulative shares ``t_k`` in (0, 1)."""
        idx = np.unique(np.clip(np.rint(shares * self.grid).astype(np.intp) - 1, 0,
                                self.grid - 1))
        if idx.size == 0:
            return 0.0
        sup = self.paths[:, idx].max(axis=1)
        return float(np.quantile(sup, min(quantile, MAX_DIRECT))) * ks_tail(quantile)


def ks_with_ties(bridge: Bridge, cells: NDArray[np.int64], n: int, quantile: float,
                 distinct: int) -> float:
    """D a clean window of ``n`` stays under against a reference cut into ``cells`` (counts at
    tie-group boundaries); when the cells merged values (``distinct`` > cells), the sup between
    cell edges is added as the Broadie–Glasserman–Kou term."""
    m = int(cells.sum())
    if m == 0 or n <= 0 or cells.size < 2:
        return 0.0
    spread = math.sqrt(1.0 / n + 1.0 / m)
    out = spread * bridge.sup(np.cumsum(cells)[:-1] / m, quantile)
    if distinct > cells.size:
        out += 0.5826 * spread / math.sqrt(cells.size)
    return min(out, 1.0)


def psi_asymptotic(categories: int, n: int, m: int, quantile: float) -> float:
    """``chi2_quantile(K - 1) · (1/n + 1/m)``: PSI a clean window stays under."""
    if categories < 2 or n <= 0 or m <= 0:
        return 0.0
    from scipy.stats import chi2

    return float(chi2.ppf(quantile, categories - 1)) * (1.0 / n + 1.0 / m)


def psi_conditional(categories: int, n: int, m: int, quantile: float, band: float) -> float:
    """PSI a clean window stays under with probability ``quantile`` **given its reference**,
    for any reference whose own sampling error lies within its ``band`` quantile.

    The chi-square null ``χ²(K−1)·(1/n+1/m)`` averages over references; every window of a
    deployment meets the same one, so an unlucky reference raises the false alarms of all of
    them. Given the reference, ``PSI·n`` is noncentral ``χ²(K−1, λ)`` with ``λ = (n/m)·Z²``
    (``Z²`` the reference's own chi-square distance from the population, ``χ²(K−1)`` over
    references), so bounding ``Z²`` by its ``band`` quantile bounds the rate for all but
    ``1 − band`` of references. A reference much larger than the window (``n/m → 0``) leaves
    the plain chi-square quantile; one of similar size needs a wide margin."""
    if categories < 2 or n <= 0 or m <= 0:
        return 0.0
    from scipy.stats import chi2, ncx2

    dof = categories - 1
    return float(ncx2.ppf(quantile, dof, n / m * float(chi2.ppf(band, dof)))) / n


def psi_is_asymptotic(row: NDArray[np.int64], n: int) -> bool:
    """Every category expected ``MIN_EXPECTED`` times in the window and in the reference."""
    m = int(row.sum())
    nz = row[row > 0]
    if m == 0 or nz.size < 2:
        return True
    least = float(nz.min()) / m
    return least * n >= MIN_EXPECTED and least * m >= MIN_EXPECTED


def psi_bootstrap(rows: Sequence[NDArray[np.int64]], n: int, quantile: float,
                  draws: int = DRAWS, seed: int = SEED) -> list[float]:
    """The ``quantile`` of PSI between a window of ``n`` and a reference of each row's total,
    both drawn from the row's shares: all rows in one multinomial call per side (rows padded
    with empty categories, which add nothing to PSI)."""
    if not rows:
        return []
    width = max(r.size for r in rows)
    probs = np.zeros((len(rows), width))
    totals = np.zeros(len(rows), dtype=np.int64)
    for i, r in enumerate(rows):
        totals[i] = int(r.sum())
        if totals[i] > 0:
            probs[i, : r.size] = r / totals[i]
    ok = (totals > 0) & (np.count_nonzero(probs, axis=1) >= 2) & (n > 0)
    out = [0.0] * len(rows)
    if not ok.any():
        return out
    p = probs[ok]
    m = totals[ok]
    rng = np.random.default_rng(seed)
    wp = np.clip(rng.multinomial(n, p, size=(draws, p.shape[0])) / n, PSI_EPS, None)
    rp = np.clip(rng.multinomial(m, p, size=(draws, p.shape[0])) / m[None, :, None], PSI_EPS,
                 None)
    psi = ((wp - rp) * np.log(wp / rp)).sum(axis=2)      # draws × rows; padding adds 0
    q = np.quantile(psi, min(quantile, MAX_DIRECT), axis=0)
    if quantile > MAX_DIRECT:
        from scipy.stats import chi2

        dof = np.maximum(np.count_nonzero(p, axis=1) - 1, 1)
        q = q * chi2.ppf(quantile, dof) / chi2.ppf(MAX_DIRECT, dof)
    for j, v in zip(np.flatnonzero(ok).tolist(), q.tolist(), strict=True):
        out[j] = float(v)
    return out
