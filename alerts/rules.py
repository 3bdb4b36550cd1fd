"""Spec → Prometheus rule groups: recording rules, threshold alerts, multi-window multi-burn-rate
alerts and absent-data alerts. One group per objective, so its recording rules are evaluated before
the alerts that read them.
"""

from __future__ import annotations

from typing import Any

from agent import catalogue as cat
from agent.sli import (
    Level,
    ObjectivePlan,
    detail_uid,
    panel_url,
    plans,
    prom_duration,
    runbook_url,
)
from agent.spec.document import Spec, TierWindows
from agent.spec.promql_syntax import counting_function
from agent.spec.signals import SLIType
from agent.units import Unit, format_duration, format_value

Rule = dict[str, Any]


def _value_template(unit: Unit) -> str:
    if unit is Unit.SECONDS:
        return "{{ $value | humanizeDuration }}"
    if unit is Unit.RATIO:
        return "{{ $value | humanizePercentage }}"
    return '{{ $value | printf "%.4g" }}'


#: labels slo-agent sets on burn alerts, named so that they cannot collide with a team's own
TIER_LABEL, LONG_LABEL, SHORT_LABEL, FACTOR_LABEL = (
    cat.TIER_LABEL, "slo_agent_long_window", "slo_agent_short_window", "slo_agent_burn_factor")


def _common_labels(p: ObjectivePlan, severity: str, own: dict[str, str] | None = None
                   ) -> dict[str, str]:
    """A label the team wrote (spec, objective) is never overwritten: ``severity`` and our
    ``slo_agent_*`` labels are set only where the team set none. The objective's identity
    labels (service, objective, signal) are reserved (the importers refuse them)."""
    labels = dict(p.spec.alerting.labels)
    labels.update(p.o.labels)
    labels.update(p.labels)
    for key, value in {"severity": severity, **(own or {})}.items():
        labels.setdefault(key, value)
    return labels


def _annotations(p: ObjectivePlan, summary: str, description: str,
                 extra: dict[str, str] | None = None) -> dict[str, str]:
    out = {"summary": summary, "description": description, "dashboard": panel_url(p.spec, p.o)}
    rb = runbook_url(p.spec, p.o)
    if rb:
        out["runbook_url"] = rb
    out.update(p.o.annotations)
    out.update(extra or {})
    return out


def recording_rules(p: ObjectivePlan) -> list[Rule]:
    # intermediate series first (a group evaluates in order); each aggregates the replica
    # labels away and carries the objective's labels, unique across groups
    rules: list[Rule] = [{"record": name, "expr": expr, "labels": p.labels}
                         for name, expr in p.recordings()]
    rules.append({"record": cat.RULE_VALUE, "expr": p.value_expr(), "labels": p.labels})
    if p.o.has_target:
        bad, total = p.sli_step_exprs()
        # every recorded series carries the objective's labels: unique across groups
        rules.append({"record": p.bad_name, "expr": bad, "labels": p.labels})
        rules.append({"record": p.total_name, "expr": total, "labels": p.labels})
        for seconds in p.window_seconds:
            rules.append({"record": p.ratio_name(seconds), "expr": p.ratio_expr(seconds),
                          "labels": p.labels})
        rules.append({
            "record": cat.RULE_BUDGET_REMAINING,
            "expr": f"1 - {p.ratio_name(p.o.window)}{p.rec_matchers} / {p.o.error_budget:.10g}",
            "labels": p.labels,
        })
        rules.append({"record": cat.RULE_OBJECTIVE, "expr": f"vector({p.o.objective:.10g})",
                      "labels": p.labels})
    info = dict(p.labels)
    info[cat.INFO_DASHBOARD_LABEL] = detail_uid(p.spec, p.o)
    if p.o.has_target:
        info[cat.INFO_WINDOW_LABEL] = format_duration(p.o.window)
    for key, value in (("owner", p.o.owner or p.spec.owner), ("team", p.spec.team),
                       ("description", p.o.description), ("runbook", runbook_url(p.spec, p.o))):
        if value:
            info[key] = value
    rules.append({"record": cat.RULE_INFO, "expr": "vector(1)", "labels": info})
    return rules


def threshold_alert(p: ObjectivePlan, level: Level) -> Rule:
    unit = p.o.info.unit
    way = "above" if p.o.info.higher_is_worse else "below"
    what = p.o.info.title.lower() + (f" p{p.o.quantile * 100:g}" if p.o.quantile else "")
    shown = None if level.constant is None else format_value(level.constant, unit)
    resolved = "" if shown is None or shown == level.text else f" ({shown})"
    return {
        "alert": f"{p.alert_base}{level.severity.capitalize()}",
        "expr": p.threshold_expr(level),
        "for": format_duration(p.o.for_),
        "labels": _common_labels(p, level.severity),
        "annotations": _annotations(
            p,
            f"{p.o.name}: {what} is {_value_template(unit)}, {way} the {level.severity} level "
            f"{level.text}{resolved}",
            f"{p.o.info.title} of {p.spec.service} ({p.o.name}) has been {way} {level.text} "
            f"for {format_duration(p.o.for_)}." + (f" {p.o.description}" if p.o.description
                                                   else ""),
        ),
    }


def min_events_guard(p: ObjectivePlan, tier: TierWindows) -> str | None:
    """A page tier fires only with ``alerting.page_min_events`` bad events in its long window:
    one failure at a request per ten minutes is a 100% error ratio, not an incident."""
    need = p.spec.alerting.page_min_events
    if not need or tier.severity != "critical":
        return None
    bad = p.bad_events_expr(tier.long)
    return None if bad is None else f"(\n{bad}\n) >= {need}"


def _step_seconds(p: ObjectivePlan) -> float | None:
    """What the recorded step total is divided by to read requests per second: the step for an
    increase, 1 for a team's query that is already a rate; None where it counts no requests (a
    raw error ratio, a query that is neither), so no traffic guard applies."""
    c = p.o.custom
    if c is None:
        return p.spec.alerting.rate_window
    fn = counting_function(c.total) if c.total is not None else None
    return None if fn is None else 1.0 if fn == "rate" else p.spec.alerting.rate_window


def burn_alert(p: ObjectivePlan, tier: TierWindows) -> Rule:
    factor = tier.factor
    long_w, short_w = prom_duration(tier.long), prom_duration(tier.short)
    expr = (f"({p.burn_expr(tier.long)} > {factor:.10g})\nand\n"
            f"({p.burn_expr(tier.short)} > {factor:.10g})")
    guard = p.spec.alerting.min_request_rate
    per = _step_seconds(p)
    if guard and p.sli_type is SLIType.EVENTS and per is not None:
        expr += f"\nand\n({p.total_name}{p.rec_matchers} / {per:g} >= {guard:.10g})"
    events = min_events_guard(p, tier)
    if events is not None:       # matched on the query's own labels, if it keeps any
        expr += (f"\nand ignoring({cat.SERVICE_LABEL}, objective, signal)\n{events}")
    exhaustion = format_duration(tier.exhaustion)
    labels = _common_labels(p, tier.severity, {
        TIER_LABEL: tier.name, LONG_LABEL: long_w, SHORT_LABEL: short_w,
        FACTOR_LABEL: f"{factor:g}"})
    labels.update(tier.labels)
    target = f"{p.o.objective * 100:g}%" if p.o.objective is not None else ""
    rule: Rule = {
        "alert": p.burn_alert_name,
        "expr": expr,
        "labels": labels,
        "annotations": _annotations(
            p,
            f"{p.o.name}: error budget burning at {{{{ $value | printf \"%.1f\" }}}}x over "
            f"{long_w} (tier {tier.name}, threshold {factor:g}x)",
            f"The {target} / {format_duration(p.o.window)} objective {p.o.name} is spending "
            f"its error budget {factor:g}x faster than sustainable in both the {long_w} and "
            f"{short_w} windows; at that burn the whole budget is gone in {exhaustion}.",
            tier.annotations),
    }
    if tier.for_:
        rule["for"] = format_duration(tier.for_)
    return rule


def absent_alert(p: ObjectivePlan) -> Rule:
    window = format_duration(p.spec.alerting.absent_for)
    return {
        "alert": f"{p.alert_base}NoData",
        "expr": f"absent_over_time({p.absent_selector}[{window}])",
        "labels": _common_labels(p, "warning"),
        "annotations": _annotations(
            p, f"{p.o.name}: no {p.source_series} series for {window}",
            f"Nothing has reported {p.absent_selector} for {window}, so "
            f"{p.o.name} cannot be evaluated: check the exporter, the scrape job and labels.",
        ),
    }


def objective_group(p: ObjectivePlan, alerts: bool = True) -> dict[str, Any]:
    """The objective's rule group; ``alerts=False`` keeps only the recording rules (when Grafana
    evaluates the alerts)."""
    rules = recording_rules(p)
    if alerts:
        rules.extend(threshold_alert(p, level) for level in p.levels)
        rules.extend(burn_alert(p, tier) for tier in p.tiers)
        if p.o.no_data_alert:
            rules.append(absent_alert(p))
    return {"name": f"slo-agent:{p.spec.service}:{p.o.name}",
            "interval": format_duration(p.spec.alerting.evaluation_interval), "rules": rules}


def rule_groups(spec: Spec) -> dict[str, Any]:
    return {"groups": [objective_group(p) for p in plans(spec)]}


def lint(spec: Spec, ps: list[ObjectivePlan] | None = None) -> list[str]:
    """Warnings about objectives whose alerts cannot work as the user expects (``ps``: the
    plans a render already made)."""
    out = []
    scrape = spec.alerting.scrape_interval
    if spec.alerting.rate_window < 4 * scrape:
        out.append(f"alerting.rate_window {format_duration(spec.alerting.rate_window)} is under "
                   f"4 scrape intervals ({format_duration(4 * scrape)}): rates will be gappy")
    for p in plans(spec) if ps is None else ps:
        for tier in p.tiers:
            level = p.tier_threshold(tier)
            if level >= 1.0:
                out.append(f"{p.o.name}: burn tier {tier.name} needs an error ratio of "
                           f"{level:.3g} (factor {tier.factor:g} x budget "
                           f"{p.o.error_budget:.3g}) and can never fire; loosen the target or "
                           "disable the tier")
            if tier.short < 4 * scrape:
                out.append(f"{p.o.name}: tier {tier.name} short window "
                           f"{format_duration(tier.short)} is under 4 scrape intervals")
    return out
