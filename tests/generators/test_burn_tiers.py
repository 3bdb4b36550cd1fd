"""Burn-rate tiers for every compliance window, proven against the SRE Workbook with the real
promtool.

The expectations here are written from the Workbook, not from ``agent.spec.burn``: the four tiers
spend 2 % / 5 % / 10 % / 10 % of the budget in window × 1/720, 6/720, 1/30 and 1/10, so they page
at 14.4 / 6 / 3 / 1 × the sustainable burn for any window. The promtool scenarios are built here
(input counters, times, expected alerts); only the alert rules under test come from the generator.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from agent.cli import main
from agent.spec import parse_spec
from alerts.rules import rule_groups
from tests.helpers import require_binary

DAY = 86400.0
# (tier, budget share, long window as a share of the objective's window, factor)
WORKBOOK = [("page-fast", 0.02, 1 / 720, 14.4), ("page-slow", 0.05, 6 / 720, 6.0),
            ("ticket-fast", 0.10, 1 / 30, 3.0), ("ticket-slow", 0.10, 1 / 10, 1.0)]
N_PER_SCRAPE = 10_000   # requests per scrape: every error ratio below is a whole count of them


@dataclass(frozen=True)
class Case:
    window: float        # the objective's compliance window, seconds
    target: str          # objective, e.g. "99.9%"
    evaluation: float    # alerting.evaluation_interval
    step: float          # alerting.rate_window (the SLI step)
    scrape: float        # alerting.scrape_interval and the input series' interval
    tick: float = 0      # promtool's evaluation interval; 0: the rules' own

    @property
    def every(self) -> float:
        """Rules are evaluated this often under promtool. Long windows are run on a coarser
        clock than their rule interval (no finer than the SLI step, so every window still holds
        samples) to keep the suite fast; the rules under test are the same."""
        return self.tick or self.evaluation

    @property
    def budget(self) -> float:
        return round(1 - float(self.target.rstrip("%")) / 100, 10)

    @property
    def id(self) -> str:
        return f"{self.window / DAY:g}d" if self.window >= DAY else f"{self.window / 3600:g}h"


CASES = [Case(3600, "99%", 1, 4, 1), Case(DAY, "99.5%", 10, 40, 10, tick=40),
         Case(7 * DAY, "99.9%", 30, 120, 30, tick=120),
         Case(28 * DAY, "99%", 30, 300, 60, tick=300),
         Case(30 * DAY, "99.9%", 30, 300, 60, tick=300),
         Case(90 * DAY, "99.5%", 60, 900, 300, tick=900)]


def spec_for(c: Case, **alerting: Any) -> dict[str, Any]:
    return {"service": "svc", "models": [{"name": "m"}],
            "alerting": {"evaluation_interval": f"{c.evaluation:g}s", "rate_window": f"{c.step:g}s",
                         "scrape_interval": f"{c.scrape:g}s", **alerting},
            "objectives": [{"name": "errs", "signal": "error_rate", "selector": {"model": "m"},
                            "objective": c.target, "window": f"{c.window:g}s"}]}


def expected_windows(c: Case) -> list[tuple[str, float, float, float]]:
    """(tier, long, short, factor) from the Workbook: the long window is window × fraction on the
    evaluation grid, the short one 1/12 of it on the grid but never under the SLI step."""
    out = []
    for name, _share, fraction, factor in WORKBOOK:
        long = round(c.window * fraction / c.evaluation) * c.evaluation
        short = max(round(long / 12 / c.evaluation) * c.evaluation, c.evaluation, c.step)
        out.append((name, long, short, factor))
    return out


def burn_rules(spec: dict[str, Any]) -> list[dict[str, Any]]:
    groups = rule_groups(parse_spec(spec))["groups"]
    return [r for g in groups for r in g["rules"] if r.get("alert") == "ErrsErrorBudgetBurn"]


def seconds(text: str) -> float:
    units = {"d": DAY, "h": 3600.0, "m": 60.0, "s": 1.0}
    total, num = 0.0, ""
    for ch in text:
        if ch.isdigit() or ch == ".":
            num += ch
        else:
            total, num = total + float(num) * units[ch], ""
    return total


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_factors_and_windows_scale_with_the_objective_window(case: Case) -> None:
    rules = burn_rules(spec_for(case))
    lb = [r["labels"] for r in rules]
    got = [(x["slo_agent_tier"], seconds(x["slo_agent_long_window"]),
            seconds(x["slo_agent_short_window"]), float(x["slo_agent_burn_factor"])) for x in lb]
    assert got == expected_windows(case)
    for r, (_, _, _, factor) in zip(rules, expected_windows(case), strict=True):
        assert f"> {factor:g}" in r["expr"] or f"group_left {factor:g} /" in r["expr"]
        # exhaustion at the measured burn is computed against this objective's window, not a
        # fixed 30 days; the factor is named as the threshold it is
        text = r["annotations"]["description"]
        assert f'printf "{case.window:.10g} / %f" $value' in text
        assert f"burn faster than {factor:g}x" in text
        assert f"/ {case.window / DAY:g}d objective" in r["annotations"]["description"] \
            or case.window < DAY


# -- promtool scenarios -------------------------------------------------------------------------
def counter(segments: list[tuple[int, int]]) -> str:
    """promtool expanding notation for a counter growing by ``inc`` per sample over ``n``
    samples per segment."""
    parts, value = [], 0
    for n, inc in segments:
        parts.append(f"{value}+{inc}x{n - 1}")
        value += inc * n
    return " ".join(parts)


def traffic(c: Case, phases: list[tuple[float, float]], n: int = N_PER_SCRAPE
            ) -> list[dict[str, str]]:
    """Input series for phases of (duration, error ratio) at ``n`` requests per scrape."""
    ok, bad = [], []
    for duration, ratio in phases:
        samples = round(duration / c.scrape)
        errors = round(ratio * n)
        assert errors == pytest.approx(ratio * n), "ratios must be whole requests per scrape"
        ok.append((samples, n - errors))
        bad.append((samples, errors))
    sel = 'inference_requests_total{service="svc",model="m",outcome="%s"}'
    return [{"series": sel % "ok", "values": counter(ok)},
            {"series": sel % "error", "values": counter(bad)}]


def firing(tier: str | None = None, over: float | None = None) -> str:
    match = 'alertname="ErrsErrorBudgetBurn",alertstate="firing"'
    if tier:
        match += f',slo_agent_tier="{tier}"'
    if over is None:
        return f"count(ALERTS{{{match}}})"
    return f"count(max_over_time(ALERTS{{{match}}}[{math.ceil(over)}s]))"


def at(t: float, expr: str, fired: bool, every: float = 1) -> dict[str, Any]:
    """A check at ``t``, moved onto the evaluation clock the way that is fair to it: later for
    'has fired by', earlier for 'has not fired yet'."""
    n = math.ceil(t / every - 1e-9) if fired else math.floor(t / every + 1e-9)
    return {"expr": expr, "eval_time": f"{round(n * every)}s",
            "exp_samples": [{"labels": "{}", "value": 1}] if fired else []}


def scenarios(c: Case) -> list[dict[str, Any]]:
    tiers = expected_windows(c)
    longest = max(long for _, long, _, _ in tiers)
    slack = c.step + c.scrape + 2 * c.every   # sampling and rule-evaluation delay
    # 0 % errors for the longest window: nothing fires, and every window is full of healthy
    # traffic when the burn starts. Then 15x the sustainable burn (just above page-fast's 14.4):
    # each tier pages once its share of the budget is gone, after share x window / burn (the
    # Workbook's detection time), and not long before.
    burn = 15.0
    checks = [at(longest, firing(over=longest), False, c.every)]
    for name, share, _, _ in WORKBOOK:
        detect = share * c.window / burn
        checks.append(at(longest + detect + slack, firing(name), True, c.every))
        if detect - slack > c.every:
            checks.append(at(longest + detect - slack, firing(name), False, c.every))
    end = longest + max(share * c.window / burn for _, share, _, _ in WORKBOOK) + 2 * slack
    # 0.9x: the budget outlasts the window; nothing may fire. Once the longest window is full
    # (and the history recording, capped at it, with it) every input an alert reads is
    # constant, so a quarter of a window past it (and the rules' delays) shows every state
    span = longest + max(longest / 4, 4 * slack)
    return [
        {"name": f"{c.id}: no errors, then a 15x burn pages within the Workbook's detection time",
         "interval": f"{c.scrape:g}s", "promql_expr_test": checks,
         "input_series": traffic(c, [(longest, 0.0), (end - longest + c.scrape,
                                                      burn * c.budget)])},
        {"name": f"{c.id}: 0.9x burn never alerts", "interval": f"{c.scrape:g}s",
         "promql_expr_test": [at(span, firing(over=span), False, c.every)],
         "input_series": traffic(c, [(span + c.scrape, 0.9 * c.budget)])}]


def promtool_test(spec: dict[str, Any], tests: list[dict[str, Any]], evaluation: float,
                  tmp: Path) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool")
    (tmp / "rules.yml").write_text(yaml.safe_dump(rule_groups(parse_spec(spec))))
    (tmp / "tiers.test.yml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yml"], "evaluation_interval": f"{evaluation:g}s",
         "tests": tests}, width=10**6))
    return subprocess.run([promtool, "test", "rules", str(tmp / "tiers.test.yml")],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_workbook_scenarios_under_promtool(case: Case, tmp_path: Path) -> None:
    result = promtool_test(spec_for(case), scenarios(case), case.every, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_low_traffic_guard_holds_with_scaled_windows(tmp_path: Path) -> None:
    """min_request_rate silences a burn on thin traffic and lets the same burn page on real
    traffic, whatever the window scaling made of the tiers."""
    c = CASES[1]                                           # 1d: page-fast is 2m / 40s
    spec = spec_for(c, min_request_rate=50)                # requests per second
    warmup, burn = DAY / 10, 15 * c.budget
    detect = 0.02 * c.window / 15 + c.step + c.scrape + 2 * c.every
    thin = 200                                             # 20 requests/s at a 10s scrape
    tests = [
        {"name": "thin traffic: no page", "interval": f"{c.scrape:g}s",
         "input_series": traffic(c, [(warmup, 0.0), (detect * 3, burn)], n=thin),
         "promql_expr_test": [at(warmup + detect * 2, firing(over=detect * 2), False, c.every)]},
        {"name": "real traffic: page", "interval": f"{c.scrape:g}s",
         "input_series": traffic(c, [(warmup, 0.0), (detect * 3, burn)]),
         "promql_expr_test": [at(warmup + detect, firing("page-fast"), True, c.every)]},
    ]
    result = promtool_test(spec, tests, c.every, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# -- validation ---------------------------------------------------------------------------------
def write_spec(tmp: Path, data: dict[str, Any]) -> Path:
    path = tmp / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("change", "needle"), [
    ({"alerting": {"tiers": [{"name": "lazy", "budget_share": "1%", "window_fraction": "1/30",
                              "severity": "warning"}]}}, "factor 0.3 is below 1"),
    ({"objectives": [{"tiers": [{"name": "page-fast", "long": "40d"}]}]},
     "exceeds the objective's 30d window"),
    ({"objectives": [{"window": "1h", "tiers": [
        {"name": "fast", "budget_share": "2%", "window_fraction": "1/720",
         "severity": "critical"}]}]}, "under 4 evaluation intervals"),
    ({"objectives": [{"tiers": ["page-fastest"]}]}, "unknown burn-rate tier 'page-fastest'"),
])
def test_validate_refuses_impossible_tiers(tmp_path: Path, change: dict[str, Any],
                                           needle: str) -> None:
    data: dict[str, Any] = {"service": "svc", "models": [{"name": "m"}], "objectives": [
        {"name": "errs", "signal": "error_rate", "selector": {"model": "m"},
         "objective": "99%", "window": "30d"}]}
    if "alerting" in change:
        data["alerting"] = change["alerting"]
    if "objectives" in change:
        data["objectives"][0].update(change["objectives"][0])
    result = CliRunner().invoke(main, ["validate", str(write_spec(tmp_path, data))])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "errs" in result.output
    assert "objectives[0].tiers" in result.output


def test_tiers_are_overridable_per_objective() -> None:
    c = CASES[4]
    spec = spec_for(c)
    spec["objectives"][0]["tiers"] = [
        "page-fast", {"name": "page-slow", "severity": "warning", "budget_share": "10%"},
        {"name": "ticket-fast", "long": "2d", "short": "4h"},
        {"name": "ticket-slow", "enabled": False},
        {"name": "weekly", "budget_share": "50%", "window_fraction": "7/30",
         "severity": "warning"}]
    got = [(x["slo_agent_tier"], x["severity"], x["slo_agent_long_window"],
            x["slo_agent_short_window"], x["slo_agent_burn_factor"])
           for x in (r["labels"] for r in burn_rules(spec))]
    assert got == [("page-fast", "critical", "1h", "5m", "14.4"),
                   ("page-slow", "warning", "6h", "30m", "12"),      # 10 % in 6h of 30d
                   ("ticket-fast", "warning", "2d", "4h", "1.5"),    # 10 % x 30d / 2d
                   ("weekly", "warning", "7d", "14h", "2.14286")]


def test_schema_documents_tiers() -> None:
    from agent.spec import json_schema

    text = yaml.safe_dump(json_schema())
    for needle in ("window_fraction", "budget_share", "1/720", "TierOverride", "enabled"):
        assert needle in text


# -- generated tests over windows x targets ------------------------------------------------------
TARGETS = ["90%", "99%", "99.5%", "99.9%", "99.99%"]


def test_generated_promtool_tests_pass_for_every_window_and_target(tmp_path: Path) -> None:
    """The generated burn-rate unit tests (annotation values formatted as Prometheus prints them,
    alert timings) hold for every window and target, not only the 30d ones of the examples. The
    threshold and absence tests do not depend on window or target and run with the examples.
    One promtool per window, run side by side."""
    from agent.render.files import write

    promtool = require_binary("promtool")
    runs = {}
    for case in CASES[:5]:
        data = spec_for(case)
        # threshold and absence alerts on the window's own scale, so short windows test quickly
        data["alerting"]["absent_for"] = f"{max(case.window / 360, 60):g}s"
        base = dict(data["objectives"][0], **{"for": f"{max(case.window / 720, 60):g}s"})
        data["objectives"] = [
            dict(base, name=f"errs-{t.rstrip('%').replace('.', '-')}", objective=t)
            for t in TARGETS]
        write(parse_spec(data), tmp_path / case.id)
        folder = tmp_path / case.id / "prometheus" / "rules" / "svc"
        tests = sorted(p.name for p in folder.glob("errs-*.test.yml"))
        assert len(tests) == len(TARGETS)
        for name in tests:
            doc = yaml.safe_load((folder / name).read_text())
            doc["tests"] = [t for t in doc["tests"] if "ErrorBudgetBurn" in t["name"]]
            assert len(doc["tests"]) >= 6, name          # fires, then quiet, for 3 ratios
            (folder / name).write_text(yaml.safe_dump(doc, width=10**6))
        runs[case.id] = subprocess.Popen([promtool, "test", "rules", *tests], cwd=folder,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True)
    for window, proc in runs.items():
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{window}: {out[-4000:]}"
        assert out.count("SUCCESS") == len(TARGETS), f"{window}: {out[-4000:]}"


# -- default tiers at default alerting settings (issue 21, point 12) ---------------------------
FIT_WINDOWS = ["1d", "7d", "28d", "30d"]
FIT_TARGETS = ["99%", "99.5%", "99.9%"]


def test_default_tiers_fit_any_window_without_tiers_written(tmp_path: Path) -> None:
    """With no ``tiers:`` written, a 1d (or 1h, or 90d) objective validates; default tiers that
    cannot be represented are widened or dropped and validate says so; a tier the user wrote is
    still refused (test_validate_refuses_impossible_tiers). The generated promtool tests pass for
    1d, 7d, 28d and 30d at 99, 99.5 and 99.9 % with the default alerting settings."""
    from agent.render.files import write

    promtool = require_binary("promtool")
    for window in ("1h", "90d"):
        data = {"service": "svc", "models": [{"name": "m"}], "objectives": [
            {"name": "errs", "signal": "error_rate", "selector": {"model": "m"},
             "objective": "99.9%", "window": window}]}
        result = CliRunner().invoke(main, ["validate", str(write_spec(tmp_path, data))])
        assert result.exit_code == 0, result.output
    runs = {}
    for window in FIT_WINDOWS:
        data = {"service": "svc", "models": [{"name": "m"}], "objectives": [
            {"name": f"errs-{t.rstrip('%').replace('.', '-')}", "signal": "error_rate",
             "selector": {"model": "m"}, "objective": t, "window": window}
            for t in FIT_TARGETS]}
        result = CliRunner().invoke(main, ["validate", str(write_spec(tmp_path, data))])
        assert result.exit_code == 0, result.output
        if window == "1d":
            assert "default burn tier 'page-fast' widened: long 2m -> 10m" in result.output
        write(parse_spec(data), tmp_path / window)
        folder = tmp_path / window / "prometheus" / "rules" / "svc"
        tests = sorted(p.name for p in folder.glob("errs-*.test.yml"))
        assert len(tests) == len(FIT_TARGETS)
        for name in tests:
            doc = yaml.safe_load((folder / name).read_text())
            doc["tests"] = [t for t in doc["tests"] if "ErrorBudgetBurn" in t["name"]]
            assert doc["tests"], name
            (folder / name).write_text(yaml.safe_dump(doc, width=10**6))
        runs[window] = subprocess.Popen([promtool, "test", "rules", *tests], cwd=folder,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
    for window, proc in runs.items():
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{window}: {out[-4000:]}"
        assert out.count("SUCCESS") == len(FIT_TARGETS), f"{window}: {out[-4000:]}"


def test_page_min_events_guard_is_on_by_default_and_off_with_one_line() -> None:
    data = {"service": "svc", "models": [{"name": "m"}], "objectives": [
        {"name": "errs", "signal": "error_rate", "selector": {"model": "m"},
         "objective": "99.9%", "window": "30d"}]}
    guarded = {r["labels"]["slo_agent_tier"]: ">= 5" in r["expr"]
               for r in burn_rules(data)}
    assert guarded == {"page-fast": True, "page-slow": True, "ticket-fast": False,
                       "ticket-slow": False}
    data["alerting"] = {"page_min_events": 0}
    assert not any(">= 5" in r["expr"] for r in burn_rules(data))
