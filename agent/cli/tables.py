"""Rows describing resolved objectives, shared by ``validate`` and the demo's live view."""

from __future__ import annotations

from typing import Any

from agent.spec.document import Objective, Spec
from agent.units import format_duration, format_value


def selector_text(o: Objective) -> str:
    parts = [f"{k}={v}" for k, v in o.selector.items()]
    return ",".join(parts) or "*"


def signal_text(o: Objective) -> str:
    if o.quantile is not None:
        return f"{o.signal.value} p{o.quantile * 100:g}"
    return o.signal.value


def level_text(o: Objective, which: str) -> str:
    t = o.warning_threshold if which == "warning" else o.critical_threshold
    if t is None:
        return "-"
    text = t.describe(o.info.unit)
    if t.relative and t.base is not None and t.base.value == "baseline":
        pinned = o.pinned_baseline
        text += f" (= {format_value(t.value * pinned, o.info.unit)})" if pinned else " (learned)"
    elif t.relative and o.daily_budget is not None:
        text += f" (= {format_value(t.value * o.daily_budget, o.info.unit)})"
    return text


def objective_rows(spec: Spec) -> list[dict[str, Any]]:
    rows = []
    for o in spec.objectives:
        target = "-"
        if o.objective is not None:
            target = f"{o.objective * 100:g}% / {format_duration(o.window)}"
        rows.append({
            "name": o.name,
            "signal": signal_text(o),
            "selector": selector_text(o),
            "direction": "higher is worse" if o.info.higher_is_worse else "lower is worse",
            "warning": level_text(o, "warning"),
            "critical": level_text(o, "critical"),
            "for": format_duration(o.for_),
            "target": target,
            "unit": o.info.unit.value,
        })
    return rows


def tier_rows(spec: Spec) -> list[dict[str, Any]]:
    """Each objective's burn-rate tiers as the rules and ``/status`` use them."""
    rows = []
    for o in spec.objectives:
        for t in spec.tiers_for(o):
            rows.append({"objective": o.name, **t.as_dict(),
                         "error_ratio": t.factor * o.error_budget, "seconds": t.exhaustion,
                         "target": f"{(o.objective or 0) * 100:g}% / {format_duration(o.window)}"})
    return rows
