"""The weekly review built from a scripted week (tests/report/week.py), both ways a user gets it:

- the week is driven through the sidecar's engine on a simulated clock, its state restored by a
  real ``slo-agent run``, and ``slo-agent report --url`` asks that sidecar: its figures are
  checked against the same sidecar's ``/status`` and against the script (when each incident was
  injected and ended, how many calls failed);
- what the engine exported every 4 minutes is backfilled into a real Prometheus with
  ``promtool tsdb create-blocks-from openmetrics``, and ``slo-agent report --prometheus`` reads
  it: its figures are checked against PromQL written here and against the sidecar's report;
- the page (``/report``, linked from the status page) is opened in Chromium, checked and
  screenshotted into tests/artefacts/.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.browser.test_status_page import _axe, _chromium
from tests.helpers import ROOT, free_port, require_binary
from tests.report.week import DAY, INCIDENTS, SCRAPE, SERVICE, TICK, Week, scripted, spec_data
from tests.sidecar.conftest import Sidecar

pytestmark = [pytest.mark.servers, pytest.mark.slow]
ARTEFACTS = ROOT / "tests" / "artefacts"
RATE_WINDOW = 300.0


@dataclass
class Ctx:
    week: Week
    sidecar: Sidecar
    prom: str
    spec_path: Path
    tmp: Path


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def promql(prom: str, query: str, at: float) -> list[dict[str, Any]]:
    doc = _get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": query,
                                                                  "time": f"{at:.3f}"}))
    assert doc["status"] == "success", doc
    return list(doc["data"]["result"])


def promql_range(prom: str, query: str, start: float, end: float, step: float
                 ) -> list[tuple[float, float]]:
    doc = _get(f"{prom}/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": query, "start": start, "end": end, "step": step}))
    assert doc["status"] == "success", doc
    return [(float(t), float(v)) for s in doc["data"]["result"] for t, v in s["values"]]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    prometheus, promtool = require_binary("prometheus"), require_binary("promtool")
    tmp = tmp_path_factory.mktemp("week")
    port = free_port()
    state = tmp / "state"
    week = scripted(state, port, time.time() - 2 * TICK)
    week.save()
    (tmp / "week.om").write_text(week.openmetrics())
    res = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                          str(tmp / "week.om"), str(tmp / "tsdb")], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    (tmp / "prometheus.yml").write_text("global: {}\n")
    pport = free_port()
    plog = open(tmp / "prometheus.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'tsdb'}",
                             "--storage.tsdb.retention.time=30d",
                             f"--web.listen-address=127.0.0.1:{pport}"], stdout=plog, stderr=plog)
    spec_path = tmp / "slo.yaml"
    spec_path.write_text(yaml.safe_dump(spec_data(port, str(state))))
    sc = Sidecar(f"http://127.0.0.1:{port}", spec_path, state, log_path=tmp / "sidecar.log")
    try:
        prom = f"http://127.0.0.1:{pport}"
        deadline = time.time() + 120
        while True:
            try:
                if urllib.request.urlopen(f"{prom}/-/ready", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, (tmp / "prometheus.log").read_text()[-2000:]
            time.sleep(0.5)
        sc.start(timeout=120)
        yield Ctx(week, sc, prom, spec_path, tmp)
    finally:
        sc.stop()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        plog.close()


def report(ctx: Ctx, *args: str, name: str) -> dict[str, Any]:
    out = ctx.tmp / name
    done = subprocess.run([sys.executable, "-m", "agent.cli", "report", "-c", str(ctx.spec_path),
                           "--since", "7d", "-o", str(out), *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.read_text().strip()
    doc: dict[str, Any] = json.loads(out.with_suffix(".json").read_text())
    return doc


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in doc["objectives"]}


@pytest.fixture(scope="module")
def from_sidecar(ctx: Ctx) -> dict[str, Any]:
    return report(ctx, "--url", ctx.sidecar.url, name="review.md")


@pytest.fixture(scope="module")
def from_prometheus(ctx: Ctx) -> dict[str, Any]:
    return report(ctx, "--prometheus", ctx.prom, "--end", f"{ctx.week.end:.0f}",
                  name="review-prometheus.html")


def _for(name: str) -> float:
    o = next(o for o in spec_data(0, "")["objectives"] if o["name"] == name)
    return {"0s": 0.0, "5m": 300.0}[o["for"]]


def test_the_sidecar_report_agrees_with_status_and_the_script(ctx: Ctx,
                                                              from_sidecar: dict[str, Any]
                                                              ) -> None:
    doc, status = from_sidecar, ctx.sidecar.status()
    shown = {o["name"]: o for o in status["objectives"]}
    objectives = by_name(doc)
    assert doc["source"] == "sidecar" and doc["service"] == SERVICE
    for name, o in objectives.items():
        assert o["status"] == shown[name]["status"], name
        if o.get("budget"):
            assert o["budget"]["left"] == pytest.approx(shown[name]["error_budget_remaining"],
                                                        abs=1e-9), name
    start = ctx.week.start
    for inc in INCIDENTS:
        found = objectives[inc.objective]["incidents"]
        assert len(found) == 1, (inc, found)
        i = found[0]
        injected, ended = start + inc.start, start + inc.start + inc.length
        # detected after the level's `for`, within a rate window and two ticks of the injection
        assert injected <= i["detected"] <= injected + _for(inc.objective) + RATE_WINDOW + \
            2 * TICK, (inc, i)
        assert i["time_to_detect"] >= _for(inc.objective) - TICK
        assert ended <= i["cleared"] <= ended + RATE_WINDOW + 2 * TICK or any(
            t["cleared"] and t["cleared"] > ended for t in i["tiers"]), (inc, i)
        assert i["time_to_recover"] == pytest.approx(i["cleared"] - i["detected"])
    # the error burst burns the 30d budget fast enough to page: page-fast fired and cleared
    burst = objectives["errors"]["incidents"][0]
    page = [t for t in burst["tiers"] if t["tier"] == "page-fast"]
    assert page and page[0]["cleared"] is not None and page[0]["fired"] >= burst["detected"]
    # SLI against the script: every request the week sent, the first (partial) hour aside
    errors = objectives["errors"]["sli"]
    sent = ctx.week.requests
    assert errors["good"] == pytest.approx(1 - sent["error"] / sum(sent.values()), abs=2e-4)
    assert errors["met"] is True and objectives["errors"]["target"] == 0.99
    # the null spike came with a new column: a data-quality event beside the null incident
    tx = next(d for d in doc["datasets"] if d["name"] == "tx")
    added = [e for e in tx["events"] if "added coupon" in e["text"]]
    nulls = objectives["nulls"]["incidents"][0]
    assert added and abs(added[0]["t"] - nulls["detected"]) <= 10 * 60
    assert any(e.get("column") == "amount" for e in objectives["nulls"]["quality_events"])
    md = (ctx.tmp / "review.md").read_text()
    assert "# Weekly review: shop-api" in md and "e-0" not in md and "e+0" not in md


def test_the_prometheus_report_agrees_with_promql_and_the_sidecar(
        ctx: Ctx, from_prometheus: dict[str, Any], from_sidecar: dict[str, Any]) -> None:
    doc, end, prom = from_prometheus, ctx.week.end, ctx.prom
    assert doc["source"] == "prometheus" and doc["to"] == pytest.approx(end)
    objectives, sidecar = by_name(doc), by_name(from_sidecar)
    # SLI: PromQL written here, over the whole week, against the report's figure
    [bad], [total] = (promql(prom, f'sum(increase(inference_requests_total{{{m}}}[7d]))', end)
                      for m in ('outcome="error"', f'service="{SERVICE}"'))
    errors = objectives["errors"]["sli"]
    assert errors["good"] == pytest.approx(1 - float(bad["value"][1]) /
                                           float(total["value"][1]), abs=1e-12)
    assert errors["good"] == pytest.approx(sidecar["errors"]["sli"]["good"], abs=3e-4)
    for name, o in objectives.items():
        # incidents: the rises of the exported state, counted here, and the sidecar's own
        values = promql_range(prom, f'slo_agent_objective_state{{objective="{name}"}}',
                              end - 7 * DAY, end, SCRAPE)
        rises = sum(1 for (_, a), (_, b) in itertools.pairwise(values)
                    if a <= 0 < b)
        assert len(o["incidents"]) == rises == len(sidecar[name]["incidents"]), name
        for mine, theirs in zip(o["incidents"], sidecar[name]["incidents"], strict=True):
            # the sidecar saw it at its tick; Prometheus at the next scrape, read at the step
            assert 0 <= mine["detected"] - theirs["detected"] <= SCRAPE + 2 * TICK, name
            assert abs(mine["cleared"] - theirs["cleared"]) <= SCRAPE + 2 * TICK, name
            assert abs(mine["time_to_detect"] - theirs["time_to_detect"]) <= SCRAPE + 2 * TICK
            # the pending series shows the `for` wait: the breach began before the level fired
            assert mine["time_to_detect"] >= _for(name) / 2, (name, mine)
            assert [t["tier"] for t in mine["tiers"]] == [t["tier"] for t in theirs["tiers"]]
        if o.get("budget"):
            [left] = promql(prom, f'slo_agent_error_budget_remaining_ratio'
                                  f'{{objective="{name}"}}', end)
            assert o["budget"]["left"] == pytest.approx(float(left["value"][1]), abs=1e-12)
            assert o["budget"]["left"] == pytest.approx(sidecar[name]["budget"]["left"],
                                                        abs=1e-9)
    html_text = (ctx.tmp / "review-prometheus.html").read_text()
    assert "<style>" in html_text and "Weekly review: shop-api" in html_text


def test_the_next_report_says_what_changed_since_the_last(ctx: Ctx,
                                                          from_sidecar: dict[str, Any]) -> None:
    """The .json beside a report is the next one's "last report": last week's (written here as
    last week had it: a laxer warning, no fallback incident, an objective since removed) reads
    as exactly those changes."""
    last = json.loads((ctx.tmp / "review.json").read_text())
    objectives = by_name(last)
    objectives["errors"]["levels"]["warning"] = 0.03
    objectives["fallbacks"]["incidents"] = []
    last["objectives"].append({**objectives["nulls"], "name": "retired"})
    (ctx.tmp / "again.json").write_text(json.dumps(last))
    out = ctx.tmp / "again.md"
    done = subprocess.run([sys.executable, "-m", "agent.cli", "report", "-c", str(ctx.spec_path),
                           "--url", ctx.sidecar.url, "-o", str(out)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["changes"]["against"].startswith("the last report (")
    texts = [c["text"] for c in doc["changes"]["items"]]
    assert texts == ["retired: removed", "errors: warning 3% → 2%",
                     "fallbacks: 0 → 1 incidents"], texts
    assert "## What changed since the last report" in out.read_text()


def test_the_review_page_in_a_browser(ctx: Ctx, from_sidecar: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
                if r.status >= 400 else None)
        page.goto(ctx.sidecar.url + "/")
        page.click("a.report-link")
        page.wait_for_url("**/report")
        assert page.locator("h1").inner_text() == "Weekly review: shop-api (production)"
        headline = page.locator("#headline").inner_text()
        assert headline.startswith("2 of 2 targets met · 4 incidents"), headline
        rows = page.locator("table.summary tbody tr")
        assert rows.count() == 4
        for name, o in by_name(from_sidecar).items():
            row = page.locator(f'table.summary tr[data-objective="{name}"]')
            assert row.locator("td.incidents").inner_text() == str(len(o["incidents"]))
        assert page.locator("table.incidents tbody tr").count() == 4
        text = page.locator("main").inner_text()
        assert "page-fast (critical) fired" in text and "added coupon" in text
        assert "e-0" not in text and "e+0" not in text and "— ago" not in text
        assert _axe(page) == []
        ARTEFACTS.mkdir(exist_ok=True)
        shot = ARTEFACTS / "weekly-review.png"
        page.screenshot(path=str(shot), full_page=True)
        # the screenshot is of the page as checked: it loads back as an image of its size
        img = browser.new_page()
        img.goto(shot.as_uri())
        width = img.evaluate("document.images[0].naturalWidth")
        assert width == 1400
        assert not problems, problems
        browser.close()
