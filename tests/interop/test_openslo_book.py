"""Issue 36 points 2-4: the OpenSLO export holds to the v1 specification (a JSON Schema written from
its README, kept beside this file) and export → import gives the same spec; v1alpha files with
Service documents, ``incremental`` and Timeslices read as v1 reads them, refusals naming fields the
document has; composite SLOs and an empty Sloth alert name refused as such."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agent.interop import openslo, openslo_export, pyrra, sloth
from agent.interop.common import load_documents
from agent.spec import load_spec, parse_spec
from agent.spec.document import Spec
from alerts import alertmanager
from tests.helpers import EXAMPLE_SPEC
from tests.interop.test_import_fixtures import FIX, cli, pipeline, refused

HERE = Path(__file__).parent
IMPORTERS = {"openslo": openslo.import_docs, "sloth": sloth.import_docs,
             "pyrra": pyrra.import_docs}
IMPORTED = [("openslo", "openslo_list.yaml"), ("openslo", "openslo_ratios.yaml"),
            ("sloth", "sloth_alert_metadata.yaml"), ("sloth", "sloth_raw.yaml"),
            ("pyrra", "pyrra_ratio_grouping.yaml"), ("pyrra", "pyrra_latency.yaml"),
            ("pyrra", "pyrra_list.yaml"), ("openslo", "openslo_alpha_service.yaml")]


@cache
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((HERE / "openslo_v1.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(docs: list[dict[str, Any]]) -> list[str]:
    return [f"{d['kind']} {d['metadata'].get('name')}: {'.'.join(map(str, e.path))}: "
            f"{e.message[:160]}" for d in docs for e in validator().iter_errors(d)]


def export_openslo(spec: Spec) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The export as the CLI runs it: notification targets from the generated Alertmanager
    configuration's receivers."""
    return openslo_export.export(spec, alertmanager.config(spec))


def imported(kind: str, fixture: str) -> Spec:
    result = IMPORTERS[kind](load_documents((FIX / fixture).read_text()))
    assert result.problems == []
    return parse_spec(result.data)


def specs() -> list[tuple[str, Spec]]:
    return [("example", load_spec(EXAMPLE_SPEC))] + [(f, imported(k, f)) for k, f in IMPORTED]


# -- point 2 ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "spec"), specs(), ids=lambda v: v if isinstance(v, str) else "")
def test_2_export_holds_to_the_openslo_v1_schema(name: str, spec: Spec) -> None:
    docs, _ = export_openslo(spec)
    assert schema_errors(docs) == []
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    routing = alertmanager.config(spec)
    receivers = {r["name"] for r in routing["receivers"]}
    by_severity = {m.split('"')[1]: r["receiver"] for r in routing["route"]["routes"]
                   for m in r["matchers"] if m.startswith("severity=")}
    for d in docs:
        if d["kind"] == "AlertPolicy":
            assert len(d["spec"]["conditions"]) == 1           # at most one, by the book
            (cond,) = d["spec"]["conditions"]
            want = by_severity[cond["spec"]["severity"]]       # where Alertmanager routes it
            assert d["spec"]["notificationTargets"] == [{"targetRef": want}]
            assert ("AlertNotificationTarget", want) in names and want in receivers
        if d["kind"] == "SLO":
            assert ("SLI", d["spec"]["indicatorRef"]) in names
            assert all(("AlertPolicy", r["alertPolicyRef"]) in names
                       for r in d["spec"].get("alertPolicies", []))


def test_2_the_schema_refuses_what_v1_refuses() -> None:
    """The schema can fail: the old export's shape (four inline conditions in one policy, no
    notification targets) and a compound duration break the book."""
    docs, _ = export_openslo(load_spec(EXAMPLE_SPEC))
    policy = next(d for d in docs if d["kind"] == "AlertPolicy")
    four = {**policy, "spec": {**policy["spec"],
                               "conditions": policy["spec"]["conditions"] * 4}}
    del four["spec"]["notificationTargets"]
    errors = {(".".join(map(str, e.path)), e.validator) for e in validator().iter_errors(four)}
    assert ("spec.conditions", "maxItems") in errors
    assert ("spec", "required") in errors and not validator().is_valid(
        {**policy, "spec": {k: v for k, v in policy["spec"].items()
                            if k != "notificationTargets"}})
    slo = next(d for d in docs if d["kind"] == "SLO")
    compound = {**slo, "spec": {**slo["spec"], "timeWindow": [{"duration": "2d19h12m",
                                                                "isRolling": True}]}}
    assert schema_errors([compound])


def resolved(spec: Spec) -> list[Any]:
    """What an objective means once loaded: queries, target, window, tiers as resolved."""
    out = []
    for o in spec.objectives:
        tiers = [(t.name, t.severity, t.long, t.short, round(t.factor, 9), t.for_, t.labels,
                  t.annotations) for t in spec.tiers_for(o)]
        out.append((o.name, o.custom.model_dump() if o.custom else None, o.objective, o.window,
                    o.labels, o.annotations, o.alert_name, o.no_data_alert, o.description,
                    o.sli_threshold, tiers))
    return out


@pytest.mark.parametrize(("kind", "fixture"), IMPORTED)
def test_2_export_then_import_gives_the_same_spec(kind: str, fixture: str) -> None:
    spec = imported(kind, fixture)
    docs, skipped = export_openslo(spec)
    assert skipped == {}
    back = openslo.import_docs([(f"document {i}", d) for i, d in enumerate(docs)])
    assert back.problems == []
    again = parse_spec(back.data)
    assert again.service == spec.service
    assert again.alerting.rate_window == spec.alerting.rate_window
    assert resolved(again) == resolved(spec)


# -- point 3 ------------------------------------------------------------------------------------
def test_3_v1alpha_service_beside_slo_and_incremental_counters(tmp_path: Path) -> None:
    spec_path, out = pipeline("openslo", "openslo_alpha_service.yaml", tmp_path)
    o = load_spec(spec_path).objective("catalog-availability")
    assert o.objective == 0.995 and o.window == 28 * 86400
    assert o.custom is not None
    assert o.custom.good == 'sum(rate(catalog_reads_total{code!~"5.."}[{{.window}}]))'
    assert o.custom.total == "sum(rate(catalog_reads_total[{{.window}}]))"
    assert list(out.glob("prometheus/rules/catalog/catalog-availability.test.yml"))


def _walk(doc: Any, path: str) -> bool:
    """Whether a dotted path with [i] indexes names a field of ``doc``."""
    node = doc
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("["):
            i = int(part[1:-1])
            if not isinstance(node, list) or i >= len(node):
                return False
            node = node[i]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


def test_3_v1alpha_timeslices_refused_as_v1_refuses_naming_fields_it_has() -> None:
    text = refused("openslo", "openslo_alpha_timeslices.yaml")
    docs = [d for _, d in load_documents((FIX / "openslo_alpha_timeslices.yaml").read_text())]
    lines = [line.split("  - ", 1)[1] for line in text.splitlines() if "  - " in line]
    assert len(lines) >= 3
    for line in lines:
        head, _, _ = line.partition(": ")
        doc_at, _, field = head.partition(").")
        k = int(doc_at.split()[1])
        assert _walk(docs[k], field), f"{field} is no field of document {k}"
    assert "document 0 (SLO catalog-slices).spec.budgetingMethod: Timeslices over a ratio" in text
    assert "document 1 (SLO catalog-latency).spec.timeWindows[0]: calendar-aligned" in text
    assert "document 1 (SLO catalog-latency).spec.timeWindows[0].unit: '1M'" in text


# -- point 4 ------------------------------------------------------------------------------------
def test_4_composite_slo_says_composite_and_what_to_do() -> None:
    text = refused("openslo", "openslo_composite.yaml")
    assert "SLO checkout-composite.spec.objectives[0].indicatorRef: a composite SLO" in text
    assert "import each objective as its own SLO" in text
    assert "needs indicator or indicatorRef" not in text


def test_4_empty_sloth_alert_name_refused_as_sloth_refuses_it() -> None:
    text = refused("sloth", "sloth_empty_alert_name.yaml")
    assert "document 0.slos[0].alerting.name: Sloth requires an alert name" in text


def test_2_exported_file_imports_generates_and_passes_promtool(tmp_path: Path) -> None:
    """Through the CLI: Pyrra → slo.yaml → `export openslo` → `import openslo` → validate →
    generate → promtool check and test rules, and the spec is the same."""
    first = tmp_path / "first.yaml"
    assert cli("import", "pyrra", str(FIX / "pyrra_ratio_grouping.yaml"), "-o",
               str(first)).exit_code == 0
    exported = tmp_path / "openslo.yaml"
    res = cli("export", "openslo", "-c", str(first), "-o", str(exported))
    assert res.exit_code == 0, res.output
    assert schema_errors([d for _, d in load_documents(exported.read_text())]) == []
    spec_path, _ = pipeline("openslo", str(exported), tmp_path)
    assert resolved(load_spec(spec_path)) == resolved(load_spec(first))
