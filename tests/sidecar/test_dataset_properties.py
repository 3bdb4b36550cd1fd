"""Property test: whatever file arrives (empty, one row, all-null or mixed-type columns), what the
sidecar stores, shows and exports for it is strict JSON: no NaN, no infinity, reasons for gaps."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.sidecar.collectors._dataset_drift import file_drift, load_reference
from agent.sidecar.collectors._windows import read_file_window
from agent.sidecar.judge import data_signals
from agent.sidecar.state.agent_state import DatasetState
from agent.spec import parse_spec
from detectors.drift import DriftThresholds

cell = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                 st.sampled_from(["a", "b", "c", "", "x" * 100]), st.booleans())


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(0, 40))
    cols: dict[str, Any] = {}
    for name in ("num", "cat", "mixed", "empty"):
        kind = draw(st.sampled_from(["float", "int", "text", "bool", "null", "mixed"]))
        if kind == "float":
            cols[name] = draw(st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)),
                                       min_size=n, max_size=n))
        elif kind == "int":
            cols[name] = draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n))
        elif kind == "text":
            cols[name] = draw(st.lists(st.sampled_from(["a", "b", None]), min_size=n, max_size=n))
        elif kind == "bool":
            cols[name] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        elif kind == "null":
            cols[name] = [None] * n
        else:
            cols[name] = draw(st.lists(cell, min_size=n, max_size=n))
    return pd.DataFrame(cols)


SPEC = parse_spec({
    "service": "p", "models": [{"name": "m"}],
    "sources": {"datasets": [{"name": "d", "path": "d.csv", "reference": "r.csv",
                              "contract": {"allowed_values": {"cat": ["a", "b"]}}}]},
    "drift": {"min_samples": 5},
    "objectives": [{"name": "o", "signal": "feature_drift", "selector": {"dataset": "d"}}]})


THRESHOLDS = DriftThresholds(alpha=0.01, calibration=SPEC.drift.calibration)


def _strict(obj: Any) -> None:
    json.dumps(obj, allow_nan=False, default=str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reference=frames(), current=frames())
def test_any_file_gives_strict_json(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    """The file as it arrives (a CSV, which holds any of them), read by DuckDB."""
    ds = SPEC.sources.datasets[0]
    ref = load_reference(reference, ds)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        current.to_csv(path, index=False)
        window = read_file_window(path, ds, ref)
    rows, skipped = file_drift(window, ref, ds, SPEC.drift)
    state = DatasetState(rows=window.rows, nulls=window.nulls, drift=rows,
                         drift_skipped=skipped, allowed=window.allowed)
    _strict(state.state())
    for r in rows:
        if r["score"] is None or r["status"] == "no_data":
            assert r.get("reason") or r["status"] != "no_data", r
    for column_name in (None, "num", "cat"):
        for fn in (data_signals.null_ratio, data_signals.new_categories,
                   data_signals.disallowed):
            value, detail = fn(state, column_name)
            assert value is None or math.isfinite(value)
            if value is None:
                assert detail["reason"], (fn.__name__, detail)
            _strict(detail)
        value, detail = data_signals.dataset_drift(state, column_name, THRESHOLDS)
        assert value is None or math.isfinite(value)
        assert value is not None or detail["reason"]
        _strict(detail)


def test_bools_are_categories_on_the_sdk_path_too() -> None:
    """A bool feature is chi-square tested whether it comes from a file or the SDK."""
    from agent.sidecar.ingest import payload as ingest
    from agent.sidecar.ingest.apply import apply
    from agent.sidecar.state.agent_state import AgentState

    state = AgentState(slot=1.0, window_size=50, reference_size=50)
    batch = ingest.Batch.model_validate({"schema": 1, "service": "p", "items": [
        {"type": "samples", "model": "m", "features": [
            {"flag": i % 3 == 0, "x": float(i), "gone": None} for i in range(120)]}]})
    apply(state, SPEC, batch, now=0.0)
    ms = state.models[("m", "")]
    assert "flag" in ms.categorical and "flag" not in ms.numeric
    assert "x" in ms.numeric
    _strict(ms.state())                     # the all-null feature left no NaN behind
