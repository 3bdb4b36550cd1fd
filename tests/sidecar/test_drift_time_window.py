"""The sidecar's SDK-fed drift windows span ``drift.fleet_window`` (issue 34, one verdict, two
judges): a window is judged on the values sampled in the last ``fleet_window`` seconds (at most
``window_size``, the newest), with at least ``min_samples`` of them, as the fleet rules count
them over the same window; the times survive a snapshot and a restart."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.sidecar.ingest import payload as ingest
from agent.sidecar.ingest.apply import apply
from agent.sidecar.judge.evaluate import Evaluator
from agent.sidecar.state.agent_state import AgentState, CategoricalWindow
from detectors.windows import FeatureWindow, Marks

SPAN = 10.0

#: one step: seconds to the next moment, values added then, and whether the tick marks then
steps = st.lists(st.tuples(st.floats(SPAN / Marks.RESOLUTION, 4.0), st.integers(0, 30),
                           st.booleans()), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(steps=steps, capacity=st.integers(1, 80), span=st.sampled_from([SPAN, 3.0]))
def test_a_window_holds_the_values_added_after_the_last_mark_a_span_ago(
        steps: list[tuple[float, int, bool]], capacity: int, span: float) -> None:
    """Against a brute-force model: at any moment, the values are those added after the last
    mark at or before ``now - span`` (all of them before any such mark), the newest
    ``capacity`` at most, oldest first; the categorical window says the same; both say it
    again after a snapshot round trip."""
    fw = FeatureWindow(capacity, 1)
    fw.add([0.0])                         # the reference (first window of one value)
    cw = CategoricalWindow(capacity, 1)
    cw.add(["ref"])
    added: list[tuple[float, int]] = []   # (time added, value)
    marks: list[tuple[float, int]] = []   # (time, values added before it)
    now, k = 0.0, 0
    for dt, n, mark in steps:
        now += dt
        values = list(range(k, k + n))
        k += n
        fw.add(np.asarray(values, dtype=float))
        cw.add([str(v) for v in values])
        added += [(now, v) for v in values]
        if mark:
            fw.mark(now, span)
            cw.mark(now, span)
            marks.append((now, len(added)))
        at = now + dt / 2                  # read between two moments
        before = [m for m in marks if m[0] <= at - span]
        start = before[-1][1] if before else 0
        want = [v for _, v in added[start:]][-capacity:]
        assert fw.recent(at, span).tolist() == [float(v) for v in want]
        assert cw.recent(at, span) == [str(v) for v in want]
        assert fw.recent(at, None).tolist() == [float(v) for _, v in added][-capacity:]
    again = FeatureWindow.from_state(fw.state())
    cw_again = CategoricalWindow.from_state(cw.state())
    for at in (now, now + span / 2, now + 2 * span):
        assert again.recent(at, span).tolist() == fw.recent(at, span).tolist()
        assert cw_again.recent(at, span) == cw.recent(at, span)


@settings(max_examples=30, deadline=None)
@given(mean=st.floats(0.0, 0.5), n=st.integers(1, 4000), seed=st.integers(0, 2**32 - 1))
def test_marks_stay_bounded_whatever_the_marking_rate(mean: float, n: int, seed: int) -> None:
    """Marks closer than span / RESOLUTION are not kept and marks a span old are dropped: at
    most RESOLUTION + 2 of them, however often a tick marks (``n`` ticks ``mean`` seconds
    apart on average)."""
    m, now = Marks(), 0.0
    for total, g in enumerate(np.random.default_rng(seed).exponential(mean, n), 1):
        now += g
        m.mark(now, total, SPAN)
        assert len(m.times) <= Marks.RESOLUTION + 2
        assert m.times == sorted(m.times) and m.totals == sorted(m.totals)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.text(max_size=4)
    | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3), max_leaves=12)

@st.composite
def _pairs(draw: st.DrawFn) -> dict[str, Any]:
    """Marks as a snapshot holds them: pairs, often in order, sometimes with one odd value."""
    pairs = draw(st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True),
                                    st.integers(-3, 10**6)), max_size=6))
    times, totals = [t for t, _ in pairs], [n for _, n in pairs]
    if draw(st.booleans()):
        times, totals = sorted(times), sorted(totals)
    return {"times": times, "totals": totals[: len(totals) - draw(st.integers(0, 1))]}


marks_like = st.one_of(json_like, _pairs())


@settings(max_examples=200, deadline=None)
@given(raw=marks_like)
def test_marks_from_any_snapshot_are_usable_or_refused(raw: Any) -> None:
    """A snapshot's marks (the input boundary of a restart) are either refused with an error
    the restore names (the window is then dropped, as any unreadable part) or usable: finite
    times in order, counts from 0 in order."""
    try:
        m = Marks.from_state(raw)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return
    assert len(m.times) == len(m.totals)
    assert all(math.isfinite(t) for t in m.times) and m.times == sorted(m.times)
    assert m.totals == sorted(m.totals) and all(n >= 0 for n in m.totals)
    assert m.start(0.0) >= 0


def test_marks_from_a_snapshot_are_checked() -> None:
    assert Marks.from_state(None).times == []
    with pytest.raises(ValueError, match="pairs"):
        Marks.from_state({"times": [1.0, 2.0], "totals": [1]})
    with pytest.raises(ValueError, match="in order"):
        Marks.from_state({"times": [2.0, 1.0], "totals": [1, 2]})


# -- the evaluator: what /status says ----------------------------------------------------------

WINDOW, REFERENCE, LEAST = 1000, 200, 50


def _spec() -> Any:
    from agent.spec import parse_spec

    return parse_spec({
        "service": "p", "models": [{"name": "m"}],
        "drift": {"reference_size": REFERENCE, "window_size": WINDOW, "min_samples": LEAST,
                  "fleet_window": "60s"},
        "objectives": [{"name": "d", "signal": "feature_drift", "selector": {"model": "m"},
                        "warning": "0.2", "critical": "0.4", "for": "0s"}]})


def _send(state: AgentState, spec: Any, values: np.ndarray, now: float) -> None:
    batch = ingest.Batch.model_validate({"schema": 1, "service": "p", "items": [
        {"type": "samples", "model": "m", "features": [{"x": float(v)} for v in values]}]})
    apply(state, spec, batch, now=now)


def _status(ev: Evaluator, now: float) -> tuple[str, Any]:
    (r,), _ = ev.tick(now=now)
    return r.status.value, r.detail


def _scenario() -> tuple[Any, AgentState, Evaluator]:
    """A reference, then 300 shifted values at t=0 (critical), then 300 clean ones at t=30."""
    spec = _spec()
    state = AgentState(slot=1.0, window_size=WINDOW, reference_size=REFERENCE)
    rng = np.random.default_rng(5)
    ev = Evaluator(spec, state)
    _send(state, spec, rng.normal(0, 1, REFERENCE), -1.0)
    _send(state, spec, rng.normal(3, 1, 300), 0.0)
    assert _status(ev, 0.5)[0] == "critical"
    _send(state, spec, rng.normal(0, 1, 300), 30.0)
    return spec, state, ev


def test_drift_clears_when_the_shifted_values_leave_the_fleet_window() -> None:
    """Half the last minute's values shifted: still critical (the fleet rules' increase over
    60s sees the same); once the shifted ones are over a minute old only the clean ones are
    judged (a window of the last 1,000 values would still hold both): ok. With no values in
    the last minute: no verdict, and /status says why."""
    _, _, ev = _scenario()
    assert _status(ev, 30.5)[0] == "critical"
    status, detail = _status(ev, 61.0)
    assert status == "ok", detail
    status, detail = _status(ev, 91.0)
    assert status == "no_data"
    assert "drift.fleet_window" in detail["reason"]


def test_the_fleet_window_needs_min_samples_as_the_rules_do() -> None:
    """Fewer than drift.min_samples values in the window: no verdict (the rules record no
    effect either), however shifted they are; at min_samples a verdict."""
    spec = _spec()
    state = AgentState(slot=1.0, window_size=WINDOW, reference_size=REFERENCE)
    rng = np.random.default_rng(6)
    ev = Evaluator(spec, state)
    _send(state, spec, rng.normal(0, 1, REFERENCE), 0.0)
    _send(state, spec, rng.normal(5, 1, LEAST - 1), 1.0)
    assert _status(ev, 1.5)[0] == "no_data"
    _send(state, spec, rng.normal(5, 1, 1), 2.0)
    assert _status(ev, 2.5)[0] == "critical"


def test_a_restart_keeps_the_windows_times() -> None:
    """The snapshot keeps each window's marks: a sidecar restored after the shift judges the
    same values a minute on as the one that kept running (the shifted ones left)."""
    spec, state, ev = _scenario()
    ev.tick(now=30.5)                                  # marks the clean values' arrival
    snapshot = state.state()
    fresh = AgentState(slot=1.0, window_size=WINDOW, reference_size=REFERENCE)
    assert fresh.restore(snapshot) == []
    restored = Evaluator(spec, fresh)
    assert _status(restored, 31.0)[0] == "critical"
    status, detail = _status(restored, 61.0)
    assert status == "ok", detail


def test_status_says_when_window_size_binds_before_the_fleet_window() -> None:
    """More values sampled in the fleet window than window_size: the newest are judged, a
    shorter span than the rules count, and /status says so and how to fix it; fewer: not."""
    spec = _spec()
    state = AgentState(slot=1.0, window_size=WINDOW, reference_size=REFERENCE)
    rng = np.random.default_rng(7)
    ev = Evaluator(spec, state)
    _send(state, spec, rng.normal(0, 1, REFERENCE), 0.0)
    _send(state, spec, rng.normal(0, 1, WINDOW), 1.0)
    assert "window_capped" not in _status(ev, 1.5)[1]
    _send(state, spec, rng.normal(0, 1, 1), 2.0)
    capped = _status(ev, 2.5)[1]["window_capped"]
    assert capped["columns"] == ["x"] and "drift.window_size" in capped["reason"]


def test_the_status_page_shows_a_capped_window_as_a_note_not_a_column(tmp_path: Any) -> None:
    """A real engine: /status carries window_capped, and the objective's page says it in a
    line of its own (never as a feature row)."""
    import json

    from agent.sidecar.engine import Engine
    from agent.sidecar.http import _page
    from agent.spec import parse_spec
    from tests.sidecar.test_bounded_state import Clock

    spec = parse_spec({
        "service": "p", "models": [{"name": "m"}], "sources": {"gpu": {"mode": "off"}},
        "drift": {"reference_size": 50, "window_size": 60, "min_samples": 20,
                  "fleet_window": "60s"},
        "objectives": [{"name": "d", "signal": "feature_drift", "selector": {"model": "m"},
                        "warning": "0.2", "critical": "0.4", "for": "0s"}]})
    clock = Clock()
    eng = Engine(spec, state_dir=tmp_path / "state", clock=clock)
    eng.ready.set()
    rows = [{"x": float(v)} for v in np.random.default_rng(8).normal(0, 1, 200)]
    assert eng.submit(ingest.parse(json.dumps({"service": "p", "items": [
        {"type": "samples", "model": "m", "features": rows}]}).encode()))
    eng._drain()
    eng.tick(clock.t)
    o = next(x for x in eng.status_doc["objectives"] if x["name"] == "d")
    assert o["features"]["window_capped"]["columns"] == ["x"], o
    page = _page.detail(spec, eng.status_doc, "d", {}, eng.interval)
    assert page is not None
    assert "Window shorter than drift.fleet_window: x" in page
    assert "<th scope=\"row\">window_capped</th>" not in page
