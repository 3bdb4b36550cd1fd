"""Sidecar ingest benchmark: feature samples per second on one core, and the agent's RSS.

Starts the real sidecar (`slo-agent run`) pinned to one CPU, posts SDK-format batches of feature
samples over keep-alive HTTP from this process for --seconds, in the columnar format (schema 2,
what the SDK sends) and then in JSON (schema 1, hand-written clients), and reads how many rows the
sidecar applied from its own /metrics, once its first evaluation tick is over (``warm_up``):
the steady state, its ticks included. Beside it, the SDK-side cost per sample of our shipping
(sample + columnar batch + POST) and of an OpenTelemetry OTLP/HTTP export of the same samples as
log records to a loopback sink. No OpenTelemetry Collector binary is installable here, and a
Collector computes no drift, so only the export side is comparable: the last lines measure it.

    python bench/sidecar_ingest.py [--seconds 10] [--rows 2000] [--features 8]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from _sidecar import free_port, rss_mb, start_sidecar, stop_process

from agent.sdk import columnar_format
from agent.sdk.transport import encode, new_batch_id

#: where a body's ``batch_id`` stands: each request gets a fresh one, as the SDK's batches do
ID_SLOT = "0" * 32


def applied_rows(url: str) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    m = re.search(r'slo_agent_ingest_samples_total\{kind="feature_rows"[^}]*\} ([0-9.e+]+)', text)
    return float(m.group(1)) if m else 0.0


def warm_up(url: str, limit: float = 120.0) -> float:
    """Seconds until the sidecar, under the senders' load, has finished its first evaluation
    tick (its /metrics counts one tick duration, published by the second tick): the one-off
    costs of a process's life (the first drift judgment's scipy.stats import, the first
    snapshot, which then waits up to 60 s before the next) stay out of the steady state
    measured after it."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
        m = re.search(r"slo_agent_evaluation_duration_seconds_count(?:\{[^}]*\})? ([0-9.e+]+)",
                      text)
        if m and float(m.group(1)) >= 1:
            break
        time.sleep(0.5)
    return time.perf_counter() - t0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def body(rows: int, features: int, seed: int, columnar: bool) -> tuple[bytes, str]:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, features))
    env: dict[str, Any] = {"schema": 1, "service": "bench", "batch_id": ID_SLOT, "items": []}
    if columnar:
        env["items"] = [{"type": "samples", "model": "m", "version": "v1", "rows": rows,
                         "columns": {f"f{j}": data[:, j].tolist() for j in range(features)},
                         "predictions": data[:, 0].tolist()}]
        return columnar_format.encode(env, dumps=encode), columnar_format.CONTENT_TYPE
    feats = [{f"f{j}": float(v) for j, v in enumerate(row)} for row in data]
    env["items"] = [{"type": "samples", "model": "m", "version": "v1", "features": feats,
                     "predictions": [float(x) for x in data[:, 0]]}]
    return encode(env), "application/json"


def fresh_id(body: bytes) -> bytes:
    """The body with a new ``batch_id`` in its slot (the same length: the head's is kept)."""
    return body.replace(ID_SLOT.encode(), new_batch_id().encode(), 1)


def sidecar_side(seconds: float, rows: int, features: int, columnar: bool
                 ) -> tuple[float, float, float]:
    """Samples/s one sidecar on one core applies, its highest RSS (MB), and samples per second
    of the sidecar's own CPU time (what one core would take, whatever else the machine runs);
    prints them."""
    spec = {"service": "bench", "models": [{"name": "m", "version": "v1"}],
            "sidecar": {"interval": "5s", "limits": {"max_body_bytes": 64 * 1024 * 1024}},
            "sources": {"gpu": {"mode": "off"}},
            "drift": {"window_size": 5000, "reference_size": 5000},
            "objectives": [{"name": "drift", "signal": "feature_drift",
                            "selector": {"model": "m"}, "warning": 0.1, "critical": 0.25}]}
    proc, url, port = start_sidecar(spec, one_core=True)
    start = time.perf_counter()
    try:
        rss_start = rss_mb(proc.pid)
        payloads = [body(rows, features, s, columnar) for s in range(4)]
        ctype = payloads[0][1]
        sent = [0]
        stop = threading.Event()

        def sender() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            i = 0
            while not stop.is_set():
                data = fresh_id(payloads[i % len(payloads)][0])
                conn.request("POST", "/v1/ingest", data, {"Content-Type": ctype})
                resp = conn.getresponse()
                resp.read()
                if resp.status == 202:
                    sent[0] += rows
                elif resp.status == 429:
                    time.sleep(0.01)
                i += 1
            conn.close()

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for t in threads:
            t.start()
        warmed = warm_up(url)           # then stop, let the worker apply what it holds
        stop.set()
        for t in threads:
            t.join()
        while applied_rows(url) < sent[0] and time.perf_counter() - start < 300:
            time.sleep(0.05)
        stop.clear()
        sent[0] = 0
        base = applied_rows(url)
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        threads = [threading.Thread(target=sender) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(seconds / 2)
        rss_mid = rss_mb(proc.pid)
        time.sleep(seconds / 2)
        stop.set()
        for t in threads:
            t.join()
        while applied_rows(url) - base < sent[0] and time.perf_counter() - t0 < seconds * 3:
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        done = applied_rows(url) - base
        rss_end = rss_mb(proc.pid)
        gx = "great_expectations" in Path(f"/proc/{proc.pid}/maps").read_text()
        name = "columnar (schema 2)" if columnar else "JSON (schema 1)"
        size = len(payloads[0][0]) / rows
        print(f"# sidecar on 1 core, {name}, {rows}-row batches x {features} features "
              f"({size:.0f} bytes/row), {seconds:g}s after {warmed:.0f}s of warm-up")
        print(f"sidecar CPU: {cpu:.1f}s of {elapsed:.1f}s ({cpu / elapsed:.0%} of its core; the "
              f"machine is shared): {done / cpu:,.0f} rows per CPU second")
        print(f"feature samples ingested: {done:,.0f} in {elapsed:.1f}s = "
              f"{done / elapsed:,.0f} samples/s (goal >= 500,000)")
        print(f"RSS: start {rss_start:.0f} MB, middle {rss_mid:.0f} MB, end {rss_end:.0f} MB "
              f"(goal <= 150 MB; great-expectations loaded: {gx})")
        return done / elapsed, max(rss_start, rss_mid, rss_end), done / cpu
    finally:
        stop_process(proc)


class Sink(BaseHTTPRequestHandler):
    bytes_in = 0

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", 0))
        type(self).bytes_in += len(self.rfile.read(n))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def export_side(n: int, features: int) -> tuple[float, float, float]:
    """SDK µs and bytes per sampled call shipped, and the OTLP log export's µs."""
    from prometheus_client import CollectorRegistry

    from agent.sdk import Monitor

    Sink.bytes_in = 0      # a class counter: the previous run's OTLP bytes would count as ours
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    rng = np.random.default_rng(0)
    rows = [{f"f{j}": float(v) for j, v in enumerate(r)} for r in rng.normal(size=(n, features))]

    mon = Monitor(registry=CollectorRegistry(), service="bench", sidecar_url=url,
                  sample_rate=1.0, flush_interval=3600)
    mon.queue_size = n + 1

    @mon.inference(model="m", version="v1", features=lambda r: r)
    def infer(r: dict[str, float]) -> int:
        return 1

    t = time.perf_counter()
    for r in rows:
        infer(r)
    mon.flush(timeout=30)
    ours = (time.perf_counter() - t) / n
    ours_bytes = Sink.bytes_in
    mon.close()

    from opentelemetry._logs import LogRecord
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    Sink.bytes_in = 0
    provider = LoggerProvider()
    provider.add_log_record_processor(BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=url + "/v1/logs"), max_queue_size=n + 1,
        max_export_batch_size=512))
    logger = provider.get_logger("bench")
    t = time.perf_counter()
    for r in rows:
        logger.emit(LogRecord(body="inference", attributes={"gen_ai.request.model": "m", **r}))
    provider.force_flush(60_000)
    otel = (time.perf_counter() - t) / n
    provider.shutdown()
    server.shutdown()
    print(f"\n# SDK side, {n:,} samples x {features} features shipped to a loopback sink")
    print(f"slo-agent sample + columnar batch + POST: {ours * 1e6:.2f} us/sample, "
          f"{ours_bytes / n:.0f} bytes/sample (goal <= 3 us, <= 60 bytes)")
    print(f"OpenTelemetry OTLP/HTTP log export:       {otel * 1e6:.2f} us/sample, "
          f"{Sink.bytes_in / n:.0f} bytes/sample ({otel / ours:.1f}x ours)")
    return ours, ours_bytes / n, otel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--export-samples", type=int, default=50_000)
    args = ap.parse_args()
    sidecar_side(args.seconds, args.rows, args.features, columnar=True)
    sidecar_side(args.seconds, args.rows, args.features, columnar=False)
    export_side(args.export_samples, args.features)


if __name__ == "__main__":
    main()
