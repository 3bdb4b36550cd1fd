"""One detail dashboard per objective: its SLI against the thresholds, the sidecar's state, and for
targets the error ratio per window, budget remaining and burn rate per tier. Panel 1 is the SLI:
alert annotations link to it."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard, DashboardLink
from grafana_foundation_sdk.models.dashboard import DashboardLinkType

from agent import catalogue as cat
from agent.sli import ObjectivePlan, dashboard_uid, detail_uid
from agent.spec.units import format_duration
from dashboards.panels import (
    Grid,
    budget_gauge,
    query,
    series_panel,
    signal_matchers,
    state_timeline,
)

SLI_PANEL_ID = 1


def detail_dashboard(p: ObjectivePlan) -> Dashboard:
    spec, o = p.spec, p.o
    m = signal_matchers(spec.service, o.signal, o.selector.items())
    sli_targets = [query(p.value_expr(m, "$__rate_interval"), o.name)]
    for lv in p.levels:
        if lv.constant is None:
            metric = cat.OBJECTIVE_WARNING if lv.severity == "warning" else cat.OBJECTIVE_CRITICAL
            sli_targets.append(query(f"max({metric.name}{p.rec_matchers})",
                                     f"{lv.severity} ({lv.text})", ref=lv.severity[0].upper()))
    if any(lv.threshold.base is not None and lv.threshold.base.value == "baseline"
           for lv in p.levels):
        sli_targets.append(query(f"max({cat.OBJECTIVE_BASELINE.name}{p.rec_matchers})",
                                 "baseline", ref="BL"))
    panels: list[Any] = [
        series_panel(f"{o.info.title}: {o.name}", o.info.grafana_unit, sli_targets,
                     o.description or "", p=p, width=24),
        state_timeline("State (sidecar)", query(f"max({cat.OBJECTIVE_STATE.name}"
                                                f"{p.rec_matchers})", "state")),
    ]
    if o.has_target:
        ratio_targets = [query(f"{p.ratio_name(w)}{p.rec_matchers}", format_duration(w),
                               ref=f"W{i}") for i, w in enumerate(p.window_seconds)]
        panels.append(series_panel("Error ratio per window", "percentunit", ratio_targets,
                                   f"Budget: {o.error_budget:.4g} of events/time", width=12))
        panels.append(budget_gauge(f"Error budget remaining ({format_duration(o.window)})", [
            query(f"{cat.RULE_BUDGET_REMAINING}{p.rec_matchers}", "remaining")], width=12))
        burn = []
        for i, tier in enumerate(p.tiers):
            for which, seconds in (("long", tier.long), ("short", tier.short)):
                burn.append(query(p.burn_expr(seconds),
                                  f"{tier.name} {which} {format_duration(seconds)}",
                                  ref=f"{which[0].upper()}{i}"))
        panels.append(series_panel("Burn rate per tier", "short", burn,
                                   "Alerts fire when both windows of a tier exceed its factor",
                                   width=24))
    dash = (Dashboard(f"{spec.service} · {o.name}").uid(detail_uid(spec, o))
            .tags(["slo-agent", f"slo-{spec.service}", o.signal.value]).editable()
            .time("now-24h", "now").refresh("30s").timezone("browser")
            .link(DashboardLink(f"{spec.service} overview").type(DashboardLinkType.LINK)
                  .url(f"/d/{dashboard_uid(spec)}").keep_time(True).include_vars(True)))
    from dashboards.service import variables

    for v in variables(spec):
        dash = dash.with_variable(v)
    grid = Grid()
    for i, panel in enumerate(panels, start=SLI_PANEL_ID):
        dash = dash.with_panel(panel.id(i).grid_pos(grid.place(panel)))
    return dash
