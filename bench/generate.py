"""Generation benchmark: time to generate everything for 10, 100 and 1,000 objectives, in this
process (no CLI start: ``bench/all.py`` times the whole command).

Target: 1,000 objectives rendered in under a second, output valid (promtool check rules on the
result unless --no-check). Render is what the CLI runs (``render``: each shape of objective
built once, the rest filled from its template). Prints one line per size.

    python bench/generate.py [--sizes 10,100,1000] [--no-check]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.render.files import render, write
from agent.spec import parse_spec

KINDS = [("latency", "250ms", "1s"), ("error_rate", "1%", "5%"), ("queue_depth", "100", "1000"),
         ("fallback_rate", "2%", "10%"), ("feature_drift", "0.1", "0.2"),
         ("null_ratio", "1%", "5%")]


def spec_with(n: int) -> dict[str, Any]:
    objectives = []
    for i in range(n):
        kind, w, c = KINDS[i % len(KINDS)]
        o: dict[str, Any] = {"name": f"o{i}-{kind.replace('_', '-')}", "signal": kind,
                             "warning": w, "critical": c}
        if kind == "null_ratio":
            o["selector"] = {"dataset": "tx"}
        elif kind != "queue_depth":
            o["selector"] = {"model": f"m{i % 10}"}
        if i % 2 == 0 and kind in ("latency", "error_rate", "fallback_rate"):
            o.update(objective="99.5%", window="30d")
        objectives.append(o)
    return {"service": "bench", "models": [{"name": f"m{j}"} for j in range(10)],
            "sources": {"datasets": [{"name": "tx"}]}, "objectives": objectives}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args()
    promtool = shutil.which("promtool")
    print(f"{'objectives':>10} {'validate':>9} {'render':>9} {'write':>9} {'total':>9} "
          f"{'files':>6}  check")
    for n in (int(s) for s in args.sizes.split(",")):
        data = spec_with(n)
        t0 = time.perf_counter()
        spec = parse_spec(data)
        t1 = time.perf_counter()
        files = render(spec, "prometheus")
        t2 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write(spec, Path(tmp), files)
            t3 = time.perf_counter()
            check = "skipped"
            if not args.no_check and promtool:
                rules = sorted(str(p) for p in Path(tmp).rglob("*.rules.yml"))
                res = subprocess.run([promtool, "check", "rules", *rules], capture_output=True,
                                     text=True)
                check = "promtool ok" if res.returncode == 0 else "PROMTOOL FAILED"
        print(f"{n:>10} {t1 - t0:>8.2f}s {t2 - t1:>8.2f}s {t3 - t2:>8.2f}s {t3 - t0:>8.2f}s "
              f"{len(files):>6}  {check}")


if __name__ == "__main__":
    main()
