"""Issue 21, one fixture per numbered point, each through import → validate → generate → promtool:
what Sloth and OpenSLO files mean is what the generated rules do; what cannot map exits 2 naming
the document, the field and the reason."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from agent.cli import main
from agent.spec import load_spec
from tests.helpers import require_binary

FIX = Path(__file__).parent / "fixtures"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, ["--no-color", *args])


def rules_of(out: Path) -> list[dict[str, Any]]:
    """The objectives' rules (the service's own no-data alert left out)."""
    return [r for f in sorted(out.glob("prometheus/rules/*/*.rules.yml"))
            if not f.name.startswith("_")
            for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


def pipeline(kind: str, fixture: str, tmp: Path, *extra: str) -> tuple[Path, Path]:
    """Import, validate, generate; promtool checks the rules and runs any generated tests."""
    spec = tmp / "slo.yaml"
    res = cli("import", kind, str(FIX / fixture), "-o", str(spec), *extra)
    assert res.exit_code == 0, res.output
    res = cli("validate", str(spec))
    assert res.exit_code == 0, res.output
    out = tmp / "out"
    res = cli("generate", "-c", str(spec), "-o", str(out))
    assert res.exit_code == 0, res.output
    promtool = require_binary("promtool")
    files = sorted(out.glob("prometheus/rules/*/*.rules.yml"))
    check = subprocess.run([promtool, "check", "rules", *map(str, files)], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    for test in sorted(out.glob("prometheus/rules/*/*.test.yml")):
        run = subprocess.run([promtool, "test", "rules", test.name], cwd=test.parent,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-3000:]
    return spec, out


def refused(kind: str, fixture: str, *extra: str) -> str:
    res = cli("import", kind, str(FIX / fixture), *extra)
    assert res.exit_code == 2, res.output
    return res.output


def no_threshold_alerts(rules: list[dict[str, Any]]) -> None:
    """Sloth and OpenSLO have burn-rate alerts only: none of slo-agent's level alerts."""
    names = [r["alert"] for r in rules if "alert" in r]
    assert not [n for n in names if n.endswith(("Warning", "Critical"))], names


# -- Sloth -------------------------------------------------------------------------------------
def test_1_kubernetes_and_multi_document_sloth(tmp_path: Path) -> None:
    text = refused("sloth", "sloth_k8s_multi.yaml")
    assert "the file holds services ledger, payments" in text and "--service" in text
    spec_path, out = pipeline("sloth", "sloth_k8s_multi.yaml", tmp_path, "--service", "payments")
    spec = load_spec(spec_path)
    assert [o.name for o in spec.objectives] == ["charge-availability", "refund-availability"]
    charge = spec.objective("charge-availability")
    assert [t.name for t in spec.tiers_for(charge)] == ["page-fast", "page-slow"]
    burn = [r for r in rules_of(out) if r.get("alert") == "ChargeErrorBudgetBurn"]
    assert len(burn) == 2 and all(r["labels"]["pager"] == "payments-oncall" for r in burn)
    assert all(r["labels"]["team"] == "payments" for r in burn)
    no_threshold_alerts(rules_of(out))


def test_1_openslo_alpha_in_sloth_points_to_import_openslo(tmp_path: Path) -> None:
    text = refused("sloth", "sloth_openslo_alpha.yaml")
    assert "an OpenSLO document (openslo/v1alpha); import it with `slo-agent import openslo`" \
        in text
    spec_path, _ = pipeline("openslo", "sloth_openslo_alpha.yaml", tmp_path)
    o = load_spec(spec_path).objective("search-availability")
    assert o.objective == 0.995 and o.window == 28 * 86400
    assert o.custom is not None and o.custom.good is not None


def test_2_no_alerts_means_none(tmp_path: Path) -> None:
    _, out = pipeline("sloth", "sloth_no_alerts.yaml", tmp_path)
    rules = rules_of(out)
    assert [r for r in rules if "alert" in r] == []          # no burn, level or NoData alert
    assert any(r.get("record") == "slo:sli_error:ratio_rate1h" for r in rules) is False


def test_3_raw_sli_stays_a_ratio_sli(tmp_path: Path) -> None:
    spec_path, out = pipeline("sloth", "sloth_raw.yaml", tmp_path)
    o = load_spec(spec_path).objective("client-satisfaction")
    assert o.custom is not None and o.custom.error_ratio is not None and o.custom.events
    assert o.objective == 0.95 and o.sli_threshold is None
    rules = {r["record"]: r["expr"] for r in rules_of(out) if "record" in r}
    # each alert window is the team's own ratio over that window; the budget its average
    assert "wifi_client_satisfaction_ratio[1h]" in rules["slo:sli_error:ratio_rate1h"]
    assert rules["slo:sli_error:ratio_rate30d"].startswith("sum_over_time(slo:sli_bad")
    assert "* 0 + 1" in rules["slo:sli_total:increase5m"]
    no_threshold_alerts(rules_of(out))


def test_4_alert_metadata_and_user_labels_survive(tmp_path: Path) -> None:
    _, out = pipeline("sloth", "sloth_alert_metadata.yaml", tmp_path)
    burn = [r for r in rules_of(out) if r.get("alert") == "OrdersHighErrorRate"]
    assert len(burn) == 4
    page = [r for r in burn if r["labels"]["slo_agent_tier"].startswith("page")]
    ticket = [r for r in burn if r["labels"]["slo_agent_tier"].startswith("ticket")]
    for r in burn:
        assert r["labels"]["tier"] == "2"                   # the team's label, not ours
        assert r["labels"]["category"] == "availability" and r["labels"]["owner"] == "orders-team"
        assert r["annotations"]["summary"] == "High error rate on order requests"
    for r in page:
        assert r["labels"]["severity"] == "pageteam" and r["labels"]["routing_key"] == "orders"
        assert r["annotations"]["runbook"] == "https://runbooks.example/orders"
        assert r["for"] == "2m"
    for r in ticket:
        assert r["labels"]["severity"] == "slack" and "for" not in r
        assert r["labels"]["slack_channel"] == "#orders-alerts"
    no_threshold_alerts(rules_of(out))


def test_5_exact_targets_and_plugins_refused(tmp_path: Path) -> None:
    spec_path, out = pipeline("sloth", "sloth_alert_metadata.yaml", tmp_path)
    assert "objective: 99.9%" in spec_path.read_text()
    assert load_spec(spec_path).objectives[0].objective == 0.999
    exprs = [r["expr"] for r in rules_of(out) if r.get("record") == "slo:objective:ratio"]
    assert exprs == ["vector(0.999)"]
    text = refused("sloth", "sloth_plugins.yaml")
    assert "document 0.slo_plugins.chain[0]" in text
    assert "denominator_corrected_rules" in text
    assert "document 0.slos[0].plugins.chain[0]" in text


def test_6_metricsql_is_refused_everywhere(tmp_path: Path) -> None:
    text = refused("sloth", "sloth_metricsql.yaml")
    assert "document 0.slos[0].sli.events.error_query" in text and "histogram_share" in text
    for args in (["validate", str(FIX / "spec_metricsql.yaml")],
                 ["generate", "-c", str(FIX / "spec_metricsql.yaml"), "-o", str(tmp_path)]):
        res = cli(*args)
        assert res.exit_code == 2, res.output
        assert "objectives[0].custom.bad" in res.output and "histogram_share" in res.output
    assert not list(tmp_path.rglob("*.rules.yml"))


# -- OpenSLO ----------------------------------------------------------------------------------
def test_7_yaml_list_with_data_source(tmp_path: Path) -> None:
    spec_path, out = pipeline("openslo", "openslo_list.yaml", tmp_path)
    spec = load_spec(spec_path)
    o = spec.objective("checkout-availability")
    assert o.objective == 0.999 and o.window == 28 * 86400 and o.no_data_alert
    assert [(t.name, t.factor, t.long, t.short) for t in spec.tiers_for(o)] == [
        ("checkout-fast-burn", 14.4, 3600.0, 300.0)]
    alerts = [r["alert"] for r in rules_of(out) if "alert" in r]
    assert alerts == ["CheckoutAvailabilityErrorBudgetBurn", "CheckoutAvailabilityNoData"]


def test_8_calendar_month_is_named_unsupported() -> None:
    text = refused("openslo", "openslo_month.yaml")
    assert "SLO monthly.spec.timeWindow[0].duration" in text
    assert "'1M' is a calendar duration" in text and "28d, 30d" in text


def test_9_raw_good_bad_total_and_counter_queries(tmp_path: Path) -> None:
    spec_path, _ = pipeline("openslo", "openslo_ratios.yaml", tmp_path)
    spec = load_spec(spec_path)
    raw = spec.objective("satisfaction").custom
    assert raw is not None and raw.error_ratio is not None
    assert raw.error_ratio.startswith("1 - (") and "web_satisfied_total" in raw.error_ratio
    avail = spec.objective("availability").custom
    assert avail is not None
    assert avail.bad == ('sum(rate(http_requests{k8s_cluster="prod",component="web",'
                         'code=~"5xx"}[{{.window}}]))')
    assert avail.total == ('sum(rate(http_requests{k8s_cluster="prod",component="web"}'
                           '[{{.window}}]))')
    assert "good, bad and total are all given" in spec_path.read_text()


@pytest.mark.parametrize(("fixture", "needle"), [
    ("openslo_services_only.yaml", "the file holds 2 Service but no SLO"),
    ("openslo_slis_only.yaml", "the file holds 1 SLI but no SLO"),
])
def test_10_files_without_slos_say_what_they_lack(fixture: str, needle: str) -> None:
    assert needle in refused("openslo", fixture)
