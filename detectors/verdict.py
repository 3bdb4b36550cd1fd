"""One column's drift verdict and the rules that decide it.

A column alarms when its shift is **significant** (corrected p-value < alpha) **and** its effect
(KS D for numbers, PSI for categories) reaches its threshold. The threshold is the column's own
**calibrated** noise level (:mod:`detectors.calibration`) unless a **floor** is higher. The floor
follows the sizes: past ``resolution`` effective rows (``n m / (n + m)``) a threshold stops
shrinking, it is the column's null quantile at that resolution (KS scales as ``1/sqrt(size)``,
PSI as ``1/size``), so a 0.03-sd shift in 100,000-row windows, significant and above the noise,
does not alarm, while a boolean's 3-point shift in 6,000-row windows does. An explicit
``min_ks_effect`` / ``min_psi`` is a fixed floor instead, and ``calibration=None`` pins the fixed
``warning`` / ``critical`` levels. Every verdict names the rule that decided it.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from detectors import stattests
from detectors.calibration import DEFAULT_QUANTILE
from detectors.thresholds import Status

Correction = Literal["bh", "bonferroni", "none"]
ThresholdSource = Literal["calibrated", "floor", "fixed"]
#: which rule decided a column: not significant; significant and judged against the calibrated
#: threshold, the floor, or fixed levels; left out as time-like; too few values to test
Rule = Literal["significance", "calibrated", "floor", "fixed", "time_like", "too_few"]
_NUMERIC, _CATEGORICAL = stattests.for_kind("numeric"), stattests.for_kind("categorical")
MIN_KS_EFFECT = _NUMERIC.floor     # fixed floors used where the sizes are unknown (levels())
MIN_PSI = _CATEGORICAL.floor
RESOLUTION = 10_000                # effective rows past which thresholds stop shrinking


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
    rule: Rule | None = None           # which rule decided the status
    floor: float | None = None         # the floor under the calibrated threshold
    floor_reason: str | None = None    # how the floor was derived (sizes, or the option set)
    kind_reason: str | None = None     # why a column is tested as it is (a flag as a category)

    @property
    def score(self) -> float:
        """What the agent exports: the effect size when significant, else 0."""
        return self.effect if self.significant and math.isfinite(self.effect) else 0.0


@dataclass(frozen=True)
class Levels:
    warning: float
    critical: float
    source: ThresholdSource
    floor: float | None
    floor_reason: str | None


@dataclass(frozen=True)
class DriftThresholds:
    warning_effect: float = _NUMERIC.warning
    critical_effect: float = _NUMERIC.critical
    alpha: float = 0.01
    correction: Correction = "bh"
    min_samples: int = 30
    categorical_warning_psi: float = _CATEGORICAL.warning
    categorical_critical_psi: float = _CATEGORICAL.critical
    calibration: float | None = DEFAULT_QUANTILE   # None: the fixed warning levels above
    min_ks_effect: float | None = None   # None: the floor follows the sizes (resolution)
    min_psi: float | None = None
    resolution: int = RESOLUTION

    def fixed(self, kind: stattests.Kind) -> tuple[float, float, float | None]:
        """(warning, critical, explicit floor) set for a data kind."""
        if kind == "numeric":
            return self.warning_effect, self.critical_effect, self.min_ks_effect
        return self.categorical_warning_psi, self.categorical_critical_psi, self.min_psi

    def floor(self, test: str, calibrated: float, n: int, m: int) -> tuple[float, str]:
        """The floor under ``calibrated`` for a window of ``n`` against a reference of ``m``,
        and how it was derived."""
        kind = stattests.get(test).kind
        explicit = self.fixed(kind)[2]
        if explicit is not None:
            name = "min_ks_effect" if kind == "numeric" else "min_psi"
            return explicit, f"{name} {explicit:g}, set explicitly"
        size = n * m / (n + m) if n > 0 and m > 0 else 0.0
        ratio = size / self.resolution
        value = calibrated * (math.sqrt(ratio) if kind == "numeric" else ratio)
        return value, (f"the column's threshold at {self.resolution:,} effective rows "
                       f"(window {n:,}, reference {m:,}: {size:,.0f} effective); larger "
                       f"windows are judged at that resolution")

    def resolve(self, test: str, calibrated: float | None, n: int, m: int) -> Levels:
        """The levels one column is judged against."""
        warn, crit, _ = self.fixed(stattests.get(test).kind)
        if self.calibration is None or calibrated is None:
            return Levels(warn, max(crit, warn), "fixed", None, None)
        floor, why = self.floor(test, calibrated, n, m)
        if floor > calibrated:
            return Levels(floor, max(crit, floor), "floor", floor, why)
        return Levels(calibrated, max(crit, calibrated), "calibrated", floor, why)

    def levels(self, test: str, calibrated: float | None
               ) -> tuple[float, Literal["calibrated", "floor"], float]:
        """(warning effect, where it came from, critical effect) without the sizes: the
        registered fixed floors stand in for the derived one (a re-judged stored row)."""
        kind = stattests.get(test).kind
        warn, crit, explicit = self.fixed(kind)
        floor = explicit if explicit is not None else stattests.for_kind(kind).floor
        if self.calibration is None or calibrated is None:
            return warn, "floor", max(crit, warn)
        if calibrated >= floor:
            return calibrated, "calibrated", max(crit, calibrated)
        return floor, "floor", max(crit, floor)


def decide(effect: float, significant: bool, levels: Levels) -> tuple[Status, Rule]:
    """The status and the rule that decided it."""
    if not significant:
        return Status.OK, "significance"
    rule: Rule = "calibrated" if levels.source == "calibrated" else \
        "floor" if levels.source == "floor" else "fixed"
    if effect >= levels.critical:
        return Status.CRITICAL, rule
    if effect >= levels.warning:
        return Status.WARNING, rule
    return Status.OK, rule


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
