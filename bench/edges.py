"""Slow clients and floods against a real sidecar: /metrics and /healthz latency (p50/p99, from a
separate scraper process) and ingest ack latency (p50/p99) while 50 clients post for 60 s, first
alone (the anchor), then with 1,000 slow connections held open (a header byte every 2 s, each
reopened as soon as the sidecar closes it), printed beside batches accepted vs counted.

    python bench/edges.py [--seconds 60] [--clients 50] [--slow 1000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import socket
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from _sidecar import rss_mb, start_sidecar

SPEC: dict[str, Any] = {
    "service": "edges", "models": [{"name": "m", "version": "v1"}],
    "sidecar": {"interval": "1s"}, "sources": {"gpu": {"mode": "off"}},
    "alerting": {"rate_window": "10s"},
    "objectives": [{"name": "err", "signal": "error_rate", "selector": {"model": "m"},
                    "objective": "99.9%", "window": "1d"}]}
BODY = json.dumps({"schema": 1, "service": "edges", "items": [
    {"type": "requests", "model": "m", "version": "v1", "counts": {"ok": 9, "error": 1}},
    {"type": "samples", "model": "m", "version": "v1",
     "features": [{"a": i * 0.5, "b": i % 7} for i in range(20)]}]}).encode()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))] if s else float("nan")


def scraper(url: str, stop: Any, out: Any) -> None:
    """A separate process: GET /metrics and /healthz four times a second."""
    got: dict[str, list[float]] = {"/metrics": [], "/healthz": []}
    while not stop.is_set():
        for path, lat in got.items():
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(url + path, timeout=30) as resp:
                    resp.read()
                lat.append(time.perf_counter() - t0)
            except OSError:
                lat.append(30.0)
        stop.wait(0.25)
    out.put(got)


def slow_clients(port: int, n: int, stop: Any, out: Any) -> None:
    """A separate process: hold ``n`` connections that send a header byte every 2 s."""
    socks: list[socket.socket | None] = [None] * n
    opened = closed = 0
    while not stop.is_set():
        for i in range(n):
            s = socks[i]
            try:
                if s is None:
                    s = socket.create_connection(("127.0.0.1", port), timeout=2)
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                    socks[i] = s
                    opened += 1
                else:
                    s.sendall(b"X")
            except OSError:
                if s is not None:
                    s.close()
                    closed += 1
                socks[i] = None
        stop.wait(2.0)
    for s in socks:
        if s is not None:
            s.close()
    out.put({"opened": opened, "closed_by_server": closed})


def client(url: str, seconds: float, threads: int, out: Any) -> None:
    """A separate process: ``threads`` clients posting as fast as they are answered."""
    acks: list[float] = []
    counts = {"accepted": 0, "throttled": 0, "failed": 0}
    lock = threading.Lock()
    end = time.time() + seconds

    def post() -> None:
        while time.time() < end:
            req = urllib.request.Request(url + "/v1/ingest", data=BODY, method="POST",
                                         headers={"Content-Type": "application/json"})
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    resp.read()
                with lock:
                    acks.append(time.perf_counter() - t0)
                    counts["accepted"] += 1
            except urllib.error.HTTPError as exc:
                with lock:
                    counts["throttled" if exc.code == 429 else "failed"] += 1
                time.sleep(float(exc.headers.get("Retry-After") or 1))
            except OSError:
                with lock:
                    counts["failed"] += 1

    ts = [threading.Thread(target=post) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put({"acks": acks, **counts})


def phase(seconds: float, clients: int, slow: int) -> dict[str, Any]:
    proc, url, port = start_sidecar(SPEC)
    stop, out = mp.Event(), mp.Queue()
    side = [mp.Process(target=scraper, args=(url, stop, out))]
    if slow:
        side.append(mp.Process(target=slow_clients, args=(port, slow, stop, out)))
    for p in side:
        p.start()
    time.sleep(3 if slow else 0.5)                       # the slow connections are in place
    procs, per = [], 10
    for i in range(0, clients, per):
        procs.append(mp.Process(target=client, args=(url, seconds, min(per, clients - i), out)))
    rss = [rss_mb(proc.pid)]
    for p in procs:
        p.start()
    t_end = time.time() + seconds
    while time.time() < t_end:
        rss.append(rss_mb(proc.pid))
        time.sleep(1)
    results = [out.get() for _ in procs]
    stop.set()
    side_results = [out.get() for _ in side]
    for p in procs + side:
        p.join()
    acks = [a for r in results for a in r["acks"]]
    accepted = sum(r["accepted"] for r in results)
    counted = 0
    for _ in range(100):                                 # applied within a few intervals
        doc = json.loads(urllib.request.urlopen(url + "/status", timeout=30).read())
        counted = int(doc["sources"]["ingest"]["items"].get("requests", 0))
        if counted >= accepted:
            break
        time.sleep(0.2)
    metrics = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    closed = {line.split('reason="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
              for line in metrics.splitlines()
              if line.startswith("slo_agent_http_connections_closed_total{")}
    proc.terminate()
    proc.wait(30)
    scrape = next(r for r in side_results if "/metrics" in r)
    slow_r = next((r for r in side_results if "opened" in r), {})
    return {"metrics": scrape["/metrics"], "healthz": scrape["/healthz"], "acks": acks,
            "accepted": accepted, "counted": counted,
            "throttled": sum(r["throttled"] for r in results),
            "failed": sum(r["failed"] for r in results), "rss_max": max(rss),
            "closed": closed, "slow": slow_r}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--slow", type=int, default=1000)
    args = ap.parse_args()
    base = phase(args.seconds, args.clients, 0)
    hard = phase(args.seconds, args.clients, args.slow)
    ms = 1000.0
    print(f"{args.clients} clients posting for {args.seconds:g} s; /metrics and /healthz from a "
          "separate scraper process (4/s)")
    print(f"{'':36} {'alone':>14} {'+' + str(args.slow) + ' slow conns':>18} {'ratio':>7}")
    rows = [("/metrics p50 (ms)", pct(base["metrics"], .5) * ms, pct(hard["metrics"], .5) * ms),
            ("/metrics p99 (ms)", pct(base["metrics"], .99) * ms,
             pct(hard["metrics"], .99) * ms),
            ("/healthz p99 (ms)", pct(base["healthz"], .99) * ms,
             pct(hard["healthz"], .99) * ms),
            ("ack p50 (ms)", pct(base["acks"], .5) * ms, pct(hard["acks"], .5) * ms),
            ("ack p99 (ms)", pct(base["acks"], .99) * ms, pct(hard["acks"], .99) * ms),
            ("batches accepted", base["accepted"], hard["accepted"]),
            ("batches counted by the sidecar", base["counted"], hard["counted"]),
            ("429 answers", base["throttled"], hard["throttled"]),
            ("sidecar RSS max (MB)", base["rss_max"], hard["rss_max"])]
    for name, a, b in rows:
        ratio = f"{b / a:6.2f}x" if a else "     -"
        print(f"{name:36} {a:14,.1f} {b:18,.1f} {ratio}")
    print(f"slow connections: {hard['slow']}; closed by the sidecar: {hard['closed']}")
    exact = base["accepted"] == base["counted"] and hard["accepted"] == hard["counted"]
    print(f"accepted == counted: {exact}; /metrics p99 <= 1 s with slow clients: "
          f"{pct(hard['metrics'], .99) <= 1.0}; median /metrics "
          f"{statistics.median(hard['metrics']) * ms:.1f} ms")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
