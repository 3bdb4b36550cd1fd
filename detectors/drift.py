"""Drift across many features, one registered test per data kind (:mod:`detectors.stattests`:
KS for numbers, chi-square/PSI/Jensen–Shannon for categories).

A feature alarms only when its corrected p-value is significant AND its effect size reaches its
threshold: with 100k-row windows every tiny shift is "significant", and an alarm nobody acts on is
noise. The threshold is calibrated on the reference (how far the effect moves between samples of
the window's size when nothing changed, :mod:`detectors.calibration`); a floor derived from the
sizes takes over past a resolution, and explicit floors or fixed levels still win
(:mod:`detectors.verdict`). :class:`detectors.detector.DriftDetector` is the form fitted once on a
reference; :func:`detect_drift` is the one-call form on prepared columns.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors import stattests
from detectors.calibration import CalibrationCache, column_quantile
from detectors.categorical import (
    MAX_CATEGORIES,
    PSI_EPS,
    ChiSquareResult,
    chi_square,
    numeric_psi,
    psi_from_counts,
    reference_cells,
)
from detectors.detector import DriftDetector, DriftReport, Skipped
from detectors.ks import sorted_window
from detectors.verdict import (
    MIN_KS_EFFECT,
    MIN_PSI,
    RESOLUTION,
    Correction,
    DriftThresholds,
    FeatureDrift,
    Levels,
    Rule,
    ThresholdSource,
    adjust_p_values,
)

__all__ = ["MAX_CATEGORIES", "MIN_KS_EFFECT", "MIN_PSI", "PSI_EPS", "RESOLUTION",
           "ChiSquareResult", "Correction", "DriftDetector", "DriftInput", "DriftReport",
           "DriftThresholds", "FeatureDrift", "Levels", "Rule", "Skipped", "ThresholdSource",
           "adjust_p_values", "calibrated_threshold", "chi_square", "detect_drift",
           "numeric_psi", "psi_from_counts", "reference_cells"]


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
    detector = DriftDetector(thresholds=thresholds, cache=cache)
    for name, ref in data.numeric_refs.items():
        if name in data.numeric_windows:
            detector.add_numeric(name, ref)
    for name, counts in data.categorical_refs.items():
        if name in data.categorical_windows:
            detector.add_categorical(name, counts)
    windows = {name: sorted_window(data.numeric_windows[name]) for name in data.numeric_refs
               if name in data.numeric_windows}    # a numeric flag's too (a category now)
    return detector.check_prepared(windows, {k: data.categorical_windows[k]
                                             for k in data.categorical_refs
                                             if k in data.categorical_windows}).columns


def calibrated_threshold(data: DriftInput, feature: str, test: str, n_window: int,
                         quantile: float, family: int = 1,
                         cache: CalibrationCache | None = None) -> float:
    """The feature's effect (KS D or PSI) between reference samples of the window's size that
    ``family`` clean columns all stay under with probability ``quantile``: its reference's own
    noise level (see :func:`detectors.calibration.column_quantile`)."""
    quantile = column_quantile(quantile, family)
    st = stattests.get(test)
    return st.calibrate(data.columns(st.kind)[0][feature], n_window, quantile, cache)


