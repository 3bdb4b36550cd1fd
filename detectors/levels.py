"""The constants and scalar formulas that the detectors and the rule generator share, in plain
Python: ``slo-agent generate`` needs the bin levels, their ``le`` labels and the PSI floor but
none of the arrays, and importing numpy would be ~70 ms of every run. ``detectors.bins`` and
``detectors.categorical`` re-export these, so there is one definition of each."""

from __future__ import annotations

import math

PSI_EPS = 1e-4  # proportion floor so an empty bin does not make PSI infinite
#: fixed floors where a threshold is judged without the sizes of both samples (the fleet rules,
#: a stored row re-judged): a 0.06-sd shift of a normal for KS; "small" (Cohen's w 0.1) for PSI
FIXED_MIN_KS = 0.025
FIXED_MIN_PSI = 0.01


def level_values(bins: int) -> list[float]:
    """The ``bins - 1`` inner quantile levels, rounded to 6 decimals so that they print as
    labels stably; bit for bit ``numpy.round(numpy.arange(1, bins) / bins, 6)`` (numpy rounds
    by scaling, rounding half to even and scaling back, as here)."""
    if bins < 2:
        raise ValueError("bins must be at least 2")
    return [round(i / bins * 1e6) / 1e6 for i in range(1, bins)]


def level_label(q: float) -> str:
    """The ``le`` label of a level (``0.1``), ``+Inf`` for the last bucket."""
    return "+Inf" if math.isinf(q) else f"{q:.6g}"


def le_labels(bins: int) -> list[str]:
    """The ``le`` labels of ``bins`` bins, ``+Inf`` last: what the sidecars export and the
    fleet rules match."""
    return [level_label(q) for q in level_values(bins)] + [level_label(math.inf)]


def chi2_quantile(p: float, dof: int) -> float:
    """Wilson–Hilferty: within 1.3 % of the exact quantile for dof >= 9 at p <= 0.9999, within
    3.5 % for dof >= 3; at the alarm levels (p >= 0.99) never below it, so a little
    conservative."""
    from statistics import NormalDist
    z = NormalDist().inv_cdf(p)
    k = float(dof)
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3
