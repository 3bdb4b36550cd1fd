"""slo.yaml → Pyrra ``ServiceLevelObjective``s, where the spec maps onto Pyrra: an events
objective whose bad (or good) and total are rates of plain selectors, summed or summed by the same
labels (the shapes :mod:`agent.interop.pyrra` writes: ``ratio``, ``latency`` for an ``le`` bucket;
``bool_gauge`` and ``latencyNative`` in theirs), and the SDK's event signals through their counters.
Everything else (time slices, a raw error ratio, a value) has no Pyrra indicator and is skipped
with the reason. Pyrra computes its own burn windows from the window: tiers other than Pyrra's are
said, not exported.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import promql_parser as pp

from agent.interop.openslo_export import counters
from agent.interop.pyrra import (
    API,
    DEFAULT_ALERT,
    KIND,
    PROPAGATE,
    SEVERITY_KEYS,
    WINDOWS,
    render,
    windows,
)
from agent.sli import ObjectivePlan, plans
from agent.spec.document import Spec
from agent.spec.promql_syntax import WINDOW
from agent.spec.signals import SLIType
from agent.units import format_duration

_PROBE = "7m13s"       # stands for {{.window}} while parsing: a range no one writes


def _sum_of(query: str, fn: str) -> tuple[str, tuple[str, ...]] | None:
    """(selector, grouping) when ``query`` is ``sum [by (…)] (fn(selector[{{.window}}]))``."""
    try:
        node = pp.parse(query.replace(WINDOW, _PROBE))
    except (ValueError, RuntimeError):
        return None
    if not isinstance(node, pp.AggregateExpr) or str(node.op) != "sum" or node.param is not None:
        return None
    mod = node.modifier
    if mod is not None and not str(mod.type).endswith("By"):
        return None
    call = node.expr
    if not isinstance(call, pp.Call) or call.func.name != fn or len(call.args) != 1 \
            or not isinstance(call.args[0], pp.MatrixSelector) \
            or format_duration(call.args[0].range.total_seconds()) != _PROBE:
        return None
    sel, offset = render(call.args[0].vector_selector)
    return sel + offset, tuple(mod.labels) if mod is not None else ()


def indicator(p: ObjectivePlan) -> tuple[dict[str, Any] | None, str | None]:
    """(Pyrra indicator, None) or (None, why the objective has none)."""
    c = p.o.custom
    if c is None:
        found = counters(p) if p.sli_type is SLIType.EVENTS else None
        if found is None:
            return None, "Pyrra's indicators are ratios of events; this SLI is not one"
        key, part_sel, total_sel = found
        if key == "bad":
            return {"ratio": {"errors": {"metric": part_sel}, "total": {"metric": total_sel}}}, \
                None
        return {"latency": {"success": {"metric": part_sel}, "total": {"metric": total_sel}}}, \
            None
    if c.total is None:
        return None, "Pyrra's indicators are ratios of events; a raw ratio or a value is not one"
    total = _sum_of(c.total, "rate")
    count = _sum_of(c.total, "count_over_time")
    if c.bad is not None and count is not None and " - " in c.bad:        # bool_gauge
        head, _, tail = c.bad.partition(" - ")
        ok = count is not None and _sum_of(head, "count_over_time") == count \
            and _sum_of(tail, "sum_over_time") == count
        if ok and count is not None:
            return _grouped("bool_gauge", {"metric": count[0]}, count[1]), None
    native = re.fullmatch(r"histogram_count\((.*)\)", c.total)
    if native and c.good is not None and (hist := _sum_of(native.group(1), "rate")):
        m = re.fullmatch(r"histogram_fraction\(0, ([0-9.e+-]+), (.*)\) \* histogram_count\((.*)\)",
                         c.good)
        if m and m.group(2) == m.group(3) == native.group(1):
            return _grouped("latencyNative", {"total": {"metric": hist[0]},
                                              "latency": format_duration(float(m.group(1)))},
                            hist[1]), None
    part = _sum_of(c.bad or c.good or "", "rate")
    if total is None or part is None or part[1] != total[1]:
        return None, ("its queries are not sums of rates of one selector each, by the same "
                      "labels (what Pyrra's ratio and latency indicators are)")
    if c.bad is not None:
        return _grouped("ratio", {"errors": {"metric": part[0]},
                                  "total": {"metric": total[0]}}, total[1]), None
    kind = "latency" if "le=" in part[0] else "ratio"
    return _grouped(kind, {"success": {"metric": part[0]}, "total": {"metric": total[0]}},
                    total[1]), None


def _grouped(kind: str, body: dict[str, Any], grouping: tuple[str, ...]) -> dict[str, Any]:
    return {kind: {**body, "grouping": list(grouping)} if grouping else body}


def _pyrra_tiers(p: ObjectivePlan) -> bool:
    """Whether the objective's tiers are the ones Pyrra computes from its window."""
    want = [(n, s, lo, sh, fo, f) for n, s, lo, sh, fo, f in windows(p.o.window)]
    got = [(t.name, t.severity, t.long, t.short, t.for_, round(t.factor, 6)) for t in p.tiers]
    return got == [(n, s, lo, sh, fo, round(f, 6)) for n, s, lo, sh, fo, f in want]


def export(spec: Spec, namespace: str | None = None
           ) -> tuple[list[dict[str, Any]], dict[str, str], list[str]]:
    """(documents, objective → why it was not exported, notes on what Pyrra will do its own
    way)."""
    docs: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    notes: list[str] = []
    for p in plans(spec):
        o = p.o
        if not o.has_target or o.objective is None:
            skipped[o.name] = "a Pyrra SLO needs a target"
            continue
        ind, why = indicator(p)
        if ind is None:
            skipped[o.name] = str(why)
            continue
        body = next(iter(ind.values()))
        total = body.get("metric") or (body.get("total") or {}).get("metric", "")
        implied = _implied(str(total), set(body.get("grouping", [])))
        labels = {f"{PROPAGATE}{k}": v for k, v in o.labels.items()
                  if k != "slo" and implied.get(k) != v}
        meta: dict[str, Any] = {"name": o.name, **({"namespace": namespace} if namespace
                                                   else {})}
        if labels:
            meta["labels"] = labels
        if o.annotations:
            meta["annotations"] = {f"{PROPAGATE}{k}": v for k, v in o.annotations.items()}
        alerting: dict[str, Any] = {}
        if o.alert_name and o.alert_name != DEFAULT_ALERT:
            alerting["name"] = o.alert_name
        if not o.no_data_alert:
            alerting["absent"] = False
        if not p.tiers:
            alerting["burnrates"] = False
        elif not _pyrra_tiers(p):
            notes.append(f"{o.name}: its burn tiers are not Pyrra's; Pyrra alerts with its own "
                         f"four windows of a {format_duration(o.window)} window")
        else:
            sev = {SEVERITY_KEYS[t.name]: t.labels["severity"] for t in p.tiers
                   if t.labels.get("severity")}
            if sev:
                alerting["severities"] = sev
        target = (Decimal(str(o.objective)) * 100).normalize()
        spec_doc: dict[str, Any] = {"target": f"{target:f}", "window": format_duration(o.window),
                                    "indicator": ind}
        if o.description:
            spec_doc["description"] = o.description
        if alerting:
            spec_doc["alerting"] = alerting
        docs.append({"apiVersion": API, "kind": KIND, "metadata": meta, "spec": spec_doc})
    return docs, skipped, notes


def _implied(selector: str, grouping: set[str]) -> dict[str, str]:
    """Labels Pyrra puts on alerts by itself: the total selector's equality matchers."""
    try:
        node = pp.parse(selector)
    except (ValueError, RuntimeError):
        return {}
    return {m.name: m.value for m in getattr(getattr(node, "matchers", None), "matchers", [])
            if str(m.op).endswith(".Equal") and m.name not in grouping}


__all__ = ["WINDOWS", "export", "indicator"]
