"""Property tests over Pyrra's ServiceLevelObjective schema (the CRD's fields): every well-formed
document imports into a valid spec whose every alerting objective gets synthetic promtool inputs;
Pyrra → spec → Pyrra gives the document back, and → spec again the same spec; the generated
tests of a few drawn documents pass real promtool; any other input is problems, never a crash."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.interop import pyrra, pyrra_export
from agent.interop.common import duration
from agent.render.files import write
from agent.sli import plans
from agent.spec import SpecError, parse_spec
from alerts.rules import rule_groups
from alerts.unittests import has_unit_tests
from tests.helpers import require_binary

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
names = st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True)
metric = st.from_regex(r"[a-z][a-z0-9_]{0,12}[a-z]", fullmatch=True)
LABELS = ("job", "handler", "route", "method", "instance", "cluster")
value = st.from_regex(r"[a-z0-9/_-]{1,10}", fullmatch=True)
regex = st.sampled_from(["/api/.*", "GET|POST", "prod|staging", "[a-z]+", "eu-.*"])


def sel(name: str, matchers: list[tuple[str, str, str]]) -> str:
    return f"{name}{{{','.join(f'{k}{op}{json.dumps(v)}' for k, op, v in matchers)}}}"


@st.composite
def matchers(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    keys = draw(st.lists(st.sampled_from(LABELS), unique=True, max_size=3))
    out = []
    for k in keys:
        op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
        out.append((k, op, draw(regex if "~" in op else value)))
    return out


@st.composite
def pyrra_doc(draw: st.DrawFn) -> dict[str, Any]:
    name, m, base = draw(names), draw(metric), draw(matchers())
    grouping = draw(st.lists(st.sampled_from([k for k, op, _ in base if op == "=~"]
                                             + ["route", "method"]), unique=True, max_size=2))
    grouping = [g for g in grouping if g not in {k for k, op, _ in base if op != "=~"}]
    kind = draw(st.sampled_from(["errors", "success", "latency", "bool_gauge"]))
    ind: dict[str, Any]
    if kind == "errors":
        ind = {"ratio": {"errors": {"metric": sel(f"{m}_total", [*base, ("code", "=~", "5..")])},
                         "total": {"metric": sel(f"{m}_total", base)}}}
    elif kind == "success":
        ind = {"ratio": {"success": {"metric": sel(f"{m}_total", [*base, ("code", "=~", "2..")])},
                         "total": {"metric": sel(f"{m}_total", base)}}}
    elif kind == "latency":
        ind = {"latency": {"success": {"metric": sel(f"{m}_seconds_bucket",
                                                     [*base, ("le", "=", "0.5")])},
                           "total": {"metric": sel(f"{m}_seconds_count", base)}}}
    else:
        ind = {"bool_gauge": {"metric": sel(m, base)}}
    body = next(iter(ind.values()))
    if grouping:
        body["grouping"] = grouping
    meta: dict[str, Any] = {"name": name, "namespace": "shop"}
    implied = {k for k, _, _ in base} | {"slo", "service", "objective", "signal"}
    own = draw(st.dictionaries(st.sampled_from(["team", "tier", "owner", "route"]), value,
                               max_size=2))
    if own := {f"pyrra.dev/{k}": v for k, v in own.items() if k not in implied}:
        meta["labels"] = {"prometheus": "k8s", **own}
    if draw(st.booleans()):
        meta["annotations"] = {"pyrra.dev/runbook": "https://rb.example/" + name}
    target = draw(st.decimals(min_value=Decimal("50"), max_value=Decimal("99.99"), places=2))
    spec: dict[str, Any] = {"target": f"{target.normalize():f}",
                            "window": draw(st.sampled_from(["1w", "2w", "28d", "4w", "30d"])),
                            "indicator": ind}
    alerting: dict[str, Any] = {}
    if draw(st.booleans()):
        alerting["name"] = draw(st.from_regex(r"[A-Z][A-Za-z0-9]{0,20}", fullmatch=True))
    if draw(st.booleans()):
        alerting["absent"] = False
    if draw(st.booleans()):
        alerting["burnrates"] = False
    elif draw(st.booleans()):
        alerting["severities"] = {"fastBurn": "page", "slowBurn": "ticket"}
    if alerting:
        spec["alerting"] = alerting
    return {"apiVersion": pyrra.API, "kind": pyrra.KIND, "metadata": meta, "spec": spec}


def _normal(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]
    alerting = {k: v for k, v in spec.get("alerting", {}).items()
                if (k, v) not in (("name", "ErrorBudgetBurn"), ("absent", True))}
    return {"name": doc["metadata"]["name"],
            "labels": {k: v for k, v in doc["metadata"].get("labels", {}).items()
                       if k.startswith("pyrra.dev/")},
            "annotations": doc["metadata"].get("annotations", {}),
            "target": Decimal(spec["target"]), "window": duration(spec["window"]),
            "indicator": spec["indicator"], "alerting": alerting}


@given(st.lists(pyrra_doc(), min_size=1, max_size=3, unique_by=lambda d: d["metadata"]["name"]))
@SETTINGS
def test_every_pyrra_document_imports_with_proof_and_round_trips(docs: list[dict[str, Any]]
                                                                 ) -> None:
    first = pyrra.import_docs([(f"document {i}", d) for i, d in enumerate(docs)])
    assert first.problems == []
    spec = parse_spec(first.data)
    rule_groups(spec)
    for p in plans(spec):
        assert has_unit_tests(p), p.o.name
    exported, skipped, notes = pyrra_export.export(spec, "shop")
    assert skipped == {} and notes == []
    assert [_normal(d) for d in exported] == [_normal(d) for d in docs]
    again = pyrra.import_docs([(f"document {i}", d) for i, d in enumerate(exported)])
    assert again.problems == [] and again.data == first.data


@pytest.mark.slow
@given(pyrra_doc())
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
def test_drawn_documents_generated_tests_pass_promtool(tmp_path: Path, doc: dict[str, Any]
                                                       ) -> None:
    promtool = require_binary("promtool")
    spec = parse_spec(pyrra.import_docs([("document 0", doc)]).data)
    out = tmp_path / doc["metadata"]["name"]
    write(spec, out)
    folder = out / "prometheus" / "rules" / spec.service
    res = subprocess.run([promtool, "test", "rules", *[p.name for p in folder.glob("*.test.yml")]],
                         cwd=folder, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]


junk = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(
                        ["apiVersion", "kind", "metadata", "name", "spec", "target", "window",
                         "indicator", "ratio", "errors", "total", "metric", "latency", "success",
                         "bool_gauge", "latencyNative", "grouping", "alerting", "items"]),
                        inner, max_size=5), max_leaves=20)


@given(st.lists(junk, min_size=1, max_size=3))
@SETTINGS
def test_any_input_is_problems_or_a_spec(docs: list[Any]) -> None:
    for d in docs:
        if isinstance(d, dict) and d:
            d.setdefault("apiVersion", pyrra.API)
            d.setdefault("kind", pyrra.KIND)
    result = pyrra.import_docs([(f"document {i}", d) for i, d in enumerate(docs)])
    if not result.problems:
        try:
            parse_spec(result.data)
        except SpecError:
            pass
