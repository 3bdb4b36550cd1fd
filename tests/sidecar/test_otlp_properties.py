"""Properties of the OTLP door over generated OTLP messages: random observations, bucket layouts
(explicit and exponential), temporality and export splits. Whatever the layout, every call is
counted once (cumulative or delta, however many exports), errors exactly, and p95 lands in the
bucket holding the true p95; malformed points are rejected alone and never reach the state."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.metrics.v1 import metrics_pb2 as mp
from starlette.testclient import TestClient

from agent.sidecar.engine import Engine
from agent.sidecar.http.server import create_app
from agent.sidecar.ingest import payload
from agent.sidecar.ingest.apply import apply
from agent.sidecar.ingest.otlp import OtlpDoor
from agent.sidecar.state.agent_state import AgentState
from agent.spec import parse_spec
from tests.sidecar.otlp_harness import otlp_spec
from tests.sidecar.test_otlp_door import DURATION, NS, hist, request

SPEC = parse_spec(otlp_spec(Path("/tmp/slo-agent-otlp-props"), 9))
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

values_st = st.lists(st.floats(1e-4, 100.0, allow_nan=False), min_size=1, max_size=300)
bounds_st = st.lists(st.floats(1e-3, 80.0, allow_nan=False), min_size=0, max_size=20,
                     unique=True).map(sorted)


def _run(door: OtlpDoor, reqs: list[object]) -> tuple[AgentState, int]:
    state = AgentState(slot=1.0, window_size=100, reference_size=100)
    rejected = 0
    batches: list[payload.Batch] = []
    for req in reqs:
        out = door.admit(req, lambda b: batches.append(b) is None)  # type: ignore[arg-type]
        rejected += out.rejected
    now = time.time()
    for b in batches:
        apply(state, SPEC, b, now)
    return state, rejected


def _splits(n: int, cuts: list[int]) -> list[int]:
    return sorted({0, n, *(c % (n + 1) for c in cuts)})


def _attrs(p: mp.HistogramDataPoint | mp.ExponentialHistogramDataPoint, failed: bool) -> None:
    p.attributes.add(key="gen_ai.request.model").value.string_value = "gpt-4o-mini"
    if failed:
        p.attributes.add(key="error.type").value.string_value = "timeout"


def _explicit_points(values: list[float], bounds: list[float], edges: list[int],
                     cumulative: bool, failed: bool, t0: float) -> list[mp.HistogramDataPoint]:
    out = []
    for i in range(1, len(edges)):
        lo = 0 if cumulative else edges[i - 1]
        chunk = np.asarray(values[lo:edges[i]])
        counts = np.bincount(np.searchsorted(bounds, chunk, side="left"),
                             minlength=len(bounds) + 1)
        start = t0 if cumulative else t0 + i - 1
        p = mp.HistogramDataPoint(
            start_time_unix_nano=int(start * NS), time_unix_nano=int((t0 + i) * NS),
            count=len(chunk), sum=float(chunk.sum()), bucket_counts=counts.tolist(),
            explicit_bounds=bounds)
        if len(chunk):
            p.min, p.max = float(chunk.min()), float(chunk.max())
        _attrs(p, failed)
        out.append(p)
    return out


@SETTINGS
@given(values=values_st, bounds=bounds_st, cumulative=st.booleans(),
       cuts=st.lists(st.integers(0, 400), max_size=4), failed=st.lists(st.booleans(),
                                                                         min_size=1))
def test_explicit_histograms_count_every_call_once(values: list[float], bounds: list[float],
                                                   cumulative: bool, cuts: list[int],
                                                   failed: list[bool]) -> None:
    door = OtlpDoor(SPEC)
    t0 = time.time() + 1
    edges = _splits(len(values), cuts)
    fail = failed[0]
    points = _explicit_points(values, bounds, edges, cumulative, fail, t0)
    temporality = mp.AGGREGATION_TEMPORALITY_CUMULATIVE if cumulative else \
        mp.AGGREGATION_TEMPORALITY_DELTA
    reqs = [request([hist(DURATION, [p], temporality)]) for p in points]
    state, rejected = _run(door, reqs)
    assert rejected == 0
    ms = state.models[("gpt-4o-mini", "")]
    assert (ms.cum["error"], ms.cum["ok"]) == ((len(values), 0) if fail else (0, len(values)))
    sk = ms.latency.merged(time.time() + 1)
    assert sk.count == len(values)
    truth = float(np.quantile(values, 0.95, method="lower"))
    i = int(np.searchsorted(bounds, truth, side="left"))
    lo = max(bounds[i - 1] if i else 0.0, min(values))
    hi = min(bounds[i] if i < len(bounds) else max(values), max(values))
    assert lo * 0.99 <= sk.quantile(0.95) <= hi * 1.01


@SETTINGS
@given(values=values_st, scale=st.integers(-2, 8), cumulative=st.booleans(),
       cuts=st.lists(st.integers(0, 400), max_size=3))
def test_exponential_histograms_count_every_call_once(values: list[float], scale: int,
                                                      cumulative: bool,
                                                      cuts: list[int]) -> None:
    door = OtlpDoor(SPEC)
    t0 = time.time() + 1
    edges = _splits(len(values), cuts)
    base = 2.0 ** (2.0 ** -scale)
    index = [math.ceil(math.log(v) / math.log(base)) - 1 for v in values]
    reqs = []
    for i in range(1, len(edges)):
        lo = 0 if cumulative else edges[i - 1]
        idx = index[lo:edges[i]]
        chunk = values[lo:edges[i]]
        p = mp.ExponentialHistogramDataPoint(
            start_time_unix_nano=int((t0 if cumulative else t0 + i - 1) * NS),
            time_unix_nano=int((t0 + i) * NS), count=len(idx), sum=float(sum(chunk)),
            scale=scale)
        if idx:
            off = min(idx)
            p.positive.offset = off
            p.positive.bucket_counts.extend(np.bincount(np.asarray(idx) - off).tolist())
            p.min, p.max = min(chunk), max(chunk)
        _attrs(p, False)
        m = mp.Metric(name=DURATION)
        m.exponential_histogram.aggregation_temporality = (  # type: ignore[assignment]
            mp.AGGREGATION_TEMPORALITY_CUMULATIVE if cumulative else
            mp.AGGREGATION_TEMPORALITY_DELTA)
        m.exponential_histogram.data_points.append(p)
        reqs.append(request([m]))
    state, rejected = _run(door, reqs)
    assert rejected == 0
    sk = state.models[("gpt-4o-mini", "")].latency.merged(time.time() + 1)
    assert sk.count == len(values)
    truth = float(np.quantile(values, 0.95, method="lower"))
    assert truth / base / 1.01 <= sk.quantile(0.95) <= truth * base * 1.01


@SETTINGS
@given(counts=st.lists(st.integers(0, 50), min_size=0, max_size=6),
       bounds=st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6),
       count=st.integers(0, 400), total=st.floats(allow_nan=True, allow_infinity=True),
       lo=st.none() | st.floats(), hi=st.none() | st.floats())
def test_any_point_is_taken_whole_or_rejected_alone(counts: list[int], bounds: list[float],
                                                    count: int, total: float,
                                                    lo: float | None,
                                                    hi: float | None) -> None:
    """A malformed point never reaches the state and never costs its neighbour."""
    door = OtlpDoor(SPEC)
    t0 = time.time() + 1
    odd = mp.HistogramDataPoint(start_time_unix_nano=int(t0 * NS),
                                time_unix_nano=int((t0 + 1) * NS), count=count,
                                bucket_counts=counts, explicit_bounds=bounds, sum=total)
    if lo is not None:
        odd.min = lo
    if hi is not None:
        odd.max = hi
    _attrs(odd, True)
    good = mp.HistogramDataPoint(start_time_unix_nano=int(t0 * NS),
                                 time_unix_nano=int((t0 + 1) * NS), count=2,
                                 bucket_counts=[1, 1], explicit_bounds=[0.5], sum=0.9)
    _attrs(good, False)
    state, rejected = _run(door, [request([hist(DURATION, [odd, good],
                                                mp.AGGREGATION_TEMPORALITY_DELTA)])])
    ms = state.models[("gpt-4o-mini", "")]
    assert ms.cum["ok"] == 2
    assert rejected in (0, 1)
    if rejected:
        assert ms.cum["error"] == 0
    else:
        assert ms.cum["error"] == count


@settings(max_examples=80, deadline=None)
@given(body=st.binary(max_size=300), json_body=st.booleans())
def test_random_bodies_are_never_a_5xx(body: bytes, json_body: bool) -> None:
    eng = Engine(SPEC, state_dir=Path("/tmp/slo-agent-otlp-props/state"))
    client = TestClient(create_app(eng, token=None))
    r = client.post("/v1/metrics", content=body, headers={
        "Content-Type": "application/json" if json_body else "application/x-protobuf"})
    assert r.status_code in (200, 400), (r.status_code, r.content)


@SETTINGS
@given(values=values_st, more=values_st, scale=st.integers(0, 8), drop=st.integers(1, 3))
def test_a_cumulative_exponential_stream_that_rescales_diffs_by_the_coarser_scale(
        values: list[float], more: list[float], scale: int, drop: int) -> None:
    """The SDK lowers the scale when a stream's range grows: the next point's delta is the
    difference at the coarser scale, every observation counted once."""
    from agent.sidecar.ingest import otlp_points as pts

    def index(vals: list[float], s: int) -> list[int]:
        base = 2.0 ** (2.0 ** -s)
        return [math.ceil(math.log(v) / math.log(base)) - 1 for v in vals]

    def point(idx: list[int], total: float, s: int) -> pts.Hist:
        off = min(idx)
        counts = np.bincount(np.asarray(idx) - off).tolist()
        return pts.exponential(len(idx), total, None, None, s, 0, off, counts, [])

    # as the SDK does it: the buckets it has are merged down (index >> drop), new values are
    # indexed at the new scale
    old = index(values, scale)
    prev = point(old, float(sum(values)), scale)
    cur = point([i >> drop for i in old] + index(more, scale - drop),
                float(sum(values) + sum(more)), scale - drop)
    d = pts.delta(prev, cur)
    assert d is not None and d.count == len(more)
    assert sum(d.buckets.values()) == len(more) and d.scale == scale - drop
