"""Drift across many features, one registered test per data kind (:mod:`detectors.stattests`:
KS for numbers, chi-square/PSI/Jensen–Shannon for categories).

A feature alarms only when its corrected p-value is significant AND its effect size passes its
threshold: with 100k-row windows every tiny shift is "significant", and an alarm nobody acts on is
noise. The threshold is calibrated on the reference (how far the effect moves between samples of
the window's size when nothing changed, :mod:`detectors.calibration`) and never below a small
absolute floor; with ``calibration=None`` it is the fixed floor alone, as a user may pin it.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors import stattests
from detectors.calibration import DEFAULT_QUANTILE, CalibrationCache, column_quantile
from detectors.categorical import (
    MAX_CATEGORIES,
    PSI_EPS,
    ChiSquareResult,
    chi_square,
    numeric_psi,
    psi_from_counts,
    reference_cells,
)
from detectors.thresholds import Status

__all__ = ["MAX_CATEGORIES", "PSI_EPS", "ChiSquareResult", "DriftInput", "DriftThresholds",
           "FeatureDrift", "adjust_p_values", "calibrated_threshold", "chi_square",
           "detect_drift", "numeric_psi", "psi_from_counts", "reference_cells"]

Correction = Literal["bh", "bonferroni", "none"]
_NUMERIC, _CATEGORICAL = stattests.for_kind("numeric"), stattests.for_kind("categorical")
MIN_KS_EFFECT = _NUMERIC.floor     # floor under a calibrated numeric threshold
MIN_PSI = _CATEGORICAL.floor       # floor under a calibrated categorical threshold
ThresholdSource = Literal["calibrated", "floor"]


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    test: str                 # a registered drift test (detectors.stattests)
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
    warning_effect: float = _NUMERIC.warning
    critical_effect: float = _NUMERIC.critical
    alpha: float = 0.01
    correction: Correction = "bh"
    min_samples: int = 30
    categorical_warning_psi: float = _CATEGORICAL.warning
    categorical_critical_psi: float = _CATEGORICAL.critical
    calibration: float | None = DEFAULT_QUANTILE   # None: the warning floors above alone
    min_ks_effect: float = MIN_KS_EFFECT
    min_psi: float = MIN_PSI

    def levels(self, test: str, calibrated: float | None
               ) -> tuple[float, ThresholdSource, float]:
        """(warning effect, where it came from, critical effect) for one column."""
        warn, crit, floor = self.fixed(stattests.get(test).kind)
        if self.calibration is None or calibrated is None:
            return warn, "floor", max(crit, warn)
        if calibrated >= floor:
            return calibrated, "calibrated", max(crit, calibrated)
        return floor, "floor", max(crit, floor)

    def fixed(self, kind: stattests.Kind) -> tuple[float, float, float]:
        """(warning, critical, floor) set for a data kind (its test's defaults unless given)."""
        if kind == "numeric":
            return self.warning_effect, self.critical_effect, self.min_ks_effect
        return self.categorical_warning_psi, self.categorical_critical_psi, self.min_psi


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

    def columns(self, kind: stattests.Kind) -> tuple[dict[str, Any], dict[str, Any]]:
        """(references, windows) of one data kind."""
        if kind == "numeric":
            return self.numeric_refs, self.numeric_windows
        return self.categorical_refs, self.categorical_windows


def detect_drift(data: DriftInput, thresholds: DriftThresholds | None = None,
                 cache: CalibrationCache | None = None) -> list[FeatureDrift]:
    """Test every feature, correct for multiple testing, and classify each by its effect against
    its threshold (calibrated per column unless ``thresholds.calibration`` is None). ``cache``
    keeps calibrations across calls (one per reference and window size)."""
    t = thresholds or DriftThresholds()
    rows: list[tuple[str, str, float, float, float, float, int, int, tuple[Hashable, ...],
                     float | None]] = []
    for st in stattests.REGISTRY.values():
        refs, windows = data.columns(st.kind)
        names = [f for f in refs if f in windows]
        if not names:
            continue
        for f, r in zip(names, st.run([refs[f] for f in names], [windows[f] for f in names]),
                        strict=True):
            rows.append((f, st.name, r.statistic, r.p_value, r.effect, r.psi, r.n_reference,
                         r.n_window, r.unseen, r.new_share))
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
    st = stattests.get(test)
    return st.calibrate(data.columns(st.kind)[0][feature], n_window, quantile, cache)
