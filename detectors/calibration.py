"""Effect-size thresholds calibrated on the reference itself.

A fixed floor (KS D >= 0.1) is wrong both ways: at 5,000 rows a credit score shifting by D = 0.09
is real and missed; at 100,000 rows the sampling noise alone is D ~ 0.007, so the floor is far
above what the data can tell apart. Here the threshold is how far the same statistic moves when
nothing changed: the ``quantile`` of the effect between a window of the live window's size and a
reference of the reference's size, both drawn from the reference's own distribution. The drift
rule then alarms on a column only when it is significant (corrected p-value) and its effect
passes this threshold (and the floor of :mod:`detectors.verdict` for very large windows).

The quantiles come from :mod:`detectors.nulls` (closed forms for continuous columns and
well-filled categories, one shared bridge for numeric columns with ties, one vectorised
bootstrap for sparse categories). :func:`ks_null` and :func:`psi_null` are the per-column
multinomial bootstrap (numbers cut into at most ``GRID`` cells at tie-group boundaries, with the
Broadie–Glasserman–Kou term when cells merged values): the exact model of the reference's noise
the fast paths are tested against.

Pure and deterministic (seeded); :class:`CalibrationCache` keeps results per reference and window
size, bounded, so a tick does not redo them.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors import nulls

DEFAULT_QUANTILE = 0.999  # family quantile: a clean window alarms at most 1 time in 1,000
DRAWS = 1000              # bootstrap draws: the 0.99 quantile is the 10th largest
MAX_DIRECT = 0.99         # higher quantiles: the draws' 0.99 quantile scaled by the null's tail
GRID = 1024               # most cells a numeric reference is cut into
SEED = 20_241_130         # fixed: the same reference and sizes always give the same threshold
CACHE_CAP = 512           # calibrations kept; the least recently used is evicted past it
_BGK = 0.5826             # -zeta(1/2)/sqrt(2 pi): bias of a Brownian maximum seen on a grid
PSI_EPS = 1e-4            # the same proportion floor as detectors.drift.PSI_EPS


def column_quantile(family: float, columns: float) -> float:
    """The per-column quantile for a family of ``columns`` tested together: a clean window's
    columns all stay under their thresholds with probability at least ``family`` (Bonferroni),
    so one more monitored column does not add false alarms. ``columns`` may be a share of the
    family (:func:`calibration_split`)."""
    return 1.0 - (1.0 - family) / max(1.0, columns)


def category_cap(row: NDArray[np.int64], n: int, family: float, alpha: float,
                 quantile: float = DEFAULT_QUANTILE) -> float | None:
    """A well-filled category's threshold is never above the PSI at which its windows, against
    this reference (within its own ``1 − alpha`` band), alarm at the chi-square test's level
    (``alpha`` split over ``family`` as the p-values): :func:`nulls.psi_conditional`. PSI and
    the chi-square statistic read one distance between the shares with one null, so a
    stricter quantile only re-tests significance at a level nobody set; the margin left is
    the one a reference about the window's size needs. A calibration stricter than the
    default (an objective's ``p99.99``) lowers that level by the same factor. None where the
    cells are too sparse for the asymptotics (the bootstrap's calibration stands)."""
    if not nulls.psi_is_asymptotic(row, n):
        return None
    level = alpha * min(1.0, (1.0 - quantile) / (1.0 - DEFAULT_QUANTILE))
    return nulls.psi_conditional(int(np.count_nonzero(row)), n, int(row.sum()),
                                 column_quantile(1.0 - level, family), 1.0 - alpha)


def calibration_split(p_adjusted: Sequence[float], alpha: float,
                      correction: str = "bh") -> float:
    """What the family's calibration quantile is split over, following the p-values'
    correction, so the two do not correct for the same columns twice.

    Benjamini–Hochberg lets each of the R columns it finds significant (of k tested) through
    at level ``alpha · R / k``; the calibrated thresholds take the same step: ``k / R`` (never
    more than k). A clean window has R at most 1, so its columns are held to the full
    Bonferroni split as before; when several columns drift together, a column is not held
    ten times stricter than the test that found it. Bonferroni: k; no correction: 1."""
    tested = [p for p in p_adjusted if not math.isnan(p)]
    k = len(tested)
    if correction == "none":
        return 1.0
    if correction == "bonferroni":
        return float(max(1, k))
    found = sum(1 for p in tested if p < alpha)
    return max(1, k) / max(1, found)


def window_key(n: int) -> int:
    """``n`` rounded down to a grid of 8 steps per doubling: a filling window reuses the
    calibration of a size at most 9 % smaller (a slightly higher, safer threshold). A key is
    its own key (the grid point is rounded up to a whole size, never past ``n``)."""
    if n < 16:
        return max(n, 1)
    step = math.floor(8 * math.log2(n)) / 8
    return max(16, min(n, math.ceil(2.0 ** step)))


def numeric_cells(reference_sorted: NDArray[np.float64], grid: int = GRID) -> NDArray[np.int64]:
    """Counts of the reference in at most ``grid`` cells whose edges fall between distinct
    values (ties never split), close to equal mass."""
    ref = reference_sorted
    m = ref.size
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    group_ends = np.flatnonzero(np.diff(ref) != 0) + 1          # start of each new value
    ends = np.concatenate((group_ends, [m]))                     # cumulative count at group end
    if ends.size > grid:
        targets = np.linspace(0, m, grid + 1)[1:]
        ends = np.unique(ends[np.minimum(np.searchsorted(ends, targets, side="left"),
                                         ends.size - 1)])
    return np.diff(np.concatenate(([0], ends))).astype(np.int64)


def ks_null(cells: NDArray[np.int64], n_window: int, quantile: float, draws: int = DRAWS,
            seed: int = SEED, distinct: int | None = None) -> float:
    """The ``quantile`` of two-sample KS D between a window of ``n_window`` and a reference of
    ``cells.sum()`` values, both drawn from the reference's cell distribution.

    ``distinct``: distinct values in the reference; when the cells merged some, the grid
    correction is added (the sup between grid points is not seen by the bootstrap).
    """
    m = int(cells.sum())
    if m == 0 or n_window <= 0 or cells.size < 2:
        return 0.0
    p = cells / m
    rng = np.random.default_rng(seed)
    win = rng.multinomial(n_window, p, size=draws).cumsum(axis=1) / n_window
    ref = rng.multinomial(m, p, size=draws).cumsum(axis=1) / m
    d = np.abs(win - ref).max(axis=1)
    out = float(np.quantile(d, min(quantile, MAX_DIRECT)))
    if quantile > MAX_DIRECT:
        # past what the draws resolve: the Kolmogorov tail, P(D > x) ~ 2 exp(-2 n_eff x^2)
        out *= math.sqrt(math.log(2.0 / (1.0 - quantile)) / math.log(2.0 / (1.0 - MAX_DIRECT)))
    if distinct is not None and distinct > cells.size:
        out += _BGK * math.sqrt(1.0 / n_window + 1.0 / m) / math.sqrt(cells.size)
    return min(out, 1.0)   # D never exceeds 1, however far the tail and grid terms reach


def psi_null(reference_row: ArrayLike, n_window: int, quantile: float, draws: int = DRAWS,
             seed: int = SEED) -> float:
    """The ``quantile`` of PSI between a window of ``n_window`` and a reference of the row's
    total, both drawn from the reference's category shares (``reference_row``: counts)."""
    row = np.asarray(reference_row, dtype=np.float64)
    m = int(row.sum())
    if m == 0 or n_window <= 0 or np.count_nonzero(row) < 2:
        return 0.0
    p = row / m
    rng = np.random.default_rng(seed)
    wp = np.clip(rng.multinomial(n_window, p, size=draws) / n_window, PSI_EPS, None)
    rp = np.clip(rng.multinomial(m, p, size=draws) / m, PSI_EPS, None)
    psi = np.sum((wp - rp) * np.log(wp / rp), axis=1)
    out = float(np.quantile(psi, min(quantile, MAX_DIRECT)))
    if quantile > MAX_DIRECT:
        # past what the draws resolve: PSI ~ chi-square(K - 1) / n_eff for small shifts
        from scipy.stats import chi2

        dof = np.count_nonzero(row) - 1
        out *= float(chi2.ppf(quantile, dof) / chi2.ppf(MAX_DIRECT, dof))
    return out


@dataclass(frozen=True)
class NumericShape:
    """What a KS calibration depends on besides the sizes: the reference's cells and ties."""

    cells: NDArray[np.int64]
    distinct: int
    key: Hashable
    continuous: bool      # no value holds more than 1/GRID of the reference


def numeric_shape(reference_sorted: NDArray[np.float64]) -> NumericShape:
    cells = numeric_cells(reference_sorted)
    m = reference_sorted.size
    if m == 0:
        return NumericShape(cells, 0, ("continuous", 0), True)
    starts = np.flatnonzero(np.diff(reference_sorted)) + 1
    distinct = int(starts.size) + 1
    largest = int(np.diff(np.concatenate(([0], starts, [m]))).max())
    # ties this rare move D's null by less than a grid step: such columns share one entry
    continuous = largest * nulls.GRID <= m or distinct == m
    key: Hashable = ("continuous", m) if continuous else fingerprint(cells)
    return NumericShape(cells, distinct, key, continuous)


def drawn_quantile(quantile: float) -> float:
    """The quantile the draws are read at: past ``MAX_DIRECT`` a threshold is the one at
    ``MAX_DIRECT`` scaled by its null's tail, so one set of draws per column and window size
    serves every quantile past it (a family split over any share of its columns, an
    objective's own calibration) and is cached once, under this quantile."""
    return min(quantile, MAX_DIRECT)


def ks_ties_at(drawn: float, quantile: float, shape: NumericShape, n: int, m: int) -> float:
    """A tied column's KS threshold at ``quantile`` from the one at :func:`drawn_quantile`
    (:func:`detectors.nulls.ks_with_ties`): the bridge's sup scaled by the Kolmogorov tail,
    the grid term added as it was."""
    if quantile <= MAX_DIRECT or drawn <= 0.0 or drawn >= 1.0 or n <= 0 or m <= 0:
        return drawn
    grid = (_BGK * math.sqrt(1.0 / n + 1.0 / m) / math.sqrt(shape.cells.size)
            if shape.distinct > shape.cells.size else 0.0)
    return min((drawn - grid) * nulls.ks_tail(quantile) + grid, 1.0)


def psi_drawn_at(drawn: float, quantile: float, row: NDArray[np.int64]) -> float:
    """A sparse column's PSI threshold at ``quantile`` from the bootstrap's at
    :func:`drawn_quantile` (:func:`detectors.nulls.psi_bootstrap`): scaled by the
    chi-square tail of its categories."""
    if quantile <= MAX_DIRECT or drawn <= 0.0:
        return drawn
    return drawn * _chi2_tail(quantile, max(int(np.count_nonzero(row)) - 1, 1))


@lru_cache(maxsize=1024)
def _chi2_tail(quantile: float, dof: int) -> float:
    from scipy.stats import chi2

    return float(chi2.ppf(quantile, dof) / chi2.ppf(MAX_DIRECT, dof))


def ks_threshold(reference_sorted: NDArray[np.float64], n_window: int, quantile: float,
                 cache: CalibrationCache | None = None) -> float:
    """Calibrated KS D threshold for windows of ``n_window`` against this sorted reference:
    the Kolmogorov quantile for a continuous column, the bridge over its cells for one with
    ties (:mod:`detectors.nulls`)."""
    n = window_key(n_window)
    cache = cache if cache is not None else CalibrationCache()
    shape = cache.shape(reference_sorted)
    m = int(reference_sorted.size)
    if shape.continuous:
        return cache.get(("ks", n, m, round(quantile, 9)),
                         lambda: nulls.ks_continuous(n, m, quantile))
    q = drawn_quantile(quantile)
    drawn = cache.get(("ks", n, round(q, 9), shape.key),
                      lambda: nulls.ks_with_ties(cache.bridge, shape.cells, n, q,
                                                 shape.distinct))
    return ks_ties_at(drawn, quantile, shape, n, m)


def psi_threshold(reference_row: ArrayLike, n_window: int, quantile: float,
                  cache: CalibrationCache | None = None) -> float:
    """Calibrated PSI threshold for categorical windows of ``n_window`` against these counts:
    chi-square when every category is expected often enough, else the bootstrap."""
    row = np.asarray(reference_row, dtype=np.int64)
    n = window_key(n_window)
    if nulls.psi_is_asymptotic(row, n):
        return nulls.psi_asymptotic(int(np.count_nonzero(row)), n, int(row.sum()), quantile)
    q = drawn_quantile(quantile)

    def compute() -> float:
        return nulls.psi_bootstrap([row], n, q)[0]
    drawn = compute() if cache is None else cache.get(("psi", n, round(q, 9),
                                                       fingerprint(row)), compute)
    return psi_drawn_at(drawn, quantile, row)


def fingerprint(counts: NDArray[np.int64]) -> Hashable:
    return ("cells", counts.size, int(counts.sum()), hash(counts.astype(np.int64).tobytes()))


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evicted: int = 0     # the overflow: entries dropped past the cap


class CalibrationCache:
    """Least-recently-used map of calibrations, at most ``cap`` entries; beside it, the shape
    of each reference array seen (by identity, checked through a weak reference), so a tick
    with the same reference object does not rescan it. References are never changed in place
    (they are sorted copies), which is what makes identity a safe key."""

    def __init__(self, cap: int = CACHE_CAP) -> None:
        self.cap = cap
        self.stats = CacheStats()
        self._data: OrderedDict[Hashable, float] = OrderedDict()
        self._shapes: OrderedDict[int, tuple[weakref.ref[Any], NumericShape]] = OrderedDict()
        self._bridge: nulls.Bridge | None = None
        self._lock = threading.RLock()    # a calibration may run beside the tick (sidecar)

    @property
    def bridge(self) -> nulls.Bridge:
        """The bridge paths every column with ties reads (drawn on first use, 4 MB)."""
        with self._lock:
            if self._bridge is None:
                self._bridge = nulls.Bridge()
            return self._bridge

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def shape(self, reference_sorted: NDArray[np.float64]) -> NumericShape:
        with self._lock:
            entry = self._shapes.get(id(reference_sorted))
            if entry is not None and entry[0]() is reference_sorted:
                self._shapes.move_to_end(id(reference_sorted))
                return entry[1]
        shape = numeric_shape(reference_sorted)
        with self._lock:
            self._shapes[id(reference_sorted)] = (weakref.ref(reference_sorted), shape)
            if len(self._shapes) > self.cap:
                self._shapes.popitem(last=False)
        return shape

    def __len__(self) -> int:
        return len(self._data)

    def peek(self, key: Hashable) -> float | None:
        """The value if present (a hit), else None (nothing computed)."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
                self.stats.hits += 1
            return value

    def put(self, key: Hashable, value: float) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self.cap:
                self._data.popitem(last=False)
                self.stats.evicted += 1

    def get(self, key: Hashable, compute: Callable[[], float]) -> float:
        value = self.peek(key)
        if value is not None:
            return value
        self.stats.misses += 1
        value = compute()
        self.put(key, value)
        return value
