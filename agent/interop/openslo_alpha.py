"""``openslo/v1alpha`` documents (the form Sloth and the ``oslo`` tool read) as v1: an SLO becomes
one v1 SLO per objective, read by :mod:`agent.interop.openslo` like any other, and every problem
found there is named by the v1alpha field it came from, so a refusal names a field the document
has. ``Service`` documents are read as v1's; ``incremental`` is v1alpha's name for ``counter``;
``budgetingMethod`` is kept, so ``Timeslices`` over a ratio is refused as in v1, never changed.
"""

from __future__ import annotations

from typing import Any

from agent.interop.common import as_list, as_map

API = "openslo/v1"
ALPHA = "openslo/v1alpha"
_UNITS = {"Second": "s", "Minute": "m", "Hour": "h", "Day": "d", "Week": "w", "Month": "M",
          "Quarter": "Q", "Year": "Y"}
Rename = list[tuple[str, str]]          # (v1 path fragment, v1alpha fragment), in order


def _source(q: Any, at: str, problems: list[tuple[str, str]]) -> dict[str, Any] | None:
    """A v1alpha metric source (source, queryType, query) as v1's ``metricSource``."""
    if not isinstance(q, dict):
        problems.append((at, "expected source, queryType and query"))
        return None
    if str(q.get("source", "")).lower() != "prometheus" or \
            str(q.get("queryType", "promql")).lower() != "promql":
        problems.append((f"{at}.source", "only source prometheus with queryType promql can be "
                         "imported"))
        return None
    return {"metricSource": {"type": "Prometheus", "spec": {"query": q.get("query")}}}


def _windows(spec: dict[str, Any], at: str, problems: list[tuple[str, str]]
             ) -> list[dict[str, Any]]:
    out = []
    for i, w in enumerate(as_list(spec.get("timeWindows"))):
        w = w if isinstance(w, dict) else {}
        unit = _UNITS.get(str(w.get("unit")))
        if unit is None:
            problems.append((f"{at}.spec.timeWindows[{i}].unit", "expected Second, Minute, "
                             "Hour, Day, Week, Month, Quarter or Year"))
            continue
        window: dict[str, Any] = {"duration": f"{w.get('count')}{unit}",
                                  "isRolling": bool(w.get("isRolling", not w.get("calendar")))}
        if w.get("calendar"):
            window["calendar"] = w["calendar"]
        out.append(window)
    return out


def convert(at: str, d: dict[str, Any]) -> tuple[list[tuple[str, dict[str, Any], Rename]],
                                                  list[tuple[str, str]]]:
    """(v1 SLOs, each with its name and the renames of its problem paths; problems found here).
    A ratio SLO gives one v1 SLO per objective (``name-k`` when there are several); a threshold
    SLO (``spec.indicator.thresholdMetric``) gives one."""
    spec = as_map(d.get("spec"))
    meta = as_map(d.get("metadata"))
    problems: list[tuple[str, str]] = []
    windows = _windows(spec, at, problems)
    common = {"service": spec.get("service"), "description": spec.get("description"),
              "timeWindow": windows}
    if spec.get("budgetingMethod") is not None:
        common["budgetingMethod"] = spec["budgetingMethod"]
    base: Rename = [(".spec.timeWindow[0].duration", ".spec.timeWindows[0].unit"),
                    (".spec.timeWindow", ".spec.timeWindows")]
    out = []
    objectives = as_list(spec.get("objectives"))
    threshold = as_map(spec.get("indicator")).get("thresholdMetric") \
        if isinstance(spec.get("indicator"), dict) else None
    name = str(meta.get("name") or at)
    if threshold is not None:
        src = _source(threshold, f"{at}.spec.indicator.thresholdMetric", problems)
        if src is not None:
            renames = base + [(".spec.indicator.spec.thresholdMetric",
                               ".spec.indicator.thresholdMetric"),
                              (".metricSource.spec.query", ".query"),
                              (".metricSource.type", ".source"), (".metricSource", ""),
                              (".spec.indicator", ".spec.indicator")]
            out.append((name, {"apiVersion": API, "kind": "SLO",
                               "metadata": {"name": name, "labels": meta.get("labels")},
                               "spec": {**common,
                                        "indicator": {"metadata": {"name": f"{name}-sli"},
                                                      "spec": {"thresholdMetric": src}},
                                        "objectives": objectives}}, renames))
        return out, problems
    for k, obj in enumerate(objectives):
        oat = f"{at}.spec.objectives[{k}]"
        rm = as_map(obj).get("ratioMetrics")
        if not isinstance(rm, dict):
            problems.append((oat, "needs ratioMetrics, or the SLO needs indicator.thresholdMetric"
                             " (the two forms of openslo/v1alpha)"))
            continue
        counter_key = "incremental" if "incremental" in rm else "counter"
        ratio: dict[str, Any] = {"counter": bool(rm.get(counter_key, False))}
        for key in ("good", "bad", "total"):
            if rm.get(key) is not None:
                src = _source(rm[key], f"{oat}.ratioMetrics.{key}", problems)
                if src is not None:
                    ratio[key] = src
        one = f"{name}-{k}" if len(objectives) > 1 else name
        target = {key: obj[key] for key in ("target", "targetPercent", "displayName",
                                            "timeSliceTarget", "timeSliceWindow") if key in obj}
        renames = base + [(".spec.indicator.spec.ratioMetric.counter",
                           f".spec.objectives[{k}].ratioMetrics.{counter_key}"),
                          (".spec.indicator.spec.ratioMetric", f".spec.objectives[{k}]"
                           ".ratioMetrics"),
                          (".metricSource.spec.query", ".query"),
                          (".metricSource.type", ".source"), (".metricSource", ""),
                          (".spec.indicator", f".spec.objectives[{k}]"),
                          (".spec.objectives[0]", f".spec.objectives[{k}]")]
        out.append((one, {"apiVersion": API, "kind": "SLO",
                          "metadata": {"name": one, "labels": meta.get("labels")},
                          "spec": {**common,
                                   "indicator": {"metadata": {"name": f"{one}-sli"},
                                                 "spec": {"ratioMetric": ratio}},
                                   "objectives": [target]}}, renames))
    if not objectives:
        problems.append((f"{at}.spec", "needs objectives (with ratioMetrics) or "
                         "indicator.thresholdMetric"))
    return out, problems


def rename(path: str, renames: Rename) -> str:
    """A problem path of a converted SLO, in the v1alpha document's own field names."""
    for i, (v1, _) in enumerate(renames):       # one pass: a renamed part is never renamed again
        path = path.replace(v1, f"\x01{i}\x01")
    for i, (_, alpha) in enumerate(renames):
        path = path.replace(f"\x01{i}\x01", alpha)
    return path
