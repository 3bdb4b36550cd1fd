"""Issue 36 point 5: imported SLOs come with their proof. For every imported objective with alerts,
``generate`` writes promtool tests on synthetic series built from the selectors the PromQL parser
finds, and each burn tier is shown firing and then clearing; a rule made wrong fails them; where
no series can be synthesised, ``generate`` says so and names only files it wrote."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from agent.sli import plans
from agent.spec import load_spec, parse_spec
from alerts.custom_inputs import example, problem, solve
from alerts.promql_model import Matcher
from alerts.unittests import has_unit_tests, tick_seconds
from tests.helpers import require_binary
from tests.interop.test_import_fixtures import cli, pipeline

FIXTURES = [("sloth", "sloth_alert_metadata.yaml"), ("sloth", "sloth_raw.yaml"),
            ("sloth", "sloth_k8s_multi.yaml", "--service", "payments"),
            ("openslo", "openslo_list.yaml"), ("openslo", "openslo_ratios.yaml"),
            ("openslo", "openslo_alpha_service.yaml"),
            ("pyrra", "pyrra_ratio_grouping.yaml"), ("pyrra", "pyrra_latency.yaml"),
            ("pyrra", "pyrra_list.yaml")]


@pytest.mark.parametrize("case", FIXTURES, ids=lambda c: c[1])
def test_5_every_burn_tier_fires_and_clears(case: tuple[str, ...], tmp_path: Path) -> None:
    kind, fixture, *extra = case
    spec_path, out = pipeline(kind, fixture, tmp_path, *extra)      # promtool runs them all
    spec = load_spec(spec_path)
    folder = out / "prometheus" / "rules" / spec.service
    for p in plans(spec):
        if not p.tiers:
            continue
        assert has_unit_tests(p), f"{p.o.name}: {problem(p, tick_seconds(p))}"
        tests = yaml.safe_load((folder / f"{p.o.name}.test.yml").read_text())["tests"]
        for tier in p.tiers:
            shown = [t for t in tests
                     if any(a["exp_labels"].get("slo_agent_tier") == tier.name
                            for c in t["alert_rule_test"] for a in c["exp_alerts"])]
            assert shown, f"{p.o.name}: tier {tier.name} is never shown firing"
            assert any(t["alert_rule_test"][-1]["exp_alerts"] == [] for t in shown), \
                f"{p.o.name}: tier {tier.name} is not shown firing, then clearing"


def test_5_a_wrong_imported_rule_fails_its_generated_tests(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    _, out = pipeline("pyrra", "pyrra_ratio_grouping.yaml", tmp_path)
    folder = next(out.glob("prometheus/rules/*"))
    rules = folder / "checkout-errors.rules.yml"
    text = rules.read_text()
    wrong = re.sub(r"> 14(?=\))", "> 40", text)        # the fast tier's factor, 14 → 40
    assert wrong != text
    rules.write_text(wrong)
    res = subprocess.run([promtool, "test", "rules", "checkout-errors.test.yml"], cwd=folder,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "fast-burn" in res.stdout + res.stderr


def test_5_next_steps_name_only_written_files(tmp_path: Path) -> None:
    spec = tmp_path / "slo.yaml"
    assert cli("import", "sloth", str(Path(__file__).parent / "sloth.yaml"), "-o",
               str(spec)).exit_code == 0
    res = cli("generate", "-c", str(spec), "-o", str(tmp_path / "out"))
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if "promtool test rules" in ln)
    folder = Path(line.split("promtool test rules ", 1)[1].strip()).parent
    assert sorted(p.name for p in folder.glob("*.test.yml")) == [   # and the service's own
        "_service.test.yml", "requests-availability.test.yml", "requests-ratio.test.yml"]
    assert "no promtool tests written" not in res.output


def test_5_unsynthesisable_query_is_said_per_objective(tmp_path: Path) -> None:
    spec = parse_spec({"service": "s", "models": [{"name": "s"}], "objectives": [
        {"name": "quantile", "signal": "custom", "objective": "99%",
         "custom": {"value": 'histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))',
                    "unit": "seconds"}, "sli_threshold": "500ms", "window": "28d"},
        {"name": "ratio", "signal": "custom", "objective": "99%", "window": "28d",
         "custom": {"bad": 'sum(rate(y_total{code=~"5.."}[{{.window}}]))',
                    "total": "sum(rate(y_total[{{.window}}]))"}}]})
    (q, r) = plans(spec)
    why = problem(q, tick_seconds(q))
    assert why is not None and "histogram_quantile" in why
    assert problem(r, tick_seconds(r)) is None


@pytest.mark.parametrize(("pattern", "want"), [
    ("5..", "5xx"), ("(5..|429)", "5xx"), ("/api/v1/query.*", "/api/v1/query"),
    ("resource|", "resource"), ("[0-9]+", "0"), ("GET|POST", "GET")])
def test_regex_examples_match_their_pattern(pattern: str, want: str) -> None:
    assert example(pattern) == want


def test_label_values_meet_every_matcher_or_none() -> None:
    assert solve([Matcher("code", "=~", "5.."), Matcher("code", "!=", "5xx")]) not in ("5xx",)
    assert solve([Matcher("code", "!~", "5..")]) == ""           # absent satisfies a !~
    assert solve([Matcher("a", "=", "x"), Matcher("a", "=", "y")]) is None
