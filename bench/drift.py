"""Drift benchmark: ours vs a scipy.stats.ks_2samp loop vs Evidently's data drift preset.

Prints, in one run, the median time for 50 numeric features × N rows (reference and window), the
speed-up ratios, and the largest difference from scipy's statistics. Evidently runs in a separate
virtual environment (its dependencies would otherwise be ours, and it breaks on pandas 3): pass
--evidently-python, or let the script build one under /tmp with pip (said so if it won't install).

Also: the fitted detector's per-chunk cost beside the scipy loop and the one-call form (and its
first chunk), and the sidecar's first and steady drift tick at 8, 64, 256 and 1,000 features.
Ratios are measured round-robin in one run (the machine may be shared).

    python bench/drift.py [--rows 10000] [--features 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from detectors.calibration import CalibrationCache
from detectors.drift import DriftDetector, DriftInput, chi_square, detect_drift
from detectors.ks import ks_many, sorted_reference

EVIDENTLY_VENV = Path(tempfile.gettempdir()) / "slo-agent-bench-evidently"

_EVIDENTLY_SCRIPT = r"""
import sys, time, json, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
rows, features, repeat = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
ref = pd.DataFrame(rng.normal(size=(rows, features)), columns=[f"f{j}" for j in range(features)])
cur = pd.DataFrame(rng.normal(0.05, 1, size=(rows, features)), columns=ref.columns)
try:
    from evidently import Report
    from evidently.presets import DataDriftPreset
    def run():
        return Report([DataDriftPreset(num_method="ks")]).run(reference_data=ref, current_data=cur)
except ImportError:
    from evidently.report import Report
    from evidently.metric_preset import DataDriftPreset
    def run():
        r = Report(metrics=[DataDriftPreset(stattest="ks")])
        r.run(reference_data=ref, current_data=cur)
        return r
times = []
for _ in range(repeat):
    t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
import evidently
print(json.dumps({"times": times, "version": evidently.__version__}))
"""


def _median_time(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm caches and lazy imports
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _data(rows: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(rows, features)), rng.normal(0.05, 1, size=(rows, features))


def numeric(rows: int, features: int, repeat: int) -> dict[str, float]:
    from scipy.stats import ks_2samp

    ref, cur = _data(rows, features)
    refs = [sorted_reference(ref[:, j]) for j in range(features)]   # sorted once, reused

    def scipy_loop() -> list:  # type: ignore[type-arg]
        return [ks_2samp(ref[:, j], cur[:, j]) for j in range(features)]

    def ours() -> list:  # type: ignore[type-arg]
        return ks_many(refs, cur)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_scipy = _median_time(scipy_loop, repeat)
        t_ours = _median_time(ours, repeat)
        s, o = scipy_loop(), ours()
    return {
        "scipy": t_scipy, "ours": t_ours,
        "max_stat_diff": max(abs(a.statistic - b.statistic) for a, b in zip(s, o, strict=True)),
        "max_p_diff": max(abs(a.pvalue - b.p_value) for a, b in zip(s, o, strict=True)),
    }


def scipy_loop_time(rows: int, features: int, repeat: int) -> float:
    """What a user would write: ks_2samp per feature against a reference sorted once."""
    from scipy.stats import ks_2samp

    ref, cur = _data(rows, features)
    refs = [np.sort(ref[:, j]) for j in range(features)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _median_time(lambda: [ks_2samp(refs[j], cur[:, j]) for j in range(features)],
                            repeat)


def full_report(rows: int, features: int, repeat: int) -> float:
    """Ours end to end, per tick: KS + PSI per feature + BH correction + thresholds calibrated
    on the reference (computed on the warm-up call and cached, as the sidecar does)."""
    ref, cur = _data(rows, features)
    data = DriftInput(
        numeric_refs={f"f{j}": sorted_reference(ref[:, j]) for j in range(features)},
        numeric_windows={f"f{j}": cur[:, j] for j in range(features)},
    )
    cache = CalibrationCache()
    return _median_time(lambda: detect_drift(data, cache=cache), repeat)


def report_ratios(rows: int, features: int, rounds: int = 7) -> dict[str, float]:
    """Round-robin medians (s): the scipy ``ks_2samp`` loop on presorted references, the
    one-call ``detect_drift`` (warm cache) and the fitted detector's ``check``; plus the
    detector's fit and first check. Ratios are taken per round, so load shared by both sides
    of a round cancels."""
    from scipy.stats import ks_2samp

    ref, cur = _data(rows, features)
    names = [f"f{j}" for j in range(features)]
    data = DriftInput(numeric_refs={n: sorted_reference(ref[:, j]) for j, n in enumerate(names)},
                      numeric_windows={n: cur[:, j] for j, n in enumerate(names)})
    window = {n: cur[:, j] for j, n in enumerate(names)}
    started = time.perf_counter()
    detector = DriftDetector({n: ref[:, j] for j, n in enumerate(names)})
    fit = time.perf_counter() - started
    started = time.perf_counter()
    detector.check(window)
    first = time.perf_counter() - started
    refs = [np.sort(ref[:, j]) for j in range(features)]
    cache = CalibrationCache()
    detect_drift(data, cache=cache)
    sides = {"scipy": lambda: [ks_2samp(refs[j], cur[:, j]) for j in range(features)],
             "one_call": lambda: detect_drift(data, cache=cache),
             "detector": lambda: detector.check(window)}
    took: dict[str, list[float]] = {k: [] for k in sides}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(rounds):
            for k, fn in sides.items():
                t = time.perf_counter()
                fn()
                took[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in took.items()}
    ratio = statistics.median(s / d for s, d in zip(took["scipy"], took["detector"],
                                                    strict=True))
    ratio_one = statistics.median(s / d for s, d in zip(took["scipy"], took["one_call"],
                                                        strict=True))
    return {**med, "ratio": ratio, "ratio_one_call": ratio_one, "fit": fit, "first": first,
            "min_ratio": min(s / d for s, d in zip(took["scipy"], took["detector"],
                                                   strict=True)),
            "max_ratio": max(s / d for s, d in zip(took["scipy"], took["detector"],
                                                   strict=True))}


def full_report_row(rows: int = 10_000, features: int = 50) -> tuple[str, str]:
    """The performance table's drift row (bench/all.py): the detector's full report vs a
    presorted scipy loop, 50 columns x 10k rows, with the 100k ratio beside it."""
    r = report_ratios(rows, features)
    big = report_ratios(100_000, features, rounds=3)
    value = (f"{r['ratio']:.1f}x ({r['min_ratio']:.1f}-{r['max_ratio']:.1f}; "
             f"{r['detector'] * 1e3:.0f} ms vs {r['scipy'] * 1e3:.0f} ms); 100k: "
             f"{big['ratio']:.1f}x")
    return value, "yes" if r["ratio"] >= 5 and big["ratio"] >= 7 else "no"


def sidecar_ticks(features: int, rows: int = 5000) -> tuple[float, float, float]:
    """(first drift tick, steady tick, seconds until the background calibration is done) of
    the sidecar's evaluator for one model of ``features`` numeric features, 5,000-row reference
    and window. Half the features are rounded (ties: the bridge calibrates them)."""
    from agent.sidecar.judge.evaluate import Evaluator
    from agent.sidecar.state.agent_state import AgentState
    from agent.spec import parse_spec

    spec = parse_spec({"service": "b", "models": [{"name": "m"}],
                       "drift": {"reference_size": rows, "window_size": rows,
                                 "min_samples": 200},
                       "objectives": [{"name": "d", "signal": "feature_drift",
                                       "selector": {"model": "m"}, "for": "0s"}]})
    state = AgentState(slot=1.0, window_size=rows, reference_size=rows)
    ms = state.model("m", "v1")
    rng = np.random.default_rng(features)
    for j in range(features):
        values = rng.normal(size=2 * rows)
        ms.add_numeric(f"f{j}", np.round(values, 1) if j % 2 else values)
    evaluator = Evaluator(spec, state)
    t = time.perf_counter()
    evaluator.tick(now=1.0)
    first = time.perf_counter() - t
    t = time.perf_counter()
    evaluator.model_drift.wait()
    calibrated = time.perf_counter() - t + first
    steady = []
    for k in range(3):
        t = time.perf_counter()
        evaluator.tick(now=2.0 + k)
        steady.append(time.perf_counter() - t)
    return first, statistics.median(steady), calibrated


def categorical(rows: int, features: int, repeat: int) -> dict[str, float]:
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(1)
    cats = np.array(["a", "b", "c", "d", "e", "f", "g", "h"])
    ref = rng.choice(cats, size=(rows, features))
    cur = rng.choice(cats, size=(rows, features), p=[0.2] + [0.8 / 7] * 7)
    ref_counts = [dict(zip(*np.unique(ref[:, j], return_counts=True), strict=True))
                  for j in range(features)]

    def naive() -> None:
        for j in range(features):
            keys = sorted(set(ref[:, j]) | set(cur[:, j]))
            table = [[int((ref[:, j] == k).sum()) for k in keys],
                     [int((cur[:, j] == k).sum()) for k in keys]]
            chi2_contingency(table)

    def ours() -> None:
        for j in range(features):
            chi_square(ref_counts[j], dict(zip(*np.unique(cur[:, j], return_counts=True),
                                               strict=True)))

    return {"naive": _median_time(naive, repeat), "ours": _median_time(ours, repeat)}


def evidently(rows: int, features: int, repeat: int, python: str | None) -> tuple[float, str]:
    if python is None:
        exe = EVIDENTLY_VENV / "bin" / "python"
        if not exe.exists():
            print(f"building a separate venv for Evidently in {EVIDENTLY_VENV} ...",
                  file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
            res = subprocess.run([str(exe), "-m", "pip", "install", "-q", "evidently",
                                  "pandas<3"], capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError("evidently does not install here: " + res.stderr[-300:])
        python = str(exe)
    res = subprocess.run([python, "-c", _EVIDENTLY_SCRIPT, str(rows), str(features),
                          str(repeat)], capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-500:])
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return statistics.median(out["times"]), out["version"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--evidently-python", help="python of a venv that has evidently installed")
    ap.add_argument("--no-evidently", action="store_true")
    args = ap.parse_args()

    print(f"# numeric drift, {args.features} features, reference and window of equal size")
    print(f"{'rows':>8} {'scipy loop':>12} {'ours':>10} {'speed-up':>9} "
          f"{'max |dD|':>10} {'max |dp|':>10}")
    main_row: dict[str, float] = {}
    for rows in (1_000, args.rows, 100_000):
        r = numeric(rows, args.features, args.repeat if rows <= args.rows else 3)
        if rows == args.rows:
            main_row = r
        print(f"{rows:>8} {r['scipy'] * 1e3:>10.1f}ms {r['ours'] * 1e3:>8.1f}ms "
              f"{r['scipy'] / r['ours']:>8.1f}x {r['max_stat_diff']:>10.1e} "
              f"{r['max_p_diff']:>10.1e}")
    print(f"\n# full report (KS + PSI + BH correction + calibrated thresholds) vs the scipy "
          f"ks_2samp loop "
          f"(reference sorted once), {args.features} features")
    print(f"{'rows':>8} {'scipy loop':>12} {'full report':>12} {'speed-up':>9}")
    t_full = 0.0
    for rows in (args.rows, 100_000):
        repeat = args.repeat if rows <= args.rows else 3
        t_report = full_report(rows, args.features, repeat)
        t_loop = scipy_loop_time(rows, args.features, repeat)
        if rows == args.rows:
            t_full = t_report
        print(f"{rows:>8} {t_loop * 1e3:>10.1f}ms {t_report * 1e3:>10.1f}ms "
              f"{t_loop / t_report:>8.1f}x")

    print(f"\n# fitted detector per chunk vs the scipy loop and the one-call form, "
          f"{args.features} features (round-robin medians)")
    print(f"{'rows':>8} {'scipy loop':>11} {'one-call':>9} {'detector':>9} {'vs scipy':>9} "
          f"{'one-call vs scipy':>18} {'fit':>8} {'first chunk':>12}")
    for rows in (args.rows, 100_000):
        r = report_ratios(rows, args.features, 7 if rows <= args.rows else 3)
        print(f"{rows:>8} {r['scipy'] * 1e3:>9.1f}ms {r['one_call'] * 1e3:>7.1f}ms "
              f"{r['detector'] * 1e3:>7.1f}ms {r['ratio']:>8.1f}x {r['ratio_one_call']:>17.1f}x "
              f"{r['fit'] * 1e3:>6.0f}ms {r['first'] * 1e3:>10.0f}ms")

    print("\n# sidecar drift tick, one model, 5,000-row reference and window, half the "
          "features with ties")
    print(f"{'features':>9} {'first tick':>11} {'steady tick':>12} {'calibrated after':>17}")
    for features in (8, 64, 256, 1000):
        first, steady, done = sidecar_ticks(features)
        print(f"{features:>9} {first * 1e3:>9.0f}ms {steady * 1e3:>10.0f}ms {done:>16.2f}s")

    c = categorical(args.rows, args.features, args.repeat)
    print(f"\n# categorical, {args.features} features x {args.rows} rows, 8 categories")
    print(f"chi2_contingency on hand-built tables: {c['naive'] * 1e3:.1f}ms; ours "
          f"(chi-square + PSI + Jensen-Shannon from counts): {c['ours'] * 1e3:.1f}ms "
          f"({c['naive'] / c['ours']:.1f}x)")

    print(f"\n# against Evidently, {args.features} features x {args.rows} rows")
    if args.no_evidently:
        print("Evidently: skipped (--no-evidently)")
        return
    try:
        t_ev, version = evidently(args.rows, args.features, max(1, args.repeat // 2),
                                  args.evidently_python)
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as exc:
        print(f"Evidently: not measured — {exc}")
        return
    print(f"Evidently {version} DataDriftPreset: {t_ev * 1e3:.0f}ms; ours KS only "
          f"{main_row['ours'] * 1e3:.1f}ms ({t_ev / main_row['ours']:.0f}x); ours full report "
          f"{t_full * 1e3:.1f}ms ({t_ev / t_full:.0f}x)")


if __name__ == "__main__":
    main()
