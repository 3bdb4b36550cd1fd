"""Generated rules, rule tests, Grafana alerting, Alertmanager config and dashboards, proven with
the real promtool and amtool."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.render.files import render, write
from agent.signals.examples import every_kind_spec
from agent.sli import plans
from agent.spec import SignalKind, load_spec, parse_spec
from alerts import grafana
from alerts.rules import lint, rule_groups
from alerts.unittests import has_unit_tests
from dashboards.queries import panel_queries, substitute
from tests.helpers import EXAMPLE_SPEC, promtool_check_exprs, require_binary, run

SPECS = {"example": lambda: load_spec(EXAMPLE_SPEC), "every-kind": lambda: parse_spec(
    every_kind_spec())}


@pytest.fixture(scope="module", params=sorted(SPECS))
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Any, Path]:
    spec = SPECS[request.param]()
    out = tmp_path_factory.mktemp(request.param)
    write(spec, out)
    return spec, out


def test_every_kind_spec_covers_every_signal_kind() -> None:
    spec = parse_spec(every_kind_spec())
    assert {o.signal for o in spec.objectives} == set(SignalKind)
    assert all(o.has_target for o in spec.objectives)


def test_promtool_check_rules_lint_all(generated: tuple[Any, Path]) -> None:
    promtool = require_binary("promtool")
    spec, out = generated
    files = sorted((out / "prometheus" / "rules" / spec.service).glob("*.rules.yml"))
    assert len(files) == len(spec.objectives) + 1         # and the service's own group
    res = run([promtool, "check", "rules", "--lint=all", *map(str, files)])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "FAILED" not in res.stdout + res.stderr


def test_promtool_unit_tests_pass(generated: tuple[Any, Path]) -> None:
    promtool = require_binary("promtool")
    spec, out = generated
    folder = out / "prometheus" / "rules" / spec.service
    tests = sorted(p.name for p in folder.glob("*.test.yml"))
    # two promtools side by side (each is single-threaded): CI has two cores; the files are
    # dealt costliest first (evaluation steps: a 1d-window test runs a day of steps) to the
    # lighter side
    halves: list[list[str]] = [[], []]
    load = [0.0, 0.0]
    for name in sorted(tests, key=lambda n: -_steps(folder / n)):
        side = load.index(min(load))
        halves[side].append(name)
        load[side] += _steps(folder / name)
    procs = [subprocess.Popen([promtool, "test", "rules", *half], cwd=folder,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for half in halves if half]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-4000:]
    assert sum(out.count("SUCCESS") for out in outs) == len(tests)


def _seconds(text: str) -> float:
    units = {"ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|[smhdwy])", text))


def _steps(path: Path) -> float:
    """Evaluation steps a promtool test file runs: its tests' last eval time over the interval."""
    doc = yaml.safe_load(path.read_text())
    total = 0.0
    for t in doc["tests"]:
        interval = _seconds(t.get("interval") or doc.get("evaluation_interval") or "1m") or 60
        times = [_seconds(c["eval_time"]) for c in t.get("alert_rule_test", [])]
        total += max(times, default=0.0) / interval
    return total


def test_every_alert_has_firing_quiet_and_resolving_cases(generated: tuple[Any, Path]) -> None:
    spec, out = generated
    folder = out / "prometheus" / "rules" / spec.service
    for p in plans(spec):
        if not has_unit_tests(p):   # a server's own series, or a query no series can drive
            assert not (folder / f"{p.o.name}.test.yml").exists()
            continue
        rules = yaml.safe_load((folder / f"{p.o.name}.rules.yml").read_text())
        alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
        tests = yaml.safe_load((folder / f"{p.o.name}.test.yml").read_text())["tests"]
        for alert in alerts:
            checks = [c for t in tests for c in t["alert_rule_test"] if c["alertname"] == alert]
            fired = [c for c in checks if c["exp_alerts"]]
            quiet = [c for c in checks if not c["exp_alerts"]]
            assert fired and len(quiet) >= 2, f"{alert}: needs fire, quiet and resolve checks"


def test_a_wrong_rule_fails_its_generated_tests(tmp_path: Path) -> None:
    """The generated tests can fail: loosen one threshold and promtool must say so."""
    promtool = require_binary("promtool")
    spec = load_spec(EXAMPLE_SPEC)
    write(spec, tmp_path)
    folder = tmp_path / "prometheus" / "rules" / spec.service
    rules = folder / "fraud-errors.rules.yml"
    text = rules.read_text()     # the critical level the ratio's Wilson bound is judged at
    assert text.count("> 0.05)\n") == 1
    rules.write_text(text.replace("> 0.05)\n", "> 0.5)\n"))
    res = run([promtool, "test", "rules", "fraud-errors.test.yml"], cwd=folder)
    assert res.returncode != 0 and "FraudErrorsCritical" in res.stdout + res.stderr


def test_amtool_accepts_the_alertmanager_example(generated: tuple[Any, Path]) -> None:
    amtool = require_binary("amtool")
    _, out = generated
    res = run([amtool, "check-config", str(out / "alertmanager" / "alertmanager.yml")])
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_panel_and_grafana_rule_query_parses(generated: tuple[Any, Path],
                                                   tmp_path: Path) -> None:
    spec, out = generated
    exprs = []
    for path in sorted((out / "grafana" / "dashboards").glob("*.json")):
        dash = json.loads(path.read_text())
        found = list(panel_queries(dash))
        assert found, path
        exprs.extend(substitute(q.expr) for q in found)
    doc = yaml.safe_load((out / "grafana" / "provisioning" / "alerting" /
                          f"{spec.service}.yml").read_text())
    exprs.extend(grafana.rule_exprs(doc))
    res = promtool_check_exprs(exprs, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_grafana_alert_rules_are_file_provisioning(generated: tuple[Any, Path]) -> None:
    spec, out = generated
    doc = yaml.safe_load((out / "grafana" / "provisioning" / "alerting" /
                          f"{spec.service}.yml").read_text())
    assert doc["apiVersion"] == 1
    rules = doc["groups"][0]["rules"]
    assert len(rules) == sum(len(p.levels) for p in plans(spec))
    for r in rules:
        assert r["condition"] == "C" and [d["refId"] for d in r["data"]] == ["A", "B", "C"]
        assert r["labels"]["severity"] in ("warning", "critical") and len(r["uid"]) <= 40
    assert len({r["uid"] for r in rules}) == len(rules)


def test_same_spec_same_bytes(generated: tuple[Any, Path]) -> None:
    spec, _ = generated
    first, second = render(spec), render(copy.deepcopy(spec))
    assert first == second


def test_stale_files_are_removed(tmp_path: Path) -> None:
    data = every_kind_spec()
    write(parse_spec(data), tmp_path)
    data["objectives"] = data["objectives"][:2]
    write(parse_spec(data), tmp_path)
    rules = list((tmp_path / "prometheus" / "rules" / "every-kind").glob("*.rules.yml"))
    dashboards = list((tmp_path / "grafana" / "dashboards").glob("*.json"))
    assert len(rules) == 3 and len(dashboards) == 3       # two objectives and the service


def test_burn_factors_follow_the_compliance_window() -> None:
    spec = load_spec(EXAMPLE_SPEC)
    by_name = {p.o.name: p for p in plans(spec)}
    month, week = by_name["fraud-errors"], by_name["transactions-fresh"]
    assert week.o.window == 7 * 86400
    for p in (month, week):   # windows scale with the objective, so the factors do not
        assert [t.factor for t in p.tiers] == [14.4, 6, 3, 1]
    assert [(t.long, t.short) for t in month.tiers] == [
        (3600, 300), (6 * 3600, 1800), (86400, 7200), (3 * 86400, 6 * 3600)]
    assert [t.long for t in week.tiers] == [840, 5040, 20160, 60480]   # 7d x 1/720, 6/720, ...
    groups = rule_groups(spec)["groups"]
    burn = [r for g in groups for r in g["rules"]
            if r.get("alert") == "FraudErrorsErrorBudgetBurn"]
    assert [r["labels"]["slo_agent_tier"] for r in burn] == [
        "page-fast", "page-slow", "ticket-fast", "ticket-slow"]
    assert "5m" in burn[0]["expr"] and "1h" in burn[0]["expr"]
    # the whole budget's time at the measured burn is computed against this objective's window
    assert 'printf "2592000 / %f" $value' in burn[0]["annotations"]["description"]
    weekly = [r for g in groups for r in g["rules"]
              if r.get("alert") == "TransactionsFreshErrorBudgetBurn"]
    assert [r["labels"]["slo_agent_burn_factor"] for r in weekly] == ["14.4", "6", "3", "1"]
    assert 'printf "604800 / %f" $value' in weekly[0]["annotations"]["description"]   # not 30d


def _of(data: dict[str, Any], signal: str) -> dict[str, Any]:
    return dict(next(o for o in data["objectives"] if o["signal"] == signal))


def test_lint_flags_tiers_that_can_never_fire() -> None:
    data = every_kind_spec()
    data["objectives"] = [dict(_of(data, "error_rate"), objective="90%")]   # error rate, 90 %
    warnings = lint(parse_spec(data))
    assert any("page-fast" in w and "can never fire" in w for w in warnings)


def test_tiers_can_be_disabled_and_chosen() -> None:
    data = every_kind_spec()
    data["alerting"]["tiers"] = [
        {"name": "page", "budget_share": "2%", "long": "1h", "short": "5m",
         "severity": "critical"},
        {"name": "ticket", "budget_share": "10%", "long": "3d", "short": "6h",
         "severity": "warning", "enabled": False}]
    data["objectives"] = [_of(data, "error_rate")]
    groups = rule_groups(parse_spec(data))["groups"]
    tiers = [r["labels"]["slo_agent_tier"] for g in groups for r in g["rules"]
             if "slo_agent_tier" in r["labels"]]
    assert tiers == ["page"]


def test_dashboard_thresholds_units_and_variables(generated: tuple[Any, Path]) -> None:
    spec, out = generated
    dash = json.loads((out / "grafana" / "dashboards" / f"{spec.service}.json").read_text())
    assert {v["name"] for v in dash["templating"]["list"]} == {"datasource", "model", "version",
                                                              "instance"}
    panels = {p["title"]: p for p in dash["panels"] if p["type"] != "row"}
    units = {p["fieldConfig"]["defaults"].get("unit") for p in panels.values()}
    assert {"s", "percentunit", "celsius", "watt", "bytes", "currencyUSD"} <= units
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    if spec.service == "fraud-api":
        def sli(name: str) -> Any:
            detail = json.loads((out / "grafana" / "dashboards" /
                                 f"{spec.service}--{name}.json").read_text())
            return detail["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"]

        lat = sli("fraud-latency-p95")
        assert [(s["value"], s["color"]) for s in lat][1:] == [(0.25, "#EAB839"), (1.0, "red")]
        thr = sli("throughput-floor")
        assert thr[0]["color"] == "red" and thr[-1] == {"value": 5.0, "color": "green"}
        rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
        assert rows == ["SLO overview", "Infrastructure", "Data", "Model", "Cost", "Jobs",
                        "Incidents", "Custom SLIs"]
    for p in plans(spec):
        detail = json.loads((out / "grafana" / "dashboards" /
                             f"{spec.service}--{p.o.name}.json").read_text())
        assert detail["panels"][0]["id"] == 1 and p.o.name in detail["panels"][0]["title"]


def test_alert_annotations_link_runbook_and_panel() -> None:
    spec = load_spec(EXAMPLE_SPEC)
    groups = rule_groups(spec)["groups"]
    rules = [r for g in groups[:-1] for r in g["rules"] if "alert" in r]
    for r in rules:
        ann = r["annotations"]
        assert ann["runbook_url"].startswith("https://runbooks.example.com/fraud-api/")
        assert "viewPanel=1" in ann["dashboard"]
        assert ann["runbook_url"] in ann["description"] and ann["dashboard"] in ann["description"]
        assert {"service", "objective", "signal", "severity"} <= set(r["labels"])
    # the service's own no-data alert: no objective, the service dashboard, a page
    [service] = groups[-1]["rules"]
    assert service["annotations"]["runbook_url"].startswith("https://runbooks.example.com/")
    assert service["labels"] == {"service": "fraud-api", "severity": "critical",
                                 "slo_agent_scope": "service"}


def test_cli_generate(tmp_path: Path) -> None:
    import sys

    res = subprocess.run([sys.executable, "-m", "agent.cli", "generate", "-c", str(EXAMPLE_SPEC),
                          "-o", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    files = len(render(load_spec(EXAMPLE_SPEC), alerts="prometheus"))
    assert f"wrote {files} files" in res.stdout and "fraud-errors.rules.yml" in res.stdout
    # what to do next, and which backend evaluates the alerts (default: Prometheus only)
    assert "next steps:" in res.stdout and "promtool test rules" in res.stdout
    assert "mount" in res.stdout and "/etc/grafana/provisioning" in res.stdout
    assert "alerts are evaluated by Prometheus" in res.stdout
    assert not (tmp_path / "grafana" / "provisioning" / "alerting").exists()

    def gen(backend: str) -> str:
        r = subprocess.run([sys.executable, "-m", "agent.cli", "generate", "-c",
                            str(EXAMPLE_SPEC), "-o", str(tmp_path), "--alerts", backend],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = gen("grafana")
    rules = tmp_path / "prometheus" / "rules" / "fraud-api"
    assert "alerts are evaluated by Grafana" in out
    assert not list(rules.glob("*.test.yml"))                     # stale tests removed
    assert "alert:" not in (rules / "fraud-errors.rules.yml").read_text()
    assert "record:" in (rules / "fraud-errors.rules.yml").read_text()
    assert (tmp_path / "grafana" / "provisioning" / "alerting" / "fraud-api.yml").exists()
    out = gen("both")
    assert "load only one" in out and list(rules.glob("*.test.yml"))
    gen("prometheus")
    assert not (tmp_path / "grafana" / "provisioning" / "alerting" / "fraud-api.yml").exists()
