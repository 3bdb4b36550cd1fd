"""The drift tests, each registered once: name, data kind, what its statistic and effect are,
default thresholds, the function that runs it and the one that calibrates its threshold on a
reference. Every path that tests drift (the SDK's windows, dataset files) goes through
:func:`detectors.drift.detect_drift`, which picks tests from here by data kind; nothing else
branches on a test's name. (Shape after Evidently's ``register_stattest``.)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from detectors.calibration import CalibrationCache, ks_threshold, psi_threshold
from detectors.categorical import chi_square, numeric_psi, reference_cells
from detectors.ks import ks_many, sorted_window
from detectors.levels import FIXED_MIN_KS, FIXED_MIN_PSI

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Outcome:
    """One column's test: statistic and p-value, the effect thresholds compare, PSI."""

    statistic: float
    p_value: float
    effect: float
    psi: float
    n_reference: int
    n_window: int
    unseen: tuple[Hashable, ...] = ()     # categories the reference never had
    new_share: float | None = None        # the window's share of them


#: references and windows of many columns, in the same order -> one outcome per column
Run = Callable[[Sequence[Any], Sequence[Any]], list[Outcome]]
#: (reference, window size, quantile, cache) -> the effect a clean window stays under
Calibrate = Callable[[Any, int, float, "CalibrationCache | None"], float]


@dataclass(frozen=True)
class StatTest:
    name: str
    kind: Kind
    statistic: str            # what ``Outcome.statistic`` is
    effect: str               # what ``Outcome.effect`` is (what thresholds compare)
    warning: float            # warning effect when not calibrated
    critical: float           # critical effect
    floor: float              # least threshold under a calibrated one
    new_categories: bool      # reports categories unseen in the reference
    run: Run
    calibrate: Calibrate


REGISTRY: dict[str, StatTest] = {}


def register(name: str, kind: Kind, *, statistic: str, effect: str, warning: float,
             critical: float, floor: float, calibrate: Calibrate,
             new_categories: bool = False) -> Callable[[Run], Run]:
    """Register the decorated runner as the drift test for ``kind`` data (one per kind)."""
    def deco(run: Run) -> Run:
        if name in REGISTRY:
            raise ValueError(f"drift test {name!r} is registered already")
        if any(t.kind == kind for t in REGISTRY.values()):
            raise ValueError(f"a drift test for {kind} data is registered already")
        REGISTRY[name] = StatTest(name, kind, statistic, effect, warning, critical, floor,
                                  new_categories, run, calibrate)
        return run
    return deco


def get(name: str) -> StatTest:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no drift test named {name!r} (registered: "
                       f"{', '.join(sorted(REGISTRY))})") from None


def for_kind(kind: Kind) -> StatTest:
    for t in REGISTRY.values():
        if t.kind == kind:
            return t
    raise KeyError(f"no drift test registered for {kind} data")


def _ks_calibrate(ref: Any, n: int, q: float, cache: CalibrationCache | None) -> float:
    return ks_threshold(ref, n, q, cache)


def _psi_calibrate(ref: Any, n: int, q: float, cache: CalibrationCache | None) -> float:
    return psi_threshold(reference_cells(ref), n, q, cache)


# floors (used where the sizes are unknown): detectors.levels; PSI 0.1 is "moderate" in credit
# risk
@register("ks", "numeric", statistic="two-sample Kolmogorov–Smirnov D", effect="KS D",
          warning=0.1, critical=0.25, floor=FIXED_MIN_KS, calibrate=_ks_calibrate)
def _ks(refs: Sequence[Any], windows: Sequence[Any]) -> list[Outcome]:
    """KS on sorted references; windows are sorted once, for KS and PSI alike."""
    wins = [sorted_window(w) for w in windows]
    return [Outcome(r.statistic, r.p_value, r.statistic,
                    numeric_psi(ref, win, window_sorted=True), r.n_reference, r.n_window)
            for ref, win, r in zip(refs, wins, ks_many(list(refs), wins, presorted=True),
                                   strict=True)]


@register("chi2", "categorical", statistic="chi-square of homogeneity", effect="PSI",
          warning=0.1, critical=0.25, floor=FIXED_MIN_PSI, calibrate=_psi_calibrate,
          new_categories=True)
def _chi2(refs: Sequence[Any], windows: Sequence[Any]) -> list[Outcome]:
    out = []
    for ref, win in zip(refs, windows, strict=True):
        c = chi_square(ref, win)
        out.append(Outcome(c.statistic, c.p_value, c.psi, c.psi, c.n_reference, c.n_window,
                           c.unseen, c.new_share))
    return out
