"""Every row of the performance table in one run: each a median of several runs with its min and
max, beside its anchor measured in the same run, its goal, and a check against the README.

Rows: the decorator's overhead at each form (sync, async, generator, async generator) against
prometheus_client's ``@Histogram.time()``; sidecar ingest on one core, columnar, 8 and 64
features per row (rows per second of the sidecar's CPU, with RSS) beside the bare HTTP stack
taking the same bodies; the SDK's cost to ship one sampled call beside an OTLP log export;
``slo-agent generate`` of 1,000 objectives (CLI start included) into a fresh folder, into the
same folder again, and as Kubernetes objects, wall and CPU seconds (the key), beside the CLI's
start; the sidecar's /metrics at 5,000 objectives beside the per-scrape render it replaced; the
drift full report beside scipy; the base install's size. Prints the machine and the file system
of the temporary folder (``TMPDIR``), then a Markdown table: the README's performance table is
this output.

The ``key`` column is what a later run is held to: a row whose key is worse than the README's
by more than ``--tolerance`` (a relative margin: the machine is shared, so keys are ratios to a
same-run anchor or per CPU second where a row allows) fails the run, loudly, with exit status 1.
``--only`` runs some rows; the check holds the rows that ran.

    TMPDIR=/dev/shm python bench/all.py [--runs 3] [--no-install] [--check README.md]
                                        [--only generate ...]
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from decorator_overhead import FORMS, STREAMS, form_costs, ratio
from drift import full_report_row
from generate import spec_with
from sidecar_ingest import export_side, sidecar_side
from sidecar_metrics import measure as metrics_measure

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("decorator", "generate", "ingest", "ship", "metrics", "drift", "install")
HEAVY = ("numpy", "scipy", "pandas", "pyarrow", "great_expectations", "sklearn", "uvicorn")


@dataclass
class Row:
    what: str
    measured: str           # median (min-max) and what else the row shows
    anchor: str             # the same-run anchor
    key: float              # what the README holds later runs to
    better: str             # "lower" or "higher"
    goal: str
    met: bool

    def cells(self) -> list[str]:
        return [self.what, self.measured, self.anchor, _fmt(self.key), self.goal,
                "yes" if self.met else "no"]


def _fmt(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.0f}k"
    return f"{x:.3g}"


def _parse(cell: str) -> float | None:
    m = re.match(r"\s*([0-9.]+)\s*([kM]?)", cell)
    if not m:
        return None
    return float(m.group(1)) * {"": 1.0, "k": 1e3, "M": 1e6}[m.group(2)]


def spread(values: list[float], fmt: Callable[[float], str]) -> str:
    """``median (min-max)``."""
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


# -- rows ---------------------------------------------------------------------------------------
def decorator_rows(runs: int, calls: int, repeat: int) -> list[Row]:
    """Keyed by the ratio to ``@Histogram.time()`` (the issue's anchor); a stream's row also
    states the ratio to the anchor a prometheus_client user needs to time a whole stream (a
    hand-written ``Histogram.time()`` wrapper), the floor of an empty wrapper layer, and ours
    where a TTFT objective has every item timed."""
    per: dict[str, list[dict[str, float]]] = {form: [] for form in FORMS}
    for _ in range(runs):
        for form, run in form_costs(calls, repeat).items():
            per[form].append(run)
    rows = []
    for form, runs_of in per.items():
        ratios = [ratio(c) for c in runs_of]
        ours = [(c["ours"] - c["bare"]) * 1e9 for c in runs_of]
        timed = [(c["timed"] - c["bare"]) * 1e9 for c in runs_of]
        ids = [ratio(c, "ours + ids") for c in runs_of]
        key = statistics.median(ratios)
        measured = (f"{spread(ratios, lambda x: f'{x:.2f}x')}: {statistics.median(ours):.0f} ns; "
                    f"{statistics.median(ids):.2f}x where request ids are tracked")
        anchor = f"`@Histogram.time()` {statistics.median(timed):.0f} ns"
        if form in STREAMS:
            whole = [ratio(c, anchor="whole") for c in runs_of]
            items = [ratio(c, "ours + items") for c in runs_of]
            layer = [(c["layer"] - c["bare"]) * 1e9 for c in runs_of]
            floor = [(c["layer"] - c["bare"]) / (c["timed"] - c["bare"]) for c in runs_of]
            measured += (f"; {statistics.median(items):.2f}x with each item timed (a TTFT "
                         f"objective); vs the whole-stream wrapper "
                         f"{spread(whole, lambda x: f'{x:.2f}x')}; an empty {form} layer "
                         f"alone {statistics.median(layer):.0f} ns = "
                         f"{statistics.median(floor):.2f}x")
            anchor += (f" (times the stream's creation only); a hand-written whole-stream "
                       f"`Histogram.time()` wrapper "
                       f"{statistics.median([(c['whole'] - c['bare']) * 1e9 for c in runs_of]):.0f}"
                       f" ns")
        rows.append(Row(f"decorator overhead, {form}, vs `@Histogram.time()` (same run)",
                        measured, anchor, key, "lower", "<= 0.3x", key <= 0.3))
    return rows


def ingest_rows(runs: int, seconds: float) -> list[Row]:
    rows = []
    floor = http_floor(seconds)
    for features, goal in ((8, 2e6), (64, 1e6)):
        rates, cpu_rates, rss = [], [], []
        for _ in range(runs):
            rate, peak, per_cpu = sidecar_side(seconds, 2000, features, columnar=True)
            rates.append(rate)
            cpu_rates.append(per_cpu)
            rss.append(peak)
        key = statistics.median(cpu_rates)
        rss_ok = features != 8 or max(rss) <= 150
        rows.append(Row(
            f"sidecar ingest on one core, columnar, {features} features per row",
            f"{spread(cpu_rates, _fmt)} rows per CPU second ({_fmt(statistics.median(rates))}/s"
            f" wall on a shared core); RSS {max(rss):.0f} MB",
            f"bare uvicorn + Starlette taking the same 64-feature bodies: {_fmt(floor)} rows per"
            " CPU second", key, "higher",
            f">= {_fmt(goal)}" + (", RSS <= 150 MB" if features == 8 else ""),
            key >= goal and rss_ok))
    return rows


def http_floor(seconds: float) -> float:
    """Rows per CPU second a bare Starlette app on uvicorn takes of 2,000-row, 64-feature
    columnar bodies (it reads them and answers 202): the HTTP stack's own cost."""
    import http.client
    import threading

    from _sidecar import free_port, stop_process
    from sidecar_ingest import body, cpu_seconds

    port = free_port()
    code = ("import uvicorn\nfrom starlette.applications import Starlette\n"
            "from starlette.responses import JSONResponse\nfrom starlette.routing import Route\n"
            "async def post(r):\n    await r.body()\n"
            "    return JSONResponse({'accepted': 1}, status_code=202)\n"
            "app = Starlette(routes=[Route('/v1/ingest', post, methods=['POST'])])\n"
            f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning')\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    try:
        payload, ctype = body(2000, 64, 0, True)
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                time.sleep(0.1)
        sent = [0]
        stop = threading.Event()

        def sender() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while not stop.is_set():
                conn.request("POST", "/v1/ingest", payload, {"Content-Type": ctype})
                conn.getresponse().read()
                sent[0] += 2000

        cpu0 = cpu_seconds(proc.pid)
        threads = [threading.Thread(target=sender) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join()
        return sent[0] / max(cpu_seconds(proc.pid) - cpu0, 1e-9)
    finally:
        stop_process(proc)


def ship_row(runs: int, samples: int) -> Row:
    ours, size, otel = [], [], []
    for _ in range(runs):
        us, nbytes, other = export_side(samples, 8)
        ours.append(us * 1e6)
        size.append(nbytes)
        otel.append(other * 1e6)
    us = statistics.median(ours)
    return Row("SDK cost to ship one sampled call (8 features)",
               f"{spread(ours, lambda x: f'{x:.1f} us')}, {statistics.median(size):.0f} bytes",
               f"OTLP log export {statistics.median(otel):.0f} us",
               us / statistics.median(otel), "lower", "<= 3 us, <= 60 bytes",
               us <= 3 and statistics.median(size) <= 60)


def generate_rows(runs: int) -> list[Row]:
    """Fresh folder, same folder again, Kubernetes objects: each ``runs`` CLI runs; beside the
    CLI's start alone (``slo-agent --help``). The folders are in TMPDIR (see its file system).

    Each run's wall time and its CPU time (user + system of the process, from the kernel's
    accounting of the waited child): the goal is wall time on an idle machine, the key is CPU
    seconds, which a shared machine's load moves far less than the wall (a ratio of two wall
    times moved with whichever of them the load hit). The package's bytecode is compiled first,
    as ``pip install`` does: with PYTHONDONTWRITEBYTECODE set, a source tree recompiles each
    changed module on every start."""
    cli = [sys.executable, "-m", "agent.cli"]
    for part in ("agent", "dashboards", "alerts", "detectors"):
        compileall.compile_dir(str(ROOT / part), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "slo.yaml"
        spec.write_text(yaml.safe_dump(spec_with(1000)))

        def timed(args: list[str]) -> tuple[float, float]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            res = subprocess.run([*cli, *args], capture_output=True, text=True)
            took = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if res.returncode != 0:
                raise RuntimeError(res.stderr.strip()[-300:])
            return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

        start = [timed(["--help"]) for _ in range(runs)]
        fresh = [timed(["generate", "-c", str(spec), "-o", str(Path(tmp) / f"o{i}")])
                 for i in range(runs)]
        again = [timed(["generate", "-c", str(spec), "-o", str(Path(tmp) / "o0")])
                 for _ in range(runs)]
        k8s = [timed(["generate", "-c", str(spec), "-o", str(Path(tmp) / f"k{i}"),
                      "--format", "kubernetes"]) for i in range(runs)]
    anchor = (f"the CLI's start alone {statistics.median(w for w, _ in start):.2f} s, "
              f"{statistics.median(c for _, c in start):.2f} CPU s")
    rows = []
    for what, took, goal in (("into a fresh folder", fresh, 1.0),
                             ("into the same folder again", again, 1.0),
                             ("as Kubernetes objects (`--format kubernetes`), fresh folder", k8s,
                              2.0)):
        walls, cpus = [w for w, _ in took], [c for _, c in took]
        wall, key = statistics.median(walls), statistics.median(cpus)
        rows.append(Row(f"`slo-agent generate` of 1,000 objectives {what}, CLI start included",
                        f"{spread(walls, lambda x: f'{x:.2f} s')} wall; "
                        f"{spread(cpus, lambda x: f'{x:.2f}')} CPU s",
                        anchor, key, "lower", f"<= {goal:g} s", wall <= goal))
    return rows


def metrics_row(scrapes: int) -> Row:
    r = metrics_measure(5000, scrapes)
    key = r["median"]
    return Row("sidecar `/metrics` at 5,000 objectives",
               f"{r['median']:.3f} s ({r['min']:.3f}-{r['max']:.3f}) for "
               f"{r['bytes'] / 1e6:.1f} MB; the tick renders it in {r['tick_render']:.2f} s",
               f"prometheus_client `generate_latest` of the same families (the per-scrape "
               f"render it replaced) {r['generate_latest']:.2f} s",
               r["median"] / r["generate_latest"], "lower", "<= 0.1 s", key <= 0.1)


def drift_row() -> Row:
    value, met = full_report_row()
    key = _parse(value) or 0.0
    return Row("drift full report vs a presorted scipy `ks_2samp` loop, 50 columns x 10k rows "
               "(fitted detector)", value, "scipy `ks_2samp` per column, presorted (same run)",
               key, "higher", ">= 5x (100k: >= 7x)", met == "yes")


def install_row() -> Row:
    """A fresh venv with the base package from this tree and its real dependencies."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.so")
        for part in ("agent", "detectors", "dashboards", "alerts"):
            shutil.copytree(ROOT / part, src / part, ignore=skip)
        for part in ("pyproject.toml", "setup.py", "README.md"):
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
    mb = size / 1e6
    return Row("what `pip install slo-agent` puts into an inference image",
               f"{mb:.0f} MB, heavy packages: {heavy}",
               "prometheus_client + OpenTelemetry SDK: 31 MB", mb, "lower",
               "<= 40 MB, none of the heavy ones", mb <= 40 and heavy == "none")


# -- where it ran, and the check --------------------------------------------------------------
def machine() -> str:
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    tmp = Path(tempfile.gettempdir()).resolve()
    fs, best = "?", ""
    with open("/proc/mounts", encoding="utf-8") as f:
        for line in f:
            _, point, kind, *_ = line.split()
            if str(tmp).startswith(point) and len(point) > len(best):
                fs, best = kind, point
    load = os.getloadavg()[0]
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({model}), "
            f"Python {platform.python_version()}, load {load:.1f}; TMPDIR {tmp} on {fs}")


def check(rows: list[Row], readme: Path, tolerance: float) -> list[str]:
    """Rows whose key is worse than the README table's by more than ``tolerance``, and rows the
    table lacks (a renamed row would otherwise go unchecked)."""
    table: dict[str, float] = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] not in ("what", "---"):
            value = _parse(cells[3])
            if value is not None:
                table[cells[0]] = value
    worse = []
    for r in rows:
        before = table.get(r.what)
        if before is None:
            worse.append(f"{r.what}: no such row in {readme.name} (add this run's row)")
            continue
        limit = before * (1 + tolerance) if r.better == "lower" else before / (1 + tolerance)
        if (r.key > limit) if r.better == "lower" else (r.key < limit):
            worse.append(f"{r.what}: key {_fmt(r.key)}, README {_fmt(before)}")
    return worse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per row (the median is shown)")
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--export-samples", type=int, default=20_000)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--no-install", action="store_true", help="skip the fresh-venv install row")
    ap.add_argument("--check", type=Path, default=ROOT / "README.md",
                    help="fail when a row is worse than this README's table")
    ap.add_argument("--tolerance", type=float, default=0.25)
    ap.add_argument("--only", action="append", choices=GROUPS,
                    help="run only these rows (repeatable); the check holds the rows run")
    args = ap.parse_args()

    print(f"# {machine()}")
    only = set(args.only or GROUPS)
    rows: list[Row] = []
    if "decorator" in only:
        rows += decorator_rows(args.runs, args.calls, args.repeat)
    if "generate" in only:
        rows += generate_rows(args.runs)       # before the rows that empty temporary folders
    if "ingest" in only:
        rows += ingest_rows(args.runs, args.seconds)
    if "ship" in only:
        rows.append(ship_row(args.runs, args.export_samples))
    if "metrics" in only:
        rows.append(metrics_row(args.scrapes))
    if "drift" in only:
        rows.append(drift_row())
    if "install" in only and not args.no_install:
        rows.append(install_row())
    print("\n| what | measured: median (min-max) | anchor, same run | key | goal | met |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")
    worse = check(rows, args.check, args.tolerance) if args.check.exists() else []
    if worse:
        print(f"\nREGRESSION against {args.check} (tolerance {args.tolerance:.0%}):",
              file=sys.stderr)
        for line in worse:
            print(f"  {line}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
