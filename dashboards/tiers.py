"""The detail dashboard's table of burn-rate tiers, as Pyrra's detail page lists its alerts: one
row per tier with its severity, factor and windows, the burn over each window now, and whether
its alert is firing or pending in Prometheus now (``ALERTS``, by the tier label the generated
alerts carry).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.cog.builder import Builder
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
from dashboards.panels import BURN_UNIT, DATASOURCE, GREEN, RED, YELLOW, label_lit, query

TIER_REF, LONG_REF, SHORT_REF, FIRING_REF = "T", "L", "S", "F"


def _labelled(expr: str, labels: dict[str, str]) -> str:
    for label, value in labels.items():
        expr = f'label_replace({expr}, "{label}", "{label_lit(value)}", "", "")'
    return expr


def tiers_table(p: ObjectivePlan) -> Builder[object]:
    """The tiers' static facts (a vector of each factor, labelled), their burn over the long
    and short window, and 1 where the tier's alert fires (0.5 while it is pending, else 0),
    merged on ``tier``. No capture group in a replacement: ``$1`` would read as a dashboard
    variable."""
    facts = " or ".join(_labelled(f"vector({t.factor:.10g})", {
        "tier": t.name, "severity": t.severity, "long_window": format_duration(t.long),
        "short_window": format_duration(t.short)}) for t in p.tiers)

    def burns(which: str) -> str:
        return "max by (tier) (" + " or ".join(
            _labelled(p.burn_expr(t.long if which == "long" else t.short), {"tier": t.name})
            for t in p.tiers) + ")"

    def firing(tier: str) -> str:
        def alerts(state: str) -> str:
            return ALERTS + cat.label_matchers(
                {cat.SERVICE_LABEL: p.spec.service, "objective": p.o.name, cat.TIER_LABEL: tier},
                [f'alertstate="{state}"'])
        return _labelled(f"max({alerts('firing')}) or max({alerts('pending')}) * 0.5 "
                         "or vector(0)", {"tier": tier})

    panel = (table.Panel().title("Burn-rate tiers").datasource(DATASOURCE).height(6).span(24)
             .unit("none")
             .description("One row per burn-rate tier: its severity, factor and windows, the "
                          "burn over each window now (1× spends the budget exactly over "
                          f"{format_duration(p.o.window)}), and whether its alert fires (or "
                          "waits out its for: as pending) in Prometheus now. A tier fires when "
                          "both its windows burn above its factor; a window holding less data "
                          "than its length counts the missing part as unknown."))
    for ref, expr in ((TIER_REF, facts), (LONG_REF, burns("long")),
                      (SHORT_REF, burns("short")),
                      (FIRING_REF, " or ".join(firing(t.name) for t in p.tiers))):
        panel = panel.with_target(query(expr, ref=ref, instant=True)
                                  .format(PromQueryFormat.TABLE))
    panel = panel.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    panel = panel.with_transformation(DataTransformerConfig(id_val="organize", options={
        "excludeByName": {"Time": True},
        "indexByName": {"tier": 0, "severity": 1, f"Value #{TIER_REF}": 2, "long_window": 3,
                        f"Value #{LONG_REF}": 4, "short_window": 5, f"Value #{SHORT_REF}": 6,
                        f"Value #{FIRING_REF}": 7},
        "renameByName": {"long_window": "long window", "short_window": "short window",
                         f"Value #{TIER_REF}": "factor", f"Value #{LONG_REF}": "burn (long)",
                         f"Value #{SHORT_REF}": "burn (short)",
                         f"Value #{FIRING_REF}": "firing now"}}))
    firing_map = ValueMap(options={
        "0": ValueMappingResult(text="no", color=GREEN, index=0),
        "0.5": ValueMappingResult(text="pending", color=YELLOW, index=1),
        "1": ValueMappingResult(text="firing", color=RED, index=2)})
    return (panel
            .override_by_regexp("^(factor|burn \\(long\\)|burn \\(short\\))$", [
                DynamicConfigValue("unit", BURN_UNIT), DynamicConfigValue("decimals", 2)])
            .override_by_name("firing now", [
                DynamicConfigValue("mappings", [firing_map]),
                DynamicConfigValue("custom.cellOptions",
                                   {"type": "color-background", "mode": "basic"})]))
