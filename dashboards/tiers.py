"""The detail dashboard's table of burn-rate tiers, as Pyrra lists an objective's multi-window
alerts: one row per tier with its severity, long and short window, the burn threshold (factor)
above which it fires, the burn measured over each window now, and whether its alert is firing or
pending in Prometheus now."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models.dashboard import (
    DataTransformerConfig,
    DynamicConfigValue,
    ValueMap,
    ValueMappingResult,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from agent import catalogue as cat
from agent.sli import ObjectivePlan
from agent.units import format_duration
from dashboards.annotations import ALERTS
from dashboards.panels import BURN_UNIT, DATASOURCE, GREEN, GREY, RED, YELLOW, query

THRESHOLD, LONG, SHORT, STATE = "F", "L", "S", "A"
_TIER = "slo_agent_tier"


def _lit(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")


def _tagged(expr: str, labels: dict[str, str]) -> str:
    for key, value in labels.items():
        expr = f'label_replace({expr}, "{key}", "{_lit(value)}", "", "")'
    return expr


def tier_queries(p: ObjectivePlan) -> dict[str, str]:
    """refId → PromQL giving one series per tier, each with a ``tier`` label (the table merges
    the queries on it)."""
    ts = p.tiers
    fixed = " or ".join(_tagged(f"vector({t.factor:.10g})", {
        "tier": t.name, "severity": t.severity, "long": format_duration(t.long),
        "short": format_duration(t.short)}) for t in ts)
    long = " or ".join(_tagged(f"max({p.burn_expr(t.long)})", {"tier": t.name}) for t in ts)
    short = " or ".join(_tagged(f"max({p.burn_expr(t.short)})", {"tier": t.name}) for t in ts)
    who = {"alertname": p.burn_alert_name, cat.SERVICE_LABEL: p.spec.service,
           "objective": p.o.name}

    def state(which: str) -> str:
        m = cat.label_matchers(who, [f'alertstate="{which}"'])
        return f'label_replace({ALERTS}{m}, "tier", "$1", "{_TIER}", "(.*)")'

    quiet = " or ".join(_tagged("vector(0)", {"tier": t.name}) for t in ts)
    return {THRESHOLD: fixed, LONG: long, SHORT: short,
            STATE: f"max by (tier) ({state('firing')} * 2 or {state('pending')})\nor\n({quiet})"}


def tier_table(p: ObjectivePlan) -> Any:
    panel = (table.Panel().title("Burn-rate tiers").datasource(DATASOURCE)
             .height(3 + len(p.tiers)).span(24).unit("none")
             .description("Each burn-rate tier of this objective: its windows, the burn threshold "
                          "above which it fires (both windows must burn faster; a window holding "
                          "less data than its length needs the threshold over its coverage), the "
                          "burn over each window now, and its alert in Prometheus now."))
    for ref, expr in tier_queries(p).items():
        panel = panel.with_target(query(expr, ref=ref, instant=True)
                                  .format(PromQueryFormat.TABLE))
    panel = panel.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    panel = panel.with_transformation(DataTransformerConfig(id_val="organize", options={
        "excludeByName": {"Time": True},
        "indexByName": {"tier": 0, "severity": 1, "long": 2, "short": 3,
                        f"Value #{THRESHOLD}": 4, f"Value #{LONG}": 5, f"Value #{SHORT}": 6,
                        f"Value #{STATE}": 7},
        "renameByName": {"long": "Long window", "short": "Short window",
                         f"Value #{THRESHOLD}": "Fires above (burn)",
                         f"Value #{LONG}": "Burn over the long window",
                         f"Value #{SHORT}": "Burn over the short window",
                         f"Value #{STATE}": "Alert now"}}))
    states = ValueMap(options={
        "0": ValueMappingResult(text="quiet", color=GREEN, index=0),
        "1": ValueMappingResult(text="pending", color=YELLOW, index=1),
        "2": ValueMappingResult(text="firing", color=RED, index=2)})
    cell = {"type": "color-background", "mode": "basic"}
    return (panel
            .override_by_regexp("^(Fires above|Burn over).*", [
                DynamicConfigValue("unit", BURN_UNIT), DynamicConfigValue("decimals", 2)])
            .override_by_name("Alert now", [
                DynamicConfigValue("mappings", [states]),
                DynamicConfigValue("color", {"mode": "fixed", "fixedColor": GREY}),
                DynamicConfigValue("custom.cellOptions", cell)]))


__all__ = ["tier_queries", "tier_table"]
