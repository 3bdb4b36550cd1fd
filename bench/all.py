"""Every row of the performance table in one run, each beside its goal and its anchor.

Rows: decorator overhead against prometheus_client's ``@Histogram.time()`` (same run,
round-robin batches); sidecar ingest of feature samples on one core in the columnar format, with
RSS; the SDK's cost to ship one sampled call (8 features) beside an OTLP log export; ``slo-agent
generate`` of 1,000 objectives with the CLI start; and the size of the base install in a fresh
venv. Prints a Markdown table (the README's performance table is this output).

    python bench/all.py [--calls 20000] [--repeat 25] [--seconds 5] [--no-install]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from decorator_overhead import interleaved, prometheus_variants, trivial
from drift import full_report_row
from generate import spec_with
from prometheus_client import CollectorRegistry
from sidecar_ingest import export_side, sidecar_side

from agent.sdk import Monitor

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "scipy", "pandas", "pyarrow", "great_expectations", "sklearn", "uvicorn")


def decorator_row(calls: int, repeat: int) -> tuple[str, str]:
    _, timed = prometheus_variants()
    mon = Monitor(registry=CollectorRegistry(), service="bench", sample_rate=0)
    ours = mon.inference(model="m", version="v1")(trivial)
    costs = interleaved({"bare": trivial, "timed": timed, "ours": ours}, calls, repeat)
    ratio = (costs["ours"] - costs["bare"]) / (costs["timed"] - costs["bare"])
    return (f"{ratio:.2f}x ({(costs['ours'] - costs['bare']) * 1e6:.2f} us vs "
            f"{(costs['timed'] - costs['bare']) * 1e6:.2f} us)"), "yes" if ratio <= 0.4 else "no"


def generate_row(runs: int = 3) -> tuple[str, str]:
    """The median of ``runs`` CLI runs, each into a fresh folder, all removed only after the last.
    The write phase (3,004 new files) depends on the file system: ext4 *without a journal* (this
    VM's root) skips inodes freed in the last 1-5 minutes when it allocates new ones, so after
    any large delete in the same folder tree (pytest's, pip's, this benchmark's previous run)
    the writes took 0.5-0.9 s instead of 0.13 s. The README's table is measured with
    ``TMPDIR=/dev/shm``, which gives the same time as a calm ext4 folder (1.14 s against 1.15 s);
    each run's time is printed."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "slo.yaml"
        spec.write_text(yaml.safe_dump(spec_with(1000)))
        took = []
        for i in range(runs):
            t = time.perf_counter()
            res = subprocess.run([sys.executable, "-m", "agent.cli", "generate", "-c", str(spec),
                                  "-o", str(Path(tmp) / f"out{i}")], capture_output=True,
                                 text=True)
            took.append(time.perf_counter() - t)
            if res.returncode != 0:
                return f"failed: {res.stderr.strip()[-200:]}", "no"
    median = sorted(took)[len(took) // 2]
    return (f"{median:.2f} s (median of {runs}: " + ", ".join(f"{t:.2f}" for t in took) + ")",
            "yes" if median <= 1.5 else "no")


def install_row() -> tuple[str, str]:
    """A fresh venv with the base package from this tree and its real dependencies."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
        for part in ("agent", "detectors", "dashboards", "alerts"):
            shutil.copytree(ROOT / part, src / part, ignore=skip)
        for part in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / part, src / part)
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = str(venv / "bin" / "python")
        subprocess.run([py, "-m", "pip", "install", "-q", str(src)], check=True,
                       capture_output=True)
        site = next((venv / "lib").glob("python3*/site-packages"))
        own = ("pip", "setuptools", "pkg_resources", "_distutils_hack")
        size = sum(f.stat().st_size for f in site.rglob("*")
                   if f.is_file() and f.relative_to(site).parts[0].split("-")[0] not in own)
        probe = subprocess.run([py, "-c", "import importlib.util as u; print(','.join(m for m "
                                f"in {HEAVY!r} if u.find_spec(m)))"], capture_output=True,
                               text=True)
    heavy = probe.stdout.strip() or "none"
    return (f"{size / 1e6:.0f} MB, heavy packages: {heavy}",
            "yes" if size <= 40e6 and heavy == "none" else "no")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=25)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--export-samples", type=int, default=20_000)
    ap.add_argument("--no-install", action="store_true", help="skip the fresh-venv install row")
    args = ap.parse_args()

    rows: list[tuple[str, str, str, str, str]] = []
    value, met = decorator_row(args.calls, args.repeat)
    rows.append(("decorator overhead vs prometheus_client `@Histogram.time()`", value,
                 "<= 0.4x", met, "the `perf_counter` pair alone is 0.09 us"))
    generated = generate_row()     # before the rows that empty temporary folders (see there)
    rate, rss = sidecar_side(args.seconds, 2000, 8, columnar=True)
    rows.append(("sidecar ingest, feature samples/s on one core (columnar)",
                 f"{rate:,.0f}, RSS {rss:.0f} MB", ">= 500k, RSS <= 150 MB",
                 "yes" if rate >= 500_000 and rss <= 150 else "no",
                 "a columnar batch parses in numpy at memory speed"))
    us, size, otel = export_side(args.export_samples, 8)
    rows.append(("SDK cost to ship one sampled call (8 features)",
                 f"{us * 1e6:.1f} us, {size:.0f} bytes", "<= 3 us, <= 60 bytes",
                 "yes" if us <= 3e-6 and size <= 60 else "no",
                 f"OTLP log export {otel * 1e6:.0f} us"))
    value, met = generated
    rows.append(("`slo-agent generate` of 1,000 objectives, CLI start included", value,
                 "<= 1.5 s", met, "rules and dashboards are text"))
    value, met = full_report_row()
    rows.append(("drift full report vs a presorted scipy `ks_2samp` loop, 50 columns x 10k rows "
                 "(fitted detector)", value, ">= 5x (100k: >= 7x)", met,
                 "statistics and p-values bit-identical to scipy's"))
    if not args.no_install:
        value, met = install_row()
        rows.append(("what `pip install slo-agent` puts into an inference image", value,
                     "<= 40 MB, none of the heavy ones", met,
                     "prometheus_client + OpenTelemetry SDK: 31 MB"))
    print("\n| what | measured | goal | met | anchor |\n| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
