"""Dataset statistics where the data lives: rows scanned per second per objective, and the
sidecar's memory on a file larger than the memory it may use.

1. DuckDB on a parquet file beside the pandas path it replaced (``read_parquet`` and the same
   statistics in pandas): rows/s for the statistics of each objective family.
2. PostgreSQL (a real Debian server, started here) beside what a user otherwise does (export the
   table into pandas with ``read_sql`` and compute there): rows/s per objective family.
3. A parquet file larger than the address space a real ``slo-agent run`` may use
   (RLIMIT_AS): its rows, nulls, freshness and drift reach /status, with the peak RSS; pandas in
   the same limit cannot read the file. The file is generated in /tmp and deleted afterwards.
4. A big reference file read for drift (a fresh process each): DuckDB's bounded, ordered sample
   (``read_reference``) beside ``pandas.read_parquet`` of the whole file, peak RSS and seconds.

    python bench/datasets.py [--rows 5000000] [--pg-rows 1000000] [--big-gb 3.2] [--limit-gb 2.75]
                             [--ref-rows 20000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from agent.sidecar.collectors.stores.duckdb_files import open_file  # noqa: E402

COUNTRIES = ["DE", "FR", "GB", "NL", "US"]


def median_s(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def make_parquet(path: Path, rows: int) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(f"""COPY (SELECT i AS id,
        TIMESTAMPTZ '2026-11-01 00:00:00+00' + to_seconds(i) AS event_time,
        CASE WHEN random() < 0.05 THEN NULL ELSE 100 + 20 * random() END AS amount,
        ['DE','FR','GB','NL','US'][1 + (i % 5)::INT] AS country
        FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet)""")
    con.close()


def file_rows(path: Path, rows: int, repeat: int) -> list[tuple[str, float, float]]:
    """(objective family, DuckDB rows/s, pandas rows/s)."""
    from detectors.columns import allowed_values_check
    from detectors.quality import frame_schema, newest_event_time, null_counts

    def duck(what: str) -> Callable[[], Any]:
        def run() -> None:
            with open_file(path) as r:
                if what == "plain":
                    r.stats("event_time")
                elif what == "categories":
                    r.rows = rows
                    r.kinds = {"country": "string"}
                    r.categories(["country"], 100_000)
                elif what == "values":
                    r.rows = rows
                    r.values(["amount"], rows + 1)
                else:
                    r.kinds = {"country": "string"}
                    r.allowed({"country": COUNTRIES[:4]})
        return run

    def pandas(what: str) -> Callable[[], Any]:
        def run() -> None:
            frame = pd.read_parquet(path)
            if what == "plain":
                frame_schema(frame), null_counts(frame), newest_event_time(frame, "event_time")
            elif what == "categories":
                frame["country"].dropna().value_counts()
            elif what == "values":
                np.sort(frame["amount"].to_numpy(dtype=float, na_value=np.nan))
            else:
                allowed_values_check("country", frame["country"].tolist(), COUNTRIES[:4])
        return run

    out = []
    duck("plain")()                          # the file in the page cache for both
    for what, label in (("plain", "rows, nulls, freshness, schema"),
                        ("categories", "categories (new_category_share, chi-square)"),
                        ("values", "numeric values (KS drift)"),
                        ("allowed", "allowed values")):
        d = median_s(duck(what), repeat)
        p = median_s(pandas(what), repeat)
        out.append((label, rows / d, rows / p))
    return out


def pg_rows(rows: int, repeat: int) -> list[tuple[str, float, float]]:
    from agent.sidecar.collectors.stores.sql_tables import SqlStore
    from agent.spec import parse_spec
    from detectors.bins import levels, quantile_edges
    from tests.postgres import Postgres

    pg = Postgres()
    try:
        pg.init()
        pg.start()
        pg.sql("CREATE TABLE features AS SELECT i AS id, "
               "now() - make_interval(secs => i % 3000) AS event_time, "
               "CASE WHEN random() < 0.05 THEN NULL ELSE 100 + 20 * random() END AS amount, "
               f"(ARRAY['DE','FR','GB','NL','US'])[1 + i % 5] AS country "
               f"FROM generate_series(1, {rows}) i", "ANALYZE features")
        os.environ["BENCH_DB"] = pg.url()
        src = parse_spec({"service": "b", "models": [{"name": "m"}], "sources": {"datasets": [
            {"name": "f", "sql": {"url_env": "BENCH_DB", "table": "features",
                                  "time_column": "event_time", "window": "1h",
                                  "timeout": "10m"}}]}}).sources.datasets[0].sql
        assert src is not None
        store = SqlStore(src, 60)
        edges = quantile_edges(np.sort(np.random.default_rng(0).uniform(100, 120, 5000)),
                               levels(10))

        def ours(what: str) -> Callable[[], Any]:
            def run() -> None:
                with store.open() as r:
                    agg = r.stats(time.time())
                    assert agg.rows == rows
                    if what == "categories":
                        r.categories(["country"], 1000)
                    elif what == "bins":
                        r.bins({"amount": edges})
                    elif what == "allowed":
                        r.allowed({"country": COUNTRIES[:4]})
            return run

        def exported(what: str) -> Callable[[], Any]:
            def run() -> None:
                import sqlalchemy as sa

                from detectors.bins import cumulative_counts
                from detectors.quality import null_counts

                engine = sa.create_engine(pg.url())
                with engine.connect() as conn:
                    frame = pd.read_sql(sa.text("SELECT * FROM features WHERE event_time > "
                                                "now() - interval '1 hour'"), conn)
                null_counts(frame)
                frame["event_time"].max()
                if what == "categories":
                    frame["country"].value_counts()
                elif what == "bins":
                    cumulative_counts(frame["amount"].to_numpy(dtype=float), edges)
                elif what == "allowed":
                    (~frame["country"].isin(COUNTRIES[:4])).sum()
                engine.dispose()
            return run

        out = []
        ours("plain")()                      # the first connection and the catalogue, warm
        base = median_s(ours("plain"), repeat)
        out.append(("rows, nulls, freshness, schema", rows / base,
                    rows / median_s(exported("plain"), max(1, repeat // 2))))
        for what, label in (("categories", "categories (GROUP BY)"),
                            ("bins", "counts per reference bin (drift)"),
                            ("allowed", "allowed values")):
            t = median_s(ours(what), repeat)
            out.append((label, rows / t, rows / median_s(exported(what), max(1, repeat // 2))))
        return out
    finally:
        pg.remove()


def big_file(gb: float, limit_gb: float, folder: Path) -> dict[str, Any]:
    """A real sidecar under RLIMIT_AS watches a parquet file larger than that limit."""
    sys.path.insert(0, str(ROOT / "bench"))
    from _sidecar import free_port

    path = folder / "big.parquet"
    rows = int(gb * 1e9 / 17.7)         # ~17.7 bytes per row as DuckDB writes these columns
    make_parquet(path, rows)
    size = path.stat().st_size
    ref = folder / "ref.parquet"
    pd.DataFrame({"amount": np.random.default_rng(0).uniform(100, 120, 20_000),
                  "country": np.random.default_rng(1).choice(COUNTRIES, 20_000)}).to_parquet(ref)
    port = free_port()
    spec = {"service": "big", "models": [{"name": "m"}],
            "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": str(folder / "state"),
                        "interval": "1s"},
            "sources": {"gpu": {"mode": "off"}, "datasets": [{
                "name": "big", "path": str(path), "reference": str(ref), "poll_interval": "1h",
                "contract": {"freshness": {"column": "event_time"}}}]},
            "objectives": [
                {"name": "rows", "signal": "row_count", "selector": {"dataset": "big"},
                 "warning": "1000", "critical": "10", "for": "0s"},
                {"name": "nulls", "signal": "null_ratio",
                 "selector": {"dataset": "big", "column": "amount"}, "warning": "10%",
                 "critical": "20%", "for": "0s"},
                {"name": "fresh", "signal": "freshness_lag", "selector": {"dataset": "big"},
                 "warning": "3650d", "critical": "3660d", "for": "0s"},
                {"name": "drift", "signal": "feature_drift", "selector": {"dataset": "big"},
                 "for": "0s"}]}
    (folder / "slo.yaml").write_text(json.dumps(spec))
    limit = int(limit_gb * 2**30)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "-c",
                             str(folder / "slo.yaml"), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=open(folder / "log", "wb"),  # noqa: SIM115
                            preexec_fn=cap, cwd=ROOT,
                            env={**os.environ, "MALLOC_ARENA_MAX": "2"})
    started = time.time()
    doc: dict[str, Any] = {}
    peak = vpeak = 0.0
    try:
        while time.time() - started < 2400:
            if proc.poll() is not None:
                raise RuntimeError("sidecar exited: " + (folder / "log").read_text()[-2000:])
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
                elif line.startswith("VmPeak:"):
                    vpeak = int(line.split()[1]) / 1024
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
                    doc = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
                continue
            ds = next((d for d in doc["sources"]["datasets"] if d["name"] == "big"), None)
            if ds and (ds["error"] or (ds["rows"] == rows and ds["drift"])):
                break
            time.sleep(0.5)
        seconds = time.time() - started
    finally:
        proc.terminate()
        proc.wait(30)
    pandas_ok = subprocess.run(
        [sys.executable, "-c", "import pandas as pd, sys; pd.read_parquet(sys.argv[1])",
         str(path)], preexec_fn=cap, capture_output=True, text=True).returncode == 0
    ds = next(d for d in doc["sources"]["datasets"] if d["name"] == "big")
    return {"file_gb": size / 1e9, "rows": rows, "limit_gb": limit_gb, "peak_rss_mb": peak,
            "peak_address_space_mb": vpeak,
            "seconds_to_status": seconds, "status_rows": ds["rows"], "error": ds["error"],
            "objectives": {o["name"]: o["status"] for o in doc["objectives"]},
            "pandas_reads_it_under_the_limit": pandas_ok}


REFERENCE_PROBE = """
import resource, sys, time
from pathlib import Path
t = time.perf_counter()
from agent.sidecar.collectors._dataset_drift import load_reference
from agent.sidecar.collectors.stores.duckdb_files import read_reference
from agent.spec import parse_spec
import pandas as pd
ds = parse_spec({"service": "b", "models": [{"name": "m"}], "sources": {"datasets": [
    {"name": "d", "path": "d.parquet", "reference": sys.argv[1]}]}}).sources.datasets[0]
frame = read_reference(Path(sys.argv[1])) if sys.argv[2] == "duckdb" else \
    pd.read_parquet(sys.argv[1])
ref = load_reference(frame, ds)
print(ref.rows, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def big_reference(rows: int, folder: Path, repeat: int) -> list[tuple[str, int, float, float]]:
    """(reader, reference rows kept, median seconds, median peak RSS MB) per reader."""
    path = folder / "ref.parquet"
    make_parquet(path, rows)
    out = []
    for reader in ("duckdb", "pandas"):
        runs = []
        for _ in range(repeat):
            done = subprocess.run([sys.executable, "-c", REFERENCE_PROBE, str(path), reader],
                                  capture_output=True, text=True, cwd=ROOT, check=True)
            kept, seconds, rss_kb = done.stdout.split()
            runs.append((int(kept), float(seconds), int(rss_kb) / 1024))
        out.append((reader, runs[0][0], statistics.median(r[1] for r in runs),
                    statistics.median(r[2] for r in runs)))
    path.unlink()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--pg-rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big-gb", type=float, default=3.2)
    ap.add_argument("--limit-gb", type=float, default=2.75)
    ap.add_argument("--ref-rows", type=int, default=20_000_000)
    ap.add_argument("--skip", nargs="*", default=[], choices=["file", "pg", "big", "ref"])
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="slo-bench-datasets-"))
    try:
        if "file" not in args.skip:
            path = folder / "bench.parquet"
            make_parquet(path, args.rows)
            print(f"## DuckDB on a {path.stat().st_size / 1e6:.0f} MB parquet file, "
                  f"{args.rows:,} rows (median of {args.repeat})")
            print("| statistics | DuckDB rows/s | pandas rows/s | ratio |\n|---|---|---|---|")
            for label, d, p in file_rows(path, args.rows, args.repeat):
                print(f"| {label} | {d:,.0f} | {p:,.0f} | {d / p:.1f}x |")
            path.unlink()
        if "pg" not in args.skip:
            print(f"\n## PostgreSQL, {args.pg_rows:,} rows in the window (median of "
                  f"{args.repeat})")
            print("| statistics | pushed down rows/s | read_sql + pandas rows/s | ratio |\n"
                  "|---|---|---|---|")
            for label, d, p in pg_rows(args.pg_rows, args.repeat):
                print(f"| {label} | {d:,.0f} | {p:,.0f} | {d / p:.1f}x |")
        if "ref" not in args.skip:
            print(f"\n## A reference file of {args.ref_rows:,} rows read for drift (median of "
                  f"{args.repeat}, a fresh process each)")
            print("| reader | rows kept | seconds | peak RSS MB |\n|---|---|---|---|")
            for reader, kept, sec, rss in big_reference(args.ref_rows, folder, args.repeat):
                print(f"| {reader} | {kept:,} | {sec:.1f} | {rss:,.0f} |")
        if "big" not in args.skip:
            print("\n## A file larger than the sidecar's address-space limit")
            print(json.dumps(big_file(args.big_gb, args.limit_gb, folder), indent=2))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
