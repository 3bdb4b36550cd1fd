"""Spec → Prometheus rule groups: recording rules, threshold alerts, multi-window multi-burn-rate
alerts and absent-data alerts. One group per objective, so its recording rules are evaluated before
the alerts that read them, and one service group with the service-wide no-data alert.

Start-up: a burn window holding less data than its length counts the missing part as unknown, so
a tier fires only when the bad events seen already spend the tier's budget share, as they would
have to after a clean full history (the tier's factor is divided by the window's coverage, the
share of it that holds data; one recording per objective holds how long its data has run, at
most the longest window: it extends its own last value, seeded from stored samples only where it
has none, see :mod:`alerts.history`).
A bad deploy where most requests fail still pages within minutes.
"""

from __future__ import annotations

from typing import Any

from agent import catalogue as cat
from agent.sli import (
    Level,
    ObjectivePlan,
    dashboard_uid,
    detail_uid,
    panel_url,
    plans,
    prom_duration,
    runbook_url,
)
from agent.spec.document import Spec, TierWindows
from agent.spec.promql_syntax import counting_function
from agent.spec.signals import SLIType
from agent.units import format_duration
from alerts import text
from alerts.history import coverage_expr, history_expr

Rule = dict[str, Any]


#: labels slo-agent sets on burn alerts, named so that they cannot collide with a team's own
TIER_LABEL, LONG_LABEL, SHORT_LABEL, FACTOR_LABEL = (
    cat.TIER_LABEL, "slo_agent_long_window", "slo_agent_short_window", "slo_agent_burn_factor")
#: the service-wide no-data alert carries this label (the Alertmanager config quiets the rest of
#: the service while it fires)
SCOPE_LABEL, SERVICE_SCOPE = "slo_agent_scope", "service"
SERVICE_NO_DATA = "SloAgentServiceNoData"
#: the file stem of the service's own rule group (objective names start with a letter)
SERVICE_FILE = "_service"


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
    if p.o.has_target or p.bounded:     # a ratio's bound reads the step's events too
        bad, total = p.sli_step_exprs()
        # every recorded series carries the objective's labels: unique across groups
        rules.append({"record": p.bad_name, "expr": bad, "labels": p.labels})
        rules.append({"record": p.total_name, "expr": total, "labels": p.labels})
    if p.bounded:
        rules.append({"record": cat.RULE_BOUND, "expr": p.bound_expr(), "labels": p.labels})
    if p.o.has_target:
        for seconds in p.window_seconds:
            rules.append({"record": p.ratio_name(seconds), "expr": p.ratio_expr(seconds),
                          "labels": p.labels})
        if p.coverage_seconds:
            rules.append({"record": p.history_name, "expr": history_expr(p),
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
    return {
        "alert": f"{p.alert_base}{level.severity.capitalize()}",
        "expr": p.threshold_expr(level),
        "for": format_duration(p.o.for_),
        "labels": _common_labels(p, level.severity),
        "annotations": _annotations(p, text.render(text.threshold_summary(p, level)),
                                    text.render(text.threshold_description(p, level))),
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


def burn_condition(p: ObjectivePlan, seconds: float, factor: float) -> str:
    """The window burns faster than ``factor``; a window holding less data than its length
    needs ``factor / coverage`` (the missing part counts as unknown, not as good or bad)."""
    if seconds not in p.coverage_seconds:
        return f"{p.burn_expr(seconds)} > {factor:.10g}"
    on = f"on({cat.SERVICE_LABEL}, objective, signal) group_left"
    return f"{p.burn_expr(seconds)} > {on} {factor:.10g} / {coverage_expr(p, seconds)}"


def tier_condition(p: ObjectivePlan, tier: TierWindows) -> str:
    """The tier's own condition: both windows burn faster than its threshold (over their
    coverage), with the traffic guard and a page tier's minimum bad events."""
    factor = tier.factor
    expr = (f"({burn_condition(p, tier.long, factor)})\nand\n"
            f"({burn_condition(p, tier.short, factor)})")
    guard = p.spec.alerting.min_request_rate
    per = _step_seconds(p)
    if guard and p.sli_type is SLIType.EVENTS and per is not None:
        expr += f"\nand\n({p.total_name}{p.rec_matchers} / {per:g} >= {guard:.10g})"
    events = min_events_guard(p, tier)
    if events is not None:       # matched on the query's own labels, if it keeps any
        expr += (f"\nand ignoring({cat.SERVICE_LABEL}, objective, signal)\n{events}")
    return expr


def slower_tiers(p: ObjectivePlan, tier: TierWindows) -> list[TierWindows]:
    """The objective's tiers of the same severity with longer windows: the Alertmanager config
    quiets them while this one fires."""
    return [t for t in p.tiers if t.severity == tier.severity and t.name != tier.name
            and (t.long, t.short) > (tier.long, tier.short)]


def burn_alert(p: ObjectivePlan, tier: TierWindows) -> Rule:
    """A tier's alert. A tier that quiets slower ones stays firing while one of them still
    does (held), so an incident pages once and resolves once: otherwise the slower tier, quiet
    until now, would page again when this one clears."""
    long_w, short_w = prom_duration(tier.long), prom_duration(tier.short)
    labels = _common_labels(p, tier.severity, {
        TIER_LABEL: tier.name, LONG_LABEL: long_w, SHORT_LABEL: short_w,
        FACTOR_LABEL: f"{tier.factor:g}"})
    labels.update(tier.labels)
    expr = tier_condition(p, tier)
    slower = slower_tiers(p, tier)
    if slower:      # matched on every label of the series (a query may keep its own)
        me = cat.label_matchers({"alertname": p.burn_alert_name,
                                 cat.SERVICE_LABEL: p.spec.service, "objective": p.o.name,
                                 TIER_LABEL: labels[TIER_LABEL]}, ['alertstate="firing"'])
        added = sorted({"alertname", "alertstate", *labels} - set(p.labels))
        held = "\nor\n".join(f"(\n{tier_condition(p, t)}\n)" for t in slower)
        expr = (f"(\n{expr}\n)\nor\n(\n{p.burn_expr(tier.long)}\nand\n(\n{held}\n)\n"
                f"and ignoring({', '.join(added)})\nALERTS{me}\n)")
    rule: Rule = {
        "alert": p.burn_alert_name,
        "expr": expr,
        "labels": labels,
        "annotations": _annotations(
            p, text.render(text.burn_summary(p, tier)),
            text.render(text.burn_description(p, tier, [t.name for t in slower])),
            tier.annotations),
    }
    if tier.for_:
        rule["for"] = format_duration(tier.for_)
    return rule


def no_data_for(p: ObjectivePlan) -> float:
    """How long an objective's no-data alert waits: long enough for the service-wide one, which
    another group evaluates and whose last series may stop a scrape later, to fire first."""
    a = p.spec.alerting
    return 2 * a.evaluation_interval + a.scrape_interval


def _service_silent(spec: Spec) -> str:
    return (f'ALERTS{{alertname="{SERVICE_NO_DATA}",'
            f'{cat.SERVICE_LABEL}="{spec.service}"}}')


def absent_alert(p: ObjectivePlan) -> Rule:
    window = format_duration(p.spec.alerting.absent_for)
    return {
        "alert": f"{p.alert_base}NoData",
        "expr": (f"absent_over_time({p.absent_selector}[{window}])\n"
                 f"unless on() {_service_silent(p.spec)}"),
        "for": format_duration(no_data_for(p)),
        "labels": _common_labels(p, "warning"),
        "annotations": _annotations(
            p, f"{p.o.name}: no {p.source_series} series for {window}",
            f"Nothing has reported {p.absent_selector} for {window}, so "
            f"{p.o.name} cannot be evaluated: check the exporter, the scrape job and labels."
            + text.links(p),
        ),
    }


def service_absent_selectors(spec: Spec) -> list[str]:
    """What the objectives' no-data alerts watch, each once, in spec order."""
    out: list[str] = []
    for p in plans(spec):
        if p.o.no_data_alert and p.absent_selector not in out:
            out.append(p.absent_selector)
    return out


def service_absent_alert(spec: Spec) -> Rule | None:
    """The service went silent: none of the series its objectives read reported for
    ``alerting.absent_for``. A page, and it quiets every other alert of the service (the
    objectives' own no-data alerts stay quiet while it fires)."""
    selectors = service_absent_selectors(spec)
    if not selectors:
        return None
    window = format_duration(spec.alerting.absent_for)
    expr = "vector(1)" + "".join(f"\nand on() absent_over_time({s}[{window}])"
                                 for s in selectors)
    labels = dict(spec.alerting.labels)
    labels.update({cat.SERVICE_LABEL: spec.service})
    labels.setdefault("severity", "critical")
    labels[SCOPE_LABEL] = SERVICE_SCOPE
    dashboard = f"{spec.alerting.grafana_url.rstrip('/')}/d/{dashboard_uid(spec)}"
    template = spec.alerting.runbook_url
    runbook = None if not template else (template.replace("{objective}", SERVICE_NO_DATA)
                                         .replace("{service}", spec.service))
    annotations = {
        "summary": f"{spec.service}: no series of any objective for {window}",
        "description": f"Nothing has reported any of the {len(selectors)} series the "
                       f"objectives of {spec.service} read for {window}: the service, its "
                       "exporters or its scrape jobs are down, so no objective can be "
                       "evaluated; the service's other alerts are quiet until data returns. "
                       f"Dashboard: {dashboard}" + (f" Runbook: {runbook}" if runbook else ""),
        "dashboard": dashboard}
    if runbook:
        annotations["runbook_url"] = runbook
    return {"alert": SERVICE_NO_DATA, "expr": expr, "labels": labels,
            "annotations": annotations}


def service_group(spec: Spec) -> dict[str, Any] | None:
    """The service's own group (the service-wide no-data alert); None when no objective has a
    no-data alert."""
    rule = service_absent_alert(spec)
    if rule is None:
        return None
    return {"name": f"slo-agent:{spec.service}",
            "interval": format_duration(spec.alerting.evaluation_interval), "rules": [rule]}


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
    groups = [objective_group(p) for p in plans(spec)]
    service = service_group(spec)
    return {"groups": groups + ([service] if service is not None else [])}


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
