"""What the status page and ``/status`` say, read as a person reads it: a job that never
succeeded says "never", durations are rounded, a share near zero is 0 %, chart labels stay inside
the chart, and an objective ok beside an overspent budget says why both hold."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from agent.sidecar import _status_doc
from agent.sidecar.engine import Engine
from agent.sidecar.http import _page
from agent.sidecar.ingest import payload as ingest
from agent.spec import parse_spec
from tests.sidecar.test_bounded_state import NOW, Clock

SPEC: dict[str, Any] = {
    "service": "svc", "models": [{"name": "clf", "version": "v1"}],
    "sidecar": {"interval": "10s"},
    "alerting": {"rate_window": "1m", "evaluation_interval": "10s"},
    "sources": {"gpu": {"mode": "off"}},
    "objectives": [
        {"name": "errors", "signal": "error_rate", "selector": {"model": "clf"},
         "warning": "2%", "critical": "10%", "for": "0s", "objective": "99%", "window": "1h"},
        {"name": "retrain", "signal": "time_since_success", "selector": {"job": "retrain"},
         "warning": "26h", "critical": "50h"},
    ]}


def _engine(tmp_path: Path) -> tuple[Engine, Clock]:
    clock = Clock()
    eng = Engine(parse_spec(SPEC), state_dir=tmp_path / "state", clock=clock)
    eng.ready.set()
    return eng, clock


def _send(eng: Engine, *items: dict[str, Any]) -> None:
    batch = ingest.parse(json.dumps({"service": "svc", "items": list(items)}).encode())
    assert eng.submit(batch)
    eng._drain()


def _minutes(eng: Engine, clock: Clock, minutes: int, error: int, ok: int) -> None:
    for _ in range(minutes * 6):
        clock.t += 10
        _send(eng, {"type": "requests", "model": "clf", "version": "v1",
                    "counts": {"ok": ok, "error": error}})
        eng.tick(clock.t)


def test_ok_beside_an_overspent_budget_says_why_both_hold(tmp_path: Path) -> None:
    eng, clock = _engine(tmp_path)
    eng.tick(clock.t)
    _minutes(eng, clock, 10, error=30, ok=70)        # a burst: 30 % of calls fail
    _minutes(eng, clock, 10, error=0, ok=100)        # then clean, longer than the rate window
    o = next(x for x in eng.status_doc["objectives"] if x["name"] == "errors")
    assert o["status"] == "ok" and o["error_budget_remaining"] < 0, o
    note = o["budget_note"]
    assert note.startswith("Both hold: the status is ok because it judges the latest value")
    assert "the budget counts the whole 1h" in note and "of the budget is left" not in note
    assert re.search(r"\d+(\.\d+)?% of [\d,]+ events were bad against 1% allowed", note), note
    page = _page.index(eng.spec, eng.status_doc, eng.interval)
    assert note.split(":")[0] in page and "e-0" not in page
    left = re.search(r'class="sub">(-\d+(\.\d+)?%) of 1h', page)
    assert left, "the budget is shown as a plain negative percentage"


def test_a_calm_budget_beside_a_calm_status_needs_no_word() -> None:
    budget = {"window": "30d", "bad": 10.0, "total": 10_000.0, "allowed": 0.01}
    assert _status_doc.budget_note("ok", 0.9, budget, {}, "5m") is None
    assert _status_doc.budget_note("critical", 0.05, budget, {}, "5m") is None
    assert _status_doc.budget_note("critical", 0.9, budget, {"reason": "r"}, "5m") \
        .startswith("Both hold: the status is critical")   # type: ignore[union-attr]


def test_a_job_that_never_succeeded_says_never(tmp_path: Path) -> None:
    eng, clock = _engine(tmp_path)
    _send(eng, {"type": "job", "job": "retrain", "event": "failure", "duration": 12.0,
                "error": "OOM"})
    eng.tick(clock.t)
    page = _page.index(eng.spec, eng.status_doc, eng.interval)
    line = re.search(r"<li>retrain:[^<]*", page)
    assert line and "last success never" in line.group(0), line
    assert "— ago" not in page


def test_durations_on_the_page_are_rounded(tmp_path: Path) -> None:
    eng, clock = _engine(tmp_path)
    eng.tick(clock.t)
    doc = dict(eng.status_doc)
    doc["time"] = NOW + 464.994
    page = _page.index(eng.spec, doc, eng.interval)
    assert "7m45s" in page and "994ms" not in page


def test_a_share_near_zero_is_zero_percent(tmp_path: Path) -> None:
    eng, clock = _engine(tmp_path)
    eng.tick(clock.t)
    doc = json.loads(json.dumps(eng.status_doc))
    errors = next(o for o in doc["objectives"] if o["name"] == "errors")
    errors.update(value=2.17e-17, error_budget_remaining=2.17e-17, status="ok")
    errors["value_text"] = _page.format_value(2.17e-17, _page.Unit.RATIO)
    page = _page.index(eng.spec, doc, eng.interval)
    assert errors["value_text"] == "0%" and "e-17" not in page and "0% of 1h" in page


def test_chart_labels_sit_inside_the_plot() -> None:
    """The level labels are drawn right-aligned inside the plot, each with its level, and two
    close levels never share a line (the clipped "warnir"/"critica" of the issue)."""
    points = [{"t": NOW + i, "v": 0.05 + 0.001 * i, "s": "ok"} for i in range(20)]
    chart = _page.chart({"points": points}, "seconds", 0.25, 0.26)
    assert chart is not None
    xs = {r["name"]: r for r in chart["rules"]}
    assert set(xs) == {"warning", "critical"}
    for r in chart["rules"]:
        assert _page.PAD / 2 <= r["ty"] <= _page.CHART_H - 2, r
        assert r["text"] in ("250ms", "260ms")
    assert abs(xs["warning"]["ty"] - xs["critical"]["ty"]) >= 13
