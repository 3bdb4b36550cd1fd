"""The OTLP door with the real clients: the OpenTelemetry Python SDK and its OTLP exporters
(HTTP protobuf, HTTP JSON, gRPC; cumulative and delta; explicit and exponential histograms)
feeding a real ``slo-agent run`` whose /status must match what was recorded: error ratios
exact, p95 within the OTLP histogram's bucket resolution, tokens exact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import free_port
from tests.sidecar.otlp_harness import (
    SEMCONV_BOUNDS,
    TOKEN,
    Truth,
    check_against_truth,
    objective,
    otlp_spec,
    provider,
    record_genai,
    status,
    wait_for,
)

pytestmark = pytest.mark.slow


def _start(sidecar_factory: Any, tmp_path: Path, grpc: bool = False) -> Any:
    port = free_port()
    spec = otlp_spec(tmp_path, port, free_port() if grpc else None)
    return sidecar_factory(spec, env={"SLO_AGENT_TOKEN": TOKEN}), spec


def _exporter(kind: str, url: str, spec: dict[str, Any], **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if kind == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        return OTLPMetricExporter(endpoint=f"{url}/v1/metrics", headers=headers, **kw)
    if kind == "http/json":
        from opentelemetry.exporter.otlp.json.http.metric_exporter import (
            OTLPMetricExporter as JsonExporter,
        )
        return JsonExporter(endpoint=f"{url}/v1/metrics", headers=headers, **kw)
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
        OTLPMetricExporter as GrpcExporter,
    )
    return GrpcExporter(endpoint=spec["sidecar"]["otlp"]["grpc"], insecure=True,
                        headers=(("authorization", f"Bearer {TOKEN}"),), **kw)


def _feed(mp: Any, truth: Truth, seed: int, rounds: int = 4, per_round: int = 150) -> None:
    """Several exports: a cumulative stream sends its totals each time (the door must take
    only what is new), a delta stream only what is new."""
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        record_genai(mp, truth, rng, per_round)
        assert mp.force_flush(20_000)


def _temporality(name: str) -> dict[type, Any]:
    from opentelemetry.sdk.metrics import Counter, Histogram
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    t = AggregationTemporality.DELTA if name == "delta" else AggregationTemporality.CUMULATIVE
    return {Histogram: t, Counter: t}


def _settled(truth: Truth) -> Any:
    return lambda doc: objective(doc, "errors").get("judgement", {}).get("total") == \
        truth.total["errors"] and objective(doc, "api-errors").get(
            "judgement", {}).get("total") == truth.total["api-errors"]


@pytest.mark.parametrize("protocol,temporality", [
    ("http/protobuf", "cumulative"), ("http/protobuf", "delta"),
    ("http/json", "cumulative"), ("grpc", "delta"), ("grpc", "cumulative")])
def test_sdk_exporters_feed_objectives_that_match_the_truth(
        sidecar_factory: Any, tmp_path: Path, protocol: str, temporality: str) -> None:
    sc, spec = _start(sidecar_factory, tmp_path, grpc=protocol == "grpc")
    mp = provider(_exporter(protocol, sc.url, spec,
                            preferred_temporality=_temporality(temporality)))
    truth = Truth()
    try:
        _feed(mp, truth, seed=hash((protocol, temporality)) % 1000)
    finally:
        mp.shutdown()
    doc = wait_for(sc, _settled(truth))
    check_against_truth(doc, truth)
    tokens = objective(doc, "tokens")["value"]
    assert tokens * 300 == pytest.approx(truth.tokens, rel=1e-9)     # 5m rate window
    otlp = doc["sources"]["otlp"]
    assert otlp["points"]["rejected"] == 0
    assert otlp["ignored_metrics"].get("my.own.counter", 0) > 0      # unknown: counted only
    sc.stop()                                      # SIGTERM: both listeners close, exit 0
    assert sc.proc is not None and sc.proc.returncode == 0, sc.log()


def test_exponential_histograms_and_the_temporality_variable(
        sidecar_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exponential buckets (the SDK's base-2 aggregation) and delta temporality chosen by
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, as a deployment would."""
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    sc, spec = _start(sidecar_factory, tmp_path)
    mp = provider(_exporter("http/protobuf", sc.url, spec),
                  aggregation=ExponentialBucketHistogramAggregation(max_size=160))
    truth = Truth()
    try:
        _feed(mp, truth, seed=7)
    finally:
        mp.shutdown()
    doc = wait_for(sc, _settled(truth))
    for name in ("errors", "api-errors"):
        o = objective(doc, name)
        assert (o["judgement"]["bad"], o["judgement"]["total"]) == (truth.bad[name],
                                                                    truth.total[name])
    for name in ("latency", "ttft", "tpot", "api-latency"):
        exact = float(np.quantile(np.asarray(truth.values[name]), 0.95, method="lower"))
        # base 2^(2^-scale): at 160 buckets over these ranges the scale stays >= 4 (4.4 %)
        assert objective(doc, name)["value"] == pytest.approx(exact, rel=0.06), name


def test_the_token_comes_from_otel_exporter_otlp_headers(
        sidecar_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bearer token as a deployment gives it (OTEL_EXPORTER_OTLP_HEADERS); without it the
    exporter is refused (401, not retried) and nothing is counted."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    sc, _ = _start(sidecar_factory, tmp_path)
    truth = Truth()
    mp = provider(OTLPMetricExporter(endpoint=f"{sc.url}/v1/metrics"))
    try:
        _feed(mp, Truth(), seed=1, rounds=1, per_round=20)
    finally:
        mp.shutdown()
    assert status(sc)["sources"]["otlp"]["points"]["accepted"] == 0
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{TOKEN}")
    mp = provider(OTLPMetricExporter(endpoint=f"{sc.url}/v1/metrics"))
    try:
        _feed(mp, truth, seed=2, rounds=2, per_round=50)
    finally:
        mp.shutdown()
    check_against_truth(wait_for(sc, _settled(truth)), truth)


def test_otlp_fed_objectives_show_on_metrics_and_the_series_are_re_exported(
        sidecar_factory: Any, tmp_path: Path) -> None:
    """The objectives on /metrics as SDK-fed ones, and the SDK's own series re-exported (the
    generated rules read them): requests by outcome exact, the histogram's +Inf bucket the
    call count, tokens by type."""
    from prometheus_client.parser import text_string_to_metric_families

    sc, spec = _start(sidecar_factory, tmp_path)
    mp = provider(_exporter("http/protobuf", sc.url, spec))
    truth = Truth()
    try:
        _feed(mp, truth, seed=3, rounds=2, per_round=100)
    finally:
        mp.shutdown()
    wait_for(sc, _settled(truth))
    code, raw = sc.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert code == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(raw.decode()) for s in f.samples}

    def get(name: str, **labels: str) -> float:
        key = (name, tuple(sorted({"service": "svc", **labels}.items())))
        assert key in samples, (key, [k for k in samples if k[0] == name])
        return samples[key]

    mv = {"model": "gpt-4o-mini", "version": ""}
    assert get("slo_agent_objective_value", objective="errors", signal="error_rate") == \
        truth.bad["errors"] / truth.total["errors"]
    assert get("inference_requests_total", outcome="error", **mv) == truth.bad["errors"]
    assert get("inference_requests_total", outcome="ok", **mv) == \
        truth.total["errors"] - truth.bad["errors"]
    assert get("inference_request_duration_seconds_bucket", le="+Inf", **mv) == \
        truth.total["latency"]
    # a bound the spec names (2s, the warning level): counted to the bucket resolution
    under = sum(v <= 2.0 for v in truth.values["latency"])
    lo_b, hi_b = 1.28, 2.56       # the OTLP bucket around 2 s
    between = sum(lo_b < v <= hi_b for v in truth.values["latency"])
    assert abs(get("inference_request_duration_seconds_bucket", le="2.0", **mv) - under) \
        <= between
    assert get("inference_tokens_total", token_type="input", **mv) + \
        get("inference_tokens_total", token_type="output", **mv) == truth.tokens
    assert get("slo_agent_otlp_data_points_total", result="rejected") == 0
    code, page = sc.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert code == 200          # the page lists OTLP-fed objectives as it lists SDK-fed ones
    for name in ("latency", "errors", "ttft", "tpot", "api-errors"):
        assert f'data-objective="{name}"'.encode() in page, name
    status_of = {o["name"]: o["status"] for o in status(sc)["objectives"]}
    assert f'data-objective="errors" data-status="{status_of["errors"]}"'.encode() in page
    assert SEMCONV_BOUNDS  # the harness's bounds drive the bucket checks above


def test_a_restarted_sidecar_takes_a_running_stream_as_its_baseline(
        sidecar_factory: Any, tmp_path: Path) -> None:
    """A cumulative stream older than the sidecar counts from its next point on (its first
    point only sets the baseline), so a restart never books hours of calls at once."""
    sc, spec = _start(sidecar_factory, tmp_path)
    mp = provider(_exporter("http/protobuf", sc.url, spec))
    truth = Truth()
    try:
        _feed(mp, truth, seed=4, rounds=1, per_round=100)
        wait_for(sc, _settled(truth))
        sc.stop()
        sc.start()
        before = json.dumps(status(sc)["sources"]["otlp"])
        _feed(mp, Truth(), seed=5, rounds=1, per_round=50)      # the baseline point
        later = Truth()
        _feed(mp, later, seed=6, rounds=1, per_round=30)          # counted
    finally:
        mp.shutdown()
    doc = wait_for(sc, lambda d: d["sources"]["otlp"]["stream_events"].get("baseline", 0) > 0
                   and objective(d, "api-errors").get("judgement", {}).get("total") ==
                   truth.total["api-errors"] + later.total["api-errors"])
    assert "baseline" not in before
    o = objective(doc, "errors")
    assert o["judgement"]["total"] == truth.total["errors"] + later.total["errors"]


def test_the_collector_examples_exporter_settings_reach_the_sidecar(
        sidecar_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/otel-collector/config.yaml's exporter as an exporter applies it (endpoint +
    /v1/metrics, the Authorization header with ${env:...} resolved, gzip, protobuf), aimed at a
    real sidecar: accepted, and the calls counted."""
    import os
    import re

    import yaml
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    from tests.helpers import ROOT

    cfg = yaml.safe_load((ROOT / "deploy/otel-collector/config.yaml").read_text())
    exp = cfg["exporters"]["otlphttp/slo-agent"]
    monkeypatch.setenv("SLO_AGENT_TOKEN", TOKEN)
    headers = {k: re.sub(r"\$\{env:(\w+)\}", lambda m: os.environ[m.group(1)], v)
               for k, v in exp["headers"].items()}
    assert exp["compression"] == "gzip"
    sc, _ = _start(sidecar_factory, tmp_path)
    endpoint = sc.url + exp["endpoint"].split("//")[1].partition("/")[2] + "/v1/metrics"
    mp = provider(OTLPMetricExporter(endpoint=endpoint, headers=headers,
                                     compression=Compression.Gzip))
    truth = Truth()
    try:
        _feed(mp, truth, seed=9, rounds=2, per_round=40)
    finally:
        mp.shutdown()
    check_against_truth(wait_for(sc, _settled(truth)), truth)
