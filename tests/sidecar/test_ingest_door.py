"""Issue 20, items 1-4: the door states every invariant apply relies on. A 202 means every item
of the batch is applied; what cannot be applied is a 422 naming the field. Properties are drawn
from the very JSON Schema the OpenAPI document publishes."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from agent.sidecar.engine import Engine
from agent.sidecar.http.server import create_app
from agent.sidecar.ingest import payload as ingest
from agent.sidecar.ingest.apply import apply
from agent.sidecar.state.agent_state import AgentState
from agent.spec import parse_spec
from detectors.sketch import MAX_SUM, QuantileSketch, key_range
from tests.sidecar.conftest import make_spec

SPEC = parse_spec(make_spec(Path("/tmp/slo-agent-door"), 9))
NOW = time.time()


def _engine(tmp_path: Path) -> tuple[Engine, TestClient]:
    eng = Engine(SPEC, state_dir=tmp_path / "state")
    eng.ready.set()
    return eng, TestClient(create_app(eng, token=None))


def _latency(**sketch: Any) -> dict[str, Any]:
    return {"service": "svc", "items": [
        {"type": "requests", "model": "clf", "version": "v1", "counts": {"ok": 3},
         "latency": sketch},
        {"type": "requests", "model": "clf", "version": "v1", "counts": {"error": 1}}]}


def _post(client: TestClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    r = client.post("/v1/ingest", content=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"})
    return r.status_code, r.json()


def _applied(eng: Engine) -> tuple[int, float]:
    """(latency count, errors) the state holds for clf v1 after the inbox is applied."""
    eng._drain()
    ms = eng.state.models[("clf", "v1")]
    return ms.latency.merged(time.time()).count, ms.cum["error"]


@pytest.mark.parametrize("sketch", [
    {"keys": [10], "counts": [3], "sum": None},
    {"keys": [10], "counts": [3]},
])
def test_sum_null_or_missing_is_derived_and_the_whole_batch_applies(tmp_path: Path,
                                                                     sketch: dict[str, Any]
                                                                     ) -> None:
    eng, client = _engine(tmp_path)
    status, body = _post(client, _latency(**sketch))
    assert status == 202, body
    count, errors = _applied(eng)
    assert (count, errors) == (3, 1)          # the latency and the later item both applied
    assert eng.counters.dropped["apply_error"] == 0
    sk = eng.state.models[("clf", "v1")].latency.merged(time.time())
    assert sk.sum == pytest.approx(3 * QuantileSketch().value_of(10))


def test_huge_sums_are_refused_at_the_door_and_merges_saturate(tmp_path: Path) -> None:
    _eng, client = _engine(tmp_path)
    status, body = _post(client, _latency(keys=[10], counts=[3], sum=1e308))
    assert status == 422 and body["fields"][0]["path"] == "items[0].latency.sum", body
    a = QuantileSketch.from_dict({"keys": [10], "counts": [1], "sum": MAX_SUM})
    for _ in range(3):
        a.merge(QuantileSketch.from_dict({"keys": [10], "counts": [1], "sum": MAX_SUM}))
    assert math.isfinite(a.sum) and a.sum == MAX_SUM


def test_keys_gamma_cannot_represent_are_refused(tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    lo, hi = key_range(0.01)
    status, body = _post(client, _latency(keys=[100_000], counts=[1]))
    assert status == 422 and body["fields"][0]["path"] == "items[0].latency.keys", body
    assert _post(client, _latency(keys=[lo, hi], counts=[1, 1]))[0] == 202
    eng._drain()
    eng.tick(NOW)          # the extreme keys publish: no OverflowError, nothing frozen
    assert eng.published and eng.counters.dropped["apply_error"] == 0


@pytest.mark.parametrize(("sketch", "path"), [
    ({"keys": [10, 11], "counts": [1]}, "items[0].latency.counts"),
    ({"keys": [10], "counts": [1], "min": 5.0, "max": -3.0}, "items[0].latency.max"),
    ({"keys": [10], "counts": [1], "min": 5.0, "max": 3.0}, "items[0].latency.max"),
    ({"keys": [10], "counts": [1], "count": 7}, "items[0].latency.count"),
])
def test_inconsistent_sketches_name_the_field(tmp_path: Path, sketch: dict[str, Any],
                                              path: str) -> None:
    _eng, client = _engine(tmp_path)
    status, body = _post(client, _latency(**sketch))
    assert status == 422, body
    assert path in [f["path"] for f in body["fields"]], body


def test_job_event_at_outside_a_sane_window_is_refused(tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    status, body = _post(client, {"service": "svc", "items": [
        {"type": "job", "job": "retrain", "event": "success"},
        {"type": "job", "job": "retrain", "event": "success", "at": -1e308}]})
    assert status == 422 and body["fields"][0]["path"] == "items[1].at", body
    assert "retrain" not in eng.state.service.jobs     # nothing of the batch applied


def test_other_accuracies_merge_into_the_windows(tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    src = QuantileSketch(0.05)
    src.extend([0.1, 0.2, 0.3])
    assert _post(client, _latency(**src.to_dict()))[0] == 202
    count, _ = _applied(eng)
    assert count == 3
    assert eng.state.models[("clf", "v1")].latency.merged(time.time()).quantile(1.0) \
        == pytest.approx(0.3, rel=0.06)


# the very schema /openapi.json serves, turned into request bodies by schemathesis
BATCHES = schemathesis.openapi.from_dict(ingest.openapi())["/v1/ingest"]["POST"].as_strategy()


def _sketch_heavy() -> Any:
    """The same document with items narrowed to requests and keys to the 1 % range, so most
    drawn sketches get past the door and apply meets them (the wide schema rarely does)."""
    doc = ingest.openapi()
    schemas = doc["components"]["schemas"]
    schemas["Batch"]["properties"]["items"].update(
        maxItems=3, items={"$ref": "#/components/schemas/Requests"})
    lo, hi = key_range(0.05)
    sketch = schemas["Sketch"]["properties"]
    sketch["accuracy"] = {"enum": [0.01, 0.05]}
    sketch["keys"]["items"].update(minimum=lo, maximum=hi)
    for name in ("keys", "counts"):
        sketch[name]["minItems"] = sketch[name]["maxItems"] = 2
    del sketch["count"]
    return schemathesis.openapi.from_dict(doc)["/v1/ingest"]["POST"].as_strategy()


SKETCH_BATCHES = _sketch_heavy()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
@given(case=st.one_of(BATCHES, SKETCH_BATCHES), now=st.floats(NOW - 86400, NOW + 86400))
def test_apply_never_raises_on_what_the_door_accepts(case: Any, now: float) -> None:
    doc = case.body
    if isinstance(doc, dict):
        doc["service"] = "svc"
    try:
        batch = ingest.parse(json.dumps(doc).encode())
    except ingest.IngestError as exc:
        assert exc.status in (400, 422) and exc.fields
        return
    state = AgentState(slot=1.0, window_size=50, reference_size=50)
    apply(state, SPEC, batch, now)          # raises = the test fails
    assert state.ingested["bad_sketch"] == 0
    for ms in state.models.values():
        for ws in (ms.latency, ms.ttft):
            sk = ws.merged(now)
            assert math.isfinite(sk.sum)
            if sk.count:
                assert all(math.isfinite(q) for q in sk.quantiles((0.5, 0.95, 0.99)))
    json.dumps(state.state(), allow_nan=False)
