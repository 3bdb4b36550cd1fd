"""What the OTLP tests share: a spec with OTLP-fed models, the real OpenTelemetry SDK's meter
providers with its real OTLP exporters, the truth of what was recorded, and the bucket check
("within the bucket resolution")."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.sidecar.conftest import Sidecar

SERVICE = "svc"
TOKEN = "otlp-test-token"
#: the bucket bounds the GenAI conventions advise for durations
SEMCONV_BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                  40.96, 81.92]
TOKEN_BOUNDS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536]


def otlp_spec(tmp: Path, port: int, grpc_port: int | None = None) -> dict[str, Any]:
    return {
        "service": SERVICE,
        "models": [{"name": "gpt-4o-mini", "otlp": True},
                   {"name": "chat", "otlp": "llama-3-8b"},
                   {"name": "api", "otlp": "http.route=/v1/predict"}],
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": str(tmp / "state"),
                    "interval": "0.5s", "token_env": "SLO_AGENT_TOKEN",
                    "otlp": {"grpc": f"127.0.0.1:{grpc_port}" if grpc_port else False}},
        "alerting": {"rate_window": "5m", "evaluation_interval": "1m"},
        "sources": {"gpu": {"mode": "off"}},
        "objectives": [
            {"name": "latency", "signal": "latency", "selector": {"model": "gpt-4o-mini"},
             "quantile": "p95", "warning": "2s", "critical": "5s", "for": "0s"},
            {"name": "errors", "signal": "error_rate", "selector": {"model": "gpt-4o-mini"},
             "warning": "1%", "critical": "5%", "for": "0s", "objective": "99%",
             "window": "1h"},
            {"name": "ttft", "signal": "ttft", "selector": {"model": "chat"},
             "quantile": "p95", "warning": "1s", "critical": "3s", "for": "0s"},
            {"name": "tpot", "signal": "time_per_output_token", "selector": {"model": "chat"},
             "quantile": "p95", "warning": "100ms", "critical": "300ms", "for": "0s"},
            {"name": "tokens", "signal": "token_rate", "selector": {"model": "gpt-4o-mini"},
             "warning": "1000000", "critical": "2000000", "for": "0s"},
            {"name": "api-errors", "signal": "error_rate", "selector": {"model": "api"},
             "warning": "1%", "critical": "5%", "for": "0s"},
            {"name": "api-latency", "signal": "latency", "selector": {"model": "api"},
             "quantile": "p95", "warning": "1s", "critical": "2s", "for": "0s"},
        ],
    }


@dataclass
class Truth:
    """Everything recorded, by objective name."""

    values: dict[str, list[float]] = field(default_factory=dict)
    bad: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    tokens: float = 0.0

    def add(self, name: str, value: float, failed: bool = False) -> None:
        self.values.setdefault(name, []).append(value)
        self.total[name] = self.total.get(name, 0) + 1
        self.bad[name] = self.bad.get(name, 0) + int(failed)


def provider(exporter: Any, aggregation: Any = None) -> Any:
    """A private MeterProvider (never the global one) whose reader exports on force_flush."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.metrics.view import View
    from opentelemetry.sdk.resources import Resource

    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    views = [View(instrument_name="*", aggregation=aggregation)] if aggregation else []
    return MeterProvider(resource=Resource.create({"service.name": SERVICE,
                                                   "service.instance.id": "test-1"}),
                         metric_readers=[reader], views=views)


def record_genai(mp: Any, truth: Truth, rng: np.random.Generator, n: int) -> None:
    """GenAI client calls as an instrumentation records them (semconv names and attributes)."""
    meter = mp.get_meter("test.genai", "1.0")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s",
                                      explicit_bucket_boundaries_advisory=SEMCONV_BOUNDS)
    usage = meter.create_histogram("gen_ai.client.token.usage", unit="{token}",
                                   explicit_bucket_boundaries_advisory=TOKEN_BOUNDS)
    ttft = meter.create_histogram("gen_ai.client.operation.time_to_first_chunk", unit="s",
                                  explicit_bucket_boundaries_advisory=SEMCONV_BOUNDS)
    tpot = meter.create_histogram("gen_ai.client.operation.time_per_output_chunk", unit="s",
                                  explicit_bucket_boundaries_advisory=SEMCONV_BOUNDS)
    http = meter.create_histogram("http.server.request.duration", unit="s",
                                  explicit_bucket_boundaries_advisory=SEMCONV_BOUNDS)
    other = meter.create_counter("my.own.counter")
    base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}
    for _ in range(n):
        v = float(rng.lognormal(-1.0, 0.8))
        failed = bool(rng.random() < 0.08)
        attrs = {**base, "gen_ai.request.model": "gpt-4o-mini",
                 "gen_ai.response.model": "gpt-4o-mini-2024-07-18"}
        if failed:
            attrs["error.type"] = "timeout"
        duration.record(v, attrs)
        truth.add("latency", v, failed)
        truth.add("errors", v, failed)
        if not failed:
            for ttype, amount in (("input", int(rng.integers(5, 500))),
                                  ("output", int(rng.integers(1, 300)))):
                usage.record(amount, {**base, "gen_ai.request.model": "gpt-4o-mini",
                                      "gen_ai.token.type": ttype})
                truth.tokens += amount
        first = float(rng.lognormal(-1.5, 0.5))
        ttft.record(first, {**base, "gen_ai.request.model": "llama-3-8b"})
        truth.add("ttft", first)
        for _ in range(3):
            gap = float(rng.lognormal(-3.5, 0.4))
            tpot.record(gap, {**base, "gen_ai.request.model": "llama-3-8b"})
            truth.add("tpot", gap)
        status = int(rng.choice([200, 200, 200, 404, 503]))
        hv = float(rng.lognormal(-2.0, 0.6))
        http.record(hv, {"http.request.method": "POST", "http.route": "/v1/predict",
                         "http.response.status_code": status})
        truth.add("api-errors", hv, status >= 500)
        truth.add("api-latency", hv, status >= 500)
        other.add(1)


def p95_bucket(values: list[float], bounds: list[float]) -> tuple[float, float]:
    """The explicit bucket (lo, hi] holding the true p95 (the sketch's lower-rank rule)."""
    truth = float(np.quantile(np.asarray(values), 0.95, method="lower"))
    i = bisect.bisect_left(bounds, truth)
    lo = 0.0 if i == 0 else bounds[i - 1]
    hi = bounds[i] if i < len(bounds) else max(values)
    return lo, hi


def objective(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in doc["objectives"] if o["name"] == name)


def wait_for(sc: Sidecar, done: Callable[[dict[str, Any]], bool], timeout: float = 30.0
             ) -> dict[str, Any]:
    deadline = time.time() + timeout
    doc: dict[str, Any] = {}
    while time.time() < deadline:
        doc = status(sc)
        if done(doc):
            return doc
        time.sleep(0.2)
    raise AssertionError(f"timed out; last /status: {doc}\nlog: {sc.log()}")


def status(sc: Sidecar) -> dict[str, Any]:
    import json

    code, raw = sc.get("/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert code == 200, raw
    out: dict[str, Any] = json.loads(raw)
    return out


def check_against_truth(doc: dict[str, Any], truth: Truth) -> None:
    """/status matches what was recorded: error ratios exact, p95 in the true p95's bucket."""
    for name in ("errors", "api-errors"):
        o = objective(doc, name)
        assert o["judgement"]["bad"] == truth.bad[name], (name, o)
        assert o["judgement"]["total"] == truth.total[name], (name, o)
        assert o["value"] == truth.bad[name] / truth.total[name]
    for name in ("latency", "ttft", "tpot", "api-latency"):
        lo, hi = p95_bucket(truth.values[name], SEMCONV_BOUNDS)
        got = objective(doc, name)["value"]
        assert got is not None, (name, objective(doc, name))
        assert lo * 0.99 <= got <= hi * 1.01, (name, got, lo, hi)
