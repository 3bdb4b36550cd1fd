"""OpenSLO v1 ⇄ slo.yaml.

Export: every objective with a target becomes an ``SLO`` with its ``SLI`` (a ``ratioMetric`` of
Prometheus counters for event SLIs, a ``thresholdMetric`` for time-slice SLIs) and an
``AlertPolicy`` whose ``AlertCondition``s are its burn-rate tiers (``kind: burnrate``, the
threshold is the factor, ``lookbackWindow`` the long window, ``alertAfter`` the short one).

Import: ``SLO``/``SLI``/``AlertPolicy``/``AlertCondition``/``Service`` documents, inline or by
reference, with Prometheus metric sources, become ``signal: custom`` objectives. Whatever has no
equivalent (another metric source, a calendar window, a composite SLO) is an error naming the
document and field.
"""

from __future__ import annotations

import re
from typing import Any

from agent import catalogue as cat
from agent.interop.common import ImportProblem, derived_levels, duration, tier_entry
from agent.sli import ObjectivePlan, plans
from agent.spec.model import Spec
from agent.spec.signals import SLIType
from agent.spec.units import format_duration

API = "openslo/v1"
SELECTOR_RE = re.compile(r"^\s*[a-zA-Z_:][a-zA-Z0-9_:]*\s*(\{[^{}]*\})?\s*$")
_SEVERITY = {"critical": "critical", "page": "critical", "high": "critical"}


# --- export ---------------------------------------------------------------------------------
def _source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


_SUMMED = re.compile(r"sum\(increase\(([^\[]+)\[W\]\)\)")


def _counters(p: ObjectivePlan) -> tuple[str, str, str] | None:
    """(bad|good, selector, total selector): the plain counter selectors an OpenSLO ratioMetric
    with counter: true expects (the evaluator takes their rates and sums)."""
    if p.o.custom is not None:
        return None
    try:
        bad, total = cat.events_expr(p.o.signal, p.matchers, "W", threshold=p.o.good_threshold,
                                     fn="increase")
    except ValueError:
        return None
    parts, totals = _SUMMED.findall(bad), _SUMMED.findall(total)
    if len(totals) != 1:
        return None
    if len(parts) == 1:
        return "bad", parts[0], totals[0]
    if len(parts) == 2 and parts[0] == totals[0]:    # latency: total minus the good bucket
        return "good", parts[1], totals[0]
    return None


def export(spec: Spec) -> tuple[list[dict[str, Any]], list[str]]:
    """(documents, names of objectives skipped because OpenSLO SLOs need a target)."""
    docs: list[dict[str, Any]] = [{"apiVersion": API, "kind": "Service",
                                   "metadata": {"name": spec.service},
                                   "spec": {"description": f"{spec.service} "
                                                           f"({spec.environment})"}}]
    skipped = []
    for p in plans(spec):
        o = p.o
        if not o.has_target:
            skipped.append(o.name)
            continue
        assert o.objective is not None
        sli: dict[str, Any] = {"apiVersion": API, "kind": "SLI",
                               "metadata": {"name": f"{o.name}-sli"},
                               "spec": {"description": o.info.title}}
        objective: dict[str, Any] = {"displayName": o.name, "target": round(o.objective, 10)}
        events = _counters(p) if p.sli_type is SLIType.EVENTS else None
        if o.custom is not None and o.custom.events:
            c = o.custom        # the team's own queries, {{.window}} and all (Sloth style)
            key, part = ("bad", c.bad) if c.bad is not None else ("good", c.good)
            assert part is not None and c.total is not None
            sli["spec"]["ratioMetric"] = {"counter": False, key: _source(part),
                                          "total": _source(c.total)}
            method = "Occurrences"
        elif events is not None:
            key, part, total = events
            sli["spec"]["ratioMetric"] = {"counter": True, key: _source(part),
                                          "total": _source(total)}
            method = "Occurrences"
        else:
            level = o.good_threshold
            assert level is not None
            sli["spec"]["thresholdMetric"] = _source(p.value_expr())
            objective.update(op="lte" if o.info.higher_is_worse else "gte",
                             value=round(level, 12), timeSliceTarget=1.0,
                             timeSliceWindow=p.step)
            method = "Timeslices"
        conditions = []
        for t in p.tiers:
            conditions.append({
                "kind": "AlertCondition",
                "metadata": {"name": f"{o.name}-{t.name}"},
                "spec": {"severity": t.severity, "condition": {
                    "kind": "burnrate", "op": "gt", "threshold": round(t.factor, 10),
                    "lookbackWindow": format_duration(t.long),
                    "alertAfter": format_duration(t.short)}}})
        slo: dict[str, Any] = {
            "apiVersion": API, "kind": "SLO",
            "metadata": {"name": o.name, **({"labels": {k: [v] for k, v in o.labels.items()}}
                                              if o.labels else {})},
            "spec": {"description": o.description or f"{o.info.title} of {spec.service}",
                     "service": spec.service, "indicatorRef": sli["metadata"]["name"],
                     "timeWindow": [{"duration": format_duration(o.window), "isRolling": True}],
                     "budgetingMethod": method, "objectives": [objective]}}
        if conditions:
            policy_name = f"{o.name}-burn-rate"
            policy: dict[str, Any] = {"apiVersion": API, "kind": "AlertPolicy",
                      "metadata": {"name": policy_name},
                      "spec": {"alertWhenBreaching": True, "alertWhenResolved": True,
                               "alertWhenNoData": False,
                               "conditions": conditions}}
            slo["spec"]["alertPolicies"] = [policy_name]
            docs += [sli, policy, slo]
        else:
            docs += [sli, slo]
    return docs, skipped


# --- import ---------------------------------------------------------------------------------
def _query(src: Any, at: str, problems: list[ImportProblem]) -> str | None:
    ms = (src or {}).get("metricSource") if isinstance(src, dict) else None
    if not isinstance(ms, dict):
        problems.append(ImportProblem(at, "needs metricSource with a Prometheus query"))
        return None
    kind = str(ms.get("type") or "Prometheus")
    if kind.lower() != "prometheus":
        problems.append(ImportProblem(f"{at}.metricSource.type", f"only Prometheus metric "
                                      f"sources can be imported (got {kind!r})"))
        return None
    query = (ms.get("spec") or {}).get("query")
    if not isinstance(query, str) or not query.strip():
        problems.append(ImportProblem(f"{at}.metricSource.spec.query", "missing PromQL query"))
        return None
    return query.strip()


def _windowed(query: str, counter: bool, at: str, problems: list[ImportProblem]) -> str:
    """A counter selector becomes its summed rate over the window; other queries stay as given
    (their ratio is what counts)."""
    if not counter:
        return query
    if not SELECTOR_RE.match(query):
        problems.append(ImportProblem(at, "with counter: true the query must be a metric "
                                      f"selector such as http_requests_total{{code=~\"5..\"}} "
                                      f"(got {query!r})"))
        return query
    return f"sum(rate({query}[{{{{.window}}}}]))"


def import_docs(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[ImportProblem]]:
    """OpenSLO documents → an slo.yaml mapping, or problems naming document and field."""
    problems: list[ImportProblem] = []
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for i, d in enumerate(docs):
        if not isinstance(d, dict) or d.get("apiVersion") != API:
            problems.append(ImportProblem(f"document {i}.apiVersion",
                                          f"expected {API!r} (got {d.get('apiVersion')!r})"
                                          if isinstance(d, dict) else "not a mapping"))
            continue
        name = str((d.get("metadata") or {}).get("name") or f"document-{i}")
        by_kind.setdefault(str(d.get("kind")), {})[name] = d
    services = sorted({str(s["spec"].get("service")) for s in by_kind.get("SLO", {}).values()
                       if isinstance(s.get("spec"), dict)} | set(by_kind.get("Service", {})))
    if len(services) != 1:
        problems.append(ImportProblem("SLO.spec.service", "one service per spec; found "
                                      + (", ".join(services) or "none")))
    objectives = []
    for name, slo in by_kind.get("SLO", {}).items():
        objectives.extend(_objective(name, slo, by_kind, problems))
    data = {"version": 1, "service": services[0] if services else "service",
            "models": [{"name": services[0] if services else "service"}],
            "objectives": objectives}
    return data, problems


def _objective(name: str, slo: dict[str, Any], by_kind: dict[str, dict[str, dict[str, Any]]],
               problems: list[ImportProblem]) -> list[dict[str, Any]]:
    at = f"SLO {name}"
    spec = slo.get("spec") or {}
    sli = spec.get("indicator")
    if sli is None and spec.get("indicatorRef"):
        sli = by_kind.get("SLI", {}).get(spec["indicatorRef"])
        if sli is None:
            problems.append(ImportProblem(f"{at}.spec.indicatorRef",
                                          f"no SLI named {spec['indicatorRef']!r}"))
            return []
    if not isinstance(sli, dict):
        problems.append(ImportProblem(f"{at}.spec.indicator", "needs indicator or indicatorRef"))
        return []
    windows = spec.get("timeWindow") or []
    window = "30d"
    if windows:
        w = windows[0]
        if not w.get("isRolling", True) or w.get("calendar"):
            problems.append(ImportProblem(f"{at}.spec.timeWindow[0]", "calendar-aligned windows "
                                          "are not supported; use a rolling window"))
        try:
            window = format_duration(duration(str(w.get("duration", "30d"))))
        except ValueError as exc:
            problems.append(ImportProblem(f"{at}.spec.timeWindow[0].duration", str(exc)))
    if spec.get("objectives") and any("compositeWeight" in o for o in spec["objectives"]):
        problems.append(ImportProblem(f"{at}.spec.objectives", "composite SLOs are not "
                                      "supported; import each SLO on its own"))
    sli_spec = sli.get("spec") or {}
    sat = f"SLI {(sli.get('metadata') or {}).get('name', name)}.spec"
    custom: dict[str, Any] = {}
    if "ratioMetric" in sli_spec:
        rm = sli_spec["ratioMetric"] or {}
        counter = bool(rm.get("counter", True))
        total = _query(rm.get("total"), f"{sat}.ratioMetric.total", problems)
        key = "bad" if "bad" in rm else "good"
        part = _query(rm.get(key), f"{sat}.ratioMetric.{key}", problems)
        if "raw" in rm:
            problems.append(ImportProblem(f"{sat}.ratioMetric.raw", "raw ratio metrics are not "
                                          "supported; give good or bad with total"))
        if total and part:
            custom = {key: _windowed(part, counter, f"{sat}.ratioMetric.{key}", problems),
                      "total": _windowed(total, counter, f"{sat}.ratioMetric.total", problems)}
            if not counter and "{{.window}}" not in total:
                problems.append(ImportProblem(f"{sat}.ratioMetric", "with counter: false the "
                                              "queries must use {{.window}} (slo-agent takes "
                                              "each window's ratio)"))
    elif "thresholdMetric" in sli_spec:
        q = _query(sli_spec["thresholdMetric"], f"{sat}.thresholdMetric", problems)
        if q:
            custom = {"value": q}
    else:
        problems.append(ImportProblem(sat, "needs ratioMetric or thresholdMetric"))
    out = []
    for k, obj in enumerate(spec.get("objectives") or []):
        oat = f"{at}.spec.objectives[{k}]"
        target = obj.get("target")
        if target is None and obj.get("targetPercent") is not None:
            target = float(obj["targetPercent"]) / 100.0
        if target is None:
            problems.append(ImportProblem(f"{oat}.target", "needs target or targetPercent"))
            continue
        entry: dict[str, Any] = {
            "name": name if len(spec["objectives"]) == 1 else
            f"{name}-{obj.get('displayName') or k}".replace(" ", "-").lower(),
            "signal": "custom", "custom": dict(custom), "objective": float(target),
            "window": window, "for": "0s"}
        if spec.get("description"):
            entry["description"] = str(spec["description"])
        if "value" in custom:
            op = obj.get("op")
            if op not in ("lte", "lt", "gte", "gt") or obj.get("value") is None:
                problems.append(ImportProblem(f"{oat}.op", "a threshold SLI needs op (lte, lt, "
                                              "gte or gt) and value"))
                continue
            entry["custom"]["higher_is_worse"] = op in ("lte", "lt")
            entry["sli_threshold"] = float(obj["value"])
            entry["warning"] = float(obj["value"])
        else:
            entry.update(derived_levels(float(target)))
        tiers = _tiers(spec, by_kind, window, f"{at}.spec.alertPolicies", problems)
        if tiers:
            entry["tiers"] = tiers
        out.append(entry)
    if not spec.get("objectives"):
        problems.append(ImportProblem(f"{at}.spec.objectives", "needs at least one objective"))
    return out


def _tiers(spec: dict[str, Any], by_kind: dict[str, dict[str, dict[str, Any]]], window: str,
           at: str, problems: list[ImportProblem]) -> list[dict[str, Any]]:
    tiers = []
    for i, ref in enumerate(spec.get("alertPolicies") or []):
        policy = ref if isinstance(ref, dict) else by_kind.get("AlertPolicy", {}).get(str(ref))
        if policy is None:
            problems.append(ImportProblem(f"{at}[{i}]", f"no AlertPolicy named {ref!r}"))
            continue
        for j, cond in enumerate((policy.get("spec") or {}).get("conditions") or []):
            cat_ = f"{at}[{i}].conditions[{j}]"
            if "conditionRef" in cond:
                cond = by_kind.get("AlertCondition", {}).get(str(cond["conditionRef"]))
                if cond is None:
                    problems.append(ImportProblem(cat_, "no AlertCondition by that name"))
                    continue
            c = (cond.get("spec") or {}).get("condition") or {}
            if c.get("kind") != "burnrate" or c.get("op", "gt") not in ("gt", "gte"):
                problems.append(ImportProblem(f"{cat_}.condition", "only burnrate conditions "
                                              "with op gt/gte map onto burn-rate tiers"))
                continue
            try:
                entry = tier_entry(str((cond.get("metadata") or {}).get("name") or f"tier-{j}"),
                                   float(c["threshold"]), str(c["lookbackWindow"]),
                                   c.get("alertAfter"), window,
                                   _SEVERITY.get(str((cond.get("spec") or {}).get("severity",
                                                                                   "")).lower(),
                                                 "warning"))
            except (KeyError, ValueError) as exc:
                problems.append(ImportProblem(f"{cat_}.condition", f"needs threshold and "
                                              f"lookbackWindow ({exc})"))
                continue
            tiers.append(entry)
    return tiers
