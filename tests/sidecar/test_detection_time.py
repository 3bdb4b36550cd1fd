"""Drift detection time over the sidecar's window (issue 34): the window is the values sampled in
the last ``drift.fleet_window``, at most ``drift.window_size`` of them, so a shift's share fills in
``min(window_size / rate, fleet_window)`` seconds; a window that can never hold enough values (or a
shift that never reaches the floor) is never detected: +inf, the worst value, which both judges
read past any level (the sidecar's evaluator and the rules on the exported ``+Inf``)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from agent.sidecar.judge.evaluate import Evaluator
from agent.sidecar.judge.service_signals import sample_rate
from agent.sidecar.state._slots import Slots
from agent.sidecar.state.agent_state import AgentState
from agent.spec import parse_spec
from agent.units import Unit, format_value
from detectors.detection import detection_time, ks_critical

SHIFT, FLOOR, ALPHA, REF, LEAST, INTERVAL, HOLD = 0.5, 0.1, 0.01, 100, 50, 0.5, 2.0


def _at(rate: float, window: int = 300, span: float = 8.0) -> float | None:
    return detection_time(SHIFT, FLOOR, ALPHA, 1, window, REF, LEAST, rate, INTERVAL, HOLD,
                          span).seconds


def test_a_time_window_fills_in_its_span_whatever_the_rate_and_a_capped_one_at_the_rate() -> None:
    # 20/s over 8s: 160 values, under the 300 cap: the shifted share fills over the 8 s
    need = max(FLOOR, ks_critical(ALPHA, 160, REF)) / SHIFT
    assert _at(20.0) == math.ceil(need * 160) / 20.0 + INTERVAL + HOLD
    assert _at(20.0) < 8.0 + INTERVAL + HOLD
    # 100/s: 800 a fleet window, the 300 cap binds: the count window's time, as before
    need = max(FLOOR, ks_critical(ALPHA, 300, REF)) / SHIFT
    assert _at(100.0) == math.ceil(need * 300) / 100.0 + INTERVAL + HOLD
    assert _at(100.0, span=math.inf) == _at(100.0)


def test_a_window_too_small_to_judge_is_never_detected_and_no_traffic_is_no_value() -> None:
    # 2/s over 8s: 16 values, under min_samples: the sidecar never judges drift here
    d = detection_time(SHIFT, FLOOR, ALPHA, 1, 300, REF, LEAST, 2.0, INTERVAL, HOLD, 8.0)
    assert d.seconds == math.inf and "min_samples" not in (d.reason or "")
    assert "never detected" in (d.reason or "") and str(LEAST) in (d.reason or "")
    # a shift under the floor: never either
    assert detection_time(0.05, FLOOR, ALPHA, 1, 300, REF, LEAST, 50.0, INTERVAL).seconds \
        == math.inf
    assert _at(0.0) is None                       # nothing sampled: nothing to judge
    assert format_value(math.inf, Unit.SECONDS) == "never"


@given(st.floats(0.01, 1e4), st.integers(1, 5000), st.floats(1.0, 7200.0))
def test_a_finite_detection_time_is_within_one_window_span(rate: float, window: int,
                                                           span: float) -> None:
    s = _at(rate, window, span)
    assert s is not None
    if math.isfinite(s):
        assert min(window, rate * span) >= LEAST
        assert s <= min(window / rate, span) + INTERVAL + HOLD + 1.0 / rate + 1e-9
    else:
        assert min(window, rate * span) < LEAST or FLOOR / SHIFT > 1 or \
            ks_critical(ALPHA, max(int(min(window, rate * span)), LEAST), REF) > SHIFT


def test_the_sample_rate_at_a_deploy_start_is_the_rate_it_runs_at() -> None:
    """Ten seconds of 20 rows a second in a 60 s rate window: 20/s, not a sixth of it (which
    read a detection time six times too long: a false alert at every start)."""
    slots = Slots(1.0, 120.0)
    for t in range(100, 110):
        slots.add(t + 0.5, 20.0)

    class Model:
        sampled = slots

    assert abs(sample_rate([Model()], 110.0, 60.0) - 20.0) < 1e-9   # type: ignore[list-item]
    for t in range(110, 170):                # once covered: the window's rows over its length
        slots.add(t + 0.5, 20.0)
    assert abs(sample_rate([Model()], 169.9, 60.0) - 20.0) < 1e-9   # type: ignore[list-item]
    assert sample_rate([], 170.0, 60.0) == 0.0


def test_never_detected_is_critical_in_the_sidecar_and_never_reaches_json() -> None:
    spec = parse_spec({
        "service": "p", "models": [{"name": "m"}],
        "drift": {"reference_size": REF, "window_size": 300, "min_samples": LEAST,
                  "fleet_window": "8s"},
        "alerting": {"rate_window": "10s"},
        "objectives": [{"name": "d", "signal": "feature_drift", "selector": {"model": "m"},
                        "warning": "0.1", "critical": "0.5"},
                       {"name": "t", "signal": "drift_detection_time",
                        "selector": {"objective": "d"}, "warning": "8s", "critical": "16s",
                        "for": "0s"}]})
    state = AgentState(slot=1.0, window_size=300, reference_size=REF)
    ev = Evaluator(spec, state)
    from agent.sidecar.ingest import payload as ingest
    from agent.sidecar.ingest.apply import apply

    rng = np.random.default_rng(1)
    for t in range(20):                      # 2 rows a second: 16 in the 8 s fleet window
        batch = ingest.Batch.model_validate({"schema": 1, "service": "p", "items": [
            {"type": "samples", "model": "m",
             "features": [{"x": float(v)} for v in rng.normal(0, 1, 2)]}]})
        apply(state, spec, batch, now=float(t))
    results, _ = ev.tick(now=20.0)
    r = next(r for r in results if r.name == "t")
    assert r.value == math.inf and r.status.value == "critical", (r.value, r.detail)
    assert state.objectives["t"].state()["value"] is None
    assert r.judgement["on"] is None and "value never against" in r.judgement["reason"]
