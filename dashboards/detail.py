"""One detail dashboard per objective, what Sloth's "SLO / Detail" and Pyrra's detail page show and
more: target, SLI and budget as stats; the SLI against its thresholds (panel 1: alert annotations
link to it) and against the target; budget remaining burning down over the objective's window (the
default time range); burn rate per tier against each tier's factor, and a table of the tiers
(windows, factors, firing now); firing alerts and the sidecar's
state transitions as annotations; the runbook as a link."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard, ThresholdsConfig
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue, Threshold, ThresholdsMode

from agent import catalogue as cat
from agent.sli import ObjectivePlan, dashboard_uid, detail_uid, runbook_url
from agent.spec.document import TierWindows
from agent.units import format_duration
from dashboards.annotations import ALERTS, alert_annotations
from dashboards.panels import (
    BURN_UNIT,
    GREEN,
    RED,
    STATE_NAMES,
    YELLOW,
    budget_steps,
    link,
    query,
    series_panel,
    signal_matchers,
    stat_panel,
    state_timeline,
)
from dashboards.tiers import tiers_table
from dashboards.variables import finish

SLI_PANEL_ID = 1
DEFAULT_RANGE = "now-24h"


def fastest(p: ObjectivePlan) -> TierWindows | None:
    """The tier the 'current' burn is read over: the paging tier with the shortest long
    window, else the fastest ticket tier."""
    pages = [t for t in p.tiers if t.severity == "critical"]
    return min(pages or p.tiers, key=lambda t: t.long, default=None)


def burn_steps(p: ObjectivePlan) -> list[Threshold]:
    """Colours of the burn over :func:`fastest`'s long window, from the objective's own tiers:
    red from that tier's threshold when it pages, yellow from the lowest threshold of any tier
    (the burn at which something starts to ticket or page)."""
    tier = fastest(p)
    steps = [Threshold(value=None, color=GREEN)]
    if tier is None:
        return steps
    low = min(t.factor for t in p.tiers)
    red = tier.factor if tier.severity == "critical" else None
    if red is None or low < red:
        steps.append(Threshold(value=low, color=YELLOW))
    if red is not None:
        steps.append(Threshold(value=red, color=RED))
    return steps


def _target_text(p: ObjectivePlan) -> str:
    return f"{(p.o.objective or 0) * 100:g}%"


def _level_text(p: ObjectivePlan) -> str:
    parts = [f"{lv.severity} {lv.text}" for lv in p.levels]
    way = "above" if p.o.info.higher_is_worse else "below"
    return (f"dashed lines: {', '.join(parts)} (a breach is strictly {way})" if parts
            else "no warning or critical level set")


def sli_panel(p: ObjectivePlan) -> Any:
    spec, o = p.spec, p.o
    m = signal_matchers(spec.service, o.signal, o.selector.items())
    targets = [query(p.value_expr(m, "$__rate_interval"), o.name)]
    for lv in p.levels:
        if lv.constant is None:
            metric = cat.OBJECTIVE_WARNING if lv.severity == "warning" else cat.OBJECTIVE_CRITICAL
            targets.append(query(lv.line or f"max({metric.name}{p.rec_matchers})",
                                 f"{lv.severity} ({lv.text})", ref=lv.severity[0].upper()))
    if any(lv.threshold.base is not None and lv.threshold.base.value == "baseline"
           for lv in p.levels):
        targets.append(query(f"max({cat.OBJECTIVE_BASELINE.name}{p.rec_matchers})",
                             "baseline", ref="BL"))
    what = (o.description + " " if o.description else "") + f"{o.info.title} of {spec.service}"
    panel = series_panel(f"{o.info.title}: {o.name}", o.info.grafana_unit, targets,
                         f"{what}, as Prometheus computes it from the exported series; "
                         f"{_level_text(p)}. Relative levels are drawn from the sidecar's "
                         "resolved-threshold series.", p=p, width=24)
    if o.signal in STATE_NAMES:
        names = ", ".join(f"{i} {n}" for i, n in enumerate(STATE_NAMES[o.signal]))
        panel = panel.description(f"{o.info.title}: {names}; {_level_text(p)}.")
    rb = runbook_url(spec, o)
    return panel.links([link("Runbook", rb)]) if rb else panel


def _stats(p: ObjectivePlan) -> list[Any]:
    o, rm = p.o, p.rec_matchers
    firing = cat.label_matchers({cat.SERVICE_LABEL: p.spec.service, "objective": o.name},
                                ['alertstate="firing"'])
    out: list[Any] = [
        stat_panel("State (sidecar)", "none", query(f"max({cat.OBJECTIVE_STATE.name}{rm})",
                                                    "state", instant=True),
                   "The sidecar's judgement now: ok, warning or critical against the spec's "
                   "levels (after `for`), or no data.", state=True),
        stat_panel("Alerts firing", "none", query(
            f"count({ALERTS}{firing}) or vector(0)", "firing", instant=True),
            "Alerts of this objective firing in Prometheus now (threshold, burn-rate and "
            "absent-data alerts); red from one.", steps_=[
                Threshold(value=None, color=GREEN), Threshold(value=1, color=RED)]),
    ]
    if not o.has_target:
        return out
    window = format_duration(o.window)
    target = o.objective
    assert target is not None
    out.insert(0, stat_panel("Target", "percentunit", query(
        f"max({cat.RULE_OBJECTIVE}{rm})", "target", instant=True),
        f"The objective: {target * 100:g}% of events (or time) good over {window}.",
        steps_=[Threshold(value=None, color="blue")]).decimals(3))
    out.insert(1, stat_panel(f"SLI ({window})", "percentunit", query(
        f"1 - {p.ratio_name(o.window)}{rm}", "SLI", instant=True),
        f"Good share over the last {window}; red below the {target * 100:g}% target.",
        steps_=[Threshold(value=None, color=RED), Threshold(value=target, color=GREEN)])
        .decimals(3))
    out.insert(2, stat_panel("Error budget remaining", "percentunit", query(
        f"{cat.RULE_BUDGET_REMAINING}{rm}", "remaining", instant=True),
        f"Share of the {window} error budget ({o.error_budget:.4g} of events) not yet spent; "
        "negative once overspent. Red once spent, yellow under 25%.", steps_=budget_steps()))
    tier = fastest(p)
    if tier is not None:
        steps = burn_steps(p)
        said = ", ".join(f"{s.color} from {s.value:g}×" for s in steps[1:])
        out.insert(3, stat_panel(f"Burn rate ({format_duration(tier.long)})", BURN_UNIT, query(
            p.burn_expr(tier.long), "burn", instant=True),
            f"How fast the budget is spent over the long window of {tier.name} "
            f"({format_duration(tier.long)}); 1× spends it exactly over {window}. This "
            f"objective's own thresholds: {said} ({tier.name} "
            f"{'pages' if tier.severity == 'critical' else 'tickets'} above "
            f"{tier.factor:g}×).", steps_=steps).decimals(2))
    return out


def _budget_panels(p: ObjectivePlan) -> list[Any]:
    o, rm = p.o, p.rec_matchers
    window, step = format_duration(o.window), p.step
    good = [query(f"1 - {p.ratio_name(s)}{rm}", f"SLI over {format_duration(s)}", ref=f"G{i}")
            for i, s in enumerate((p.spec.alerting.rate_window, o.window))]
    good.append(query(f"max({cat.RULE_OBJECTIVE}{rm})", "target", ref="T"))
    ratio = [query(f"{p.ratio_name(w)}{rm}", format_duration(w), ref=f"W{i}")
             for i, w in enumerate(p.window_seconds)]
    ratio.append(query(f"1 - max({cat.RULE_OBJECTIVE}{rm})", "error budget", ref="B"))
    line = [DynamicConfigValue("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
            DynamicConfigValue("color", {"mode": "fixed", "fixedColor": RED})]
    return [
        series_panel("SLI against the target", "percentunit", good,
                     f"Good share of events (or time) per {step} step and over the {window} "
                     f"window; the red dashed line is the {_target_text(p)} target.", width=12)
        .override_by_query("T", line),
        series_panel("Error ratio per window", "percentunit", ratio,
                     "Bad share per window the burn-rate tiers use; the red dashed line is the "
                     f"error budget ({o.error_budget:.4g}): a window above it burns faster "
                     "than sustainable.", width=12).override_by_query("B", line),
        series_panel(f"Error budget remaining over {window}", "percentunit", [query(
            f"{cat.RULE_BUDGET_REMAINING}{rm}", "budget remaining")],
            f"Budget left at each moment, over the trailing {window}: it burns down as bad "
            "events come and recovers as they leave the window. Below 0 the objective is "
            "missed; yellow under 25%.", width=24)
        .thresholds(_steps(budget_steps()))
        .override_by_query("A", [DynamicConfigValue("custom.thresholdsStyle",
                                                    {"mode": "line+area"})]),
    ]


def _steps(st: list[Threshold]) -> ThresholdsConfig:
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(st)


def burn_panel(p: ObjectivePlan) -> Any:
    targets, factors = [], []
    for i, tier in enumerate(p.tiers):
        for which, seconds in (("long", tier.long), ("short", tier.short)):
            targets.append(query(p.burn_expr(seconds),
                                 f"{tier.name} {which} {format_duration(seconds)} (× budget)",
                                 ref=f"{which[0].upper()}{i}"))
        factors.append(query(f"vector({tier.factor:.10g})",
                             f"{tier.name} factor {tier.factor:g}× ({tier.severity})",
                             ref=f"F{i}"))
    panel = series_panel("Burn rate per tier", BURN_UNIT, [*targets, *factors],
                         "Error-budget burn rate over each tier's long and short window (1× "
                         f"spends the budget exactly over {format_duration(p.o.window)}). Dashed "
                         "lines are the tiers' factors: a tier alerts when both its windows are "
                         "above its factor (red: pages, yellow: tickets).", width=24)
    for i, tier in enumerate(p.tiers):
        color = RED if tier.severity == "critical" else YELLOW
        panel = panel.override_by_query(f"F{i}", [
            DynamicConfigValue("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
            DynamicConfigValue("color", {"mode": "fixed", "fixedColor": color})])
    return panel


def detail_dashboard(p: ObjectivePlan) -> Dashboard:
    spec, o = p.spec, p.o
    panels: list[Any] = [sli_panel(p), *_stats(p)]
    if o.has_target:
        panels += [*_budget_panels(p), burn_panel(p)]
        if p.tiers:
            panels.append(tiers_table(p))
    panels.append(state_timeline("State (sidecar)", query(
        f"max({cat.OBJECTIVE_STATE.name}{p.rec_matchers})", "state"),
        "The sidecar's judgement over time; transitions are also marked as annotations."))
    since = f"now-{format_duration(o.window)}" if o.has_target else DEFAULT_RANGE
    dash = (Dashboard(f"{spec.service} · {o.name}").uid(detail_uid(spec, o))
            .tags(["slo-agent", f"slo-{spec.service}", o.signal.value]).editable()
            .description(f"{o.info.title} objective {o.name} of {spec.service}"
                         + (f": {_target_text(p)} over {format_duration(o.window)}"
                            if o.has_target else ""))
            .time(since, "now").refresh("30s").timezone("browser")
            .link(link(f"{spec.service} overview", f"/d/{dashboard_uid(spec)}")))
    rb = runbook_url(spec, o)
    if rb:
        dash = dash.link(link("Runbook", rb, keep_time=False))
    for a in alert_annotations(spec.service, o.name):
        dash = dash.annotation(a)
    return finish(dash, spec, panels, SLI_PANEL_ID)


__all__ = ["SLI_PANEL_ID", "detail_dashboard", "fastest"]
