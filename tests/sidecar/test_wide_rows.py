"""Wide columnar batches (agent/sidecar/ingest/columnar.py, _fleet_counts.add_numeric_block):
columns the SDK lays back to back are read as one array and their windows and fleet counts
updated together, with exactly the state the one-column-at-a-time path leaves; a layout that
is not back to back, or a bad column, still goes column by column (and is refused by name);
and columnar rows count against the inbox's cap like JSON rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.sdk import columnar_format as sdk_wire
from agent.sidecar.engine import Engine
from agent.sidecar.ingest import columnar as wire
from agent.sidecar.ingest import payload as ingest
from agent.sidecar.state._fleet_counts import _floor32
from agent.sidecar.state.agent_state import AgentState
from agent.spec import parse_spec
from tests.sidecar.conftest import make_spec

# quarter steps (exact in float32, many ties), missing values, and wide-range floats
VALUE = st.one_of(st.none(), st.integers(-12, 12).map(lambda k: k / 4),
                  st.floats(-1e6, 1e6, width=32))


def _state() -> AgentState:
    return AgentState(slot=1.0, window_size=16, reference_size=24, fleet_bins=5)


def _body(columns: dict[str, list[Any]], preds: list[Any]) -> bytes:
    rows = len(next(iter(columns.values())))
    item = {"type": "samples", "model": "clf", "version": "v1", "rows": rows,
            "columns": columns, "predictions": preds}
    return sdk_wire.encode({"schema": 1, "service": "svc", "items": [item]})


def _item(body: bytes) -> wire.ColumnSamples:
    item = wire.parse(body).items[0]
    assert isinstance(item, wire.ColumnSamples)
    return item


def _snapshot(state: AgentState) -> dict[str, Any]:
    ms = state.model("clf", "v1")
    return {"windows": {k: (v.window.values().tolist(), None if v.reference is None
                            else v.reference.tolist()) for k, v in ms.numeric.items()},
            "categorical": sorted(ms.categorical),
            "fleet": json.loads(json.dumps(ms.fleet.state()))}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 6).flatmap(lambda f: st.lists(
    st.integers(1, 20).flatmap(lambda n: st.lists(st.lists(VALUE, min_size=n, max_size=n),
                                                   min_size=f, max_size=f)),
    min_size=1, max_size=6)), st.booleans())
def test_a_block_leaves_the_state_columns_leave(batches: list[list[list[Any]]],
                                                country: bool) -> None:
    """Column by column (block withheld) and as one block: the same windows, references,
    categories and fleet counts, batch after batch (references fill up on the way)."""
    one, block = _state(), _state()
    categorical = {"f0"} if country else set()
    stacked = 0
    for cols in batches:
        columns = {f"f{j}": values for j, values in enumerate(cols)}
        body = _body(columns, list(cols[0]))
        a, b = _item(body), _item(body)
        stacked += a.block is not None
        a.block = None                                    # the one-column-at-a-time path
        a.apply_to(one, categorical, 0.0)
        b.apply_to(block, categorical, 0.0)
        assert _snapshot(one) == _snapshot(block)
    assert stacked == len(batches)   # every body the SDK writes is laid back to back


def test_columns_not_back_to_back_are_read_one_by_one() -> None:
    columns = {"a": [1.5, 2.5], "b": [0.5, 1e300]}       # b needs float64: another dtype
    item = _item(_body(columns, [1.0, 2.0]))
    assert item.block is None and item.columns["b"].dtype == np.float64
    columns = {"a": [1.5, 2.5, 3.5], "b": [0.5, 0.25, 0.125]}     # odd rows: padded blocks
    item = _item(_body(columns, [1.0, 2.0, 3.0]))
    assert item.block is not None and item.block.shape == (2, 3)
    assert item.block.tolist() == [[1.5, 2.5, 3.5], [0.5, 0.25, 0.125]]
    assert item.columns["b"].base is not None             # a view of the block, no copy


def test_a_bad_column_in_a_block_is_still_refused_by_name() -> None:
    body = bytearray(_body({"a": [1.5, 2.5], "b": [0.5, 0.25]}, []))
    body[-4:] = np.array([np.inf], dtype="<f4").tobytes()  # b's last value: infinity
    with pytest.raises(ingest.IngestError) as err:
        wire.parse(bytes(body))
    assert "items[0].columns.b" in str(err.value)


@settings(max_examples=300)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64),
       st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_float32_comparisons_with_floored_edges_are_exact(edge: float, value: float) -> None:
    e = np.array([[edge]])
    v = np.float32(value)
    assert bool(v <= _floor32(e)[0, 0]) == (float(v) <= edge)


def test_columnar_rows_count_against_the_inbox_cap(tmp_path: Path) -> None:
    spec = parse_spec(make_spec(tmp_path, 9))
    eng = Engine(spec, state_dir=tmp_path / "state")
    eng.max_pending_rows = 5000
    body = sdk_wire.encode({"schema": 1, "service": "svc", "items": [
        {"type": "samples", "model": "clf", "version": "v1", "rows": 2000,
         "columns": {"x": [0.5] * 2000}, "predictions": []}]})
    accepted = 0
    for _ in range(4):
        batch = wire.parse(body)
        eng.admission.check(batch)
        accepted += eng.submit(batch)
    assert accepted == 2 and eng.pending_rows == 4000       # the third would pass the cap


def test_values_next_to_an_edge_count_as_in_float64() -> None:
    """A float32 value rounded from an edge that float32 cannot hold lies on one side of it
    exactly: the block counts it where the float64 search does."""
    from agent.sidecar.state._fleet_counts import FleetCounts
    from detectors.windows import FeatureWindow

    def fed() -> tuple[FleetCounts, FeatureWindow]:
        fc, fw = FleetCounts(5, 3), FeatureWindow(16, 24)
        fc.add_numeric("x", fw, np.linspace(0.0, 1.0, 24) / 3)   # a reference: edges odd
        return fc, fw

    one, fw_one = fed()
    two, fw_two = fed()
    edges = one.numeric["x"].edges
    assert edges is not None
    near = np.concatenate([edges, np.nextafter(edges, 2), np.nextafter(edges, -2)])
    values = near.astype(np.float32)
    assert (values.astype(np.float64) != near[: len(values)]).any()   # rounded: off the edges
    one.add_numeric("x", fw_one, values.astype(np.float64))
    two.add_numeric_block(["x"], [fw_two], values.reshape(1, -1))
    assert one.numeric["x"].cumulative.tolist() == two.numeric["x"].cumulative.tolist()


STEADY = st.integers(-12, 12).map(lambda k: k / 4)     # no missing value: the whole-block path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 5).flatmap(lambda f: st.lists(
    st.tuples(st.integers(1, 40).flatmap(lambda n: st.lists(
        st.lists(STEADY, min_size=n, max_size=n), min_size=f, max_size=f)),
        st.sampled_from(["block", "one feature", "restore", "missing", "new reference"])),
    min_size=2, max_size=10)))
def test_whole_blocks_leave_the_state_columns_leave(
        batches: list[tuple[list[list[Any]], str]]) -> None:
    """Once every reference is fixed, a block without missing values goes in whole (windows
    as rows of one array, one count per edge): the same state as column by column, through
    ring wraps and blocks longer than the window, after one feature is fed alone (its ring
    leaves the shared position), after a block with a missing value (fed column by column),
    after a reference is replaced and after a snapshot is restored (new windows)."""
    one, block = _state(), _state()
    for cols, between in batches:
        if between == "missing":                 # one missing value: column by column
            cols[-1][-1] = None
        columns = {f"f{j}": values for j, values in enumerate(cols)}
        body = _body(columns, list(cols[0]))
        a, b = _item(body), _item(body)
        a.block = None
        a.apply_to(one, set(), 0.0)
        b.apply_to(block, set(), 0.0)
        assert _snapshot(one) == _snapshot(block)
        if between == "one feature":
            for state in (one, block):
                ms = state.model("clf", "v1")
                ms.add_numeric("f0", np.array([0.25, 1.5, 2.0]))
        elif between == "new reference" and "f0" in one.model("clf", "v1").numeric:
            for state in (one, block):                # as a reference file replaced
                state.model("clf", "v1").numeric["f0"].set_reference(np.arange(30) / 8)
        elif between == "restore":
            restored = _state()
            restored.model("clf", "v1").restore(
                json.loads(json.dumps(block.model("clf", "v1").state())))
            block = restored
        assert _snapshot(one) == _snapshot(block)
