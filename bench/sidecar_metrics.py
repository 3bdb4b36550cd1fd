"""Sidecar /metrics at many objectives: scrape time against the size it serves.

Starts the real sidecar (`slo-agent run`) with N objectives (bench/generate.py's mix of kinds
over ten models), feeds it a few batches of requests so the objectives have values, waits for an
evaluation tick, then scrapes /metrics --scrapes times and prints median, min and max with the
body size; beside it, in the same run, /healthz (the server's floor) and what the same text
costs to render per scrape with prometheus_client's generate_latest (what the sidecar did before
it rendered once per tick) and the tick's own renderer: the families are read back from the
scrape and rendered again here.

    python bench/sidecar_metrics.py [--objectives 5000] [--scrapes 20]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import time
import urllib.request
from typing import Any

from _sidecar import start_sidecar
from generate import spec_with

from agent.sdk.transport import encode


def requests_batch(models: int) -> bytes:
    items = [{"type": "requests", "model": f"m{j}", "version": "", "counts":
              {"ok": 950, "error": 40, "fallback": 10}, "in_flight": 3,
              "latency": {"accuracy": 0.01, "zeros": 0, "count": 3,
                          "keys": [-150, -100, -60], "counts": [1, 1, 1], "min": 0.05,
                          "max": 0.6, "sum": 0.9}} for j in range(models)]
    return encode({"schema": 1, "service": "bench", "items": items})


def timed_get(port: int, path: str) -> tuple[float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    took = time.perf_counter() - t
    conn.close()
    return took, len(body)


def render_again(text: str, repeat: int) -> tuple[float, float]:
    """Median seconds prometheus_client's generate_latest takes for the families of ``text``,
    and the sidecar's tick renderer (label strings remembered from the tick before)."""
    from prometheus_client.exposition import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from agent.sidecar._rendering import Renderer

    fams = list(text_string_to_metric_families(text))

    class Static:
        def collect(self) -> Any:
            return iter(fams)

    renderer = Renderer()
    renderer.render(fams)
    took, ours = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        generate_latest(Static())
        took.append(time.perf_counter() - t)
        t = time.perf_counter()
        renderer.render(fams)
        ours.append(time.perf_counter() - t)
    return statistics.median(took), statistics.median(ours)


def measure(objectives: int, scrapes: int) -> dict[str, Any]:
    """Median/min/max scrape seconds, body bytes, /healthz median, generate_latest median."""
    spec = spec_with(objectives)
    spec["sidecar"] = {"interval": "2s", "limits": {"max_body_bytes": 64 * 1024 * 1024}}
    spec["sources"] = {**spec.get("sources", {}), "gpu": {"mode": "off"}}
    proc, url, port = start_sidecar(spec)
    try:
        body = requests_batch(10)
        for _ in range(3):
            req = urllib.request.Request(url + "/v1/ingest", data=body,
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=30).read()
            time.sleep(2.5)                 # an evaluation tick in between
        timed_get(port, "/metrics")
        took, sizes = [], []
        for _ in range(scrapes):
            t, n = timed_get(port, "/metrics")
            took.append(t)
            sizes.append(n)
        health = statistics.median(timed_get(port, "/healthz")[0] for _ in range(scrapes))
        text = urllib.request.urlopen(url + "/metrics", timeout=60).read().decode()
        again, tick = render_again(text, max(3, scrapes // 4))
    finally:
        proc.terminate()          # its last snapshot of N objectives takes a while
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return {"median": statistics.median(took), "min": min(took), "max": max(took),
            "bytes": statistics.median(sizes), "healthz": health, "generate_latest": again,
            "tick_render": tick}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objectives", type=int, default=5000)
    ap.add_argument("--scrapes", type=int, default=20)
    args = ap.parse_args()
    r = measure(args.objectives, args.scrapes)
    print(f"/metrics at {args.objectives:,} objectives: {r['bytes'] / 1e6:.1f} MB, median "
          f"{r['median']:.3f} s (min {r['min']:.3f}, max {r['max']:.3f}; goal <= 0.1 s)")
    print(f"same run: /healthz {r['healthz'] * 1e3:.1f} ms; prometheus_client generate_latest "
          f"of the same families (the per-scrape render it replaced) {r['generate_latest']:.3f} s;"
          f" the tick's render of them {r['tick_render']:.3f} s (once per tick, off the loop)")


if __name__ == "__main__":
    main()
