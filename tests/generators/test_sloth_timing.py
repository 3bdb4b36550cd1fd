"""Burn alerts no slower than Sloth's (issue 21, point 11), in one promtool run.

Sloth-shaped rules are written here from Sloth's documented formulas (each window's error ratio
recorded directly as ``rate(errors[W]) / rate(total[W])``; page = (5m and 1h > 14.4 × budget) or
(30m and 6h > 6 × budget); ticket = (2h and 1d > 3 × budget) or (6h and 3d > 1 × budget)) and
run beside the rules slo-agent generates for the same SLO (99.9 % over 30d, Sloth's getting
started) on the same series: 1 request per second, a burn of B × budget after a healthy lead-in
of 3 days (every window full: with less history slo-agent counts the missing part as unknown and
pages later than Sloth on purpose, see alerts/burntests.py), then recovery. Recorded comparisons
must stay empty: Sloth firing while ours does not (during the burn), ours firing while Sloth does
not (after it). At 1 request per 10
minutes one failed request pages Sloth but not slo-agent (the minimum-events guard), which also
shows that the guard costs nothing at 1 request per second.
"""

from __future__ import annotations

import itertools
import math
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from agent.render.files import render
from agent.spec import parse_spec
from tests.helpers import require_binary

BURNS = [2, 3, 6, 14.4, 30, 100]
LEADINS = {"3d": 3 * 1440}
BUDGET = 0.001
NUDGE = 1.001            # a burn just over B, so no case sits on a threshold's equality
RECOVERY = 7 * 60        # minutes: longer than every short window
SPARSE = 10              # minutes between the lead-in's samples (see counter)
RATE = 60.0              # requests per minute (1 per second)
SERIES = "timing_requests_total"
PAGE = "(5m > 14.4, 1h > 14.4) or (30m > 6, 6h > 6)"
SLOTH = {"page": [("5m", "1h", 14.4), ("30m", "6h", 6)],
         "ticket": [("2h", "1d", 3), ("6h", "3d", 1)]}
WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]


def spec_data() -> dict[str, Any]:
    q = "sum by (case) (rate(" + SERIES + "{{code=~\"5..\"{sel}}}[{{{{.window}}}}]))"
    return {"service": "timing", "models": [{"name": "timing"}],
            "alerting": {"evaluation_interval": "1m", "scrape_interval": "15s"},
            "objectives": [{
                "name": "availability", "signal": "custom", "objective": "99.9%",
                "window": "30d", "no_data_alert": False,
                "custom": {"bad": q.format(sel=""),
                           "total": "sum by (case) (rate(" + SERIES + "[{{.window}}]))"}}]}


def sloth_group() -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for w in WINDOWS:
        rules.append({"record": f"sloth:sli_error:ratio_rate{w}", "expr":
                      f'(sum by (case) (rate({SERIES}{{code=~"5.."}}[{w}])))\n/\n'
                      f"(sum by (case) (rate({SERIES}[{w}])))"})
    for sev, pairs in SLOTH.items():
        expr = "\nor\n".join(
            f"(sloth:sli_error:ratio_rate{s} > ({f} * {BUDGET}) and "
            f"sloth:sli_error:ratio_rate{long} > ({f} * {BUDGET}))" for s, long, f in pairs)
        rules.append({"record": "timing:sloth", "expr": f"max by (case) ({expr}) * 0 + 1",
                      "labels": {"sev": sev}})
    return {"name": "sloth", "interval": "1m", "rules": rules}


def compare_group(ours: list[dict[str, Any]]) -> dict[str, Any]:
    """Our alert expressions as recordings, and the two comparisons that must stay empty."""
    rules: list[dict[str, Any]] = []
    for r in ours:
        if "alert" in r:
            sev = "page" if r["labels"]["slo_agent_tier"].startswith("page") else "ticket"
            rules.append({"record": "timing:ours_tier", "expr": r["expr"],
                          "labels": {"sev": sev, "tier": r["labels"]["slo_agent_tier"]}})
    rules.append({"record": "timing:ours",
                  "expr": "max by (case, sev) (timing:ours_tier) * 0 + 1"})
    rules.append({"record": "timing:late_fire", "expr":
                  '(timing:sloth{case!="low"} unless on(case, sev) timing:ours)'
                  " and on(case) (timing_phase == 1)"})
    rules.append({"record": "timing:late_clear", "expr":
                  '(timing:ours{case!="low"} unless on(case, sev) timing:sloth)'
                  " and on(case) (timing_phase == 2)"})
    return {"name": "compare", "interval": "1m", "rules": rules}


def counter(parts: list[tuple[int, float]], sparse: int = 1) -> str:
    """promtool's expanding notation for a counter rising by ``inc`` per minute over ``n``
    minutes, segment after segment, continuous across segments. The first segment (the healthy
    lead-in) is sampled every ``sparse`` minutes and at its last minute: a window's ratio is
    the bad counter's rise over the total's between the same samples, so it is the same, and
    the three days of lead-in are not read minute by minute at every evaluation."""
    out, value, first = [], 0.0, True
    for n, inc in parts:
        if first:
            every = min(sparse, n)
            marks = [*range(0, n - 1, every), n - 1]
            out.append(f"{value:.15g}")
            for a, b in itertools.pairwise(marks):
                if b - a > 1:
                    out.append(f"_x{b - a - 1}")
                out.append(f"{value + inc * b:.15g}")
            value += inc * (n - 1)
            first = False
        else:       # a hair above the last value: float error must not read as a reset
            value += inc + 1e-6
            out.append(f"{value:.15g}+{inc:.15g}x{n - 1}")
            value += inc * (n - 1)
    return " ".join(out)


def cases(lead_name: str) -> tuple[list[dict[str, str]], int, list[tuple[str, str]]]:
    """Input series of every case with one lead-in, the minutes they span, and the (case, sev)
    that must fire for both rule sets (so the test cannot pass by nobody firing). The low-traffic
    case rides with the longest lead-in."""
    series: list[dict[str, str]] = []
    end = 0
    expect: list[tuple[str, str]] = []
    lead = LEADINS[lead_name]
    for b in BURNS:
        case = f"b{b:g}-{lead_name}"
        burn = max(60, math.ceil(1.1 * LEADINS["3d"] / b))  # ticket-slow fires in 3d / B
        bad_per_min = RATE * b * NUDGE * BUDGET
        series += [
            {"series": f'{SERIES}{{case="{case}",code="500"}}',
             "values": counter([(lead, 0.0), (burn, bad_per_min), (RECOVERY, 0.0)], SPARSE)},
            {"series": f'{SERIES}{{case="{case}",code="200"}}',
             "values": counter([(lead, RATE), (burn, RATE - bad_per_min),
                                (RECOVERY, RATE)], SPARSE)},
            {"series": f'timing_phase{{case="{case}"}}',
             "values": f"0+0x{lead - 1} 1+0x{burn - 1} 2+0x{RECOVERY - 1}"}]
        end = max(end, lead + burn + RECOVERY)
        expect += [(case, "ticket")] + ([(case, "page")] if b >= 6 else [])
    if lead_name == max(LEADINS, key=LEADINS.__getitem__):
        # low traffic: one request per ten minutes after a healthy lead-in (full history, so
        # the start-up rule plays no part), then one of them fails
        series += [
            {"series": f'{SERIES}{{case="low",code="500"}}',
             "values": f"0+0x{lead + 29} 1+0x89"},
            {"series": f'{SERIES}{{case="low",code="200"}}',
             "values": f"0+0.1x{lead + 119}"},
            {"series": 'timing_phase{case="low"}', "values": f"0+0x{lead - 1} 1+0x119"}]
        end = max(end, lead + 120)
    return series, end, expect


def unit_test(ours: dict[str, Any], lead_name: str) -> dict[str, Any]:
    """One promtool test file: the cases of one lead-in, evaluated to their own end."""
    series, end, expect = cases(lead_name)
    at = f"{end}m"
    both = [{"labels": f'{{case="{c}",sev="{s}"}}', "value": 1} for c, s in sorted(expect)]
    checks: list[dict[str, Any]] = [
        {"expr": f"count_over_time(timing:late_fire[{at}])", "eval_time": at, "exp_samples": []},
        {"expr": f"count_over_time(timing:late_clear[{at}])", "eval_time": at, "exp_samples": []},
        {"expr": f'max_over_time(timing:ours{{case!="low"}}[{at}])', "eval_time": at,
         "exp_samples": both},
        {"expr": f'max_over_time(timing:sloth{{case!="low"}}[{at}])', "eval_time": at,
         "exp_samples": both}]
    if lead_name == max(LEADINS, key=LEADINS.__getitem__):
        low = [{"labels": '{case="low",sev="page"}', "value": 1},
               {"labels": '{case="low",sev="ticket"}', "value": 1}]
        checks += [  # one failure at 1 request per 10 minutes: Sloth pages, slo-agent tickets
            {"expr": f'max_over_time(timing:sloth{{case="low"}}[{at}])', "eval_time": at,
             "exp_samples": low},
            {"expr": f'max_over_time(timing:ours{{case="low"}}[{at}])', "eval_time": at,
             "exp_samples": low[1:]}]
    return {"rule_files": ["ours.yml", "sloth.yml"], "evaluation_interval": "1m",
            "group_eval_order": [ours["groups"][0]["name"], "sloth", "compare"],
            "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": checks}]}


def test_burn_alerts_fire_and_clear_no_later_than_sloth(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    spec = parse_spec(spec_data())
    files = render(spec, "prometheus")
    ours_text = files["prometheus/rules/timing/availability.rules.yml"][1]
    ours = yaml.safe_load(ours_text)
    rules = ours["groups"][0]["rules"]
    # the alerts and the recordings they read, as generated; the compliance-window recordings
    # (budget remaining, dashboards) do not decide when an alert fires and are left out for speed
    names = re.compile(r"slo:[a-z_:]+[0-9a-z]*")
    needed = {n for r in rules if "alert" in r for n in names.findall(r["expr"])}
    for r in reversed(rules):                    # what those recordings read in turn
        if r.get("record") in needed:
            needed.update(names.findall(r["expr"]))
    ours["groups"][0]["rules"] = [r for r in rules if "alert" in r or r["record"] in needed]
    assert len(ours["groups"][0]["rules"]) < len(rules)
    (tmp_path / "ours.yml").write_text(yaml.safe_dump(ours, width=10**6))
    (tmp_path / "sloth.yml").write_text(yaml.safe_dump(
        {"groups": [sloth_group(), compare_group(rules)]}, width=10**6))
    # the cases are independent (every rule keeps `case`): the short lead-ins need not be
    # evaluated over the long ones' three days, and two promtools run side by side (CI has two
    # cores)
    test_files: list[str] = []
    for lead_name in LEADINS:
        name = f"timing-{lead_name}.test.yml"
        (tmp_path / name).write_text(yaml.safe_dump(unit_test(ours, lead_name), width=10**6))
        test_files.append(name)
    procs = [subprocess.Popen([promtool, "test", "rules", name], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name in test_files]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-6000:]
    assert sum(out.count("SUCCESS") for out in outs) == len(test_files)
