"""OpenLLMetry (``opentelemetry-instrumentation-openai``, traceloop's) instrumenting a real
``openai`` client against a small OpenAI-compatible server written here, exporting with the
OpenTelemetry SDK's OTLP/HTTP exporter to a real ``slo-agent run``: the spec adds one line
(``otlp: "*"``) and the objectives on /status match what happened — the error ratio exactly
(the server decides which calls fail), tokens exactly (the server reports usage), p95 within the
bucket of the true p95 read from what the SDK itself aggregated (an in-memory reader beside the
exporter)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import free_port
from tests.sidecar.otlp_harness import SEMCONV_BOUNDS, SERVICE, TOKEN, objective, wait_for

pytestmark = pytest.mark.slow
MODEL = "gpt-4o-mini"
SNAPSHOT = "gpt-4o-mini-2024-07-18"     # what the server answers with, as OpenAI does


class FakeOpenAI(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: waits the delay the test planned for the call, then answers
    500 (a failed call) or a completion with usage; streamed calls get SSE chunks."""

    plan: list[tuple[float, bool]] = []
    served = 0
    lock = threading.Lock()
    usage: list[tuple[int, int]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            delay, fail = self.plan[FakeOpenAI.served % len(self.plan)]
            FakeOpenAI.served += 1
        time.sleep(delay)
        if fail:
            self._send(500, {"error": {"message": "overloaded", "type": "server_error"}})
            return
        prompt = sum(len(m["content"].split()) for m in body["messages"]) + 7
        completion = 3 + int(delay * 100)
        with self.lock:
            FakeOpenAI.usage.append((prompt, completion))
        usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                 "total_tokens": prompt + completion}
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for i, word in enumerate(["Hello", " there", "!"]):
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                         "model": SNAPSHOT, "choices": [{"index": 0, "delta": {
                             "role": "assistant", "content": word} if i == 0 else {
                             "content": word}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.005)
            last = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                    "model": SNAPSHOT, "choices": [], "usage": usage}
            self.wfile.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
            return
        self._send(200, {"id": "c1", "object": "chat.completion", "created": 0,
                         "model": SNAPSHOT, "usage": usage, "choices": [{
                             "index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Hello there!"}}]})

    def _send(self, code: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def openai_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _spec(tmp: Path, port: int) -> dict[str, Any]:
    return {
        "service": SERVICE,
        "models": [{"name": MODEL, "otlp": "*"}],      # the one line this service adds
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": str(tmp / "state"),
                    "interval": "0.5s", "token_env": "SLO_AGENT_TOKEN"},
        "alerting": {"rate_window": "5m", "evaluation_interval": "1m"},
        "sources": {"gpu": {"mode": "off"}},
        "objectives": [
            {"name": "latency", "signal": "latency", "selector": {"model": MODEL},
             "quantile": "p95", "warning": "2s", "critical": "5s", "for": "0s"},
            {"name": "errors", "signal": "error_rate", "selector": {"model": MODEL},
             "warning": "1%", "critical": "5%", "for": "0s"},
            {"name": "tokens", "signal": "token_rate", "selector": {"model": MODEL},
             "warning": "1000000"},
            {"name": "ttft", "signal": "ttft", "selector": {"model": MODEL},
             "quantile": "p95", "warning": "1s", "critical": "2s", "for": "0s"},
        ],
    }


def _true_p95_bucket(reader: Any) -> tuple[float, float]:
    """The bucket holding the p95 of what the SDK aggregated for the duration instrument."""
    data = reader.get_metrics_data()
    counts = np.zeros(len(SEMCONV_BOUNDS) + 1)
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == "gen_ai.client.operation.duration":
                    for p in m.data.data_points:
                        counts += np.asarray(p.bucket_counts)
    rank = 0.95 * (counts.sum() - 1)
    i = int(np.searchsorted(np.cumsum(counts), rank, side="right"))
    return (SEMCONV_BOUNDS[i - 1] if i else 0.0,
            SEMCONV_BOUNDS[i] if i < len(SEMCONV_BOUNDS) else float("inf"))


def test_openllmetry_on_a_real_openai_client_feeds_the_sidecar(
        sidecar_factory: Any, tmp_path: Path, openai_server: str) -> None:
    import openai
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        InMemoryMetricReader,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
    from opentelemetry.sdk.resources import Resource

    port = free_port()
    sc = sidecar_factory(_spec(tmp_path, port), env={"SLO_AGENT_TOKEN": TOKEN})
    rng = np.random.default_rng(11)
    calls = 60
    FakeOpenAI.plan = [(float(rng.lognormal(-3.0, 0.7)), bool(rng.random() < 0.15))
                       for _ in range(calls)]
    FakeOpenAI.served, FakeOpenAI.usage = 0, []
    exporter = OTLPMetricExporter(endpoint=f"{sc.url}/v1/metrics",
                                  headers={"Authorization": f"Bearer {TOKEN}"})
    memory = InMemoryMetricReader()
    # the conventions advise these bounds; a View applies them where an instrumentation
    # does not pass the advice
    view = View(instrument_name="gen_ai.*",
                aggregation=ExplicitBucketHistogramAggregation(SEMCONV_BOUNDS))
    mp = MeterProvider(resource=Resource.create({"service.name": SERVICE}), views=[view],
                       metric_readers=[PeriodicExportingMetricReader(
                           exporter, export_interval_millis=3_600_000), memory])
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(meter_provider=mp)
    try:
        client = openai.OpenAI(base_url=openai_server, api_key="test", max_retries=0)
        failed = 0
        for i in range(calls):
            try:
                if i % 4 == 0:
                    stream = client.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": "hi there"}],
                        stream=True, stream_options={"include_usage": True})
                    for _ in stream:
                        pass
                else:
                    client.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": "hi there"}])
            except openai.InternalServerError:
                failed += 1
            if i % 20 == 19:
                assert mp.force_flush(20_000)
        assert mp.force_flush(20_000)
        lo, hi = _true_p95_bucket(memory)
    finally:
        instrumentor.uninstrument()
        mp.shutdown()
    assert failed == sum(fail for _, fail in FakeOpenAI.plan)
    doc = wait_for(sc, lambda d: objective(d, "errors").get("judgement", {}).get("total")
                   == calls)
    errors = objective(doc, "errors")
    assert errors["judgement"]["bad"] == failed
    assert errors["value"] == failed / calls
    tokens = sum(p + c for p, c in FakeOpenAI.usage)
    assert objective(doc, "tokens")["value"] * 300 == pytest.approx(tokens, rel=1e-9)
    p95 = objective(doc, "latency")["value"]
    assert lo * 0.99 <= p95 <= hi * 1.01, (p95, lo, hi)
    assert objective(doc, "ttft")["value"] is not None          # the streamed calls
    otlp = doc["sources"]["otlp"]
    assert otlp["points"]["rejected"] == 0, otlp
