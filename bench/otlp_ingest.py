"""OTLP intake benchmark: histogram data points per second on one core, beside the native wire.

Starts the real sidecar (`slo-agent run`) pinned to one CPU and posts, over keep-alive HTTP from
this process for --seconds each:

* OTLP/HTTP protobuf: ExportMetricsServiceRequests of `gen_ai.client.operation.duration` points
  (explicit buckets, the conventions' 14 bounds, delta temporality; --points per request, each
  its own stream), what an OpenTelemetry SDK or Collector sends;
* the native JSON wire: the same information as the SDK ships it, one `requests` item per
  (model, interval) with its counts and latency sketch, --points items per batch.

Each datum is "one stream's calls over one export interval". Rates are read back from the
sidecar's own /metrics (slo_agent_otlp_data_points_total{result="accepted"} and
slo_agent_ingest_samples_total{kind="requests"}), so they count what was applied, not sent.

    python bench/otlp_ingest.py [--seconds 8] [--points 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import threading
import time
import urllib.request
from typing import Any

import numpy as np
from _sidecar import rss_mb, start_sidecar
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2 as mp

from detectors.sketch import QuantileSketch

BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96,
          81.92]
NS = 1_000_000_000


def otlp_request(points: int, seed: int, t: float) -> ExportMetricsServiceRequest:
    rng = np.random.default_rng(seed)
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "bench"
    m = rm.scope_metrics.add().metrics.add(name="gen_ai.client.operation.duration", unit="s")
    m.histogram.aggregation_temporality = mp.AGGREGATION_TEMPORALITY_DELTA  # type: ignore
    for i in range(points):
        values = rng.lognormal(-1.0, 0.8, size=50)
        counts = np.bincount(np.searchsorted(BOUNDS, values), minlength=len(BOUNDS) + 1)
        p = m.histogram.data_points.add(
            start_time_unix_nano=int(t * NS), time_unix_nano=int((t + 1) * NS),
            count=len(values), sum=float(values.sum()), bucket_counts=counts.tolist(),
            explicit_bounds=BOUNDS, min=float(values.min()), max=float(values.max()))
        for k, v in (("gen_ai.request.model", "m"), ("gen_ai.operation.name", "chat"),
                     ("server.address", f"host-{i}")):
            p.attributes.add(key=k).value.string_value = v
    return req


def restamped(req: ExportMetricsServiceRequest, t: float) -> bytes:
    """The request with every point moved to a new interval: new data for each delta stream
    (a repeat of the same interval would be skipped as an exporter's retry)."""
    for p in req.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points:
        p.start_time_unix_nano, p.time_unix_nano = int(t * NS), int((t + 1) * NS)
    return bytes(req.SerializeToString())


def native_body(points: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(points):
        sk = QuantileSketch()
        sk.extend(rng.lognormal(-1.0, 0.8, size=50))
        items.append({"type": "requests", "model": "m", "version": "",
                      "counts": {"ok": 50}, "latency": sk.to_dict()})
    return json.dumps({"schema": 1, "service": "bench", "items": items}).encode()


def counter(url: str, pattern: str) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    m = re.search(pattern + r"[^}]*\} ([0-9.e+]+)", text)
    return float(m.group(1)) if m else 0.0


def run(seconds: float, points: int, otlp: bool) -> tuple[float, float]:
    spec: dict[str, Any] = {
        "service": "bench", "models": [{"name": "m", "otlp": True}],
        "sidecar": {"interval": "5s", "limits": {"max_body_bytes": 64 * 1024 * 1024},
                    "otlp": {"max_streams": 100_000}},
        "sources": {"gpu": {"mode": "off"}},
        "objectives": [{"name": "lat", "signal": "latency", "selector": {"model": "m"},
                        "warning": "2s", "critical": "5s"}]}
    proc, url, port = start_sidecar(spec, one_core=True)
    try:
        t0 = time.time() + 1
        reqs = [otlp_request(points, s, t0) for s in range(8)]
        if otlp:
            bodies: list[bytes] = []
            path, ctype = "/v1/metrics", "application/x-protobuf"
            pattern = r'slo_agent_otlp_data_points_total\{result="accepted"'
        else:
            bodies = [native_body(points, s) for s in range(8)]
            path, ctype = "/v1/ingest", "application/json"
            pattern = r'slo_agent_ingest_samples_total\{kind="requests"'
        stop = threading.Event()

        def sender() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            i = 0
            while not stop.is_set():
                body = restamped(reqs[i % 8], t0 + i) if otlp else bodies[i % len(bodies)]
                conn.request("POST", path, body, {"Content-Type": ctype})
                resp = conn.getresponse()
                resp.read()
                i += 1

        start = counter(url, pattern)
        thread = threading.Thread(target=sender, daemon=True)
        t = time.perf_counter()
        thread.start()
        time.sleep(seconds)
        stop.set()
        thread.join(30)
        time.sleep(1.0)                      # let the worker apply what was queued
        rate = (counter(url, pattern) - start) / (time.perf_counter() - t - 1.0)
        return rate, rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--points", type=int, default=200)
    args = ap.parse_args()
    otlp, rss_o = run(args.seconds, args.points, otlp=True)
    native, rss_n = run(args.seconds, args.points, otlp=False)
    print(f"OTLP/HTTP protobuf histogram points/s on one core: {otlp:,.0f} (RSS {rss_o:.0f} MB)")
    print(f"native JSON requests items/s (latency sketch) on one core: {native:,.0f} "
          f"(RSS {rss_n:.0f} MB)")
    print(f"OTLP / native: {otlp / native:.2f}x")


if __name__ == "__main__":
    main()
