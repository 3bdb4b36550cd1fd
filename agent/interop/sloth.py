"""Sloth's ``prometheus/v1`` spec → slo.yaml.

Sloth's events SLIs (``error_query``/``total_query`` over ``{{.window}}``) are exactly this
project's custom events SLIs; a ``raw`` ``error_ratio_query`` becomes a custom value in ratio
units. Sloth's page and ticket alerts are its two alert groups over the Workbook's tiers: a
disabled one drops those tiers. Plugins cannot be imported: their queries live in Sloth.
"""

from __future__ import annotations

from typing import Any

from agent.interop.common import ImportProblem, derived_levels

VERSION = "prometheus/v1"
PAGE, TICKET = ("page-fast", "page-slow"), ("ticket-fast", "ticket-slow")


def import_doc(doc: Any) -> tuple[dict[str, Any], list[ImportProblem]]:
    problems: list[ImportProblem] = []
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        got = doc.get("version") if isinstance(doc, dict) else type(doc).__name__
        return {}, [ImportProblem("version", f"expected {VERSION!r} (got {got!r})")]
    service = doc.get("service")
    if not isinstance(service, str) or not service:
        problems.append(ImportProblem("service", "needs a service name"))
        service = "service"
    objectives = []
    for i, slo in enumerate(doc.get("slos") or []):
        at = f"slos[{i}]"
        name = slo.get("name")
        if not name:
            problems.append(ImportProblem(f"{at}.name", "needs a name"))
            continue
        try:
            target = float(slo["objective"]) / 100.0
        except (KeyError, TypeError, ValueError):
            problems.append(ImportProblem(f"{at}.objective", "needs the objective as a "
                                          "percentage, e.g. 99.9"))
            continue
        sli = slo.get("sli") or {}
        custom: dict[str, Any]
        if "events" in sli:
            ev = sli["events"] or {}
            if not ev.get("error_query") or not ev.get("total_query"):
                problems.append(ImportProblem(f"{at}.sli.events", "needs error_query and "
                                              "total_query"))
                continue
            custom = {"bad": ev["error_query"], "total": ev["total_query"]}
        elif "raw" in sli:
            q = (sli["raw"] or {}).get("error_ratio_query")
            if not q:
                problems.append(ImportProblem(f"{at}.sli.raw.error_ratio_query", "missing"))
                continue
            custom = {"value": q, "unit": "ratio"}
        elif "plugin" in sli:
            problems.append(ImportProblem(f"{at}.sli.plugin", "Sloth SLI plugins cannot be "
                                          "imported (their queries live in Sloth); give events "
                                          "or raw queries"))
            continue
        else:
            problems.append(ImportProblem(f"{at}.sli", "needs events, raw or plugin"))
            continue
        entry: dict[str, Any] = {"name": name, "signal": "custom", "custom": custom,
                                 "objective": target, "window": "30d", "for": "0s",
                                 **derived_levels(target)}
        if "value" in custom:
            entry["sli_threshold"] = entry["warning"]
        if slo.get("description"):
            entry["description"] = str(slo["description"])
        labels = {**(doc.get("labels") or {}), **(slo.get("labels") or {})}
        if labels:
            entry["labels"] = {str(k): str(v) for k, v in labels.items()}
        alerting = slo.get("alerting") or {}
        tiers = [t for group, names in (("page_alert", PAGE), ("ticket_alert", TICKET))
                 if not (alerting.get(group) or {}).get("disable") for t in names]
        if len(tiers) < 4:
            entry["tiers"] = tiers
        if alerting.get("annotations", {}).get("runbook"):
            entry["runbook"] = str(alerting["annotations"]["runbook"])
        objectives.append(entry)
    if not objectives and not problems:
        problems.append(ImportProblem("slos", "no SLOs"))
    owner = (doc.get("labels") or {}).get("owner")
    data: dict[str, Any] = {"version": 1, "service": service, "models": [{"name": service}],
                            "objectives": objectives}
    if owner:
        data["owner"] = str(owner)
    return data, problems
