"""Issue 36 point 1: Pyrra's ServiceLevelObjectives, one fixture per shape in Pyrra's published
form, each through import → validate → generate → promtool check and test rules: indicators,
grouping kept as labels, Pyrra's own burn windows and alert names; what cannot map exits 2
naming each field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.interop import pyrra, pyrra_export
from agent.interop.common import load_documents
from agent.spec import load_spec, parse_spec
from tests.interop.test_import_fixtures import FIX, cli, pipeline, refused, rules_of

H, M = 3600.0, 60.0


def _tests_of(out: Path, name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load(next(out.glob(f"prometheus/rules/*/{name}.test.yml")).read_text())
                ["tests"])


def test_pyrra_windows_are_pyrras_arithmetic() -> None:
    """Pyrra's Windows(): fractions of 28 days, rounded to the minute (halves away from 0)."""
    assert pyrra.windows(28 * 86400) == [
        ("fast-burn", "critical", H, 5 * M, 2 * M, 14.0),
        ("medium-burn", "critical", 6 * H, 30 * M, 15 * M, 7.0),
        ("slow-burn", "warning", 24 * H, 2 * H, H, 2.0),
        ("long-term-burn", "warning", 96 * H, 6 * H, 3 * H, 1.0)]
    two_weeks = pyrra.windows(14 * 86400)
    assert [(lo, sh, fo) for _, _, lo, sh, fo, _ in two_weeks] == [
        (30 * M, 3 * M, M), (3 * H, 15 * M, 8 * M), (12 * H, H, 30 * M), (48 * H, 3 * H, 90 * M)]


def test_1_ratio_with_grouping_keeps_windows_names_and_labels(tmp_path: Path) -> None:
    spec_path, out = pipeline("pyrra", "pyrra_ratio_grouping.yaml", tmp_path)
    spec = load_spec(spec_path)
    o = spec.objective("checkout-errors")
    assert spec.service == "shop" and o.objective == 0.995 and o.window == 28 * 86400
    assert o.custom is not None and o.custom.bad == (
        'sum by (handler) (rate(http_requests_total{job="checkout",handler=~"/api/.*",'
        'code=~"5.."}[{{.window}}]))')
    tiers = spec.tiers_for(o)
    assert [(t.name, t.severity, t.long, t.short, t.for_, t.factor) for t in tiers] == [
        (n, s, lo, sh, fo, f) for n, s, lo, sh, fo, f in pyrra.windows(o.window)]
    burn = [r for r in rules_of(out) if r.get("alert") == "CheckoutErrorBudgetBurn"]
    assert len(burn) == 4
    for r in burn:
        assert r["labels"]["slo"] == "checkout-errors" and r["labels"]["team"] == "payments"
        assert r["labels"]["job"] == "checkout"               # Pyrra copies it from the selector
        assert r["annotations"]["runbook"] == "https://runbooks.example/checkout"
    assert [r["labels"]["severity"] for r in burn] == ["page", "page", "ticket", "ticket"]
    assert [r["for"] for r in burn] == ["2m", "15m", "1h", "3h"]
    # grouping kept: the alerts the generated tests expect carry the handler label
    fired = [a for t in _tests_of(out, "checkout-errors") for c in t["alert_rule_test"]
             for a in c["exp_alerts"] if c["alertname"] == "CheckoutErrorBudgetBurn"]
    assert fired and all(a["exp_labels"]["handler"] == "/api/" for a in fired)
    assert {a["exp_labels"]["slo_agent_tier"] for a in fired} == {t.name for t in tiers}


def test_1_latency_and_alerting_switches(tmp_path: Path) -> None:
    spec_path, out = pipeline("pyrra", "pyrra_latency.yaml", tmp_path)
    spec = load_spec(spec_path)
    assert spec.alerting.rate_window == 3 * M        # Pyrra's 3m short window of a 2w SLO
    o = spec.objective("search-latency")
    assert o.custom is not None and o.custom.good == (
        'sum(rate(search_request_duration_seconds_bucket{job="search",le="0.25"}'
        '[{{.window}}]))')
    alerts = {r["alert"] for r in rules_of(out) if "alert" in r}
    assert alerts == {"ErrorBudgetBurn", "SearchLatencySilentNoData"}   # Pyrra's default name
    silent = spec.objective("search-latency-silent")
    assert spec.tiers_for(silent) == [] and silent.no_data_alert
    assert not spec.objective("search-latency").no_data_alert


def test_1_kubernetes_list_with_bool_gauge_and_success_ratio(tmp_path: Path) -> None:
    spec_path, out = pipeline("pyrra", "pyrra_list.yaml", tmp_path)
    spec = load_spec(spec_path)
    up = spec.objective("worker-up").custom
    assert up is not None and up.bad == ('sum(count_over_time(up{job="worker"}[{{.window}}])) - '
                                         'sum(sum_over_time(up{job="worker"}[{{.window}}]))')
    ok = spec.objective("payments-success").custom
    assert ok is not None and ok.good is not None and "result=\"ok\"" in ok.good
    series = [s["series"] for t in _tests_of(out, "worker-up") for s in t["input_series"]]
    assert series and set(series) == {'up{job="worker"}'}


def test_1_native_histograms_are_mapped_and_generate_says_no_tests(tmp_path: Path) -> None:
    spec = tmp_path / "slo.yaml"
    res = cli("import", "pyrra", str(FIX / "pyrra_native.yaml"), "-o", str(spec))
    assert res.exit_code == 0 and "native histograms" in res.output
    o = load_spec(spec).objective("rpc-latency")
    assert o.custom is not None and o.custom.good is not None
    assert o.custom.good.startswith("histogram_fraction(0, 0.2, sum by (method) (rate(")
    out = tmp_path / "out"
    res = cli("generate", "-c", str(spec), "-o", str(out))
    assert res.exit_code == 0, res.output
    assert "rpc-latency: no promtool tests written" in res.output
    assert "native histograms" in res.output
    assert "promtool check rules" in res.output
    # only the service's own no-data tests are written, and next steps name only those
    assert [p.name for p in out.rglob("*.test.yml")] == ["_service.test.yml"]
    (tmp_path / "again").mkdir()
    pipeline("pyrra", "pyrra_native.yaml", tmp_path / "again")      # promtool checks its rules


def test_1_what_cannot_map_is_refused_by_path() -> None:
    text = refused("pyrra", "pyrra_refused.yaml")
    for path in ("document 0 (api-dynamic).spec.alerting.burnRateType",
                 "document 0 (api-dynamic).spec.alerting.absentName",
                 "document 0 (api-dynamic).spec.alerting.severities.absent",
                 "document 0 (api-dynamic).spec.indicator.ratio.grouping[0]",
                 "document 1 (api-expression).spec.indicator.ratio.errors.metric"):
        assert path in text
    assert "dynamic burn rates" in text and "reserved" in text


def test_1_several_files_one_service(tmp_path: Path) -> None:
    spec = tmp_path / "slo.yaml"
    res = cli("import", "pyrra", str(FIX / "pyrra_ratio_grouping.yaml"),
              str(FIX / "pyrra_list.yaml"), "--service", "storefront", "-o", str(spec))
    assert res.exit_code == 0, res.output
    parsed = load_spec(spec)
    assert parsed.service == "storefront"
    assert [o.name for o in parsed.objectives] == ["checkout-errors", "worker-up",
                                                   "payments-success"]


@pytest.mark.parametrize("fixture", ["pyrra_ratio_grouping.yaml", "pyrra_latency.yaml",
                                     "pyrra_list.yaml", "pyrra_native.yaml"])
def test_export_pyrra_gives_the_documents_back(fixture: str) -> None:
    docs = [d for _, d in load_documents((FIX / fixture).read_text())]
    docs = [i for d in docs for i in (d["items"] if d["kind"] == "List" else [d])]
    first = pyrra.import_docs(load_documents((FIX / fixture).read_text()))
    assert first.problems == []
    exported, skipped, notes = pyrra_export.export(parse_spec(first.data), "shop")
    assert skipped == {} and notes == []
    for want, got in zip(docs, exported, strict=True):
        assert got["metadata"]["name"] == want["metadata"]["name"]
        assert got["spec"]["indicator"] == want["spec"]["indicator"] or \
            fixture == "pyrra_native.yaml"
        assert got["spec"]["target"] == want["spec"]["target"]
        assert pyrra.duration(got["spec"]["window"]) == pyrra.duration(want["spec"]["window"])
        own = {k: v for k, v in want["metadata"].get("labels", {}).items()
               if k.startswith("pyrra.dev/")}
        assert got["metadata"].get("labels", {}) == own
        alerting = {k: v for k, v in want["spec"].get("alerting", {}).items()}
        assert got["spec"].get("alerting", {}) == alerting
    again = pyrra.import_docs([(f"document {i}", d) for i, d in enumerate(exported)], "shop")
    assert again.problems == [] and again.data == first.data
