"""The columnar wire (schema 2): any batch the SDK can produce decodes in the sidecar to the values
the JSON door would have given (float32 for feature columns, exact for text, booleans, ids), and
applies to the same windows; a malformed columnar body is a 4xx naming the column, never a crash."""

from __future__ import annotations

import json
import math
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from agent.sdk import columnar_format as sdk_wire
from agent.sdk.conversions import _features, _value
from agent.sdk.series import Samples
from agent.sdk.transport import Shipper
from agent.sidecar.engine import Engine
from agent.sidecar.http.server import create_app
from agent.sidecar.ingest import apply as applier
from agent.sidecar.ingest import columnar as wire
from agent.sidecar.ingest import payload as ingest
from agent.sidecar.state.agent_state import AgentState
from agent.spec import parse_spec
from tests.sidecar.conftest import make_spec

NAMES = st.sampled_from(["amount", "age", "country", "flag", "id", "score", "x" * 128, "é"])
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.booleans(), st.none(), st.text(max_size=20),
    st.sampled_from(["de", "fr", "us"]))
ROWS = st.lists(st.one_of(st.none(), st.dictionaries(NAMES, VALUES, max_size=6)), max_size=40)
PREDS = st.lists(st.one_of(st.floats(allow_nan=False, width=32), st.booleans(), st.none(),
                           st.text(max_size=5)), max_size=40)


def _shipper(columnar: bool) -> Shipper:
    """A Shipper that never runs: only its body encoder is used."""
    sh = Shipper.__new__(Shipper)
    sh.columnar = columnar
    sh._envelope = lambda items: {"schema": 1, "service": "svc", "instance": "h:1",
                                  "sent_at": 1.7e9, "sdk": {}, "items": items}
    return sh


def _sdk_item(rows: list[Any], preds: list[Any]) -> dict[str, Any]:
    """What the SDK's outbox ships for these sampled calls (through the SDK's own buffer)."""
    buf = Samples(limit=10_000, max_features=64)
    for i, row in enumerate(rows):
        feats = _features(row, 64) if row is not None else None
        pred = _value(preds[i]) if i < len(preds) else None
        buf.add(feats, pred, i < len(preds))
    cols, n, p, _ = buf.take()
    return {"type": "samples", "model": "clf", "version": "v1", "at": 1.7e9, "rows": n,
            "columns": cols, "predictions": p}


def _decode(item: dict[str, Any]) -> tuple[Any, Any]:
    body, ctype = _shipper(True).body([item, {"type": "tokens", "model": "clf",
                                              "token_type": "input", "count": 3}])
    assert ctype == wire.CONTENT_TYPE
    batch = wire.parse(body)
    assert batch.items[1].type == "tokens" and batch.items[1].count == 3
    return batch, body


def _expected(value: Any, column: list[Any]) -> Any:
    """A value as the sidecar must read it: what JSON would carry (no NaN/inf: null), rounded
    to float32 when its column ships as float32."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    kind = sdk_wire.numeric_column(column)
    if kind == "f4" and value is not None:
        return float(np.float32(value))
    return float(value) if kind == "f8" and value is not None else value


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=ROWS, preds=PREDS)
def test_any_sdk_batch_decodes_to_the_same_values(rows: list[Any], preds: list[Any]) -> None:
    item = _sdk_item(rows, preds)
    batch, _ = _decode(item)
    got = batch.items[0]
    assert isinstance(got, wire.ColumnSamples)
    feats, got_preds = got.to_rows()
    cols = item["columns"]
    assert got.rows == item["rows"] and list(got.columns) == list(cols)
    for r, row in enumerate(feats):
        for name, value in row.items():
            want = _expected(cols[name][r], cols[name])
            assert value == want or (value is None and want is None), (name, value, want)
    want_preds = [_expected(p, item["predictions"]) for p in item["predictions"]]
    assert got_preds == want_preds

    # and both doors fill the same windows
    spec = parse_spec(make_spec(Path("/tmp"), 9))
    json_body, _ = _shipper(False).body([item])
    states = []
    for b in (ingest.parse(json_body), batch):
        state = AgentState(slot=10.0, window_size=1000, reference_size=1000)
        applier.apply(state, spec, b, now=1.7e9)
        states.append(state)
    a, c = (s.models.get(("clf", "v1")) for s in states)
    if a is None or c is None:
        assert a is c
        return
    assert a.samples_seen == c.samples_seen
    assert sorted(a.numeric) == sorted(c.numeric) and sorted(a.categorical) == sorted(c.categorical)
    for name, fw in a.numeric.items():
        # float32: 7 significant digits, and near zero its absolute step (denormals)
        np.testing.assert_allclose(fw._pending.values(), c.numeric[name]._pending.values(),
                                   rtol=1e-6, atol=1e-37)
    for name, cw in a.categorical.items():
        want = cw.reference
        if sdk_wire.numeric_column(cols.get(name, [])) == "f4":   # a float32 column as text
            # distinct float64 values that are one float32 (a value under float32's smallest
            # step and -0.0) are one category after the cast: their counts add up
            folded: Counter[str] = Counter()
            for k, n in want.items():
                folded[str(np.float32(float(k)))] += n
            want = folded
        assert want == c.categorical[name].reference


def _body(columns: list[dict[str, Any]], data: bytes, rows: int = 2, **item: Any) -> bytes:
    head = json.dumps({"schema": 2, "service": "svc", "items": [
        {"type": "samples", "model": "clf", "rows": rows, "columns": columns, **item}]}).encode()
    return sdk_wire.HEADER.pack(sdk_wire.MAGIC, sdk_wire.VERSION, len(head)) + head + data


GOOD = struct.pack("<2f", 1.0, 2.0)
MALFORMED = [
    ("wrong length", [{"name": "a", "dtype": "f4", "offset": 0, "length": 3}], GOOD,
     "items[0].columns.a.length"),
    ("past the data", [{"name": "a", "dtype": "f4", "offset": 4, "length": 2}], GOOD,
     "items[0].columns.a.offset"),
    ("unknown dtype", [{"name": "a", "dtype": "i8", "offset": 0, "length": 2}], GOOD,
     "items[0].columns.a.dtype"),
    ("infinity", [{"name": "a", "dtype": "f4", "offset": 0, "length": 2}],
     struct.pack("<2f", 1.0, math.inf), "items[0].columns.a"),
    ("negative offset", [{"name": "a", "dtype": "f4", "offset": -8, "length": 2}], GOOD,
     "items[0].columns.a.offset"),
    ("twice the same name", [{"name": "a", "values": [1, 2]}, {"name": "a", "values": [1, 2]}],
     b"", "items[0].columns.a"),
    ("empty name", [{"name": "", "values": [1, 2]}], b"", "items[0].columns[0].name"),
    ("values of unequal length", [{"name": "b", "values": [1]}], b"", "items[0].columns.b"),
    ("a nested value", [{"name": "b", "values": [[1], 2]}], b"", "items[0].columns.b[0]"),
]


@pytest.mark.parametrize("why,columns,data,path", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_columns_are_named(why: str, columns: Any, data: bytes, path: str) -> None:
    with pytest.raises(ingest.IngestError) as err:
        wire.parse(_body(columns, data))
    assert 400 <= err.value.status < 500
    assert err.value.fields and err.value.fields[0]["path"] == path, (why, err.value.body())


def test_envelope_fields_are_checked_by_the_json_models() -> None:
    body = _body([], b"", rows=0, model="")
    with pytest.raises(ingest.IngestError) as err:
        wire.parse(body)
    with pytest.raises(ingest.IngestError) as same:     # the JSON door, same item
        ingest.parse(json.dumps({"service": "svc", "items": [
            {"type": "samples", "model": ""}]}).encode())
    assert err.value.status == 422 and err.value.fields == same.value.fields


@settings(max_examples=300, deadline=None)
@given(rows=ROWS.filter(bool), cut=st.integers(min_value=0, max_value=4000),
       flip=st.integers(min_value=0, max_value=4000), byte=st.integers(0, 255))
def test_damaged_bodies_are_refused_never_crash(rows: list[Any], cut: int, flip: int,
                                                byte: int) -> None:
    _, body = _decode(_sdk_item(rows, []))
    damaged = bytearray(body[:max(0, len(body) - cut % (len(body) + 1))])
    if damaged:
        damaged[flip % len(damaged)] = byte
    try:
        wire.parse(bytes(damaged))
    except ingest.IngestError as exc:
        assert 400 <= exc.status < 500 and exc.message


def _client(tmp_path: Path, **limits: Any) -> TestClient:
    data = make_spec(tmp_path, 9)
    data["sidecar"]["limits"] = limits
    engine = Engine(parse_spec(data), state_dir=tmp_path / "state")
    engine.ready.set()
    return TestClient(create_app(engine, token=None))


@pytest.fixture()
def client(tmp_path: Path) -> TestClient:
    return _client(tmp_path)


def test_the_door_takes_columnar_and_names_the_bad_column(client: TestClient) -> None:
    item = _sdk_item([{"amount": 1.5, "country": "de"}, {"amount": 2.5, "country": "fr"}],
                     [0.1, 0.2])
    body, ctype = _shipper(True).body([item])
    ok = client.post("/v1/ingest", content=body, headers={"Content-Type": ctype})
    assert ok.status_code == 202 and ok.json() == {"accepted": 1}
    bad = _body([{"name": "amount", "dtype": "f4", "offset": 0, "length": 2}],
                struct.pack("<2f", 1.0, math.inf))
    res = client.post("/v1/ingest", content=bad, headers={"Content-Type": ctype})
    assert res.status_code == 422
    assert res.json()["fields"][0]["path"] == "items[0].columns.amount"
    other = client.post("/v1/ingest", content=b"x", headers={"Content-Type": "text/csv"})
    assert other.status_code == 415 and wire.CONTENT_TYPE in other.json()["error"]
    doc = client.get("/openapi.json").json()
    content = doc["paths"]["/v1/ingest"]["post"]["requestBody"]["content"]
    assert "application/json" in content and wire.CONTENT_TYPE in content


def test_feature_cap_holds_for_columns(tmp_path: Path) -> None:
    data = make_spec(tmp_path, 9)
    data["sidecar"]["limits"] = {"max_features_per_model": 10}
    engine = Engine(parse_spec(data), state_dir=tmp_path / "state")
    engine.ready.set()
    client = TestClient(create_app(engine, token=None))
    item = _sdk_item([{f"f{i}": 1.0 for i in range(60)}], [])
    body, ctype = _shipper(True).body([item])
    res = client.post("/v1/ingest", content=body, headers={"Content-Type": ctype})
    # as at the JSON door: features past the cap are left out and counted, the rest applied
    assert res.status_code == 202, res.text
    assert engine.admission.report()["overflow"]["feature"] == 50


LATENCIES = st.lists(st.floats(min_value=1e-6, max_value=1e4), min_size=1, max_size=300)


@settings(max_examples=100, deadline=None)
@given(values=LATENCIES, ttft=st.lists(st.floats(min_value=1e-4, max_value=60), max_size=50))
def test_sketches_travel_as_blocks_and_decode_to_the_same_sketch(
        values: list[float], ttft: list[float]) -> None:
    """Any sketch the SDK builds crosses the columnar wire as int blocks (not JSON lists) and
    decodes to exactly the sketch the JSON door gives."""
    from detectors.sketch import QuantileSketch
    item: dict[str, Any] = {"type": "requests", "model": "clf", "version": "v1", "at": 1.7e9,
                            "counts": {"ok": len(values)}}
    for key, vals in (("latency", values), ("ttft", ttft)):
        if vals:
            sk = QuantileSketch()
            for v in vals:
                sk.add(v)
            item[key] = sk.to_dict()
    body, _ = _shipper(True).body([item])
    head_len = sdk_wire.HEADER.unpack_from(body)[2]
    head = json.loads(body[sdk_wire.HEADER.size: sdk_wire.HEADER.size + head_len])
    assert head["items"][0]["latency"]["keys"]["dtype"] == "i4"
    assert head["items"][0]["latency"]["counts"]["dtype"] == "i8"
    got = wire.parse(body).items[0]
    want = ingest.parse(_shipper(False).body([item])[0]).items[0]
    assert got.model_dump() == want.model_dump()


def _sketch_body(sketch: dict[str, Any], data: bytes) -> bytes:
    head = json.dumps({"schema": 2, "service": "svc", "items": [
        {"type": "requests", "model": "clf", "counts": {"ok": 1}, "latency": sketch}]}).encode()
    return sdk_wire.HEADER.pack(sdk_wire.MAGIC, sdk_wire.VERSION, len(head)) + head + data


KEYS = {"dtype": "i4", "offset": 0, "length": 2}
COUNTS = {"dtype": "i8", "offset": 8, "length": 2}
SKETCH_DATA = struct.pack("<2i2q", 10, 11, 1, 2)
BAD_SKETCHES = [
    ("key dtype", {"keys": {**KEYS, "dtype": "f4"}, "counts": COUNTS}, SKETCH_DATA,
     "items[0].latency.keys.dtype"),
    ("past the data", {"keys": KEYS, "counts": {**COUNTS, "offset": 16}}, SKETCH_DATA,
     "items[0].latency.counts.offset"),
    ("key out of range", {"keys": KEYS, "counts": COUNTS},
     struct.pack("<2i2q", 10, 10**6, 1, 2), "items[0].latency.keys"),
    ("negative count", {"keys": KEYS, "counts": COUNTS},
     struct.pack("<2i2q", 10, 11, -1, 2), "items[0].latency.counts"),
    ("one count per key", {"keys": KEYS, "counts": {**COUNTS, "length": 1}}, SKETCH_DATA,
     "items[0].latency.counts"),
    ("a stray key", {"keys": {**KEYS, "step": 1}, "counts": COUNTS}, SKETCH_DATA,
     "items[0].latency.keys"),
]


@pytest.mark.parametrize("why,sketch,data,path", BAD_SKETCHES, ids=[b[0] for b in BAD_SKETCHES])
def test_malformed_sketch_blocks_are_named(why: str, sketch: dict[str, Any], data: bytes,
                                           path: str) -> None:
    with pytest.raises(ingest.IngestError) as err:
        wire.parse(_sketch_body({"accuracy": 0.01, "zeros": 0, "sum": 1.0, "min": 0.5,
                                 "max": 0.6, **sketch}, data))
    assert 400 <= err.value.status < 500
    assert err.value.fields and err.value.fields[0]["path"] == path, (why, err.value.body())
