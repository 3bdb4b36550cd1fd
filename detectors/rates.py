"""Ratios (errors, fallbacks, negative feedback, nulls) that do not page on tiny samples.

A ratio alarms only when the lower Wilson bound of its true value is past the level and at least
``min_count`` events were seen: 3 failures out of 4 requests at night is not an incident.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from detectors.thresholds import Status, classify

Z_99 = 2.5758293035489004   # two-sided 99 %
#: the fewest events a ratio is judged on (the sidecar and the generated rules alike)
MIN_EVENTS = 20


def wilson_interval(bad: float, total: float, z: float = Z_99) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (nan, nan) for no trials."""
    if total <= 0:
        return math.nan, math.nan
    p = min(max(bad / total, 0.0), 1.0)
    z2 = z * z
    denom = 1.0 + z2 / total
    centre = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class RatioResult:
    value: float          # point estimate bad/total
    lower: float          # Wilson lower bound
    upper: float
    bad: float
    total: float
    status: Status


def ratio_status(bad: float, total: float, warning: float | None, critical: float | None,
                 min_count: int = MIN_EVENTS, z: float = Z_99, higher_is_worse: bool = True,
                 previous: Status | None = None, hysteresis: float = 0.0) -> RatioResult:
    """Classify a ratio by its confidence bound on the side that matters."""
    if total <= 0 or total < min_count:
        value = bad / total if total > 0 else math.nan
        lo, hi = wilson_interval(bad, total, z)
        return RatioResult(value, lo, hi, bad, total, Status.NO_DATA)
    lo, hi = wilson_interval(bad, total, z)
    judged = lo if higher_is_worse else hi
    status = classify(judged, warning, critical, higher_is_worse, previous, hysteresis)
    return RatioResult(bad / total, lo, hi, bad, total, status)
