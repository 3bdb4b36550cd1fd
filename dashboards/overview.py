"""The service dashboard's SLO overview, read like Pyrra's list: one table row per objective, worst
first (status, window, SLI, target, budget left), each linking to its detail dashboard by uid; then
one stat per objective in its own unit and thresholds, states over time, burn and exhaustion."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.builders.common import TableSortByFieldState
from grafana_foundation_sdk.builders.dashboard import DashboardLink
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from agent import catalogue as cat
from agent.sli import ObjectivePlan, detail_uid
from agent.spec.document import Spec
from agent.units import format_duration
from dashboards.detail import burn_steps, fastest
from dashboards.panels import (
    BURN_UNIT,
    DATASOURCE,
    GREEN,
    RED,
    YELLOW,
    budget_steps,
    label_lit,
    query,
    series_panel,
    signal_matchers,
    stat_panel,
    state_mappings,
    state_thresholds,
    state_timeline,
)

Panel = Any
UID_REF, STATE_REF, SLI_REF, TARGET_REF, BUDGET_REF = "U", "S", "L", "T", "B"


def _objective_re(names: list[str]) -> str:
    """``objective=~"a|b"`` with the names quoted for a regex inside a PromQL string."""
    alt = "|".join(re.escape(n).replace("\\", "\\\\") for n in names)
    return f'objective=~"{alt}"'


def objective_index(spec: Spec, ps: list[ObjectivePlan]) -> str:
    """One constant series per objective with its detail dashboard's uid and window as labels:
    the table joins on ``objective`` and links each row to ``/d/<uid>``."""
    parts = []
    for p in ps:
        expr = "vector(1)"
        window = format_duration(p.o.window) if p.o.has_target else "—"
        for label, value in (("objective", p.o.name), ("uid", detail_uid(spec, p.o)),
                             ("window", window), ("signal", p.o.signal.value)):
            expr = f'label_replace({expr}, "{label}", "{label_lit(value)}", "", "")'
        parts.append(expr)
    return " or ".join(parts)


def objectives_table(spec: Spec, ps: list[ObjectivePlan]) -> Panel:
    svc = {cat.SERVICE_LABEL: spec.service}
    m = cat.label_matchers(svc)
    by_window: dict[float, list[str]] = defaultdict(list)
    for p in ps:
        if p.o.has_target:
            by_window[p.o.window].append(p.o.name)
    sli = " or ".join(
        f"1 - {ps[0].ratio_name(w)}{cat.label_matchers(svc, [_objective_re(names)])}"
        for w, names in sorted(by_window.items()))
    queries = [(UID_REF, objective_index(spec, ps)),
               (STATE_REF, f"max by (objective) ({cat.OBJECTIVE_STATE.name}{m})")]
    if sli:
        queries += [(SLI_REF, f"max by (objective) ({sli})"),
                    (TARGET_REF, f"max by (objective) ({cat.RULE_OBJECTIVE}{m})"),
                    (BUDGET_REF, f"max by (objective) ({cat.RULE_BUDGET_REMAINING}{m})")]
    panel = (table.Panel().title("Objectives, worst first").datasource(DATASOURCE).height(10)
             .span(24).unit("none")
             .description("One row per objective, worst state first: the sidecar's state, the "
                          "good share (SLI) over each objective's window against its target, and "
                          "the error budget left (red once spent, yellow under 25%). Click an "
                          "objective for its detail dashboard.")
             .sort_by([TableSortByFieldState().display_name("Status").desc(True)]))
    for ref, expr in queries:
        panel = panel.with_target(query(expr, ref=ref, instant=True)
                                  .format(PromQueryFormat.TABLE))
    panel = panel.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    panel = panel.with_transformation(DataTransformerConfig(id_val="organize", options={
        "excludeByName": {"Time": True, "uid": True, f"Value #{UID_REF}": True},
        "indexByName": {"objective": 0, f"Value #{STATE_REF}": 1, "signal": 2, "window": 3,
                        f"Value #{SLI_REF}": 4, f"Value #{TARGET_REF}": 5,
                        f"Value #{BUDGET_REF}": 6},
        "renameByName": {f"Value #{STATE_REF}": "Status", f"Value #{SLI_REF}": "SLI",
                         f"Value #{TARGET_REF}": "Target",
                         f"Value #{BUDGET_REF}": "Budget left"}}))
    detail = (DashboardLink("${__data.fields.objective}: detail dashboard")
              .type(DashboardLinkType.LINK).url("/d/${__data.fields.uid}?${__url_time_range}"))
    cell = {"type": "color-background", "mode": "basic"}
    panel = (panel
             .override_by_name("objective", [DynamicConfigValue("links", [detail.build()])])
             .override_by_name("Status", [
                 DynamicConfigValue("mappings", state_mappings()),
                 DynamicConfigValue("thresholds", _plain(state_thresholds())),
                 DynamicConfigValue("custom.cellOptions", cell)])
             .override_by_regexp("^(SLI|Target)$", [DynamicConfigValue("unit", "percentunit"),
                                                    DynamicConfigValue("decimals", 3)])
             .override_by_name("Budget left", [
                 DynamicConfigValue("unit", "percentunit"),
                 DynamicConfigValue("thresholds", _plain_steps(budget_steps())),
                 DynamicConfigValue("custom.cellOptions", cell)]))
    return panel


def _plain(cfg: Any) -> dict[str, Any]:
    return _plain_steps(cfg.build().steps)


def _plain_steps(st: list[Threshold]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": s.value, "color": s.color} for s in st]}


def objective_stat(spec: Spec, p: ObjectivePlan) -> Panel:
    relative = any(lv.constant is None for lv in p.levels)
    url = f"/d/{detail_uid(spec, p.o)}"
    if relative:
        target = query(f"max({cat.OBJECTIVE_STATE.name}{p.rec_matchers})", p.o.name,
                       instant=True)
        panel = stat_panel(p.o.name, "none", target,
                           f"{p.o.info.title}: the sidecar's state (its levels are relative to "
                           "a learned baseline or calibrated per column). Click for the detail "
                           "dashboard.", state=True)
    else:
        m = signal_matchers(spec.service, p.o.signal, p.o.selector.items())
        target = query(p.value_expr(m, "$__rate_interval"), p.o.name, instant=True)
        levels = ", ".join(f"{lv.severity} {lv.text}" for lv in p.levels) or "no levels"
        panel = stat_panel(p.o.name, p.o.info.grafana_unit, target,
                           f"{p.o.info.title} now ({levels}). Click for the detail dashboard.",
                           p)
    return panel.data_links([DashboardLink(f"{p.o.name}: detail dashboard")
                             .type(DashboardLinkType.LINK).url(url + "?${__url_time_range}")])


def overview(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    panels: list[Panel] = [objectives_table(spec, ps)]
    panels += [objective_stat(spec, p) for p in ps]
    panels.append(state_timeline(
        "Objective states (sidecar)",
        query(f"max by (objective) ({cat.OBJECTIVE_STATE.name}"
              f"{cat.label_matchers({cat.SERVICE_LABEL: spec.service})})", "{{objective}}"),
        "Each objective's state over time as the sidecar judged it: green ok, yellow warning, "
        "red critical, grey no data."))
    targeted = [p for p in ps if p.o.has_target and fastest(p) is not None]
    if targeted:
        panels += [burn_overview(targeted), exhaustion(targeted)]
    return panels


def burn_overview(ps: list[ObjectivePlan]) -> Panel:
    """The current burn per objective (its fastest tier's long window), against that tier."""
    targets, per_series = [], []
    for i, p in enumerate(ps):
        tier = fastest(p)
        assert tier is not None
        does = "pages" if tier.severity == "critical" else "tickets"
        legend = f"{p.o.name} over {format_duration(tier.long)} ({does} above {tier.factor:g}×)"
        targets.append(query(p.burn_expr(tier.long), legend, ref=f"R{i}"))
        per_series.append((legend, burn_steps(p)))
    panel = series_panel("Burn rate now (fastest tier per objective)", BURN_UNIT, targets,
                         "Error-budget burn per objective over its fastest tier's long window "
                         "(named in the legend). 1× spends the budget exactly over the "
                         "objective's window; each series takes its own objective's colours: red "
                         "above the threshold of its fastest paging tier, yellow above its lowest "
                         "tier threshold.", width=12)
    for legend, steps in per_series:
        panel = panel.override_by_name(legend, [
            DynamicConfigValue("thresholds", _plain_steps(steps)),
            DynamicConfigValue("custom.thresholdsStyle", {"mode": "dashed"})])
    return panel


def exhaustion(ps: list[ObjectivePlan]) -> Panel:
    """Remaining budget / current burn, as stats (instant values, not a time series)."""
    panel = (stat_panel("Time to budget exhaustion at the current burn", "s",
                        _exhaust_query(ps[0], 0),
                        "Remaining budget × the objective's window ÷ the burn rate over its "
                        "fastest tier's long window (the window is in each name): how long the "
                        "budget lasts if the burn holds. Red under the fastest paging tier's "
                        "exhaustion time, yellow under the slowest tier's.", width=12).height(8))
    for i, p in enumerate(ps[1:], start=1):
        panel = panel.with_target(_exhaust_query(p, i))
    for p in ps:
        tier = fastest(p)
        assert tier is not None
        slow = max(t.exhaustion for t in p.tiers)
        st = [Threshold(value=None, color=RED), Threshold(value=tier.exhaustion, color=YELLOW),
              Threshold(value=slow, color=GREEN)]
        panel = panel.override_by_name(_exhaust_name(p), [
            DynamicConfigValue("thresholds", _plain_steps(st))])
    return panel


def _exhaust_name(p: ObjectivePlan) -> str:
    tier = fastest(p)
    assert tier is not None
    return f"{p.o.name} (burn over {format_duration(tier.long)})"


def _exhaust_query(p: ObjectivePlan, i: int) -> Any:
    tier = fastest(p)
    assert tier is not None
    return query(f"clamp_min({cat.RULE_BUDGET_REMAINING}{p.rec_matchers}, 0) * {p.o.window:g} / "
                 f"clamp_min({p.burn_expr(tier.long)}, 0.001)", _exhaust_name(p), ref=f"X{i}",
                 instant=True)
