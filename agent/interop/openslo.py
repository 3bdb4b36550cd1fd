"""OpenSLO v1 → slo.yaml (the way back is :mod:`agent.interop.openslo_export`).

``SLO``/``SLI``/``AlertPolicy``/``AlertCondition``/``Service`` documents, inline or by
reference, with Prometheus metric sources, become ``signal: custom`` objectives. Whatever has no
equivalent (another metric source, a calendar window, a composite SLO) is an error naming the
document and field; a composite SLO is refused as such. Files may hold ``---`` documents or a
YAML list; ``openslo/v1alpha`` documents are read as v1 (:mod:`agent.interop.openslo_alpha`),
their problems named by their own fields; alert policies become tiers in
:mod:`agent.interop.openslo_alerts`.
"""

from __future__ import annotations

from typing import Any

from agent.interop import openslo_alpha as alpha
from agent.interop.common import (
    Imported,
    ImportProblem,
    as_list,
    as_map,
    duration,
    fit_rate_window,
    label_problems,
    percent,
    query_problem,
    ratio_percent,
)
from agent.interop.openslo_alerts import (
    ALERT_NAME,
    NAME,
    NO_DATA,
    SERVICE,
    alert_annotations,
    annotation,
    tiers_of,
)
from agent.spec.promql_syntax import WINDOW, CounterQueryError, counter_rate
from agent.units import format_duration

API, ALPHA = alpha.API, alpha.ALPHA
Docs = dict[str, dict[str, tuple[str, dict[str, Any]]]]     # kind → name → (path, document)


class _Reader:
    """One import: the documents by kind and name, and what went wrong or changed on the way."""

    def __init__(self, named: list[tuple[str, Any]]) -> None:
        self.problems: list[ImportProblem] = []
        self.notes: list[str] = []
        self.docs: Docs = {}
        self.alpha: dict[str, tuple[str, alpha.Rename]] = {}   # internal prefix → (at, renames)
        for at, d in named:
            api = d.get("apiVersion") if isinstance(d, dict) else None
            if not isinstance(d, dict):
                self.problem(at, "not a mapping (an OpenSLO document has apiVersion, kind, "
                             "metadata and spec)")
            elif api == ALPHA:
                self.read_alpha(at, d)
            elif api != API:
                why = (f"{api} is not supported; only {API} and {ALPHA} documents can be "
                       "imported (convert with the OpenSLO CLI, oslo convert)") \
                    if isinstance(api, str) and api.startswith("openslo/") \
                    else f"expected {API!r} (got {api!r})"
                self.problem(f"{at}.apiVersion", why)
            else:
                meta = as_map(d.get("metadata"))
                given = str(meta.get("name") or at)
                name = str(annotation(d, NAME) or given) if d.get("kind") == "SLO" else given
                self.docs.setdefault(str(d.get("kind")), {})[name] = (
                    f"{d.get('kind')} {given}", d)

    def read_alpha(self, at: str, d: dict[str, Any]) -> None:
        """A v1alpha SLO as v1 SLOs whose problems keep the v1alpha field names; a Service as
        v1's; any other kind is not v1alpha's."""
        kind = d.get("kind")
        name = str(as_map(d.get("metadata")).get("name") or at)
        if kind == "Service":
            self.docs.setdefault("Service", {})[name] = (f"{at} (Service {name})", d)
            return
        if kind != "SLO":
            self.problem(f"{at}.kind", f"{ALPHA} has kinds Service and SLO (got {kind!r})")
            return
        converted, problems = alpha.convert(f"{at} (SLO {name})", d)
        self.problems.extend(ImportProblem(p, m) for p, m in problems)
        for one, v1, renames in converted:
            key = f"\0alpha{len(self.alpha)}"
            self.alpha[key] = (f"{at} (SLO {name})", renames)
            self.docs.setdefault("SLO", {})[one] = (key, v1)

    def named_in_source(self, text: str) -> str:
        """A path or note of a converted v1alpha SLO in its own document's terms."""
        for key, (at, renames) in self.alpha.items():
            if key in text:
                head, _, tail = text.partition(key)
                path, sep, rest = tail.partition(":")
                return head + at + alpha.rename(path, renames) + sep + rest
        return text

    def problem(self, at: str, message: str) -> None:
        self.problems.append(ImportProblem(at, message))

    def named(self, kind: str, ref: Any) -> tuple[str, dict[str, Any]] | None:
        return self.docs.get(kind, {}).get(str(ref))

    # -- queries ----------------------------------------------------------------------------
    def query(self, src: Any, at: str) -> str | None:
        """The Prometheus query of a metric source, its type given inline or by its DataSource."""
        ms = src.get("metricSource") if isinstance(src, dict) else None
        if not isinstance(ms, dict):
            self.problem(at, "needs metricSource with a Prometheus query")
            return None
        kind = ms.get("type")
        ref = ms.get("metricSourceRef")
        if ref is not None:
            ds = self.named("DataSource", ref)
            if ds is None and kind is None:
                self.problem(f"{at}.metricSource.metricSourceRef", f"no DataSource named "
                             f"{ref!r} in the file, and no type given")
                return None
            if ds is not None:
                ds_type = as_map(ds[1].get("spec")).get("type")
                if kind is not None and ds_type is not None and str(kind) != str(ds_type):
                    self.problem(f"{at}.metricSource.type", f"{kind!r} differs from DataSource "
                                 f"{ref!r}'s type {ds_type!r}")
                    return None
                kind = kind or ds_type
        if str(kind or "").lower() != "prometheus":
            self.problem(f"{at}.metricSource.type", f"only Prometheus metric sources can be "
                         f"imported (got {kind!r})")
            return None
        spec = as_map(ms.get("spec"))
        query = spec.get("query") if isinstance(spec, dict) else None
        if not isinstance(query, str) or not query.strip():
            self.problem(f"{at}.metricSource.spec.query", "missing PromQL query")
            return None
        p = query_problem(query, f"{at}.metricSource.spec.query")
        if p is not None:
            self.problems.append(p)
            return None
        return query.strip()

    def windowed(self, query: str, counter: bool, at: str) -> str | None:
        """A counter query becomes its rate over the window (rewritten by a PromQL parser);
        other queries must already take {{.window}} (slo-agent takes each window's ratio)."""
        if counter:
            try:
                return counter_rate(query)
            except CounterQueryError as exc:
                self.problem(at, str(exc))
                return None
        if WINDOW not in query:
            self.problem(at, "with counter: false the query must use {{.window}} for its range "
                         "(slo-agent takes the ratio over each alert window); or set counter: "
                         "true and give the raw counters")
            return None
        return query

    # -- SLIs -------------------------------------------------------------------------------
    def sli(self, spec: dict[str, Any], at: str) -> dict[str, Any] | None:
        if "ratioMetric" in spec:
            return self.ratio(spec["ratioMetric"] or {}, f"{at}.ratioMetric")
        if "thresholdMetric" in spec:
            q = self.query(spec["thresholdMetric"], f"{at}.thresholdMetric")
            return None if q is None else {"value": q}
        self.problem(at, "needs ratioMetric or thresholdMetric")
        return None

    def ratio(self, rm: dict[str, Any], at: str) -> dict[str, Any] | None:
        counter = bool(rm.get("counter", False))
        if "raw" in rm:
            raw_type = rm.get("rawType")
            if raw_type not in ("success", "failure"):
                self.problem(f"{at}.rawType", "a raw ratio needs rawType success or failure")
                return None
            q = self.query(rm["raw"], f"{at}.raw")
            if q is None:
                return None
            return {"error_ratio": q if raw_type == "failure" else f"1 - (\n{q}\n)"}
        total = self.query(rm.get("total"), f"{at}.total")
        keys = [k for k in ("bad", "good") if k in rm]
        if not keys:
            self.problem(at, "needs good or bad with total, or rawType with raw")
            return None
        if len(keys) == 2:
            self.notes.append(f"{at}: good, bad and total are all given; bad/total is imported "
                              "(the error ratio), good is not needed for it")
        key = keys[0]
        part = self.query(rm.get(key), f"{at}.{key}")
        if total is None or part is None:
            return None
        part_w = self.windowed(part, counter, f"{at}.{key}.metricSource.spec.query")
        total_w = self.windowed(total, counter, f"{at}.total.metricSource.spec.query")
        if part_w is None or total_w is None:
            return None
        return {key: part_w, "total": total_w}


def import_docs(named: list[tuple[str, Any]]) -> Imported:
    """OpenSLO v1 documents (name, document) → an slo.yaml mapping, or problems naming
    document and field."""
    r = _Reader(named)
    slos = r.docs.get("SLO", {})
    if not slos and not r.problems:
        found = ", ".join(f"{len(v)} {k}" for k, v in sorted(r.docs.items())) or "no documents"
        r.problem("SLO", f"the file holds {found} but no SLO: slo-agent imports SLOs (with the "
                  "SLIs, AlertPolicies, AlertConditions, DataSources and Services they use)")
    services = sorted({str(annotation(d, SERVICE) or d["spec"]["service"])
                       for _, d in slos.values()
                       if isinstance(d.get("spec"), dict) and d["spec"].get("service")})
    if len(services) > 1:
        r.problem("SLO.spec.service", "one service per spec; found " + ", ".join(services))
    elif slos and not services:
        r.problem("SLO.spec.service", "every SLO needs spec.service")
    objectives = []
    for name, (at, slo) in slos.items():
        objectives.extend(_objective(r, name, at, slo))
    svc = services[0] if services else "service"
    problems = [ImportProblem(r.named_in_source(p.path), p.message) for p in r.problems]
    data: dict[str, Any] = {"version": 1, "service": svc, "models": [{"name": svc}],
                            "objectives": objectives}
    fit_rate_window(data, r.notes)
    return Imported(data, problems, [r.named_in_source(n) for n in r.notes])


def _window(r: _Reader, spec: dict[str, Any], at: str) -> str:
    windows = as_list(spec.get("timeWindow"))
    if not windows:
        return "30d"
    if len(windows) > 1:
        r.problem(f"{at}.spec.timeWindow", "one time window per SLO")
    w = windows[0] if isinstance(windows[0], dict) else {}
    if not w.get("isRolling", False) or w.get("calendar"):
        r.problem(f"{at}.spec.timeWindow[0]", "calendar-aligned windows are not supported; "
                  "use a rolling window (isRolling: true)")
    try:
        return format_duration(duration(w.get("duration", "30d")))
    except ValueError as exc:
        r.problem(f"{at}.spec.timeWindow[0].duration", str(exc))
        return "30d"


def _labels(meta: dict[str, Any], at: str, r: _Reader) -> dict[str, str]:
    raw = as_map(meta.get("labels"))
    if not isinstance(raw, dict):
        return {}
    r.problems.extend(label_problems(raw, f"{at}.metadata.labels"))
    return {str(k): ",".join(map(str, v)) if isinstance(v, list) else str(v)
            for k, v in raw.items()}


COMPOSITE = ("indicatorRef", "indicator", "compositeWeight")


def _composite(r: _Reader, at: str, objectives: list[Any]) -> bool:
    """A composite SLO (objectives with their own indicator or weight) is refused as such."""
    found = [(k, next(key for key in COMPOSITE if key in o)) for k, o in enumerate(objectives)
             if isinstance(o, dict) and any(key in o for key in COMPOSITE)]
    for k, key in found:
        r.problem(f"{at}.spec.objectives[{k}].{key}", "a composite SLO (objectives with their "
                  "own indicator, indicatorRef or compositeWeight) is not supported: import "
                  "each objective as its own SLO, one SLO document per indicator with "
                  "spec.indicatorRef and that objective's target")
    return bool(found)


def _objective(r: _Reader, name: str, at: str, slo: dict[str, Any]) -> list[dict[str, Any]]:
    spec = as_map(slo.get("spec"))
    if _composite(r, at, as_list(spec.get("objectives"))):
        return []
    sli = spec.get("indicator")
    if sli is None and spec.get("indicatorRef"):
        found = r.named("SLI", spec["indicatorRef"])
        if found is None:
            r.problem(f"{at}.spec.indicatorRef", f"no SLI named {spec['indicatorRef']!r}")
            return []
        sat, sli = found
    else:
        sat = f"{at}.spec.indicator"
    if not isinstance(sli, dict):
        r.problem(f"{at}.spec.indicator", "needs indicator or indicatorRef")
        return []
    window = _window(r, spec, at)
    objectives = as_list(spec.get("objectives"))
    if not objectives:
        r.problem(f"{at}.spec.objectives", "needs at least one objective")
    custom = r.sli(as_map(sli.get("spec")), f"{sat}.spec")
    if custom is None:
        return []
    method = spec.get("budgetingMethod", "Occurrences")
    if method in ("Timeslices", "RatioTimeslices") and "value" not in custom:
        r.problem(f"{at}.spec.budgetingMethod", f"{method} over a ratio metric (a slice is good "
                  "when its ratio meets timeSliceTarget) is not supported; slo-agent budgets a "
                  "ratio by occurrences (budgetingMethod: Occurrences)")
        return []
    tiers, no_data = tiers_of(r, spec, window, f"{at}.spec.alertPolicies")
    if not spec.get("alertPolicies"):
        r.notes.append(f"{at}: no alertPolicies, so no burn-rate alerts (as in OpenSLO); add "
                       "tiers: to the objective to alert")
    labels = _labels(as_map(slo.get("metadata")), at, r)
    out = []
    for k, raw in enumerate(objectives):
        oat = f"{at}.spec.objectives[{k}]"
        obj = as_map(raw)
        try:
            if obj.get("target") is not None:
                target = ratio_percent(obj["target"])
            elif obj.get("targetPercent") is not None:
                target = percent(obj["targetPercent"])
            else:
                r.problem(f"{oat}.target", "needs target or targetPercent")
                continue
        except ValueError as exc:
            r.problem(f"{oat}.target", str(exc))
            continue
        entry: dict[str, Any] = {
            "name": name if len(objectives) == 1 else
            f"{name}-{obj.get('displayName') or k}".replace(" ", "-").lower(),
            "signal": "custom", "custom": dict(custom), "objective": target, "window": window,
            "tiers": tiers, "no_data_alert": no_data}
        if spec.get("description"):
            entry["description"] = str(spec["description"])
        annotations = alert_annotations(slo)
        if annotations:
            entry["annotations"] = annotations
        if not tiers and annotation(slo, NO_DATA) is not None:
            entry["no_data_alert"] = str(annotation(slo, NO_DATA)).lower() == "true"
        alert_name = annotation(slo, ALERT_NAME)
        if alert_name:
            entry["alert_name"] = str(alert_name)
        if labels:
            entry["labels"] = labels
        if "value" in custom:
            op = obj.get("op")
            if op not in ("lte", "lt", "gte", "gt") or obj.get("value") is None:
                r.problem(f"{oat}.op", "a threshold SLI needs op (lte, lt, gte or gt) and value")
                continue
            entry["custom"]["higher_is_worse"] = op in ("lte", "lt")
            entry["sli_threshold"] = obj["value"]
            if obj.get("timeSliceTarget") not in (None, 1, 1.0):
                r.problem(f"{oat}.timeSliceTarget", "a slice is good when its value meets the "
                          "threshold (timeSliceTarget 1); other slice targets are not supported")
        out.append(entry)
    return out
