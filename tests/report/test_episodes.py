"""Events into incidents and time in state (agent/report/episodes.py), and what changed
(agent/report/document.py): worked cases and properties over random event streams."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.report.document import Facts, build, changes, snapshot
from agent.report.episodes import incidents, time_in_state
from agent.report.render import markdown, page
from agent.spec import parse_spec


def state(t: float, a: str, b: str, since: float | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"t": t, "kind": "state", "from": a, "to": b}
    if since is not None:
        e["breach_since"] = since
    return e


def tier(t: float, name: str, firing: bool, severity: str = "critical") -> dict[str, Any]:
    return {"t": t, "kind": "tier", "tier": name, "severity": severity, "firing": firing}


def test_one_incident_with_a_tier_detection_and_recovery() -> None:
    events = [state(100, "ok", "warning", since=40), tier(130, "page-fast", True),
              state(160, "warning", "critical"), state(400, "critical", "ok"),
              tier(460, "page-fast", False)]
    [i] = incidents(events, 0, 1000)
    assert (i["started"], i["detected"], i["time_to_detect"]) == (40, 100, 60)
    assert i["worst"] == "critical" and [lv["level"] for lv in i["levels"]] == \
        ["warning", "critical"]
    assert i["tiers"] == [{"tier": "page-fast", "severity": "critical", "fired": 130,
                           "cleared": 460}]
    assert (i["cleared"], i["time_to_recover"]) == (460, 360)   # ok, and no tier firing


def test_no_data_is_no_recovery_and_an_open_incident_is_kept() -> None:
    events = [state(10, "ok", "critical"), state(20, "critical", "no_data")]
    [i] = incidents(events, 0, 100)
    assert i["cleared"] is None and i["time_to_recover"] is None


def test_only_incidents_overlapping_the_period() -> None:
    events = [state(10, "ok", "warning"), state(20, "warning", "ok"),
              state(50, "ok", "critical"), state(150, "critical", "ok"),
              state(300, "ok", "warning"), state(310, "warning", "ok")]
    found = incidents(events, 100, 200)
    assert [i["detected"] for i in found] == [50]


def test_time_in_state_counts_unrecorded_time() -> None:
    events = [state(50, "no_data", "ok"), state(60, "ok", "critical"), state(90, "critical", "ok")]
    spans = time_in_state(events, 0, 100, begins=40)
    assert spans == {"ok": 20.0, "warning": 0.0, "critical": 30.0, "no_data": 10.0,
                     "unrecorded": 40.0}


_kinds = st.sampled_from(["ok", "warning", "critical", "no_data"])


@st.composite
def streams(draw: Any) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 40))
    times = sorted(draw(st.lists(st.floats(0, 1000), min_size=n, max_size=n)))
    out, cur = [], "no_data"
    for t in times:
        if draw(st.booleans()):
            nxt = draw(_kinds)
            out.append(state(t, cur, nxt, since=t - draw(st.floats(0, 50))))
            cur = nxt
        else:
            out.append(tier(t, draw(st.sampled_from(["page-fast", "ticket-slow"])),
                            draw(st.booleans())))
    return out


@settings(max_examples=300, deadline=None)
@given(streams(), st.floats(0, 1000), st.floats(0, 1000))
def test_incidents_never_overlap_and_recover_after_detection(events: list[dict[str, Any]],
                                                             a: float, b: float) -> None:
    t0, t1 = min(a, b), max(a, b)
    found = incidents(events, t0, t1)
    for i in found:
        assert i["started"] <= i["detected"] <= t1
        assert i["time_to_detect"] >= 0
        if i["cleared"] is not None:
            assert i["cleared"] >= max(t0, i["detected"])
            assert i["time_to_recover"] == i["cleared"] - i["detected"]
        for t in i["tiers"]:
            assert t["cleared"] is None or t["cleared"] >= t["fired"]
    for x, y in itertools.pairwise(found):
        assert x["cleared"] is not None and x["cleared"] <= y["detected"]
    spans = time_in_state(events, t0, t1, None)
    assert abs(sum(spans.values()) - (t1 - t0)) < 1e-6


SPEC = parse_spec({"service": "svc", "models": [{"name": "m"}], "objectives": [
    {"name": "errors", "signal": "error_rate", "selector": {"model": "m"}, "objective": "99%",
     "warning": "2%", "critical": "5%"},
    {"name": "fallbacks", "signal": "fallback_rate", "selector": {"model": "m"},
     "warning": "5%", "critical": "20%"}]})


def test_the_document_figures_and_what_changed() -> None:
    t0, t1 = 1_000_000.0, 1_000_000.0 + 7 * 86400
    f = Facts("errors", events=[state(t0 + 10, "ok", "critical", since=t0 + 5),
                                state(t0 + 610, "critical", "ok")],
              begins=t0 - 8 * 86400, bad=1200, total=100_000, window_total=400_000,
              budget_left=0.7, prev_bad=100, prev_total=100_000, status="ok", value=0.004,
              warning=0.02, critical=0.05)
    doc = build(SPEC, [f, Facts("fallbacks")], t0, t1, "sidecar")
    errors = doc["objectives"][0]
    assert errors["sli"]["good"] == 1 - 1200 / 100_000 and errors["sli"]["met"] is False
    assert errors["budget"]["spent"] == pytest.approx(1200 / (0.01 * 400_000))
    assert "1,200 of 100,000 events bad" in errors["sli"]["text"]
    [i] = errors["incidents"]
    assert (i["time_to_detect"], i["time_to_recover"]) == (5, 600)
    items = {c["what"]: c for c in doc["changes"]["items"]}
    assert items["sli"]["before"] == 0.999 and "SLI 99.9% → 98.8%" in items["sli"]["text"]
    assert doc["summary"] == {"objectives": 2, "incidents": 1, "targets_met": 0,
                              "targets_missed": 1, "targets": 1}
    # against a stored report with other levels and an objective since removed
    before = snapshot(doc)
    before["errors"]["warning"] = 0.03
    before["gone"] = {"sli": None}
    diff = changes(doc, before, "the last report")
    texts = [c["text"] for c in diff["items"]]
    assert "errors: warning 3% → 2%" in texts and "gone: removed" in texts
    md, html = markdown(doc), page(doc)
    assert "98.8% of 99% (missed)" in md and "| errors |" in md
    assert 'class="missed"' in html and "<style>" in html


def test_a_period_before_that_was_not_recorded_says_so() -> None:
    t0, t1 = 0.0, 7 * 86400.0
    doc = build(SPEC, [Facts("errors", begins=t0 + 3600, bad=1, total=10, window_total=10)],
                t0, t1, "sidecar")
    assert doc["changes"]["items"] == []
    assert "was not recorded" in doc["changes"]["note"]
    assert "was not recorded" in markdown(doc)
