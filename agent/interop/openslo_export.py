"""slo.yaml → OpenSLO v1: every objective with a target becomes an ``SLO`` with its ``SLI`` (a
``ratioMetric`` of Prometheus counters for event SLIs, the team's own queries for custom ones, a
``rawType``/``raw`` ratio for a raw error ratio, a ``thresholdMetric`` for time-slice SLIs) and an
``AlertPolicy`` per burn-rate tier, by the OpenSLO v1 book: one ``AlertCondition`` each
(``kind: burnrate``, ``op: gt``, the threshold is the factor, ``lookbackWindow`` the long window,
``alertAfter`` the tier's ``for``; the short window in the condition's annotation
``slo-agent/short-window``), notification targets from the receivers of the generated
Alertmanager configuration (by the tier's severity), and an ``AlertNotificationTarget`` for each;
the burn alerts' name rides in the SLO's annotation ``slo-agent/alert-name``, and a name that is
no RFC 1123 label (what every OpenSLO tool must accept) is written as one, the original kept in
``slo-agent/name`` (``slo-agent/service``).
:mod:`agent.interop.openslo` reads the same shapes back, so export → import keeps the spec.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from agent.interop.openslo import API
from agent.interop.openslo_alerts import (
    ALERT_NAME,
    ANNOTATION,
    NAME,
    NO_DATA,
    SERVICE,
    SHORT_WINDOW,
)
from agent.sli import ObjectivePlan, plans
from agent.spec.burn import SHORT_DIVISOR, round_to
from agent.spec.document import Alerting, Spec, TierWindows
from agent.spec.signals import SLIType
from agent.units import format_duration


def _source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


_SUMMED = re.compile(r"sum\(increase\(([^\[]+)\[W\]\)\)")


def counters(p: ObjectivePlan) -> tuple[str, str, str] | None:
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


def _targets(routing: dict[str, Any]) -> list[dict[str, Any]]:
    """An AlertNotificationTarget per receiver of the generated Alertmanager configuration."""
    out = []
    for rcv in routing["receivers"]:
        kinds = [k.removesuffix("_configs") for k in rcv if k.endswith("_configs")]
        out.append({"apiVersion": API, "kind": "AlertNotificationTarget",
                    "metadata": {"name": rcv["name"]},
                    "spec": {"target": kinds[0] if kinds else "alertmanager",
                             "description": f"Alertmanager receiver {rcv['name']!r} of the "
                                            "generated alertmanager.yml"}})
    return out


def receiver(routing: dict[str, Any], severity: str) -> str:
    """The receiver an Alertmanager configuration's routes send an alert of ``severity`` to."""
    route = routing["route"]
    for sub in route.get("routes", []):
        if f'severity="{severity}"' in sub.get("matchers", []):
            return str(sub["receiver"])
    return str(route["receiver"])


def _policy(objective: str, t: TierWindows, no_data: bool, targets: dict[str, str]
            ) -> dict[str, Any]:
    """One AlertPolicy per tier: OpenSLO v1 allows one condition per policy."""
    return {"apiVersion": API, "kind": "AlertPolicy",
            "metadata": {"name": dns_name(f"{objective}-{t.name}")},
            "spec": {"description": f"burn-rate tier {t.name} of {objective}",
                     "alertWhenBreaching": True, "alertWhenResolved": True,
                     "alertWhenNoData": no_data,
                     "conditions": [{
                         "kind": "AlertCondition",
                         "metadata": _condition_meta(t),
                         "spec": {"description": f"{t.factor:g}x burn over "
                                                 f"{format_duration(t.long)}",
                                  "severity": t.severity, "condition": {
                                      "kind": "burnrate", "op": "gt",
                                      "threshold": round(t.factor, 10),
                                      "lookbackWindow": shorthand(t.long),
                                      "alertAfter": shorthand(t.for_)}}}],
                     "notificationTargets": [{"targetRef": targets[t.severity]}]}}


def _condition_meta(t: TierWindows) -> dict[str, Any]:
    """A tier's name, labels and alert annotations, and its short window unless it is the one
    an import derives anyway (the spec's default: 1/12 of the long window)."""
    a = Alerting()
    ann = {f"{ANNOTATION}{k}": v for k, v in t.annotations.items()}
    if t.short != max(round_to(t.long / SHORT_DIVISOR, a.evaluation_interval), a.rate_window):
        ann[SHORT_WINDOW] = shorthand(t.short)
    return {"name": t.name, **({"labels": {k: [v] for k, v in t.labels.items()}}
                               if t.labels else {}),
            **({"annotations": ann} if ann else {})}


_UNITS = (("d", 86400), ("h", 3600), ("m", 60))     # 28d, not 4w: as SLOs are written


def shorthand(seconds: float) -> str:
    """OpenSLO's duration-shorthand: one whole number and one unit (``4032m``, not
    ``2d19h12m``); a duration that is no whole number of minutes has none."""
    if seconds == 0:
        return "0m"
    for unit, size in _UNITS:
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    raise ValueError(f"{format_duration(seconds)} is no whole number of minutes, and OpenSLO "
                     "durations are (duration-shorthand)")


def dns_name(text: str) -> str:
    """An RFC 1123 label (what every OpenSLO implementation must accept as a name)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if len(name) <= 63:
        return name
    return name[:54].rstrip("-") + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]


def export(spec: Spec, routing: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(documents, objective → why it was not exported: no target, or a duration OpenSLO's
    shorthand cannot write). ``routing`` is the Alertmanager configuration generated for the
    spec (alerts.alertmanager.config), whose receivers become the notification targets."""
    targets = {sev: receiver(routing, sev) for sev in ("critical", "warning")}
    docs: list[dict[str, Any]] = [{"apiVersion": API, "kind": "Service",
                                   "metadata": {"name": dns_name(spec.service)},
                                   "spec": {"description": f"{spec.service} "
                                                           f"({spec.environment})"}}]
    skipped: dict[str, str] = {}
    for p in plans(spec):
        if not p.o.has_target:
            skipped[p.o.name] = "an OpenSLO SLO needs a target"
            continue
        try:
            docs += _objective(p, targets)
        except ValueError as exc:
            skipped[p.o.name] = str(exc)
    used = {ref["targetRef"] for d in docs if d["kind"] == "AlertPolicy"
            for ref in d["spec"]["notificationTargets"]}
    docs[1:1] = [t for t in _targets(routing) if t["metadata"]["name"] in used]
    return docs, skipped


def _objective(p: ObjectivePlan, targets: dict[str, str]) -> list[dict[str, Any]]:
    """SLI, AlertPolicies and SLO of one objective with a target."""
    o, spec = p.o, p.spec
    assert o.objective is not None
    sli: dict[str, Any] = {"apiVersion": API, "kind": "SLI",
                           "metadata": {"name": dns_name(f"{o.name}-sli")},
                           "spec": {"description": o.info.title}}
    objective: dict[str, Any] = {"displayName": o.name, "target": round(o.objective, 10)}
    events = counters(p) if p.sli_type is SLIType.EVENTS else None
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
                         timeSliceWindow=shorthand(p.spec.alerting.rate_window))
        method = "Timeslices"
    meta: dict[str, Any] = {"name": dns_name(o.name)}
    if o.labels:
        meta["labels"] = {k: [v] for k, v in o.labels.items()}
    kept = {NAME: o.name if o.name != meta["name"] else None,
            SERVICE: spec.service if spec.service != dns_name(spec.service) else None,
            ALERT_NAME: o.alert_name,
            NO_DATA: str(o.no_data_alert).lower() if not p.tiers else None,
            **{f"{ANNOTATION}{k}": v for k, v in o.annotations.items()}}
    if any(kept.values()):
        meta["annotations"] = {k: v for k, v in kept.items() if v}
    slo: dict[str, Any] = {
        "apiVersion": API, "kind": "SLO", "metadata": meta,
        "spec": {**({"description": o.description} if o.description else {}),
                 "service": dns_name(spec.service), "indicatorRef": sli["metadata"]["name"],
                 "timeWindow": [{"duration": shorthand(o.window), "isRolling": True}],
                 "budgetingMethod": method, "objectives": [objective]}}
    policies = [_policy(o.name, t, o.no_data_alert, targets) for t in p.tiers]
    if policies:
        slo["spec"]["alertPolicies"] = [{"alertPolicyRef": d["metadata"]["name"]}
                                        for d in policies]
    return [sli, *policies, slo]
