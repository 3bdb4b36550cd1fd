"""Drift alarms on public benchmark data, with a benchmark tool's own alerts as truth.

The data are the drift benchmark sets NannyML ships inside its package (binary: synthetic car
loans; multiclass: synthetic credit cards; regression: synthetic car prices; category-heavy:
US census employment, Massachusetts). The truth is NannyML's univariate drift alerts
(Kolmogorov–Smirnov for numbers, chi-square for categories) on 5,000-row chunks of each
analysis set. Ours: one :class:`DriftDetector` per set, fitted on the whole reference file with
every column (ids, timestamps and years included: they must be set aside as time-like), checking
each chunk. A miss is a (chunk, column) NannyML alerts on and we do not; a false alarm the
reverse. Nothing of the data is kept in this repository: pass the folder of the data files and
a Python that has nannyml installed (its alerts are computed in that process), or a JSON of
alerts it wrote before.

    python bench/drift_benchmark_data.py --data DIR (--nannyml-python PY | --truth FILE)
    python bench/drift_benchmark_data.py --data DIR --clean 100     # clean windows' rate
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from detectors.drift import DriftDetector, DriftThresholds
from detectors.thresholds import Status

_EXPORT = r"""
import sys, json, warnings, os
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
warnings.simplefilter("ignore")
import nannyml as nml
from nannyml import datasets as D
chunk = int(sys.argv[1])
loaders = {"binary": D.load_synthetic_car_loan_dataset,
           "multiclass": D.load_synthetic_multiclass_classification_dataset,
           "regression": D.load_synthetic_car_price_dataset,
           "employment": D.load_us_census_ma_employment_data}
OUT = {"id", "timestamp", "y_pred", "y_true", "repaid", "period", "employed", "prediction",
       "predicted_probability", "year"}
out = {}
for name, load in loaders.items():
    ref, ana = load()[:2]
    cols = [c for c in ref.columns if c not in OUT and not c.startswith("y_pred_proba")]
    calc = nml.UnivariateDriftCalculator(column_names=cols, chunk_size=chunk,
        continuous_methods=["kolmogorov_smirnov"], categorical_methods=["chi2"])
    calc.fit(ref)
    res = calc.calculate(ana).filter(period="analysis").to_df()
    chunks = [[int(a), int(b) + 1] for a, b in zip(res[("chunk", "chunk", "start_index")],
                                                   res[("chunk", "chunk", "end_index")])]
    alerts = {c: [bool(x) for x in res[(c, m, "alert")]] for c in cols
              for m in ("kolmogorov_smirnov", "chi2") if (c, m, "alert") in res.columns}
    out[name] = {"columns": cols, "chunks": chunks, "alerts": alerts, "nannyml": nml.__version__}
print(json.dumps(out))
"""

FILES = {"binary": ("synthetic_car_loan_reference.csv", "synthetic_car_loan_analysis.csv"),
         "multiclass": ("mc_reference.csv", "mc_analysis.csv"),
         "regression": ("regression_synthetic_reference.csv",
                        "regression_synthetic_analysis.csv"),
         "employment": ("employment_MA_reference.pq", "employment_MA_analysis.pq")}
#: model outputs and targets: not inputs, as in the truth
THRESHOLDS: dict[str, Any] = json.loads(os.environ.get("DRIFT_THRESHOLDS", "{}"))
OUTPUTS = {"y_pred", "y_true", "repaid", "period", "employed", "prediction",
           "predicted_probability"}


def _read(path: Path) -> Any:
    import pandas as pd

    return pd.read_parquet(path) if path.suffix == ".pq" else pd.read_csv(path)


def truth(python: str | None, path: str | None, chunk: int) -> dict[str, Any]:
    if path:
        return dict(json.loads(Path(path).read_text()))
    if python is None:
        raise SystemExit("give --truth FILE or --nannyml-python PY")
    res = subprocess.run([python, "-c", _EXPORT, str(chunk)], capture_output=True, text=True,
                         timeout=3600, env={**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"})
    if res.returncode != 0:
        raise SystemExit(res.stderr[-800:])
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def run_set(name: str, data: Path, t: dict[str, Any], thresholds: DriftThresholds
            ) -> dict[str, Any]:
    ref_file, ana_file = FILES[name]
    ref, ana = _read(data / ref_file), _read(data / ana_file)
    ref = ref[[c for c in ref.columns if c not in OUTPUTS and not c.startswith("y_pred_proba")]]
    started = time.perf_counter()
    detector = DriftDetector(ref, thresholds=thresholds)
    fitted = time.perf_counter() - started
    misses = false = hits = 0
    missed: dict[str, int] = {}
    judged_by: dict[str, int] = {}
    for k, (a, b) in enumerate(t["chunks"]):
        report = detector.check(ana.iloc[a:b])
        by = report.by_feature()
        for col, alerts in t["alerts"].items():
            r = by.get(col)
            ours = r is not None and r.status in (Status.WARNING, Status.CRITICAL)
            if r is not None and r.rule:
                judged_by[r.rule] = judged_by.get(r.rule, 0) + 1
            if alerts[k] and ours:
                hits += 1
            elif alerts[k]:
                misses += 1
                missed[col] = missed.get(col, 0) + 1
            elif ours:
                false += 1
    return {"truth": hits + misses, "misses": misses, "false": false, "missed": missed,
            "skipped": {s.column: s.reason for s in detector.skipped}, "rules": judged_by,
            "fit_s": fitted, "chunks": len(t["chunks"])}


def clean_rate(name: str, data: Path, thresholds: DriftThresholds, trials: int,
               per: int = 4, chunk: int = 5000, seed: int = 35) -> dict[str, Any]:
    """The false-alarm rate on clean windows: each trial fits a detector on a random half of
    the reference file and checks ``per`` disjoint ``chunk``-row windows of the other half
    (a fresh split each trial, so one unlucky split does not stand for the rest)."""
    import numpy as np

    ref = _read(data / FILES[name][0])
    ref = ref[[c for c in ref.columns if c not in OUTPUTS and not c.startswith("y_pred_proba")]]
    rng = np.random.default_rng(seed)
    half = len(ref) // 2
    per = min(per, (len(ref) - half) // chunk)
    windows = alarms = 0
    by: dict[str, int] = {}
    for _ in range(trials):
        order = rng.permutation(len(ref))
        detector = DriftDetector(ref.iloc[order[:half]], thresholds=thresholds)
        for j in range(per):
            rows = order[half + j * chunk: half + (j + 1) * chunk]
            hit = [r.feature for r in detector.check(ref.iloc[rows])
                   if r.status in (Status.WARNING, Status.CRITICAL)]
            windows += 1
            alarms += bool(hit)
            for col in hit:
                by[col] = by.get(col, 0) + 1
    return {"windows": windows, "alarms": alarms, "by": by}


def _upper(k: int, n: int, z: float = 1.96) -> float:
    """Wilson's 95 % upper bound of a rate seen k times in n."""
    if n == 0:
        return 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return (centre + spread) / (1 + z * z / n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder holding the benchmark's data files")
    ap.add_argument("--nannyml-python", help="a Python with nannyml installed (the truth)")
    ap.add_argument("--truth", help="a JSON of alerts written by an earlier run")
    ap.add_argument("--chunk", type=int, default=5000)
    ap.add_argument("--save-truth", help="write the truth JSON here")
    ap.add_argument("--clean", type=int, metavar="TRIALS", help="instead: the false-alarm rate "
                    "on clean windows (reference halves, 4 windows per trial)")
    args = ap.parse_args()
    if args.clean:
        print(f"# clean windows: {args.chunk:,} rows from one random half of each reference "
              f"file, the detector fitted on the other half; {args.clean} splits")
        print("| set | windows | with any alarm | rate (95 % upper) | columns |")
        print("| --- | --- | --- | --- | --- |")
        for name in FILES:
            c = clean_rate(name, Path(args.data), DriftThresholds(**THRESHOLDS), args.clean,
                           chunk=args.chunk)
            cols = ", ".join(f"{k} {v}" for k, v in sorted(c["by"].items()))
            print(f"| {name} | {c['windows']} | {c['alarms']} | {c['alarms'] / c['windows']:.2%} "
                  f"({_upper(c['alarms'], c['windows']):.2%}) | {cols} |")
            sys.stdout.flush()
        return
    alerts = truth(args.nannyml_python, args.truth, args.chunk)
    if args.save_truth:
        Path(args.save_truth).write_text(json.dumps(alerts))
    print(f"# truth: NannyML {next(iter(alerts.values())).get('nannyml', '?')} univariate "
          f"drift alerts (KS / chi-square), {args.chunk:,}-row chunks")
    print("| set | truth alerts | missed | false alarms | left out as time-like | "
          "rules that decided |")
    print("| --- | --- | --- | --- | --- | --- |")
    total = [0, 0, 0]
    for name in FILES:
        if name not in alerts:
            continue
        r = run_set(name, Path(args.data), alerts[name], DriftThresholds(**THRESHOLDS))
        total = [total[0] + r["truth"], total[1] + r["misses"], total[2] + r["false"]]
        skipped = ", ".join(f"{c} ({why.split(':')[0]})" for c, why in r["skipped"].items())
        rules = ", ".join(f"{k} {v}" for k, v in sorted(r["rules"].items()))
        missed = ", ".join(f"{c} {n}" for c, n in r["missed"].items())
        print(f"| {name} ({r['chunks']} chunks) | {r['truth']} | {r['misses']}"
              f"{f' ({missed})' if missed else ''} | {r['false']} | {skipped} | {rules} |")
        if name == "regression":
            print(f"| binary + multiclass + regression | {total[0]} | {total[1]} "
                  f"({total[1] / max(total[0], 1):.1%}) | {total[2]} | | |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
