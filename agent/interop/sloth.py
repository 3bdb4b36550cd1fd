"""Sloth specs → slo.yaml: ``prometheus/v1`` and the Kubernetes ``sloth.slok.dev/v1``
``PrometheusServiceLevel``, one document or many.

Sloth's events SLIs (``error_query``/``total_query`` over ``{{.window}}``) are this project's
custom events SLIs; a raw ``error_ratio_query`` stays a ratio SLI (``custom.error_ratio``: the
budget is its average, as in Sloth). Sloth's page and ticket alerts are its two groups of the
Workbook's tiers: their labels, annotations and ``for`` go onto those tiers, the alert name and
common labels/annotations onto the objective, and a disabled group drops its tiers. Nothing is
invented (no threshold alerts; no absent-data alert when both groups are disabled) and nothing
is dropped: plugins and unknown fields are refused by path. Sloth accepts snake_case and
camelCase keys alike (``error_query``/``errorQuery``); so does this importer.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from agent.interop.common import (
    Imported,
    ImportProblem,
    label_problems,
    percent,
    query_problem,
)

VERSION = "prometheus/v1"
K8S_API, K8S_KIND = "sloth.slok.dev/v1", "PrometheusServiceLevel"
MAPPED_PLUGINS = ("sloth.dev/contrib/alert_for/v1",)   # page/ticket_alert.for → tier for
GROUPS = {"page": ("page-fast", "page-slow"), "ticket": ("ticket-fast", "ticket-slow")}

_DOC_KEYS = {"version", "service", "labels", "slos", "slo_plugins"}
_SLO_KEYS = {"name", "objective", "description", "labels", "sli", "alerting", "plugins",
             "interval"}
_ALERTING_KEYS = {"name", "labels", "annotations", "page_alert", "ticket_alert"}
_ALERT_KEYS = {"disable", "labels", "annotations", "for"}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _norm(obj: Any, at: str, known: set[str], problems: list[ImportProblem]) -> dict[str, Any]:
    """A mapping with snake_case keys; a key Sloth does not define is a problem, not dropped."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        problems.append(ImportProblem(at, f"expected a mapping (got {type(obj).__name__})"))
        return {}
    out = {_snake(str(k)): v for k, v in obj.items()}
    for k in sorted(set(out) - known):
        problems.append(ImportProblem(f"{at}.{k}", "not a field of Sloth's spec, or one "
                                      "slo-agent cannot import"))
    return out


def _labels(obj: Any, at: str, problems: list[ImportProblem]) -> dict[str, str]:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        problems.append(ImportProblem(at, "expected a mapping of labels"))
        return {}
    problems.extend(label_problems(obj, at))
    return {str(k): str(v) for k, v in obj.items()}


def _body(name: str, doc: Any, problems: list[ImportProblem]) -> tuple[str, Any] | None:
    """(path prefix, the prometheus/v1 body) of one document, or None with a problem."""
    if not isinstance(doc, dict):
        problems.append(ImportProblem(name, f"expected a Sloth spec (got a "
                                      f"{type(doc).__name__})"))
        return None
    api = doc.get("apiVersion")
    if isinstance(api, str) and api.startswith("openslo/"):
        problems.append(ImportProblem(f"{name}.apiVersion", f"an OpenSLO document ({api}); "
                                      "import it with `slo-agent import openslo`"))
        return None
    if api == K8S_API:
        if doc.get("kind") != K8S_KIND:
            problems.append(ImportProblem(f"{name}.kind", f"expected {K8S_KIND!r} (got "
                                          f"{doc.get('kind')!r})"))
            return None
        meta = (doc.get("metadata") or {}).get("name")
        prefix = f"{name} ({meta})" if meta else name
        return f"{prefix}.spec", dict(doc.get("spec") or {}, version=VERSION)
    if doc.get("version") != VERSION:
        problems.append(ImportProblem(f"{name}.version", f"expected {VERSION!r}, or apiVersion "
                                      f"{K8S_API!r} with kind {K8S_KIND!r} (got "
                                      f"{doc.get('version', api)!r})"))
        return None
    return name, doc


def import_docs(named: list[tuple[str, Any]], service: str | None = None) -> Imported:
    """Sloth documents (name, document) → an slo.yaml mapping; all of one service, or the one
    picked by ``service`` when a file holds several."""
    problems: list[ImportProblem] = []
    bodies = [b for n, d in named if (b := _body(n, d, problems)) is not None]
    services = sorted({str(b.get("service")) for _, b in bodies if b.get("service")})
    if service is not None:
        bodies = [(at, b) for at, b in bodies if b.get("service") == service]
        if not bodies and not problems:
            problems.append(ImportProblem("service", f"no document of service {service!r}; "
                                          f"the file holds {', '.join(services) or 'none'}"))
    elif len(services) > 1:
        problems.append(ImportProblem("service", f"the file holds services "
                                      f"{', '.join(services)}; an slo.yaml is one service: "
                                      "pass --service NAME (once per service)"))
    objectives: list[dict[str, Any]] = []
    notes: list[str] = []
    owners = set()
    for at, body in bodies:
        doc = _norm(body, at, _DOC_KEYS, problems)
        if not isinstance(doc.get("service"), str) or not doc["service"]:
            problems.append(ImportProblem(f"{at}.service", "needs a service name"))
        problems.extend(_plugin_problems(doc.get("slo_plugins"), f"{at}.slo_plugins"))
        labels = _labels(doc.get("labels"), f"{at}.labels", problems)
        if labels.get("owner"):
            owners.add(labels["owner"])
        slos = doc.get("slos")
        if not isinstance(slos, list) or not slos:
            problems.append(ImportProblem(f"{at}.slos", "needs a list of SLOs"))
            continue
        for i, slo in enumerate(slos):
            entry = _objective(slo, f"{at}.slos[{i}]", labels, problems, notes)
            if entry is not None:
                objectives.append(entry)
    name = service or (services[0] if services else "service")
    data: dict[str, Any] = {"version": 1, "service": name, "models": [{"name": name}],
                            "objectives": objectives}
    if len(owners) == 1:
        data["owner"] = owners.pop()
    return Imported(data, problems, notes)


def _objective(raw: Any, at: str, labels: dict[str, str], problems: list[ImportProblem],
               notes: list[str]) -> dict[str, Any] | None:
    slo = _norm(raw, at, _SLO_KEYS, problems)
    if slo.get("interval"):
        notes.append(f"{at}.interval: per-SLO rule group intervals are not imported; every "
                     "group is evaluated at alerting.evaluation_interval (what the alerts mean "
                     "is unchanged)")
    name = slo.get("name")
    if not name:
        problems.append(ImportProblem(f"{at}.name", "needs a name"))
        return None
    try:
        target = percent(slo["objective"])
    except (KeyError, ValueError):
        problems.append(ImportProblem(f"{at}.objective", "needs the objective as a percentage, "
                                      "e.g. 99.9"))
        return None
    problems.extend(_plugin_problems(slo.get("plugins"), f"{at}.plugins"))
    custom = _sli(slo.get("sli"), f"{at}.sli", problems)
    if custom is None:
        return None
    entry: dict[str, Any] = {"name": str(name), "signal": "custom", "custom": custom,
                             "objective": target, "window": "30d"}
    if slo.get("description"):
        entry["description"] = str(slo["description"])
    alerting = _norm(slo.get("alerting"), f"{at}.alerting", _ALERTING_KEYS, problems)
    all_labels = {**labels, **_labels(slo.get("labels"), f"{at}.labels", problems),
                  **_labels(alerting.get("labels"), f"{at}.alerting.labels", problems)}
    if all_labels:
        entry["labels"] = all_labels
    if alerting.get("name"):
        entry["alert_name"] = str(alerting["name"])
    annotations = _labels(alerting.get("annotations"), f"{at}.alerting.annotations", [])
    if annotations:
        entry["annotations"] = annotations
    tiers: list[Any] = []
    custom_tiers = False
    for group, names in GROUPS.items():
        alert = _norm(alerting.get(f"{group}_alert"), f"{at}.alerting.{group}_alert",
                      _ALERT_KEYS, problems)
        if alert.get("disable"):
            custom_tiers = True
            continue
        extra: dict[str, Any] = {}
        tier_labels = _labels(alert.get("labels"), f"{at}.alerting.{group}_alert.labels",
                              problems)
        if tier_labels:
            extra["labels"] = tier_labels
        ann = _labels(alert.get("annotations"), f"{at}.alerting.{group}_alert.annotations", [])
        if ann:
            extra["annotations"] = ann
        if alert.get("for"):
            extra["for"] = str(alert["for"])
        custom_tiers = custom_tiers or bool(extra)
        tiers.extend({"name": n, **copy.deepcopy(extra)} if extra else n for n in names)
    if tiers and not alerting.get("name"):
        problems.append(ImportProblem(f"{at}.alerting.name", "Sloth requires an alert name while "
                                      "page_alert or ticket_alert is enabled (its validation "
                                      "rejects the file): name the alert, or disable both"))
    if custom_tiers:
        entry["tiers"] = tiers
    if not tiers:
        entry["no_data_alert"] = False      # Sloth's "no alerts" means none at all
    return entry


def _plugin_problems(plugins: Any, at: str) -> list[ImportProblem]:
    """An SLO plugin chain is mapped or refused: ``alert_for`` is what page_alert.for and
    ticket_alert.for already say (each tier's ``for``); any other plugin rewrites Sloth's rules
    in ways slo-agent cannot reproduce."""
    if not plugins:
        return []
    if not isinstance(plugins, dict):
        return [ImportProblem(at, "expected a mapping with chain")]
    out = []
    for key in sorted(set(plugins) - {"chain"}):
        out.append(ImportProblem(f"{at}.{key}", "plugin options cannot be imported"))
    for i, item in enumerate(plugins.get("chain") or []):
        pid = item.get("id") if isinstance(item, dict) else item
        if pid not in MAPPED_PLUGINS:
            out.append(ImportProblem(f"{at}.chain[{i}]", f"Sloth SLO plugin {pid!r} rewrites "
                                     "Sloth's rules inside Sloth; slo-agent cannot reproduce it"
                                     f" (mapped: {', '.join(MAPPED_PLUGINS)}): remove it to "
                                     "import"))
    return out


def _sli(raw: Any, at: str, problems: list[ImportProblem]) -> dict[str, Any] | None:
    sli = _norm(raw, at, {"events", "raw", "plugin"}, problems)
    if "plugin" in sli:
        problems.append(ImportProblem(f"{at}.plugin", "Sloth SLI plugins cannot be imported "
                                      "(their queries live in Sloth); give events or raw "
                                      "queries"))
        return None
    if "events" in sli:
        ev = _norm(sli["events"], f"{at}.events", {"error_query", "total_query"}, problems)
        if not ev.get("error_query") or not ev.get("total_query"):
            problems.append(ImportProblem(f"{at}.events", "needs error_query and total_query"))
            return None
        found = [p for key in ("error_query", "total_query")
                 if (p := query_problem(str(ev[key]), f"{at}.events.{key}")) is not None]
        problems.extend(found)
        return None if found else {"bad": str(ev["error_query"]).strip(),
                                   "total": str(ev["total_query"]).strip()}
    if "raw" in sli:
        q = _norm(sli["raw"], f"{at}.raw", {"error_ratio_query"}, problems).get(
            "error_ratio_query")
        if not q:
            problems.append(ImportProblem(f"{at}.raw.error_ratio_query", "missing"))
            return None
        p = query_problem(str(q), f"{at}.raw.error_ratio_query")
        if p is not None:
            problems.append(p)
            return None
        return {"error_ratio": str(q).strip()}
    problems.append(ImportProblem(at, "needs events, raw or plugin"))
    return None
