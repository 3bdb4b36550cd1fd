"""A flood of wide batches against a real sidecar at its default caps: 16 clients post JSON
bodies of 64-feature rows (about 1 MiB, or 4 MiB with --rows 3000) as fast as they are answered,
faster than one core applies them. Prints the sidecar's peak RSS beside the README's bound
(400 MB) and batches accepted vs 429s; the inbox is bounded in bytes, so RSS stays flat.

    python bench/ingest_flood.py [--seconds 25] [--rows 800] [--clients 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request

from _sidecar import rss_mb, start_sidecar

BOUND_MB = 400.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=25.0)
    ap.add_argument("--rows", type=int, default=800)
    ap.add_argument("--clients", type=int, default=16)
    args = ap.parse_args()
    spec = {"service": "flood", "models": [{"name": "m", "version": "v1"}],
            "sidecar": {"interval": "1s"}, "sources": {"gpu": {"mode": "off"}},
            "objectives": [{"name": "drift", "signal": "feature_drift",
                            "selector": {"model": "m"}}]}
    proc, url, _ = start_sidecar(spec)
    stop = threading.Event()
    counts = {"accepted": 0, "throttled": 0}
    lock = threading.Lock()
    peak = [rss_mb(proc.pid)]

    def body(seq: int) -> bytes:
        rows = [{f"f{j}": (seq + i + j) * 1.37 for j in range(64)} for i in range(args.rows)]
        return json.dumps({"schema": 1, "service": "flood", "items": [
            {"type": "samples", "model": "m", "version": "v1", "features": rows,
             "predictions": [0.5] * args.rows}]}).encode()

    def flood(seq: int) -> None:
        data = body(seq)
        while not stop.is_set():
            req = urllib.request.Request(url + "/v1/ingest", data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    resp.read()
                key = "accepted"
            except urllib.error.HTTPError:
                key = "throttled"
            with lock:
                counts[key] += 1

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    end = time.time() + args.seconds
    while time.time() < end:
        peak.append(rss_mb(proc.pid))
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    proc.terminate()
    proc.wait(30)
    size = len(body(0))
    print(f"{args.clients} clients, {size / 2**20:.1f} MiB JSON bodies, {args.seconds:g} s: "
          f"{counts['accepted']} accepted, {counts['throttled']} answered 429; sidecar RSS peak "
          f"{max(peak):.0f} MB (bound {BOUND_MB:.0f} MB: {max(peak) / BOUND_MB:.2f}x)")
    return 0 if max(peak) <= BOUND_MB else 1


if __name__ == "__main__":
    sys.exit(main())
