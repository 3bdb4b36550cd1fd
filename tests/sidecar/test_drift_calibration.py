"""Calibrated drift thresholds on the SDK's feature windows (the evaluator's drift branch), and
the spec fields that choose them: a quantile per objective, or a fixed floor as before."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.sidecar.ingest import payload as ingest
from agent.sidecar.ingest.apply import apply
from agent.sidecar.judge.evaluate import Evaluator
from agent.sidecar.state.agent_state import AgentState
from agent.spec import SpecError, parse_spec
from agent.spec.objective import parse_quantile
from agent.units import QuantityError

CATS = ["a", "b", "c", "d", "e"]
P = np.array([0.35, 0.25, 0.2, 0.12, 0.08])


def _spec(objectives: list[dict[str, Any]], drift: dict[str, Any] | None = None) -> Any:
    return parse_spec({"service": "p", "models": [{"name": "m", "categorical": ["cat"]}],
                       "drift": {"reference_size": 5000, "window_size": 5000,
                                 "min_samples": 200, **(drift or {})},
                       "objectives": objectives})


def _feed(spec: Any, shift: float, cat_shift: float, seed: int = 0) -> AgentState:
    """5,000 reference rows, then a 5,000-row window (x shifted by ``shift`` sd, z not; the
    categorical feature's shares tilted by ``cat_shift``)."""
    rng = np.random.default_rng(seed)
    state = AgentState(slot=1.0, window_size=5000, reference_size=5000)
    tilt = P * np.exp(cat_shift * np.linspace(-1, 1, P.size))
    for i, (dx, p) in enumerate(((0.0, P), (shift, tilt / tilt.sum()))):
        x, z = rng.normal(dx, 1, 5000), rng.normal(0, 1, 5000)
        cat = rng.choice(CATS, 5000, p=p)
        rows = [{"x": float(a), "z": float(b), "cat": str(c)} for a, b, c in zip(x, z, cat,
                                                                                 strict=True)]
        batch = ingest.Batch.model_validate({"schema": 1, "service": "p", "items": [
            {"type": "samples", "model": "m", "features": rows}]})
        apply(state, spec, batch, now=float(i))
    return state


OBJECTIVES = [
    {"name": "calibrated", "signal": "feature_drift", "selector": {"model": "m"}, "for": "0s"},
    {"name": "fixed", "signal": "feature_drift", "selector": {"model": "m"}, "warning": 0.1,
     "critical": 0.25, "for": "0s"},
    {"name": "strict", "signal": "feature_drift", "selector": {"model": "m"},
     "calibration": "p99.99", "for": "0s"},
]


def test_sdk_windows_alarm_on_a_moderate_shift_that_the_fixed_floor_misses() -> None:
    spec = _spec(OBJECTIVES)
    state = _feed(spec, shift=0.2, cat_shift=0.4)
    results = {r.name: r for r in Evaluator(spec, state).tick(now=10.0)[0]}
    cal = results["calibrated"]
    assert cal.status.value == "warning", cal
    per = cal.detail
    assert {k for k, v in per.items() if isinstance(v, dict) and v.get("status") == "warning"} \
        == {"x", "cat"}
    assert per["z"]["status"] == "ok"
    for name in ("x", "z", "cat"):
        col = per[name]
        assert col["threshold_source"] in ("calibrated", "floor")
        # the floor follows the sizes: 5,000 against 5,000 rows is under the resolution, so
        # the calibrated threshold decides and the floor is stated below it
        assert col["threshold"] == max(col["calibrated"], col["floor"]) == col["calibrated"]
        assert "effective rows" in col["floor_reason"]
        assert col["rule"] == ("calibrated" if col["significant"] else "significance")
    # the value is the worst column's effect, judged against that column's own threshold
    assert cal.warning == per[per["judged_against"]["column"]]["threshold"]
    assert cal.value == per[per["judged_against"]["column"]]["effect"]
    json.dumps(per, allow_nan=False)
    # an explicit warning is a fixed floor, as before: D ~ 0.08 and PSI ~ 0.06 stay ok
    fixed = results["fixed"]
    assert fixed.status.value == "ok" and fixed.warning == 0.1
    assert {v["threshold_source"] for k, v in fixed.detail.items() if k in ("x", "cat")} \
        == {"fixed"}
    # a stricter quantile raises the calibrated thresholds, never lowers them
    strict = results["strict"].detail
    assert all(strict[c]["calibrated"] >= per[c]["calibrated"] for c in ("x", "z", "cat"))


def test_sdk_windows_without_a_shift_stay_ok() -> None:
    spec = _spec(OBJECTIVES[:1])
    state = _feed(spec, shift=0.0, cat_shift=0.0, seed=1)
    evaluator = Evaluator(spec, state)
    (result,), _ = evaluator.tick(now=10.0)
    assert result.status.value == "ok" and result.value == 0.0
    detector = evaluator.model_drift.detector(next(iter(state.models.values())), model="m")
    evaluator.tick(now=11.0)
    # the next tick reuses the model's detector; its closed-form thresholds need no queue
    assert evaluator.model_drift.detector(next(iter(state.models.values())), model="m") is detector
    assert evaluator.model_drift.pending == []


def test_calibration_off_in_the_spec_restores_the_fixed_floors() -> None:
    spec = _spec(OBJECTIVES[:1], {"calibration": None})
    state = _feed(spec, shift=0.2, cat_shift=0.4)
    (result,), _ = Evaluator(spec, state).tick(now=10.0)
    assert result.status.value == "ok" and result.warning == 0.1


# -- spec fields ----------------------------------------------------------------------------

quantile_like = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 2), st.booleans(),
    st.none(), st.from_regex(r"p?[0-9]{1,3}(\.[0-9]{1,3})?%?", fullmatch=True),
    st.text(max_size=8))


def _accepts(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return parse_quantile(value)
    except QuantityError:
        return -1.0


@settings(max_examples=200, deadline=None)
@given(value=quantile_like, where=st.sampled_from(["drift", "objective"]),
       warning=st.sampled_from([None, 0.1]))
def test_calibration_fields_are_validated_with_their_path(value: Any, where: str,
                                                          warning: float | None) -> None:
    objective: dict[str, Any] = {"name": "o", "signal": "feature_drift", "for": "0s"}
    if warning is not None:
        objective["warning"] = warning
    drift: dict[str, Any] = {}
    if where == "drift":
        drift["calibration"] = value
    else:
        objective["calibration"] = value
    expected = _accepts(value)
    try:
        spec = _spec([objective], drift)
    except SpecError as exc:
        paths = {i.path for i in exc.issues}
        assert expected == -1.0 or (where == "objective" and warning is not None), paths
        assert paths == ({"drift.calibration"} if where == "drift"
                         else {"objectives[0].calibration"}), paths
        return
    assert expected != -1.0
    o = spec.objectives[0]
    if where == "drift":
        assert spec.drift.calibration == expected
        assert o.drift_calibration(spec.drift.calibration) == (None if warning else expected)
    else:
        assert o.calibration == expected and (expected is None or warning is None)


def test_calibration_on_a_non_drift_objective_is_refused() -> None:
    with pytest.raises(SpecError) as exc:
        _spec([{"name": "o", "signal": "error_rate", "calibration": 0.99, "warning": "1%"}])
    assert {i.path for i in exc.value.issues} == {"objectives[0].calibration"}


def test_predicted_detection_uses_the_calibrated_threshold() -> None:
    """The detection time a calibrated objective predicts is reached at its own (lower)
    threshold, not at the 0.1 floor it no longer uses."""
    from agent.sidecar.judge.service_signals import drift_detection

    spec = _spec(OBJECTIVES[:2])
    state = _feed(spec, shift=0.0, cat_shift=0.0, seed=2)
    cal, fixed = (drift_detection(spec, state, o, 10.0) for o in spec.objectives)
    assert cal.samples is not None and fixed.samples is not None
    assert cal.samples < fixed.samples


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(["min_ks_effect", "min_psi"]),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3),
                       st.text(max_size=6), st.booleans(), st.none()))
def test_absolute_floors_are_validated_with_their_path(field: str, value: Any) -> None:
    try:
        spec = _spec(OBJECTIVES[:1], {field: value})
    except SpecError as exc:
        assert {i.path for i in exc.issues} == {f"drift.{field}"}
        return
    got = getattr(spec.drift, field)
    if value is None:             # the default: the floor follows the sizes
        assert got is None
        return
    assert isinstance(got, float) and got >= 0.0 and (field == "min_psi" or got <= 1.0)
    assert got == got and got != float("inf")


# -- time-like features are declared per model ----------------------------------------------

def test_time_like_is_declared_per_model() -> None:
    """Two models send a feature of the same name: ``models[].time_like`` of one leaves it out of
    that model's test only (another model's clock may be this one's input)."""
    spec = parse_spec({
        "service": "p",
        "models": [{"name": "clocked", "time_like": ["seq"]}, {"name": "plain"}],
        "drift": {"reference_size": 1000, "window_size": 1000, "min_samples": 200},
        "objectives": [{"name": m, "signal": "feature_drift", "selector": {"model": m},
                        "for": "0s"} for m in ("clocked", "plain")]})
    rng = np.random.default_rng(4)
    state = AgentState(slot=1.0, window_size=1000, reference_size=1000)
    for part in range(2):
        for model in ("clocked", "plain"):
            rows = [{"seq": float(part * 1000 + i), "x": float(v)}
                    for i, v in enumerate(rng.normal(size=1000))]
            batch = ingest.Batch.model_validate({"schema": 1, "service": "p", "items": [
                {"type": "samples", "model": model, "features": rows}]})
            apply(state, spec, batch, now=float(part))
    results = {r.name: r for r in Evaluator(spec, state).tick(now=10.0)[0]}
    clocked, plain = results["clocked"].detail, results["plain"].detail
    assert [s["column"] for s in clocked["skipped"]] == ["seq"]
    assert clocked["skipped"][0]["rule"] == "time_like"
    assert "seq" not in clocked and clocked["x"]["status"] == "ok"
    assert results["clocked"].status.value == "ok"
    # the same name on the other model is an input like any other: tested, and it moved
    assert "skipped" not in plain
    assert plain["seq"]["status"] == "critical" and plain["seq"]["effect"] == 1.0
    assert results["plain"].status.value == "critical"


@pytest.mark.parametrize(("model", "message"), [
    ({"name": "m", "time_like": ["t"], "categorical": ["t"]}, "also in categorical"),
    ({"name": "m", "features": ["x"], "time_like": ["t"]}, "not a feature of this model"),
])
def test_a_time_like_feature_that_contradicts_the_model_is_refused(model: dict[str, Any],
                                                                    message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec({"service": "p", "models": [model], "objectives": []})
    assert "models[0].time_like[0]" in str(err.value) and message in str(err.value)


def test_a_numeric_flag_from_the_sdk_is_tested_as_a_category() -> None:
    """0/1 numbers from the SDK (not bools): the share moving from 30 % to 36 % alarms by
    chi-square with PSI as the effect, as the detector judges a flag anywhere."""
    spec = parse_spec({
        "service": "p", "models": [{"name": "m"}],
        "drift": {"reference_size": 5000, "window_size": 5000, "min_samples": 200},
        "objectives": [{"name": "o", "signal": "feature_drift", "selector": {"model": "m"},
                        "for": "0s"}]})
    rng = np.random.default_rng(6)
    state = AgentState(slot=1.0, window_size=5000, reference_size=5000)
    for part, share in enumerate((0.30, 0.36)):
        flags = rng.permutation(np.arange(5000) < share * 5000).astype(int)
        batch = ingest.Batch.model_validate({"schema": 1, "service": "p", "items": [
            {"type": "samples", "model": "m", "features": [{"flag": int(v)} for v in flags]}]})
        apply(state, spec, batch, now=float(part))
    (result,), _ = Evaluator(spec, state).tick(now=10.0)
    flag = result.detail["flag"]
    assert flag["test"] == "chi2" and flag["rule"] == "calibrated", flag
    assert flag["status"] in ("warning", "critical") and result.status.value != "ok"
