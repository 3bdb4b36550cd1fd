"""The service dashboard's SLO overview, read like Pyrra's list: one table row per objective, worst
first (status, window, SLI, target, budget left), each linking to its detail dashboard; a tile per
objective coloured by its state; states over time, burn and exhaustion.

Every query reads label sets over the recorded series (``slo:objective_info`` carries each
objective's detail-dashboard uid and window), never one target or panel per objective: the
overview is the same size for 10 objectives or 10,000 (a Kubernetes ConfigMap holds at most
1 MiB). Objectives are grouped only by what changes a query or a colour: the compliance window
and the fastest burn tier."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, NamedTuple

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
from agent.sli import ObjectivePlan
from agent.spec.document import Spec
from agent.units import format_duration
from dashboards.detail import fastest, steps_for
from dashboards.panels import (
    BURN_UNIT,
    DATASOURCE,
    GREEN,
    RED,
    YELLOW,
    budget_steps,
    query,
    series_panel,
    stat_panel,
    state_mappings,
    state_thresholds,
    state_timeline,
)

Panel = Any
UID_REF, STATE_REF, SLI_REF, TARGET_REF, BUDGET_REF = "U", "S", "L", "T", "B"
UID, WINDOW = cat.INFO_DASHBOARD_LABEL, cat.INFO_WINDOW_LABEL
_ID = f"{cat.SERVICE_LABEL}, objective"


def _svc(spec: Spec, **more: str) -> str:
    return cat.label_matchers({cat.SERVICE_LABEL: spec.service, **more})


def objectives_table(spec: Spec, ps: list[ObjectivePlan]) -> Panel:
    """One row per objective: the index (uid, window, signal) is the info series every
    objective's rule group records; the SLI over each objective's own window is
    ``1 - (1 - budget left) × (1 - target)``, from two series every targeted objective records."""
    m = _svc(spec)
    queries = [(UID_REF, f"max by (objective, {UID}, {WINDOW}, signal) ({cat.RULE_INFO}{m})"),
               (STATE_REF, f"max by (objective) ({cat.OBJECTIVE_STATE.name}{m})")]
    if any(p.o.has_target for p in ps):
        budget, target = f"{cat.RULE_BUDGET_REMAINING}{m}", f"{cat.RULE_OBJECTIVE}{m}"
        queries += [(SLI_REF, f"max by (objective) (1 - (1 - {budget}) * (1 - {target}))"),
                    (TARGET_REF, f"max by (objective) ({target})"),
                    (BUDGET_REF, f"max by (objective) ({budget})")]
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
        "excludeByName": {"Time": True, UID: True, f"Value #{UID_REF}": True},
        "indexByName": {"objective": 0, f"Value #{STATE_REF}": 1, "signal": 2, WINDOW: 3,
                        f"Value #{SLI_REF}": 4, f"Value #{TARGET_REF}": 5,
                        f"Value #{BUDGET_REF}": 6},
        "renameByName": {f"Value #{STATE_REF}": "Status", f"Value #{SLI_REF}": "SLI",
                         f"Value #{TARGET_REF}": "Target",
                         f"Value #{BUDGET_REF}": "Budget left"}}))
    detail = (DashboardLink("${__data.fields.objective}: detail dashboard")
              .type(DashboardLinkType.LINK).url(f"/d/${{__data.fields.{UID}}}?${{__url_time_range}}"))
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


def objective_states(spec: Spec) -> Panel:
    """A tile per objective, coloured by its state, each linking to its detail dashboard (the
    uid joined from the info series)."""
    m = _svc(spec)
    expr = (f"max by ({_ID}) ({cat.OBJECTIVE_STATE.name}{m})\n"
            f"* on({_ID}) group_left({UID})\n"
            f"max by ({_ID}, {UID}) ({cat.RULE_INFO}{m})")
    panel = stat_panel("Objectives now", "none", query(expr, "{{objective}}", instant=True),
                       "Each objective's state as the sidecar judges it now (ok, warning, "
                       "critical, no data). Click a tile for its detail dashboard.", width=24,
                       state=True)
    return panel.height(6).data_links([
        DashboardLink("${__field.labels.objective}: detail dashboard")
        .type(DashboardLinkType.LINK).url(f"/d/${{__field.labels.{UID}}}?${{__url_time_range}}")])


def overview(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    panels: list[Panel] = [objectives_table(spec, ps), objective_states(spec)]
    panels.append(state_timeline(
        "Objective states (sidecar)",
        query(f"max by (objective) ({cat.OBJECTIVE_STATE.name}{_svc(spec)})", "{{objective}}"),
        "Each objective's state over time as the sidecar judged it: green ok, yellow warning, "
        "red critical, grey no data."))
    groups = burn_groups(ps)
    if groups:
        panels += [burn_overview(spec, groups), exhaustion(spec, groups)]
    return panels


class BurnGroup(NamedTuple):
    """What an objective's burn and exhaustion queries and colours depend on: objectives alike
    in these share one query (over label sets), whatever their number."""

    window: float        # the compliance window
    long: float          # the fastest tier's long window (the burn shown)
    low: float           # the lowest threshold of any tier: yellow from it
    red: float           # the fastest tier's threshold if it pages, else 0 (never red)
    fast: float          # that tier's exhaustion time
    slow: float          # the slowest tier's exhaustion time


def burn_groups(ps: list[ObjectivePlan]) -> list[BurnGroup]:
    """The distinct burn groups of the targeted objectives, in a stable order."""
    out: dict[BurnGroup, None] = {}
    for p in ps:
        tier = fastest(p)
        if p.o.has_target and tier is not None:
            red = tier.factor if tier.severity == "critical" else 0.0
            out[BurnGroup(p.o.window, tier.long, min(t.factor for t in p.tiers), red,
                          tier.exhaustion, max(t.exhaustion for t in p.tiers))] = None
    return sorted(out)


def _burn(spec: Spec, g: BurnGroup) -> str:
    """Burn over the group's long window of the objectives with the group's window."""
    m = _svc(spec)
    return (f"{cat.RULE_ERROR_RATIO}{format_duration(g.long)}{m} / (1 - {cat.RULE_OBJECTIVE}{m})\n"
            f"and on({_ID}) {cat.RULE_INFO}{_svc(spec, **{WINDOW: format_duration(g.window)})}")


def _burn_suffix(g: BurnGroup) -> str:
    """The legend's tail naming the group's window and thresholds (unique per group)."""
    does = f"pages above {g.red:g}×" if g.red else f"tickets above {g.low:g}×"
    also = f", alerts from {g.low:g}×" if g.red and g.low < g.red else ""
    return f"{format_duration(g.long)} ({format_duration(g.window)} window, {does}{also})"


def burn_overview(spec: Spec, groups: list[BurnGroup]) -> Panel:
    """The current burn per objective (its fastest tier's long window), against that tier."""
    targets, per_series = [], []
    for i, g in enumerate(groups):
        suffix = _burn_suffix(g)
        targets.append(query(_burn(spec, g), f"{{{{objective}}}} over {suffix}", ref=f"R{i}"))
        per_series.append((suffix, steps_for(g.low, g.red)))
    panel = series_panel("Burn rate now (fastest tier per objective)", BURN_UNIT, targets,
                         "Error-budget burn per objective over its fastest tier's long window "
                         "(named in the legend). 1× spends the budget exactly over the "
                         "objective's window; each series takes its own objective's colours: red "
                         "above the threshold of its fastest paging tier, yellow above its lowest "
                         "tier threshold.", width=12)
    for suffix, steps in per_series:
        panel = panel.override_by_regexp(_suffix_regex({suffix}), [
            DynamicConfigValue("thresholds", _plain_steps(steps)),
            DynamicConfigValue("custom.thresholdsStyle", {"mode": "dashed"})])
    return panel


def _suffix_regex(suffixes: set[str]) -> str:
    return "^.* (?:" + "|".join(sorted(map(re.escape, suffixes))) + ")$"


def exhaustion(spec: Spec, groups: list[BurnGroup]) -> Panel:
    """Remaining budget / current burn, as stats (instant values, not a time series)."""
    m = _svc(spec)
    panel = None
    by_colour: dict[tuple[float, float], set[str]] = defaultdict(set)
    for i, g in enumerate(groups):
        window, long_ = format_duration(g.window), format_duration(g.long)
        suffix = f"(burn over {long_}, {window} window)"
        expr = (f"clamp_min({cat.RULE_BUDGET_REMAINING}{m}, 0) * {g.window:g} / clamp_min(\n"
                f"{_burn(spec, g)}\n, 0.001)")
        target = query(expr, f"{{{{objective}}}} {suffix}", ref=f"X{i}", instant=True)
        by_colour[(g.fast, g.slow)].add(suffix)
        if panel is None:
            panel = (stat_panel("Time to budget exhaustion at the current burn", "s", target,
                                "Remaining budget × the objective's window ÷ the burn rate over "
                                "its fastest tier's long window (the window is in each name): "
                                "how long the budget lasts if the burn holds. Red under the "
                                "fastest paging tier's exhaustion time, yellow under the "
                                "slowest tier's.", width=12).height(8))
        else:
            panel = panel.with_target(target)
    assert panel is not None
    for (fast, slow), suffixes in sorted(by_colour.items()):
        st = [Threshold(value=None, color=RED), Threshold(value=fast, color=YELLOW),
              Threshold(value=slow, color=GREEN)]
        panel = panel.override_by_regexp(_suffix_regex(suffixes), [
            DynamicConfigValue("thresholds", _plain_steps(st))])
    return panel
