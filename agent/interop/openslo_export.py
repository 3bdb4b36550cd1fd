"""slo.yaml → OpenSLO v1: every objective with a target becomes an ``SLO`` with its ``SLI`` (a
``ratioMetric`` of Prometheus counters for event SLIs, the team's own queries for custom ones, a
``rawType``/``raw`` ratio for a raw error ratio, a ``thresholdMetric`` for time-slice SLIs) and an
``AlertPolicy`` whose ``AlertCondition``s are its burn-rate tiers (``kind: burnrate``, the
threshold is the factor, ``lookbackWindow`` the long window, ``alertAfter`` the short one);
:mod:`agent.interop.openslo` reads the same shapes back.
"""

from __future__ import annotations

import re
from typing import Any

from agent.interop.openslo import API
from agent.sli import ObjectivePlan, plans
from agent.spec.document import Spec
from agent.spec.signals import SLIType
from agent.units import format_duration


def _source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


_SUMMED = re.compile(r"sum\(increase\(([^\[]+)\[W\]\)\)")


def _counters(p: ObjectivePlan) -> tuple[str, str, str] | None:
    """(bad|good, selector, total selector): the plain counter selectors an OpenSLO ratioMetric
    with counter: true expects (the evaluator takes their rates and sums)."""
    if p.o.custom is not None:
        return None
    try:
        bad, total = p.events("W")
    except ValueError:
        return None
    parts, totals = _SUMMED.findall(bad), _SUMMED.findall(total)
    if len(totals) != 1:
        return None
    if len(parts) == 1:
        return "bad", parts[0], totals[0]
    if len(parts) == 2 and parts[0] == totals[0]:    # latency: total minus the good bucket
        return "good", parts[1], totals[0]
    return None


def export(spec: Spec) -> tuple[list[dict[str, Any]], list[str]]:
    """(documents, names of objectives skipped because OpenSLO SLOs need a target)."""
    docs: list[dict[str, Any]] = [{"apiVersion": API, "kind": "Service",
                                   "metadata": {"name": spec.service},
                                   "spec": {"description": f"{spec.service} "
                                                           f"({spec.environment})"}}]
    skipped = []
    for p in plans(spec):
        o = p.o
        if not o.has_target:
            skipped.append(o.name)
            continue
        assert o.objective is not None
        sli: dict[str, Any] = {"apiVersion": API, "kind": "SLI",
                               "metadata": {"name": f"{o.name}-sli"},
                               "spec": {"description": o.info.title}}
        objective: dict[str, Any] = {"displayName": o.name, "target": round(o.objective, 10)}
        events = _counters(p) if p.sli_type is SLIType.EVENTS else None
        if o.custom is not None and o.custom.error_ratio is not None:
            sli["spec"]["ratioMetric"] = {"counter": False, "rawType": "failure",
                                          "raw": _source(o.custom.error_ratio)}
            method = "Occurrences"
        elif o.custom is not None and o.custom.events:
            c = o.custom        # the team's own queries, {{.window}} and all (Sloth style)
            key, part = ("bad", c.bad) if c.bad is not None else ("good", c.good)
            assert part is not None and c.total is not None
            sli["spec"]["ratioMetric"] = {"counter": False, key: _source(part),
                                          "total": _source(c.total)}
            method = "Occurrences"
        elif events is not None:
            key, part, total = events
            sli["spec"]["ratioMetric"] = {"counter": True, key: _source(part),
                                          "total": _source(total)}
            method = "Occurrences"
        else:
            level = o.good_threshold
            assert level is not None
            sli["spec"]["thresholdMetric"] = _source(p.value_expr())
            objective.update(op="lte" if o.info.higher_is_worse else "gte",
                             value=round(level, 12), timeSliceTarget=1.0,
                             timeSliceWindow=p.step)
            method = "Timeslices"
        conditions = []
        for t in p.tiers:
            conditions.append({
                "kind": "AlertCondition",
                "metadata": {"name": t.name},
                "spec": {"severity": t.severity, "condition": {
                    "kind": "burnrate", "op": "gt", "threshold": round(t.factor, 10),
                    "lookbackWindow": format_duration(t.long),
                    "alertAfter": format_duration(t.short)}}})
        slo: dict[str, Any] = {
            "apiVersion": API, "kind": "SLO",
            "metadata": {"name": o.name, **({"labels": {k: [v] for k, v in o.labels.items()}}
                                              if o.labels else {})},
            "spec": {**({"description": o.description} if o.description else {}),
                     "service": spec.service, "indicatorRef": sli["metadata"]["name"],
                     "timeWindow": [{"duration": format_duration(o.window), "isRolling": True}],
                     "budgetingMethod": method, "objectives": [objective]}}
        if conditions:
            policy_name = f"{o.name}-burn-rate"
            policy: dict[str, Any] = {"apiVersion": API, "kind": "AlertPolicy",
                      "metadata": {"name": policy_name},
                      "spec": {"alertWhenBreaching": True, "alertWhenResolved": True,
                               "alertWhenNoData": o.no_data_alert,
                               "conditions": conditions}}
            slo["spec"]["alertPolicies"] = [policy_name]
            docs += [sli, policy, slo]
        else:
            docs += [sli, slo]
    return docs, skipped
