"""The report document: what a source knows about a period, assembled per objective, and what
changed against the report before it. One JSON shape (``REPORT_VERSION``) for every source and
renderer; numbers stay numbers (seconds, ratios 0-1, unix times), texts sit beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agent.report.episodes import LEVELS, incidents, time_in_state
from agent.spec.document import Objective, Spec
from agent.units import (
    QuantityError,
    Unit,
    format_duration,
    format_percent,
    format_span,
    format_value,
    json_number,
    parse_duration,
)

REPORT_VERSION = 1
#: families whose objectives' events are drift and data-quality events
QUALITY = ("data",)
QUALITY_UNITS = (Unit.EFFECT_SIZE,)


@dataclass
class Facts:
    """What a source knows of one objective: its events (state changes and tiers, earlier ones
    too), from when its record is complete, and its events counts where it has a target."""

    name: str
    events: list[dict[str, Any]] = field(default_factory=list)
    begins: float | None = None
    bad: float | None = None             # bad and total events in the period
    total: float | None = None
    window_total: float | None = None    # total events over the objective's window ending `to`
    budget_left: float | None = None     # the budget left at the end of the period
    prev_bad: float | None = None        # the period before, for "what changed"
    prev_total: float | None = None
    prev_budget_left: float | None = None
    status: str | None = None
    value: float | None = None
    warning: float | None = None
    critical: float | None = None


def parse_since(text: str) -> float:
    """``7d`` / ``24h`` / ``1w`` in seconds; a report covers at least an hour."""
    try:
        seconds = parse_duration(text)
    except QuantityError as exc:
        raise ValueError(f"--since {text!r}: {exc}") from None
    if seconds < 3600:
        raise ValueError(f"--since {text!r}: a review covers at least 1h (e.g. 7d)")
    return seconds


def build(spec: Spec, facts: list[Facts], t0: float, t1: float, source: str,
          datasets: list[dict[str, Any]] | None = None,
          notes: list[str] | None = None) -> dict[str, Any]:
    """The report of ``[t0, t1]``; ``changes`` compares it with the period before."""
    by_name = {f.name: f for f in facts}
    objectives = [_objective(spec, o, by_name.get(o.name) or Facts(o.name), t0, t1)
                  for o in spec.objectives]
    doc: dict[str, Any] = {
        "report": REPORT_VERSION, "service": spec.service, "environment": spec.environment,
        "source": source, "from": t0, "to": t1, "span": format_duration(t1 - t0),
        "objectives": objectives, "datasets": datasets or [], "notes": notes or [],
    }
    doc["summary"] = summary(doc)
    doc["changes"] = changes(doc, {o["name"]: o["previous"] for o in objectives},
                             "the period before")
    return doc


def _objective(spec: Spec, o: Objective, f: Facts, t0: float, t1: float) -> dict[str, Any]:
    unit = o.info.unit
    found = incidents(f.events, t0, t1)
    for i in found:
        i["text"] = incident_text(i, t0)
    entry: dict[str, Any] = {
        "name": o.name, "signal": o.signal.value, "family": o.info.family, "unit": unit.value,
        "status": f.status, "value": json_number(f.value),
        "value_text": format_value(f.value, unit),
        "levels": {"warning": json_number(f.warning), "critical": json_number(f.critical)},
        "levels_text": _levels_text(o, f),
        "time_in_state": time_in_state(f.events, t0, t1, f.begins),
        "incidents": found,
        "begins": f.begins,
    }
    if o.has_target:
        entry.update(target=o.objective, window=format_duration(o.window),
                     sli=_sli(o, f.bad, f.total), budget=_budget(o, f))
    if o.info.family in QUALITY or unit in QUALITY_UNITS:
        entry["quality_events"] = [
            {"t": e["t"], "from": e.get("from"), "to": e.get("to"),
             **({"column": e["column"]} if e.get("column") else {})}
            for e in f.events if e.get("kind") == "state" and t0 <= e["t"] <= t1
            and (e.get("to") in LEVELS or e.get("from") in LEVELS)]
    entry["previous"] = {
        "sli": _sli(o, f.prev_bad, f.prev_total)["good"] if o.has_target else None,
        "budget_left": json_number(f.prev_budget_left),
        "incidents": len(incidents(f.events, 2 * t0 - t1, t0))
        if f.begins is not None and f.begins <= 2 * t0 - t1 else None,
        "warning": entry["levels"]["warning"],
        "critical": entry["levels"]["critical"], "target": o.objective}
    return entry


def _levels_text(o: Objective, f: Facts) -> str:
    unit = o.info.unit
    parts = []
    for name, level, t in (("warning", f.warning, o.warning_threshold),
                           ("critical", f.critical, o.critical_threshold)):
        if level is not None:
            parts.append(f"{name} {format_value(level, unit)}")
        elif t is not None:
            parts.append(f"{name} {t.describe(unit)}")
    return ", ".join(parts) or "no levels"


def _sli(o: Objective, bad: float | None, total: float | None) -> dict[str, Any]:
    """The share of good events (or time slices) against the target."""
    target = o.objective or 0.0
    if bad is None or not total:
        return {"good": None, "bad": bad, "total": total, "met": None,
                "text": "no events in the period"}
    good = 1.0 - bad / total
    met = good >= target
    what = "events" if o.info.sli.value == "events" else "time slices"
    return {"good": good, "bad": bad, "total": total, "met": met,
            "text": f"{format_percent(good)} good ({count(bad)} of {count(total)} {what} bad)"
                    " against "
                    f"{format_percent(target)}: {'met' if met else 'missed'}"}


def count(x: float) -> str:
    """``14,791``: an event count as a reader says it (fractions where Prometheus extrapolated
    one are rounded)."""
    return f"{x:,.0f}" if abs(x) >= 1 or x == 0 else format_value(x, Unit.COUNT)


def _budget(o: Objective, f: Facts) -> dict[str, Any]:
    """Spent in the period: its bad events over those the whole window allows (error budget ×
    the window's events), so a week's share and what is left add up over the window."""
    eb = o.error_budget
    spent = None
    if f.bad is not None and f.window_total:
        spent = f.bad / (eb * f.window_total)
    left = json_number(f.budget_left)
    parts = []
    if spent is not None:
        parts.append(f"{format_percent(spent)} of the {format_duration(o.window)} budget spent "
                     "in the period")
    parts.append(f"{format_percent(left)} left" if left is not None else "nothing left to show "
                 "yet (too little data)")
    return {"spent": spent, "left": left, "text": ", ".join(parts)}


def incident_text(i: dict[str, Any], t0: float) -> str:
    """One line: worst level, detection and recovery, each tier."""
    parts = [f"{i['worst']}"]
    if i["started"] < t0:
        parts.append("open when the period began")
    parts.append(f"detected after {format_span(i['time_to_detect'])}")
    if i["time_to_recover"] is not None:
        parts.append(f"recovered after {format_span(i['time_to_recover'])}")
    else:
        parts.append("not recovered")
    for tier in i["tiers"]:
        lasted = (f"for {format_span(tier['cleared'] - tier['fired'])}"
                  if tier["cleared"] is not None else "still firing")
        parts.append(f"{tier['tier']} ({tier['severity']}) fired {lasted}")
    return "; ".join(parts)


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    objectives = doc["objectives"]
    with_target = [o for o in objectives if o.get("sli")]
    return {"objectives": len(objectives),
            "incidents": sum(len(o["incidents"]) for o in objectives),
            "targets_met": sum(1 for o in with_target if o["sli"]["met"]),
            "targets_missed": sum(1 for o in with_target if o["sli"]["met"] is False),
            "targets": len(with_target)}


def snapshot(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per objective what the next report compares with (a stored report's own figures)."""
    return {o["name"]: {"sli": (o.get("sli") or {}).get("good"),
                        "budget_left": (o.get("budget") or {}).get("left"),
                        "incidents": len(o["incidents"]),
                        "warning": o["levels"]["warning"], "critical": o["levels"]["critical"],
                        "target": o.get("target")}
            for o in doc["objectives"]}


def changes(doc: dict[str, Any], before: dict[str, dict[str, Any]], against: str
            ) -> dict[str, Any]:
    """What changed since ``before`` (the last report, or the period before this one): each
    objective's SLI, budget left, incidents and levels, and objectives added or removed."""
    now = snapshot(doc)
    items: list[dict[str, Any]] = []
    units = {o["name"]: Unit(o["unit"]) for o in doc["objectives"]}
    for name in sorted(set(now) - set(before)):
        items.append({"objective": name, "what": "added", "text": f"{name}: new objective"})
    for name in sorted(set(before) - set(now)):
        items.append({"objective": name, "what": "removed", "text": f"{name}: removed"})
    for name, cur in now.items():
        prev = before.get(name)
        if prev is None:
            continue
        for key, label in (("sli", "SLI"), ("budget_left", "budget left")):
            a, b = prev.get(key), cur.get(key)
            if a is not None and b is not None and abs(b - a) >= 5e-5:
                items.append({"objective": name, "what": key, "before": a, "after": b,
                              "text": f"{name}: {label} {format_percent(a)} → "
                                      f"{format_percent(b)}"})
        a, b = prev.get("incidents"), cur.get("incidents")
        if a is not None and b is not None and a != b:
            items.append({"objective": name, "what": "incidents", "before": a, "after": b,
                          "text": f"{name}: {a} → {b} incidents"})
        for key in ("warning", "critical", "target"):
            a, b = prev.get(key), cur.get(key)
            if a is not None and b is not None and not math.isclose(a, b, rel_tol=1e-9):
                unit = Unit.RATIO if key == "target" else units[name]
                items.append({"objective": name, "what": key, "before": a, "after": b,
                              "text": f"{name}: {key} {format_value(a, unit)} → "
                                      f"{format_value(b, unit)}"})
    out: dict[str, Any] = {"against": against, "items": items}
    if not items and all(v is None for p in before.values()
                         for k, v in p.items() if k in ("sli", "budget_left", "incidents")):
        out["note"] = f"nothing to compare: {against} was not recorded"
    return out
