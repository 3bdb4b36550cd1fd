"""How long a distribution shift takes to be detected by a windowed two-sample KS test.

A window holding a share ``f`` of post-shift values has the mixture CDF ``(1-f)F + fG``, so its KS
distance to the reference is exactly ``f`` times the shift's own distance ``D``. The drift is
reported once ``f·D`` clears both the effect floor and the test's critical value at the
(Bonferroni-bounded) significance level; the share ``f`` of the window fills at the sampled
traffic rate. Evaluation cadence and the objective's ``for`` add to the delay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def ks_critical(alpha: float, n: int, m: int) -> float:
    """Asymptotic two-sample KS critical distance (Smirnov): sqrt(-ln(alpha/2)/2 · (n+m)/(nm))."""
    return math.sqrt(-math.log(alpha / 2.0) / 2.0 * (n + m) / (n * m))


@dataclass(frozen=True)
class Detection:
    seconds: float | None
    samples: int | None          # post-shift samples the window needs
    share: float | None          # share of the window they make up
    reason: str | None = None


def detection_time(shift: float, floor: float, alpha: float, tests: int, window: int,
                   reference: int, min_samples: int, rate: float, interval: float,
                   hold: float = 0.0, span: float = math.inf) -> Detection:
    """Seconds from a shift of KS size ``shift`` to an alert at effect ``floor``.

    ``tests``: features tested together (the adjusted level is at least alpha/tests);
    ``rate``: sampled rows per second reaching the window; ``hold``: the objective's ``for``;
    ``window``, ``span``: the window is the values sampled in the last ``span`` seconds, at most
    ``window`` of them, so it holds ``min(window, rate · span)`` and the shifted share fills in
    ``min(window / rate, span)`` seconds. A shift the window can never show (too few values at
    this rate, or a share past 1 needed) is never detected: infinite seconds, the worst value
    (no traffic at all is no value: nothing to judge).
    """
    if not (0.0 < shift <= 1.0):
        return Detection(None, None, None, "the shift size must lie in (0, 1]")
    held = window if rate <= 0 else min(window, rate * span)
    if rate > 0 and held < min_samples:
        return Detection(math.inf, None, None,
                         f"at {rate:.3g} sampled values/s the window holds about {held:.0f} "
                         f"values, fewer than the {min_samples} a drift test needs: a shift is "
                         f"never detected (raise the rate or drift.fleet_window)")
    n = max(int(held), min_samples, 1)
    crit = ks_critical(alpha / max(1, tests), n, max(reference, 1))
    need = max(floor, crit) / shift
    if need > 1.0:
        why = "the effect floor" if floor >= crit else "significance"
        return Detection(math.inf, None, need, f"a shift of D={shift:g} never reaches {why} "
                         f"(needs D >= {max(floor, crit):.3g} with window {n})")
    samples = math.ceil(need * n)
    if rate <= 0:
        return Detection(None, samples, need, "no sampled traffic to fill the window")
    return Detection(samples / rate + interval + hold, samples, need)
