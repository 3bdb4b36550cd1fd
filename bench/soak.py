"""Soak: the SDK pushing at a steady high rate into the real sidecar while /metrics is scraped every
second. Prints throughput, dropped samples, the sidecar's RSS at start / middle / end, evaluation
tick lag (p99) and /metrics scrape latency (p99). Exits 1 if RSS is not flat (end more than 25 %
above the middle plus 20 MB), so CI can run it short.

    python bench/soak.py [--seconds 600] [--rate 20000]
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
import urllib.request

from _sidecar import rss_mb, start_sidecar
from prometheus_client import CollectorRegistry

from agent.sdk import Monitor


def p99(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * 0.99))] if s else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--rate", type=float, default=20000.0, help="decorated calls per second")
    args = ap.parse_args()
    spec = {"service": "soak", "models": [{"name": "m", "version": "v1"}],
            "sidecar": {"interval": "1s"},
            "sources": {"gpu": {"mode": "off"}},
            "drift": {"window_size": 2000, "reference_size": 2000},
            "alerting": {"rate_window": "10s"},
            "objectives": [
                {"name": "lat", "signal": "latency", "selector": {"model": "m"},
                 "warning": "10ms", "critical": "50ms", "objective": "99%", "window": "1d"},
                {"name": "err", "signal": "error_rate", "selector": {"model": "m"},
                 "objective": "99.9%", "window": "1d"},
                {"name": "drift", "signal": "feature_drift", "selector": {"model": "m"}}]}
    proc, url, _ = start_sidecar(spec)
    mon = Monitor(registry=CollectorRegistry(), service="soak", sidecar_url=url,
                  sample_rate=0.25, flush_interval=0.5)

    @mon.inference(model="m", version="v1", features=lambda i: {"a": i % 97, "b": i % 13})
    def infer(i: int) -> int:
        if i % 1000 == 0:
            raise ValueError("one in a thousand")
        return i

    stop = threading.Event()
    calls = [0]

    def load() -> None:
        period = 0.01
        per_tick = max(1, int(args.rate * period))
        i = 0
        next_at = time.perf_counter()
        while not stop.is_set():
            for _ in range(per_tick):
                try:
                    infer(i)
                except ValueError:
                    pass
                i += 1
            calls[0] = i
            next_at += period
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    scrape_lat: list[float] = []
    tick_lag: list[float] = []
    rss: dict[str, float] = {"start": rss_mb(proc.pid)}
    worker = threading.Thread(target=load, daemon=True)
    started = time.time()
    worker.start()
    try:
        while time.time() - started < args.seconds:
            t = time.perf_counter()
            text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
            scrape_lat.append(time.perf_counter() - t)
            m = re.search(r"^slo_agent_evaluation_lag_seconds\{[^}]*\} ([0-9.e+-]+)$", text,
                          re.M)
            if m:
                tick_lag.append(float(m.group(1)))
            if "middle" not in rss and time.time() - started >= args.seconds / 2:
                rss["middle"] = rss_mb(proc.pid)
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - t)))
    finally:
        stop.set()
        worker.join()
        mon.flush()
        rss["end"] = rss_mb(proc.pid)
        elapsed = time.time() - started
        proc.terminate()
        proc.wait(10)
    dropped = sum(c.value for c in mon.dropped.values())
    rss.setdefault("middle", rss["end"])
    print(f"# soak {elapsed:.0f}s at {args.rate:g} calls/s target (features sampled at 25%)")
    print(f"throughput: {calls[0] / elapsed:,.0f} calls/s, {mon.shipped.value:,.0f} items "
          f"shipped in batches, {dropped:,.0f} samples dropped")
    print(f"sidecar RSS: start {rss['start']:.0f} MB, middle {rss['middle']:.0f} MB, "
          f"end {rss['end']:.0f} MB")
    print(f"evaluation tick lag p99: {p99(tick_lag) * 1e3:.1f} ms; /metrics scrape latency p99: "
          f"{p99(scrape_lat) * 1e3:.1f} ms ({len(scrape_lat)} scrapes)")
    flat = rss["end"] <= rss["middle"] * 1.25 + 20
    print("RSS flat" if flat else "RSS GREW between middle and end")
    mon.close()
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
