"""Property tests over the imported documents' schemas (Sloth prometheus/v1 and
sloth.slok.dev/v1, OpenSLO v1): every well-formed document imports into a valid spec whose targets
are exact and whose alert metadata reaches the generated rules; OpenSLO → spec → OpenSLO keeps
targets, windows, queries and alert policies; any other input is problems, never a crash."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.interop import openslo, sloth
from agent.interop.common import load_documents
from agent.spec import SpecError, parse_spec
from alerts.rules import rule_groups
from tests.interop.test_openslo_book import export_openslo

FIX = Path(__file__).parent / "fixtures"
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True)
metric = st.from_regex(r"[a-z_][a-z0-9_]{0,15}_total", fullmatch=True)
label_key = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda k: k not in ("service", "objective", "signal", "severity"))
label_value = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
percent = st.decimals(min_value=Decimal("50"), max_value=Decimal("99.999"), places=3)


@st.composite
def events(draw: st.DrawFn) -> tuple[str, str]:
    m = draw(metric)
    code = draw(st.sampled_from(['code=~"5.."', 'status="error"', 'code=~"(5..|429)"']))
    return (f"sum(rate({m}{{{code}}}[{{{{.window}}}}]))", f"sum(rate({m}[{{{{.window}}}}]))")


@st.composite
def sloth_slo(draw: st.DrawFn, camel: bool) -> dict[str, Any]:
    bad, total = draw(events())

    def k(snake: str, cam: str) -> str:
        return cam if camel else snake

    slo: dict[str, Any] = {"name": draw(names), "objective": float(draw(percent)),
                           "sli": {"events": {k("error_query", "errorQuery"): bad,
                                              k("total_query", "totalQuery"): total}}}
    alerting: dict[str, Any] = {}
    if draw(st.booleans()):
        alerting["name"] = draw(st.from_regex(r"[A-Z][A-Za-z0-9]{0,20}", fullmatch=True))
    if draw(st.booleans()):
        alerting["labels"] = draw(st.dictionaries(label_key, label_value, max_size=3))
    for group in ("page", "ticket"):
        alert: dict[str, Any] = {}
        if draw(st.booleans()):
            alert["disable"] = True
        elif draw(st.booleans()):
            alert["labels"] = draw(st.dictionaries(label_key, label_value, min_size=1,
                                                   max_size=2))
        if alert:
            alerting[k(f"{group}_alert", f"{group}Alert")] = alert
    enabled = [g for g in ("page", "ticket")
               if not alerting.get(k(f"{g}_alert", f"{g}Alert"), {}).get("disable")]
    if enabled and "name" not in alerting:      # Sloth requires it while an alert is enabled
        alerting["name"] = draw(st.from_regex(r"[A-Z][A-Za-z0-9]{0,20}", fullmatch=True))
    if alerting:
        slo["alerting"] = alerting
    return slo


@st.composite
def sloth_doc(draw: st.DrawFn) -> dict[str, Any]:
    camel = draw(st.booleans())
    slos = draw(st.lists(sloth_slo(camel), min_size=1, max_size=3,
                         unique_by=lambda s: s["name"]))
    body: dict[str, Any] = {"service": draw(names), "slos": slos}
    if draw(st.booleans()):
        body["labels"] = draw(st.dictionaries(label_key, label_value, max_size=3))
    if draw(st.booleans()):
        return {"apiVersion": "sloth.slok.dev/v1", "kind": "PrometheusServiceLevel",
                "metadata": {"name": draw(names)}, "spec": body}
    return {"version": "prometheus/v1", **body}


@given(sloth_doc())
@SETTINGS
def test_every_sloth_document_imports_exactly(doc: dict[str, Any]) -> None:
    result = sloth.import_docs([("document 0", doc)])
    assert result.problems == []
    spec = parse_spec(result.data)
    body = doc.get("spec", doc)
    # the objectives' groups (the service's own group may share a name with an objective)
    groups = {g["name"].rsplit(":", 1)[1]: g["rules"] for g in rule_groups(spec)["groups"]
              if g["name"] != f"slo-agent:{spec.service}"}
    for slo in body["slos"]:
        o = spec.objective(slo["name"])
        assert Decimal(str(o.objective)) == Decimal(str(slo["objective"])) / 100
        alerting = slo.get("alerting", {})
        enabled = [g for g in ("page", "ticket")
                   if not (alerting.get(f"{g}_alert") or alerting.get(f"{g}Alert") or {})
                   .get("disable")]
        burn = [r for r in groups[slo["name"]] if "slo_agent_tier" in r.get("labels", {})]
        assert len(burn) == 2 * len(enabled)
        assert not [r for r in groups[slo["name"]]
                    if str(r.get("alert", "")).endswith(("Warning", "Critical"))]
        for r in burn:       # a page/ticket label wins over the SLO's, as Sloth merges them
            group = r["labels"]["slo_agent_tier"].split("-")[0]
            own = (alerting.get(f"{group}_alert") or alerting.get(f"{group}Alert") or {})
            wanted = {**body.get("labels", {}), **alerting.get("labels", {}),
                      **own.get("labels", {})}
            assert {k: r["labels"][k] for k in wanted} == {k: str(v) for k, v in wanted.items()}
            if alerting.get("name"):
                assert r["alert"] == alerting["name"]


junk = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(
                        ["version", "service", "slos", "name", "objective", "sli", "events",
                         "error_query", "total_query", "alerting", "apiVersion", "kind", "spec",
                         "metadata", "raw", "labels", "page_alert", "disable", "timeWindow",
                         "duration", "indicator", "ratioMetric", "objectives", "target",
                         "timeWindows", "ratioMetrics", "incremental", "thresholdMetric",
                         "alertPolicies", "conditions", "indicatorRef", "compositeWeight",
                         "budgetingMethod", "annotations", "good", "total", "query"]),
                        inner, max_size=5), max_leaves=20)


@given(st.lists(junk, min_size=1, max_size=3),
       st.sampled_from(["openslo/v1", "openslo/v1alpha"]),
       st.sampled_from(["SLO", "SLI", "Service", "AlertPolicy", "AlertCondition"]))
@SETTINGS
def test_any_openslo_shaped_input_is_problems_or_a_spec(docs: list[Any], api: str, kind: str
                                                        ) -> None:
    """Junk under a real apiVersion and kind reaches the v1 and v1alpha readers' depths."""
    named = [(f"document {i}", {**d, "apiVersion": api, "kind": kind} if isinstance(d, dict)
              else d) for i, d in enumerate(docs)]
    result = openslo.import_docs(named)
    if not result.problems:
        try:
            parse_spec(result.data)
        except SpecError:
            pass


@given(st.lists(junk, min_size=1, max_size=3))
@SETTINGS
def test_any_input_is_problems_or_a_spec(docs: list[Any]) -> None:
    named = [(f"document {i}", d) for i, d in enumerate(docs)]
    for importer in (sloth.import_docs, openslo.import_docs):
        result = importer(named)
        if not result.problems:
            try:
                parse_spec(result.data)
            except SpecError:
                pass


# -- OpenSLO ----------------------------------------------------------------------------------
windows = st.sampled_from(["1h", "1d", "7d", "1w", "2w", "28d", "30d", "90d"])
targets = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("0.9999"), places=4)


@st.composite
def openslo_docs(draw: st.DrawFn) -> list[dict[str, Any]]:
    service, name = draw(names), draw(names)
    counter = draw(st.booleans())
    m = draw(metric)
    if counter:
        bad, total = f'{m}{{code=~"5.."}}', f"sum({m})"
    else:
        bad, total = draw(events())

    def src(q: str) -> dict[str, Any]:
        return {"metricSource": {"type": "Prometheus", "spec": {"query": q}}}

    slo: dict[str, Any] = {
        "apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": name},
        "spec": {"service": service, "budgetingMethod": "Occurrences",
                 "timeWindow": [{"duration": draw(windows), "isRolling": True}],
                 "indicator": {"metadata": {"name": f"{name}-sli"}, "spec": {"ratioMetric": {
                     "counter": counter, "bad": src(bad), "total": src(total)}}},
                 "objectives": [{"target": float(draw(targets))}]}}
    docs: list[dict[str, Any]] = [slo]
    if slo["spec"]["timeWindow"][0]["duration"] != "1h" and draw(st.booleans()):
        factor = draw(st.sampled_from([14.4, 6, 3, 2, 1.5]))
        docs.append({"apiVersion": "openslo/v1", "kind": "AlertPolicy",
                     "metadata": {"name": f"{name}-policy"},
                     "spec": {"alertWhenNoData": draw(st.booleans()), "conditions": [
                         {"kind": "AlertCondition", "metadata": {"name": f"{name}-burn"},
                          "spec": {"severity": "page", "condition": {
                              "kind": "burnrate", "op": "gt", "threshold": factor,
                              "lookbackWindow": "1h", "alertAfter": "5m"}}}]}})
        slo["spec"]["alertPolicies"] = [f"{name}-policy"]
    return docs


def _summary(docs: list[dict[str, Any]]) -> list[Any]:
    """What a round trip keeps: per SLO its target, window, queries and burn conditions."""
    by_kind: dict[str, dict[str, Any]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    out = []
    for name, slo in sorted(by_kind.get("SLO", {}).items()):
        s = slo["spec"]
        sli = s.get("indicator") or by_kind["SLI"][s["indicatorRef"]]
        conds = []
        for ref in s.get("alertPolicies", []):
            ref = ref["alertPolicyRef"] if isinstance(ref, dict) else ref
            policy = by_kind["AlertPolicy"][ref]["spec"]
            conds += [(c["threshold"], c["lookbackWindow"], c["alertAfter"])
                      for c in (x["spec"]["condition"] for x in policy["conditions"])]
            conds.append(("nodata", policy.get("alertWhenNoData", False)))
        out.append((name, s["objectives"][0]["target"], s["timeWindow"], sli["spec"], conds))
    return out


@given(openslo_docs())
@SETTINGS
def test_openslo_round_trip_keeps_targets_windows_queries_and_policies(
        docs: list[dict[str, Any]]) -> None:
    first = openslo.import_docs([(f"document {i}", d) for i, d in enumerate(docs)])
    assert first.problems == []
    spec = parse_spec(first.data)
    exported, skipped = export_openslo(spec)
    assert skipped == {}
    again = openslo.import_docs([(f"document {i}", d) for i, d in enumerate(exported)])
    assert again.problems == []
    assert again.data["objectives"] == first.data["objectives"]
    exported_again, _ = export_openslo(parse_spec(again.data))
    assert _summary(exported_again) == _summary(exported)
    slo = exported[-1] if exported[-1]["kind"] == "SLO" else \
        next(d for d in exported if d["kind"] == "SLO")
    assert Decimal(str(slo["spec"]["objectives"][0]["target"])) == \
        Decimal(str(docs[0]["spec"]["objectives"][0]["target"]))


def test_openslo_fixture_round_trip() -> None:
    """The list-form fixture: target, window, queries and the paging policy come back."""
    first = openslo.import_docs(load_documents((FIX / "openslo_list.yaml").read_text()))
    exported, _ = export_openslo(parse_spec(first.data))
    (slo,) = [d for d in exported if d["kind"] == "SLO"]
    (sli,) = [d for d in exported if d["kind"] == "SLI"]
    (policy,) = [d for d in exported if d["kind"] == "AlertPolicy"]
    assert slo["spec"]["objectives"][0]["target"] == 0.999
    assert slo["spec"]["timeWindow"] == [{"duration": "28d", "isRolling": True}]
    assert sli["spec"]["ratioMetric"]["bad"]["metricSource"]["spec"]["query"] == \
        'sum(rate(checkout_requests_total{code=~"5.."}[{{.window}}]))'
    assert policy["spec"]["alertWhenNoData"] is True
    (cond,) = policy["spec"]["conditions"]
    assert cond["spec"]["condition"] == {"kind": "burnrate", "op": "gt", "threshold": 14.4,
                                         "lookbackWindow": "1h", "alertAfter": "5m"}


@given(openslo_docs())
@SETTINGS
def test_openslo_export_is_by_the_book_and_gives_the_same_spec(docs: list[dict[str, Any]]
                                                               ) -> None:
    """Issue 36: every export validates against the v1 schema written from the README, and
    export → import gives the same spec (objectives, queries, targets, windows, tiers)."""
    from tests.interop.test_openslo_book import resolved, schema_errors

    spec = parse_spec(openslo.import_docs([(f"document {i}", d)
                                           for i, d in enumerate(docs)]).data)
    exported, skipped = export_openslo(spec)
    assert skipped == {} and schema_errors(exported) == []
    back = openslo.import_docs([(f"document {i}", d) for i, d in enumerate(exported)])
    assert back.problems == []
    assert resolved(parse_spec(back.data)) == resolved(spec)
