"""Drift alarm rules side by side on synthetic cases, measured in one run.

Rules: ours (threshold calibrated on the reference at q = 0.99, BH at alpha 0.01, floors D 0.025 /
PSI 0.01); ours with the old fixed floors (D, PSI >= 0.1); scipy + Bonferroni (ks_2samp /
chi2_contingency, alpha 0.01, no effect size); Evidently's documented defaults, implemented with
scipy (n <= 1000: KS / chi-square p < 0.05; larger: normed Wasserstein >= 0.1 for numbers,
Jensen-Shannon distance (base 2) >= 0.1 for categories). Cases: 10 columns (7 numeric, 3
categorical) against a 50,000-row reference; a cell is one column of one window.

    python bench/drift_calibration.py [--windows 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from detectors.calibration import CalibrationCache
from detectors.drift import DriftInput, DriftThresholds, detect_drift
from detectors.ks import sorted_reference
from detectors.thresholds import Status

CATS = np.array(["a", "b", "c", "d", "e", "f"])
P_REF = np.array([0.30, 0.25, 0.18, 0.12, 0.10, 0.05])
M = 50_000


def tilted(strength: float) -> np.ndarray:
    p = P_REF * np.exp(strength * np.linspace(-1, 1, P_REF.size))
    return p / p.sum()


@dataclass
class Case:
    name: str
    rows: int
    numeric: list[float]       # mean shift in sd per numeric column
    categorical: list[float]   # tilt per categorical column (0: unchanged)
    windows: int

    @property
    def shifted(self) -> list[bool]:
        return [s != 0 for s in self.numeric + self.categorical]


@dataclass
class Reference:
    numeric: list[np.ndarray]
    sorted: list[np.ndarray]
    counts: list[np.ndarray]


def make_reference(rng: np.random.Generator, n_num: int, n_cat: int) -> Reference:
    num = [rng.normal(size=M) for _ in range(n_num)]
    return Reference(num, [sorted_reference(x) for x in num],
                     [rng.multinomial(M, P_REF) for _ in range(n_cat)])


Rule = Callable[[Reference, list[np.ndarray], list[np.ndarray]], list[bool]]


def ours(thresholds: DriftThresholds, cache: CalibrationCache) -> Rule:
    def rule(ref: Reference, wins: list[np.ndarray], counts: list[np.ndarray]) -> list[bool]:
        data = DriftInput(
            numeric_refs={f"x{j}": r for j, r in enumerate(ref.sorted)},
            numeric_windows={f"x{j}": w for j, w in enumerate(wins)},
            categorical_refs={f"c{j}": dict(zip(CATS.tolist(), c.tolist(), strict=True))
                              for j, c in enumerate(ref.counts)},
            categorical_windows={f"c{j}": dict(zip(CATS.tolist(), c.tolist(),  # type: ignore[misc]
                                                   strict=True)) for j, c in enumerate(counts)})
        by = {r.feature: r.status in (Status.WARNING, Status.CRITICAL)
              for r in detect_drift(data, thresholds, cache)}
        return [by[f"x{j}"] for j in range(len(wins))] + \
            [by[f"c{j}"] for j in range(len(counts))]
    return rule


def scipy_bonferroni(ref: Reference, wins: list[np.ndarray], counts: list[np.ndarray]
                     ) -> list[bool]:
    from scipy.stats import chi2_contingency, ks_2samp

    p = [float(ks_2samp(r, w).pvalue) for r, w in zip(ref.sorted, wins, strict=True)]
    p += [float(chi2_contingency(np.array([r, c])).pvalue)
          for r, c in zip(ref.counts, counts, strict=True)]
    return [x * len(p) < 0.01 for x in p]


def evidently_defaults(ref: Reference, wins: list[np.ndarray], counts: list[np.ndarray]
                       ) -> list[bool]:
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chisquare, ks_2samp, wasserstein_distance

    n = wins[0].size
    out = []
    for r, w in zip(ref.numeric, wins, strict=True):
        if n <= 1000:
            out.append(float(ks_2samp(r, w).pvalue) < 0.05)
        else:
            out.append(wasserstein_distance(r, w) / max(float(np.std(r)), 0.001) >= 0.1)
    for r, c in zip(ref.counts, counts, strict=True):
        if n <= 1000:
            out.append(float(chisquare(c, r / r.sum() * c.sum()).pvalue) < 0.05)
        else:
            out.append(float(jensenshannon(r / r.sum(), c / c.sum(), base=2)) >= 0.1)
    return out


def run_case(case: Case, rules: dict[str, Rule], seed: int) -> dict[str, tuple[float, float]]:
    """(detected share of shifted cells, share of unshifted cells or clean windows alarmed)."""
    rng = np.random.default_rng(seed)
    ref = make_reference(rng, len(case.numeric), len(case.categorical))
    hits = {k: [0, 0] for k in rules}     # detected shifted cells, alarmed clean cells/windows
    shifted = case.shifted
    n_shifted = sum(shifted) * case.windows
    clean = case.windows if not any(shifted) else (len(shifted) - sum(shifted)) * case.windows
    for _ in range(case.windows):
        wins = [rng.normal(s, 1.0, case.rows) for s in case.numeric]
        counts = [rng.multinomial(case.rows, tilted(s)) for s in case.categorical]
        for name, rule in rules.items():
            alarms = rule(ref, wins, counts)
            hits[name][0] += sum(a and s for a, s in zip(alarms, shifted, strict=True))
            if any(shifted):
                hits[name][1] += sum(a and not s for a, s in zip(alarms, shifted, strict=True))
            else:
                hits[name][1] += any(alarms)
    return {k: (v[0] / n_shifted if n_shifted else float("nan"), v[1] / max(clean, 1))
            for k, v in hits.items()}


def tick_cost(rows: int, repeat: int = 5) -> tuple[float, float, float]:
    """(first tick with calibration, later ticks (cached), fixed-floor tick) in seconds for the
    10-column window of ``rows`` rows."""
    rng = np.random.default_rng(9)
    ref = make_reference(rng, 7, 3)
    wins = [rng.normal(size=rows) for _ in range(7)]
    counts = [rng.multinomial(rows, P_REF) for _ in range(3)]
    cache = CalibrationCache()
    rule = ours(DriftThresholds(), cache)
    t = time.perf_counter()
    rule(ref, wins, counts)
    first = time.perf_counter() - t
    later = []
    fixed_rule = ours(DriftThresholds(calibration=None), cache)
    fixed = []
    for _ in range(repeat):
        t = time.perf_counter()
        rule(ref, wins, counts)
        later.append(time.perf_counter() - t)
        t = time.perf_counter()
        fixed_rule(ref, wins, counts)
        fixed.append(time.perf_counter() - t)
    return first, statistics.median(later), statistics.median(fixed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=200, help="windows per clean case")
    args = ap.parse_args()
    w = args.windows
    cases = [
        Case("5k: D 0.06-0.09, PSI 0.05-0.09 on every column", 5000,
             [0.16, 0.17, 0.18, 0.19, 0.20, 0.21, 0.22], [0.36, 0.40, 0.44], 20),
        Case("5k: 3 of 10 columns shifted", 5000, [0, 0.2, 0, 0, 0.22, 0, 0], [0, 0.42, 0], 20),
        Case("100k: 0.03-sd shift (negligible)", 100_000, [0.03] * 7, [0.06] * 3, 5),
        Case("100k: 0.2-sd shift", 100_000, [0.2] * 7, [0.45] * 3, 5),
        Case("clean 1k", 1000, [0.0] * 7, [0.0] * 3, w),
        Case("clean 5k", 5000, [0.0] * 7, [0.0] * 3, w),
        Case("clean 50k", 50_000, [0.0] * 7, [0.0] * 3, w),
    ]
    cache = CalibrationCache()
    rules: dict[str, Rule] = {
        "ours (calibrated)": ours(DriftThresholds(), cache),
        "ours, fixed 0.1 floors": ours(DriftThresholds(calibration=None), cache),
        "scipy + Bonferroni": scipy_bonferroni,
        "Evidently defaults": evidently_defaults,
    }
    print("| case | " + " | ".join(rules) + " |")
    print("| --- |" + " --- |" * len(rules))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, case in enumerate(cases):
            res = run_case(case, rules, seed=1000 + i)
            if any(case.shifted):
                cells = [f"{d:.0%} detected" + (f", {f:.0%} false" if not all(case.shifted)
                                                 else "") for d, f in res.values()]
                if case.name.startswith("100k: 0.03"):
                    cells = [f"{d:.0%} alarmed" for d, _ in res.values()]
            else:
                cells = [f"{f:.1%} of {case.windows} windows" for _, f in res.values()]
            print(f"| {case.name} | " + " | ".join(cells) + " |")
    print("\n| window rows | first tick (calibrates) | later ticks | fixed floors |")
    print("| --- | --- | --- | --- |")
    for rows in (5_000, 100_000):
        first, later, fixed = tick_cost(rows)
        print(f"| {rows:,} | {first * 1e3:.1f} ms | {later * 1e3:.1f} ms | {fixed * 1e3:.1f} ms |")


if __name__ == "__main__":
    main()
