"""The OTLP door's edges, in process (the real app, the real engine): bad input is a clear 4xx
or a partial success naming what was rejected, never a 5xx, and nothing else of the request is
lost; published OTLP/JSON shapes decode; cumulative streams become deltas through resets, repeats
and out-of-order points; a 429 leaves the stream memory as it was, so the retry counts once."""

from __future__ import annotations

import gzip
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2 as mp
from starlette.testclient import TestClient

from agent.sidecar.engine import Engine
from agent.sidecar.http.server import create_app
from agent.spec import parse_spec
from tests.sidecar.otlp_harness import otlp_spec

SPEC = parse_spec(otlp_spec(Path("/tmp/slo-agent-otlp-door"), 9))
NS = 1_000_000_000
CUM = mp.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = mp.AGGREGATION_TEMPORALITY_DELTA
BOUNDS = [0.1, 0.5, 1.0]


def _engine(tmp_path: Path, spec: Any = SPEC, token: str | None = None) -> tuple[Engine,
                                                                                  TestClient]:
    eng = Engine(spec, state_dir=tmp_path / "state")
    eng.ready.set()
    return eng, TestClient(create_app(eng, token=token))


def point(counts: list[int], start: float, t: float, total: float | None = None,
          attrs: dict[str, Any] | None = None, bounds: list[float] | None = None,
          **kw: Any) -> mp.HistogramDataPoint:
    p = mp.HistogramDataPoint(start_time_unix_nano=int(start * NS), time_unix_nano=int(t * NS),
                              count=kw.pop("count", sum(counts)), bucket_counts=counts,
                              explicit_bounds=BOUNDS if bounds is None else bounds, **kw)
    if total is not None:
        p.sum = total
    for k, v in (attrs or {"gen_ai.request.model": "gpt-4o-mini"}).items():
        a = p.attributes.add(key=k)
        if isinstance(v, int):
            a.value.int_value = v
        else:
            a.value.string_value = v
    return p


def request(metrics: list[mp.Metric], service: str = "svc") -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = service
    rm.scope_metrics.add().metrics.extend(metrics)
    return req


def hist(name: str, points: list[mp.HistogramDataPoint], temporality: int = CUM) -> mp.Metric:
    m = mp.Metric(name=name, unit="s")
    m.histogram.aggregation_temporality = temporality   # type: ignore[assignment]
    m.histogram.data_points.extend(points)
    return m


DURATION = "gen_ai.client.operation.duration"


def post(client: TestClient, req: ExportMetricsServiceRequest | bytes,
         ctype: str = "application/x-protobuf", **headers: str) -> Any:
    body = req if isinstance(req, bytes) else req.SerializeToString()
    return client.post("/v1/metrics", content=body, headers={"Content-Type": ctype, **headers})


def partial(r: Any) -> ExportMetricsServiceResponse:
    assert r.status_code == 200, r.content
    resp = ExportMetricsServiceResponse()
    resp.ParseFromString(r.content)
    return resp


def calls(eng: Engine, model: str = "gpt-4o-mini") -> tuple[float, float]:
    eng._drain()
    ms = eng.state.models.get((model, ""))
    return (0.0, 0.0) if ms is None else (ms.cum["ok"], ms.cum["error"])


def later() -> float:
    return time.time() + 1.0        # streams that started after the sidecar count whole


# --- bad input --------------------------------------------------------------------------------
def test_malformed_protobuf_is_400_with_a_status_body_never_5xx(tmp_path: Path) -> None:
    _, client = _engine(tmp_path)
    for body in (b"\xff\xff\xff\x0f", b"\x0a\x05abc", bytes(range(256))):
        r = post(client, body)
        assert r.status_code == 400, (body, r.content)
        st = Status()
        st.ParseFromString(r.content)
        assert "protobuf" in st.message and st.code == 3


@pytest.mark.parametrize("ctype", ["text/plain", "application/protobuf", ""])
def test_a_wrong_content_type_is_415(tmp_path: Path, ctype: str) -> None:
    _, client = _engine(tmp_path)
    r = post(client, request([]), ctype=ctype)
    assert r.status_code == 415 and b"application/x-protobuf" in r.content


def test_a_body_over_the_limit_is_413_also_once_inflated(tmp_path: Path) -> None:
    spec = parse_spec({**otlp_spec(tmp_path, 9), "sidecar": {
        **otlp_spec(tmp_path, 9)["sidecar"], "limits": {"max_body_bytes": 4096}}})
    _, client = _engine(tmp_path, spec)
    assert post(client, b"\x00" * 5000).status_code == 413
    bomb = gzip.compress(b"\x00" * 1_000_000)
    assert len(bomb) < 4096
    r = post(client, bomb, **{"Content-Encoding": "gzip"})
    assert r.status_code == 413, r.content
    assert post(client, b"not gzip", **{"Content-Encoding": "gzip"}).status_code == 400
    assert post(client, b"", **{"Content-Encoding": "br"}).status_code == 415


def test_the_token_is_required_when_set(tmp_path: Path) -> None:
    _, client = _engine(tmp_path, token="s3cret")
    assert post(client, request([])).status_code == 401
    assert post(client, request([]), Authorization="Bearer wrong").status_code == 401
    assert post(client, request([]), Authorization="Bearer s3cret").status_code == 200
    ok = client.post("/login", data={"token": "s3cret"}, follow_redirects=False)
    assert ok.status_code == 303 and client.cookies.get("slo_agent_session")
    assert post(client, request([])).status_code == 401     # the page's session: never ingest


def test_bad_points_are_named_in_partial_success_and_the_rest_is_applied(
        tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    t0 = later()
    good = point([1, 2, 3, 4], t0, t0 + 1, total=5.0)
    disagree = point([1, 2, 3, 4], t0, t0 + 1, total=5.0, count=99,
                     attrs={"gen_ai.request.model": "gpt-4o-mini", "x": "1"})
    nan_sum = point([1, 0, 0, 0], t0, t0 + 1, total=math.nan,
                    attrs={"gen_ai.request.model": "gpt-4o-mini", "x": "2"})
    negative = point([1, 0, 0, 0], t0, t0 + 1, total=-1.0,
                     attrs={"gen_ai.request.model": "gpt-4o-mini", "x": "3"})
    short = point([1, 0], t0, t0 + 1, total=0.1,
                  attrs={"gen_ai.request.model": "gpt-4o-mini", "x": "4"})
    long_name = point([1, 0, 0, 0], t0, t0 + 1, total=0.1,
                      attrs={"gen_ai.request.model": "m" * 200})
    gauge = mp.Metric(name="gen_ai.server.request.duration")
    gauge.gauge.data_points.add(as_double=1.0)
    unknown = mp.Metric(name="process.cpu.time")
    unknown.sum.data_points.add(as_double=3.0)
    req = request([hist(DURATION, [good, disagree, nan_sum, negative, short, long_name]),
                   gauge, unknown])
    resp = partial(post(client, req))
    msg = resp.partial_success.error_message
    assert resp.partial_success.rejected_data_points == 5, msg
    for text in ("count is 99", "sum nan", "sum -1", "2 bucket counts for 3 bounds",
                 "a gauge"):
        assert text in msg, (text, msg)
    assert calls(eng) == (10.0, 0.0)                    # the good point, whole
    report = eng.otlp.report()
    assert report["ignored_metrics"] == {"process.cpu.time": 1, f"{DURATION}: "
                                         f"'{'m' * 64}' is on no models[].otlp line": 1}
    assert report["points"] == {"accepted": 1, "rejected": 5, "ignored": 2}


def test_a_resource_of_another_service_is_rejected_by_name(tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    t0 = later()
    req = request([hist(DURATION, [point([1, 0, 0, 0], t0, t0 + 1, total=0.05)])],
                  service="unknown_service:python")
    resp = partial(post(client, req))
    assert resp.partial_success.rejected_data_points == 1
    assert "OTEL_SERVICE_NAME" in resp.partial_success.error_message
    assert calls(eng) == (0.0, 0.0)


# --- published OTLP/JSON shapes -----------------------------------------------------------------
def _json_fixture(temporality: Any, count: Any) -> dict[str, Any]:
    """The shape of opentelemetry-proto's examples/metrics.json (written here, not copied):
    int64 as strings, an enum by name or number, exemplars with hex ids, unknown fields."""
    t0 = int(later() * NS)
    return {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeMetrics": [{
            "scope": {"name": "my.library", "version": "1.0.0"},
            "metrics": [
                {"name": "my.counter", "unit": "1", "sum": {
                    "aggregationTemporality": 1, "isMonotonic": True,
                    "dataPoints": [{"asDouble": 5, "startTimeUnixNano": str(t0),
                                    "timeUnixNano": str(t0)}]}},
                {"name": DURATION, "unit": "s", "histogram": {
                    "aggregationTemporality": temporality,
                    "dataPoints": [{
                        "startTimeUnixNano": str(t0), "timeUnixNano": str(t0 + NS),
                        "count": count, "sum": 3.5, "bucketCounts": ["1", "1", "1", "1"],
                        "explicitBounds": BOUNDS, "min": 0.05, "max": 2.0,
                        "someFutureField": {"ignored": True},
                        "attributes": [
                            {"key": "gen_ai.request.model",
                             "value": {"stringValue": "gpt-4o-mini"}},
                            {"key": "error.type", "value": {"stringValue": "timeout"}}],
                        "exemplars": [{"timeUnixNano": str(t0), "asDouble": 2.0,
                                       "traceId": "5b8efff798038103d269b633813fc60c",
                                       "spanId": "eee19b7ec3c1b174"}]}]}}]}]}]}


@pytest.mark.parametrize("temporality,count", [
    ("AGGREGATION_TEMPORALITY_DELTA", "4"), (1, 4), (2, "4")])
def test_otlp_json_as_published_decodes(tmp_path: Path, temporality: Any, count: Any) -> None:
    eng, client = _engine(tmp_path)
    body = json.dumps(_json_fixture(temporality, count)).encode()
    r = post(client, body, ctype="application/json")
    assert r.status_code == 200, r.content
    assert r.headers["content-type"].startswith("application/json")
    assert json.loads(r.content) == {}                    # a full success: no partial_success
    assert calls(eng) == (0.0, 4.0)
    assert eng.otlp.report()["ignored_metrics"] == {"my.counter": 1}


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"resourceMetrics": 3}',
                                  b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": '
                                  b'[{"histogram": {"dataPoints": [{"exemplars": [{"traceId": '
                                  b'"zz"}]}]}}]}]}]}'])
def test_malformed_otlp_json_is_400_naming_it(tmp_path: Path, body: bytes) -> None:
    _, client = _engine(tmp_path)
    r = post(client, body, ctype="application/json")
    assert r.status_code == 400, r.content
    assert "OTLP/JSON" in json.loads(r.content)["message"]


# --- streams ----------------------------------------------------------------------------------
def test_cumulative_resets_repeats_and_out_of_order_points(tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    t0 = later()

    def send(counts: list[int], start: float, t: float, temporality: int = CUM) -> None:
        partial(post(client, request([hist(DURATION, [point(counts, start, t, total=1.0)],
                                           temporality)])))

    send([1, 1, 0, 0], t0, t0 + 1)            # 2: a new stream, counted whole
    send([2, 2, 1, 0], t0, t0 + 2)            # +3
    send([1, 1, 0, 0], t0, t0 + 1.5)          # older than the last: skipped
    send([2, 2, 1, 0], t0, t0 + 2)            # a repeat: skipped
    send([1, 0, 0, 0], t0, t0 + 3)            # fewer than before: a reset, counted whole (+1)
    send([1, 0, 0, 1], t0 + 10, t0 + 11)      # a new start: a reset (+2)
    assert calls(eng) == (8.0, 0.0)
    events = eng.otlp.report()["stream_events"]
    assert events["out_of_order"] == 2 and events["reset"] == 2
    send([0, 1, 0, 0], t0, t0 + 1, DELTA)     # delta: +1
    send([0, 1, 0, 0], t0, t0 + 1, DELTA)     # the same (start, time) again: a retry, skipped
    send([0, 0, 3, 0], t0 + 1, t0 + 2, DELTA)  # +3
    assert calls(eng) == (12.0, 0.0)


def test_a_stream_older_than_the_sidecar_sets_the_baseline(tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    old = time.time() - 3600
    for t, counts in ((old + 60, [100, 0, 0, 0]), (old + 120, [103, 0, 0, 0])):
        partial(post(client, request([hist(DURATION, [point(counts, old, t, total=1.0)])])))
    assert calls(eng) == (3.0, 0.0)


def test_the_stream_table_is_capped(tmp_path: Path) -> None:
    data = otlp_spec(tmp_path, 9)
    data["sidecar"]["otlp"] = {"max_streams": 3}
    eng, client = _engine(tmp_path, parse_spec(data))
    t0 = later()
    pts = [point([1, 0, 0, 0], t0, t0 + 1, total=0.05,
                 attrs={"gen_ai.request.model": "gpt-4o-mini", "n": str(i)}) for i in range(10)]
    partial(post(client, request([hist(DURATION, pts)])))
    report = eng.otlp.report()
    assert report["streams"] == 3 and report["stream_events"]["evicted"] == 7


def test_a_429_keeps_the_stream_memory_so_the_retry_counts_once(tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    t0 = later()
    eng.max_inbox = 0                                   # the worker is behind
    req = request([hist(DURATION, [point([1, 1, 0, 0], t0, t0 + 1, total=0.5)])])
    r = post(client, req)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    eng.max_inbox = 10_000
    partial(post(client, req))                          # the exporter's retry
    assert calls(eng) == (2.0, 0.0)


def test_points_of_models_no_line_names_are_ignored_and_counted(tmp_path: Path) -> None:
    """Only models the spec marks for OTLP are taken: a service both SDK-fed and exporting
    OTLP is never counted twice, and no attribute value becomes a new label value; the names
    ignored are counted under a cap."""
    eng, client = _engine(tmp_path)
    t0 = later()
    pts = [point([1, 0, 0, 0], t0, t0 + 1, total=0.05, attrs={"gen_ai.request.model": f"m{i}"})
           for i in range(150)]
    pts.append(point([1, 0, 0, 0], t0, t0 + 1, total=0.05, attrs={"error.type": "x"}))
    resp = partial(post(client, request([hist(DURATION, pts)])))
    assert resp.partial_success.rejected_data_points == 0
    eng._drain()
    assert eng.state.models == {}
    report = eng.otlp.report()
    assert report["points"]["ignored"] == 151
    assert len(eng.otlp.ignored) <= 101                 # capped, the rest under __other__
    assert eng.otlp.ignored["__other__"] > 0


def test_http_status_and_error_type_decide_failures(tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    t0 = later()
    route = {"http.route": "/v1/predict"}
    pts = [point([1, 0, 0, 0], t0, t0 + 1, total=0.05,
                 attrs={**route, "http.response.status_code": code})
           for code in (200, 404, 500, 503)]
    pts.append(point([1, 0, 0, 0], t0, t0 + 1, total=0.05,
                     attrs={**route, "http.response.status_code": 200, "error.type": "x"}))
    partial(post(client, request([hist("http.server.request.duration", pts)])))
    assert calls(eng, "api") == (2.0, 3.0)


def test_json_round_trip_of_sdk_messages_matches_protobuf(tmp_path: Path) -> None:
    """OTLP/JSON built with google.protobuf.json_format from a message decodes to the same."""
    eng, client = _engine(tmp_path)
    t0 = later()
    req = request([hist(DURATION, [point([1, 2, 3, 4], t0, t0 + 1, total=5.0)], DELTA)])
    doc = json_format.MessageToDict(req)
    assert post(client, json.dumps(doc).encode(), ctype="application/json").status_code == 200
    assert calls(eng) == (10.0, 0.0)


# --- gRPC -------------------------------------------------------------------------------------
def test_grpc_answers_with_otlp_status_codes(tmp_path: Path) -> None:
    """The gRPC service parses the bytes itself: malformed is INVALID_ARGUMENT (not grpc's
    INTERNAL), a wrong token UNAUTHENTICATED, a full inbox UNAVAILABLE (retried), rejected
    points in partial_success; a taken port fails at start."""
    import grpc

    from agent.sidecar.http._otlp_grpc import SERVICE, OtlpGrpc
    from tests.helpers import free_port

    eng, _ = _engine(tmp_path)
    svc = OtlpGrpc(eng, "tok", "127.0.0.1", free_port())
    svc.start()
    try:
        with pytest.raises(OSError):
            OtlpGrpc(eng, "tok", "127.0.0.1", svc.port).start()
        channel = grpc.insecure_channel(f"127.0.0.1:{svc.port}")
        export = channel.unary_unary(f"/{SERVICE}/Export")
        auth = (("authorization", "Bearer tok"),)

        def code(body: bytes, metadata: Any = auth) -> Any:
            try:
                return export(body, metadata=metadata, timeout=10)
            except grpc.RpcError as exc:
                return exc.code()

        t0 = later()
        good = request([hist(DURATION, [point([1, 1, 0, 0], t0, t0 + 1, total=0.5),
                                        point([1, 0], t0, t0 + 1, total=0.5,
                                              attrs={"gen_ai.request.model": "gpt-4o-mini",
                                                     "x": "y"})])]).SerializeToString()
        assert code(b"\xff\xff\xff\x0f") == grpc.StatusCode.INVALID_ARGUMENT
        assert code(good, (("authorization", "Bearer nope"),)) == \
            grpc.StatusCode.UNAUTHENTICATED
        eng.max_inbox = 0
        assert code(good) == grpc.StatusCode.UNAVAILABLE
        eng.max_inbox = 10_000
        resp = ExportMetricsServiceResponse()
        resp.ParseFromString(code(good))
        assert resp.partial_success.rejected_data_points == 1
        assert "2 bucket counts for 3 bounds" in resp.partial_success.error_message
        assert calls(eng) == (2.0, 0.0)
        channel.close()
    finally:
        svc.stop()


def test_stream_keys_stay_small_whatever_the_attributes(tmp_path: Path) -> None:
    """Long attribute values enter the stream table by digest (two values sharing a long
    prefix stay two streams); a point with more attributes than the SDKs allow is rejected."""
    eng, client = _engine(tmp_path)
    t0 = later()
    pts = [point([1, 0, 0, 0], t0, t0 + 1, total=0.05,
                 attrs={"gen_ai.request.model": "gpt-4o-mini", "x": "a" * 100_000 + str(i)})
           for i in range(2)]
    many = point([1, 0, 0, 0], t0, t0 + 1, total=0.05,
                 attrs={"gen_ai.request.model": "gpt-4o-mini",
                        **{f"k{i}": "v" for i in range(200)}})
    resp = partial(post(client, request([hist(DURATION, [*pts, many])])))
    assert resp.partial_success.rejected_data_points == 1
    assert "201 attributes" in resp.partial_success.error_message
    assert calls(eng) == (2.0, 0.0)
    assert eng.otlp.report()["streams"] == 2
    assert max(len(repr(k)) for k in eng.otlp.streams._seen) < 2000
