"""Pyrra's ``pyrra.dev/v1alpha1`` ``ServiceLevelObjective`` → slo.yaml (the way back is
:mod:`agent.interop.pyrra_export`).

Each indicator becomes a custom events SLI over ``{{.window}}`` with Pyrra's own arithmetic:
``ratio`` (errors, success or both with total) and ``latency`` (the ``le`` bucket over the count)
as rates of the selectors; ``bool_gauge`` as the share of samples at 0 (``count_over_time`` minus
``sum_over_time``); ``latencyNative`` as ``histogram_fraction`` of the native histogram, which
the target Prometheus evaluates only with native histograms enabled (2.40+). ``grouping`` is kept
(``sum by (…)``), so the recorded ratios and the alerts carry those labels. The burn tiers are
Pyrra's: its four windows, ``for`` durations and factors (14, 7, 2, 1) computed from the window
as Pyrra's ``Windows()`` does (fractions of 28 days, rounded to the minute), with Pyrra's alert
name (``ErrorBudgetBurn`` unless ``alerting.name``), the ``slo`` label and the labels and
annotations it propagates (``pyrra.dev/…``). What cannot map (dynamic burn rates, a custom absent
alert name or severity, a grouping on a label slo-agent reserves) is refused by path, never
imported half-way.
"""

from __future__ import annotations

import json
from typing import Any

import promql_parser as pp

from agent.interop.common import (
    RESERVED_LABELS,
    Imported,
    ImportProblem,
    duration,
    fit_rate_window,
    label_problems,
    percent,
    query_problem,
    tier_entry,
)
from agent.spec.promql_syntax import WINDOW
from agent.units import format_duration

API, KIND = "pyrra.dev/v1alpha1", "ServiceLevelObjective"
LISTS = ("ServiceLevelObjectiveList", "List")
DEFAULT_ALERT = "ErrorBudgetBurn"
PROPAGATE = "pyrra.dev/"
_SPEC = {"description", "target", "window", "indicator", "alerting", "partial_response_strategy"}
_ALERTING = {"disabled", "burnrates", "absent", "name", "absentName", "severities",
             "burnRateType"}
_INDICATORS = {"ratio": ("errors", "success", "total"), "latency": ("success", "total"),
               "latencyNative": ("total",), "bool_gauge": ()}
#: Pyrra's tiers, as its Windows(): (name, severity, long, short, for) as divisors of the window
#: (1h, 5m and 2m of 28 days for the first), and the burn factor
WINDOWS = (("fast-burn", "critical", 672, 8064, 20160, 14.0),
           ("medium-burn", "critical", 112, 1344, 2688, 7.0),
           ("slow-burn", "warning", 28, 336, 672, 2.0),
           ("long-term-burn", "warning", 7, 112, 224, 1.0))
SEVERITY_KEYS = {"fast-burn": "fastBurn", "medium-burn": "mediumBurn", "slow-burn": "slowBurn",
                 "long-term-burn": "longTermBurn"}
_MINUTE_NS = 60 * 10**9


def _go_round(ns: int) -> int:
    """Go's Duration.Round(time.Minute): to the nearest minute, halves away from zero."""
    q, r = divmod(ns, _MINUTE_NS)
    return (q + (1 if 2 * r >= _MINUTE_NS else 0)) * _MINUTE_NS


def windows(window_seconds: float) -> list[tuple[str, str, float, float, float, float]]:
    """Pyrra's burn windows for an SLO window: (name, severity, long, short, for, factor),
    seconds, from the window in integer nanoseconds as Go computes them."""
    ns = round(window_seconds * 10**9)
    return [(name, sev, _go_round(ns // lo) / 1e9, _go_round(ns // sh) / 1e9,
             _go_round(ns // fo) / 1e9, factor) for name, sev, lo, sh, fo, factor in WINDOWS]


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def selector(text: Any, at: str, problems: list[ImportProblem]) -> tuple[str, str, Any] | None:
    """(selector without offset, offset suffix, parsed node) of a Pyrra metric, which must be a
    plain selector as Pyrra requires."""
    if not isinstance(text, str) or not text.strip():
        problems.append(ImportProblem(at, "needs a metric selector, e.g. "
                                      'http_requests_total{job="api"}'))
        return None
    p = query_problem(text, at)
    if p is not None:
        problems.append(p)
        return None
    node = pp.parse(text)
    if not isinstance(node, pp.VectorSelector):
        problems.append(ImportProblem(at, "Pyrra takes a selector (metric{labels}), not an "
                                      "expression"))
        return None
    if node.at is not None:
        problems.append(ImportProblem(at, "the @ modifier cannot be imported"))
        return None
    return (*render(node), node)


def render(node: Any) -> tuple[str, str]:
    """(``name{matchers}``, `` offset …`` or "") of a parsed selector, values quoted as Go
    strings (the parser's own printing does not escape them)."""
    name = node.name or ""
    matchers = []
    for m in node.matchers.matchers:
        op = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}[str(m.op).split(".")[-1]]
        if m.name == "__name__" and op == "=" and not name:
            name = m.value
            continue
        matchers.append(f"{m.name}{op}{_quote(m.value)}")
    offset = ""
    if node.offset is not None:
        seconds = node.offset.total_seconds()
        offset = f" offset {'-' if seconds < 0 else ''}{format_duration(abs(seconds))}"
    return f"{name}{{{','.join(matchers)}}}", offset


def _sum(grouping: list[str], inner: str) -> str:
    return f"sum by ({', '.join(grouping)}) ({inner})" if grouping else f"sum({inner})"


def _rate(sel: tuple[str, str, Any], fn: str = "rate") -> str:
    return f"{fn}({sel[0]}[{WINDOW}]{sel[1]})"


def sli(kind: str, ind: dict[str, Any], at: str, problems: list[ImportProblem],
        notes: list[str]) -> dict[str, Any] | None:
    """The custom events SLI of one Pyrra indicator (Pyrra's own burn-rate arithmetic)."""
    grouping = ind.get("grouping") or []
    if not isinstance(grouping, list) or not all(isinstance(g, str) for g in grouping):
        problems.append(ImportProblem(f"{at}.grouping", "expected a list of label names"))
        return None
    for i, g in enumerate(grouping):
        if g in RESERVED_LABELS:
            problems.append(ImportProblem(f"{at}.grouping[{i}]", f"label {g!r} is reserved: "
                                          "slo-agent puts service, objective and signal on "
                                          "every recorded series, so groups by it would "
                                          "collapse; relabel it"))
    sels = {}
    for key in _INDICATORS[kind]:
        if ind.get(key) is not None:
            sel = selector((ind[key] or {}).get("metric") if isinstance(ind[key], dict) else None,
                           f"{at}.{key}.metric", problems)
            if sel is None:
                return None
            sels[key] = sel
    if kind == "bool_gauge":
        sel = selector(ind.get("metric"), f"{at}.metric", problems)
        if sel is None:
            return None
        count = _sum(grouping, _rate(sel, "count_over_time"))
        return {"bad": f"{count} - {_sum(grouping, _rate(sel, 'sum_over_time'))}",
                "total": count}
    if "total" not in sels and kind != "ratio":
        problems.append(ImportProblem(f"{at}.total.metric", "needs the total metric"))
        return None
    if kind == "latencyNative":
        try:
            le = duration(ind.get("latency"))
        except ValueError as exc:
            problems.append(ImportProblem(f"{at}.latency", str(exc)))
            return None
        hist = _sum(grouping, _rate(sels["total"]))
        notes.append(f"{at}: latencyNative reads native histograms (histogram_fraction): the "
                     "target Prometheus must ingest them (2.40+ with "
                     "--enable-feature=native-histograms)")
        return {"good": f"histogram_fraction(0, {le:g}, {hist}) * histogram_count({hist})",
                "total": f"histogram_count({hist})"}
    if kind == "latency":
        if "success" not in sels:
            problems.append(ImportProblem(f"{at}.success.metric", "needs the success metric (the "
                                          "histogram bucket under the latency, with le)"))
            return None
        if not any(m.name == "le" for m in sels["success"][2].matchers.matchers):
            problems.append(ImportProblem(f"{at}.success.metric", "Pyrra requires an le "
                                          "matcher on the success bucket"))
            return None
    rates = {k: _sum(grouping, _rate(v)) for k, v in sels.items()}
    if set(rates) == {"errors", "success"}:       # total = errors + success
        return {"bad": rates["errors"], "total": f"{rates['errors']} + {rates['success']}"}
    if len(rates) != 2 or "total" not in rates:
        problems.append(ImportProblem(at, "needs two of errors, success and total"))
        return None
    key = "bad" if "errors" in rates else "good"
    return {key: rates["errors" if key == "bad" else "success"], "total": rates["total"]}


def _body(at: str, doc: Any, problems: list[ImportProblem]) -> list[tuple[str, dict[str, Any]]]:
    """The ServiceLevelObjectives of a document (a list's items too)."""
    if not isinstance(doc, dict):
        problems.append(ImportProblem(at, f"expected a {KIND} (got a {type(doc).__name__})"))
        return []
    if doc.get("kind") in LISTS and isinstance(doc.get("items"), list):
        return [s for i, item in enumerate(doc["items"])
                for s in _body(f"{at}.items[{i}]", item, problems)]
    api, kind = doc.get("apiVersion"), doc.get("kind")
    if api != API or kind != KIND:
        problems.append(ImportProblem(f"{at}.apiVersion" if api != API else f"{at}.kind",
                                      f"expected apiVersion {API!r} and kind {KIND!r} (got "
                                      f"{api!r}, {kind!r})"))
        return []
    name = _map(doc.get("metadata")).get("name")
    return [(f"{at} ({name})" if name else at, doc)]


def import_docs(named: list[tuple[str, Any]], service: str | None = None) -> Imported:
    """Pyrra documents (name, document) → an slo.yaml mapping: the service is ``service``, else
    the documents' one namespace."""
    problems: list[ImportProblem] = []
    notes: list[str] = []
    slos = [s for at, d in named for s in _body(at, d, problems)]
    namespaces = sorted({str(_map(d.get("metadata")).get("namespace") or "")
                         for _, d in slos} - {""})
    if service is None and len(namespaces) > 1:
        problems.append(ImportProblem("metadata.namespace", "the documents are of namespaces "
                                      f"{', '.join(namespaces)}; an slo.yaml is one service: "
                                      "pass --service NAME"))
    svc = service or (namespaces[0] if namespaces else "pyrra")
    objectives: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for at, doc in slos:
        entry = _objective(at, doc, problems, notes)
        if entry is None:
            continue
        if entry["name"] in seen:
            problems.append(ImportProblem(f"{at}.metadata.name", f"{entry['name']!r} is also "
                                          f"the name of {seen[entry['name']]}"))
        seen[entry["name"]] = at
        objectives.append(entry)
    data: dict[str, Any] = {"version": 1, "service": svc, "models": [{"name": svc}],
                            "objectives": objectives}
    fit_rate_window(data, notes)    # Pyrra's short windows of short SLO windows: under 5m
    return Imported(data, problems, notes)


def _objective(at: str, doc: dict[str, Any], problems: list[ImportProblem], notes: list[str]
               ) -> dict[str, Any] | None:
    meta = _map(doc.get("metadata"))
    spec = _map(doc.get("spec"))
    for key in sorted(set(spec) - _SPEC):
        notes.append(f"{at}.spec.{key}: not a field of Pyrra's {KIND} (Kubernetes prunes it and "
                     "Pyrra never reads it): not imported")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        problems.append(ImportProblem(f"{at}.metadata.name", "Pyrra requires a name"))
        return None
    try:
        target = percent(spec.get("target"))
    except ValueError as exc:
        problems.append(ImportProblem(f"{at}.spec.target", f"Pyrra requires the target as a "
                                      f"percentage, e.g. \"99.9\" ({exc})"))
        return None
    try:
        window_s = duration(spec.get("window"))
    except ValueError as exc:
        problems.append(ImportProblem(f"{at}.spec.window", f"Pyrra requires a window such as "
                                      f"28d or 4w ({exc})"))
        return None
    if not 0 < float(target.rstrip("%")) < 100:
        problems.append(ImportProblem(f"{at}.spec.target", "a target between 0 and 100 "
                                      "(exclusive) as Pyrra reads it, e.g. \"99.9\""))
        return None
    if float(target.rstrip("%")) < 1:
        notes.append(f"{at}.spec.target: {target} (Pyrra's target is a percentage, 0-100)")
    ind = _map(spec.get("indicator"))
    kinds = [k for k in _INDICATORS if ind.get(k) is not None]
    if len(kinds) != 1:
        problems.append(ImportProblem(f"{at}.spec.indicator", "needs exactly one of ratio, "
                                      "latency, latencyNative or bool_gauge"))
        return None
    if not isinstance(ind[kinds[0]], dict):
        problems.append(ImportProblem(f"{at}.spec.indicator.{kinds[0]}", "expected a mapping"))
        return None
    custom = sli(kinds[0], ind[kinds[0]], f"{at}.spec.indicator.{kinds[0]}", problems, notes)
    if custom is None:
        return None
    entry: dict[str, Any] = {"name": name, "signal": "custom", "custom": custom,
                             "objective": target, "window": format_duration(window_s)}
    if spec.get("description"):
        entry["description"] = str(spec["description"])
    labels = {"slo": name}
    propagated = {str(k)[len(PROPAGATE):]: str(v) for k, v in _map(meta.get("labels")).items()
                  if str(k).startswith(PROPAGATE)}
    problems.extend(label_problems(propagated, f"{at}.metadata.labels.{PROPAGATE}"))
    labels.update(_matcher_labels(ind[kinds[0]], kinds[0], at, notes))
    labels.update(propagated)
    entry["labels"] = labels
    annotations = {str(k)[len(PROPAGATE):]: str(v)
                   for k, v in _map(meta.get("annotations")).items()
                   if str(k).startswith(PROPAGATE)}
    if annotations:
        entry["annotations"] = annotations
    alerting = _map(spec.get("alerting"))
    entry.update(_alerting(alerting, window_s, f"{at}.spec.alerting", problems))
    return entry


def _matcher_labels(ind: dict[str, Any], kind: str, at: str, notes: list[str]
                    ) -> dict[str, str]:
    """What Pyrra copies onto its alerts: the total selector's equality matchers that are not
    grouped by (a reserved label is said, not set)."""
    src = ind.get("metric") if kind == "bool_gauge" else _map(ind.get("total")).get("metric")
    try:
        node = pp.parse(str(src))
    except (ValueError, RuntimeError):
        return {}
    out = {}
    grouping = {g for g in ind.get("grouping") or [] if isinstance(g, str)} \
        if isinstance(ind.get("grouping"), list) else set()
    for m in getattr(getattr(node, "matchers", None), "matchers", []):
        if str(m.op).endswith(".Equal") and m.name != "__name__" and m.name not in grouping:
            if m.name in RESERVED_LABELS:
                notes.append(f"{at}: the label {m.name}={m.value!r} Pyrra copies from the "
                             f"selector onto its alerts is not set ({m.name} names slo-agent's "
                             "own)")
                continue
            out[m.name] = m.value
    return out


def _alerting(a: dict[str, Any], window_s: float, at: str, problems: list[ImportProblem]
              ) -> dict[str, Any]:
    for key in sorted(set(a) - _ALERTING):
        problems.append(ImportProblem(f"{at}.{key}", "not a field of Pyrra's alerting"))
    if str(a.get("burnRateType") or "static") != "static":
        problems.append(ImportProblem(f"{at}.burnRateType", "dynamic burn rates scale each "
                                      "threshold with the traffic of the moment; slo-agent's "
                                      "tiers have fixed factors: remove burnRateType (static is "
                                      "Pyrra's default) to import"))
    if a.get("absentName"):
        problems.append(ImportProblem(f"{at}.absentName", "slo-agent names the absent-data "
                                      "alert after the objective (…NoData): remove absentName, "
                                      "or set absent: false"))
    severities = _map(a.get("severities"))
    if severities.get("absent"):
        problems.append(ImportProblem(f"{at}.severities.absent", "the absent-data alert's "
                                      "severity is slo-agent's (warning): remove it to import"))
    out: dict[str, Any] = {"alert_name": str(a.get("name") or DEFAULT_ALERT),
                           "no_data_alert": a.get("absent", True) is not False}
    if a.get("disabled") is True or a.get("burnrates") is False:
        out["tiers"] = []
        return out
    tiers = []
    for name, sev, long, short, for_, factor in windows(window_s):
        if not short or not long:
            problems.append(ImportProblem(at.rsplit(".", 1)[0] + ".window", "Pyrra's own burn "
                                          f"windows round to 0s at a {format_duration(window_s)}"
                                          " window (its tier windows are minutes of a 28d "
                                          "window); use a longer window"))
            return out
        t = tier_entry(name, factor, format_duration(long), format_duration(short),
                       format_duration(window_s), sev, format_duration(for_) if for_ else None)
        own = severities.get(SEVERITY_KEYS[name])
        if own:
            t["labels"] = {"severity": str(own)}
        tiers.append(t)
    out["tiers"] = tiers
    return out
