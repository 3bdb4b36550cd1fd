"""The review from Prometheus (``slo-agent report --prometheus URL``): the series the sidecar
exported, read back over the period and the one before it, turned into the same events and
figures as the sidecar's own journal. Where a fleet's sidecars each export a series, the worst
replica's speaks for the service (``max`` of states and burn rates, ``min`` of budgets).

- states: ``slo_agent_objective_state`` changes are the state events; where the pending series
  (``slo_agent_objective_pending_fire_timestamp_seconds``) ran before a level fired, its first
  sample is when the breach began;
- tiers: a tier fires while the exported burn rate over both of its windows passes its factor,
  as the sidecar judges it;
- SLI and budget: events from the SDK's (or the scrape target's) own counters through the plan's
  PromQL over the period (``agent.sli``), time slices from the exported value against the SLI
  threshold; budget left from ``slo_agent_error_budget_remaining_ratio`` at the period's end;
- datasets: changes of ``slo_agent_dataset_contract_failures`` and schema changes.

Resolution is the query step (the period over 5,000 points, at least 15s): an event is placed
at the first step that shows it.
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from typing import Any

from agent import catalogue as cat
from agent.redact import redact_url
from agent.report import document
from agent.sli import ObjectivePlan
from agent.spec.document import Objective, Spec
from agent.units import format_duration

STATE_NAMES = {rank: name for name, rank in cat.OBJECTIVE_STATES.items()}
Series = list[tuple[dict[str, str], list[tuple[float, float]]]]


class PrometheusError(RuntimeError):
    """Prometheus could not be asked or refused a query; the message names which."""


class Prometheus:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=self.timeout) as r:
                body = json.loads(r.read())
        except OSError as exc:
            raise PrometheusError(f"cannot query Prometheus at {redact_url(self.url)}: "
                                  f"{exc}") from None
        except ValueError:
            raise PrometheusError(f"{redact_url(self.url)} did not answer JSON: is it "
                                  "Prometheus's address?") from None
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus refused {params.get('query', '')[:200]!r}: "
                                  f"{body.get('error', body)}")
        return body["data"]

    def range(self, query: str, start: float, end: float, step: float) -> Series:
        data = self._get("/api/v1/query_range", {"query": query, "start": f"{start:.3f}",
                                                 "end": f"{end:.3f}", "step": f"{step:g}"})
        return [(s["metric"], [(float(t), float(v)) for t, v in s["values"]])
                for s in data["result"]]

    def instant(self, query: str, at: float) -> list[tuple[dict[str, str], float]]:
        data = self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]


def step_for(span: float) -> float:
    """Two periods (this one and the one before) in at most 10,000 points, at least 15s."""
    return float(max(15, math.ceil(2 * span / 10_000)))


def build(spec: Spec, url: str, span: float, end: float, timeout: float = 30.0
          ) -> dict[str, Any]:
    prom = Prometheus(url, timeout)
    t1, t0 = end, end - span
    step = step_for(span)
    svc = f'{cat.SERVICE_LABEL}="{spec.service}"'
    # a fleet's sidecars export one series each: the worst replica speaks for the service
    states = _by_objective(prom.range(f"max by (objective) ({cat.OBJECTIVE_STATE.name}{{{svc}}})",
                                      t0 - span, t1, step))
    pending = prom.range(f"max by (objective, level) ({cat.OBJECTIVE_PENDING.name}{{{svc}}})",
                         t0 - span, t1, step)
    burns = prom.range(f"max by (objective, window) ({cat.BURN_RATE.name}{{{svc}}})",
                       t0 - span, t1, step)
    facts = []
    for o in spec.objectives:
        f = document.Facts(o.name)
        series = states.get(o.name, [])
        f.begins = series[0][0] if series else None
        f.events = _state_events(series, [s for s in pending
                                          if s[0].get("objective") == o.name], step) \
            + _tier_events(spec, o, [s for s in burns if s[0].get("objective") == o.name])
        _now(prom, svc, o, t1, f)
        if o.has_target:
            _counts(prom, spec, o, t0, t1, span, step, f)
        facts.append(f)
    notes = [f"Read from Prometheus at {redact_url(url)} in steps of {format_duration(step)}: "
             "an event shows at the first step that saw it."]
    return document.build(spec, facts, t0, t1, "prometheus", _datasets(prom, svc, t0, t1, step),
                          notes)


def _by_objective(series: Series) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for labels, values in series:
        out.setdefault(labels.get("objective", ""), []).extend(values)
    return {k: sorted(v) for k, v in out.items()}


def _state_events(values: list[tuple[float, float]], pending: Series, step: float
                  ) -> list[dict[str, Any]]:
    """A state event at each change of the exported state; a breach began at the first sample
    of the pending run for that level that ended where the level fired."""
    runs: dict[str, list[float]] = {}
    for labels, vals in pending:
        runs.setdefault(labels.get("level", ""), []).extend(t for t, _ in vals)
    out: list[dict[str, Any]] = []
    prev: str | None = None
    for t, v in values:
        name = STATE_NAMES.get(int(v), "no_data")
        if prev is not None and name != prev:
            event: dict[str, Any] = {"t": t, "kind": "state", "from": prev, "to": name}
            if name in ("warning", "critical"):
                event["breach_since"] = _run_start(sorted(runs.get(name, [])), t, step)
            out.append(event)
        prev = name
    return out


def _run_start(times: list[float], fired: float, step: float) -> float:
    """The first time of the contiguous pending run that ends where ``fired`` (else ``fired``):
    samples one step apart, the last within a step of the firing."""
    before = [t for t in times if t <= fired]
    if not before or fired - before[-1] > 1.5 * step:
        return fired
    start = before[-1]
    for t in reversed(before[:-1]):
        if start - t > 1.5 * step:
            break
        start = t
    return start


def _tier_events(spec: Spec, o: Objective, burns: Series) -> list[dict[str, Any]]:
    by_window = {labels.get("window"): dict(vals) for labels, vals in burns}
    out: list[dict[str, Any]] = []
    for tier in spec.tiers_for(o):
        long_ = by_window.get(format_duration(tier.long), {})
        short = by_window.get(format_duration(tier.short), {})
        firing = False
        for t in sorted(set(long_) | set(short)):
            now = long_.get(t, 0.0) > tier.factor and short.get(t, 0.0) > tier.factor
            if now != firing:
                out.append({"t": t, "kind": "tier", "tier": tier.name,
                            "severity": tier.severity, "firing": now})
                firing = now
    return out


def _now(prom: Prometheus, svc: str, o: Objective, t1: float, f: document.Facts) -> None:
    """Status, value, levels and budget left at the period's end."""
    sel = f'{{{svc},objective="{o.name}"}}'
    worst = "max" if o.info.higher_is_worse else "min"
    for metric, attr, agg in ((cat.OBJECTIVE_VALUE, "value", worst),
                              (cat.OBJECTIVE_WARNING, "warning", "max"),
                              (cat.OBJECTIVE_CRITICAL, "critical", "max"),
                              (cat.BUDGET_REMAINING, "budget_left", "min")):
        got = prom.instant(f"{agg}(last_over_time({metric.name}{sel}[1h]))", t1)
        if got:
            setattr(f, attr, got[0][1])
    state = prom.instant(f"max(last_over_time({cat.OBJECTIVE_STATE.name}{sel}[1h]))", t1)
    if state:
        f.status = STATE_NAMES.get(int(state[0][1]), "no_data")


def _counts(prom: Prometheus, spec: Spec, o: Objective, t0: float, t1: float, span: float,
            step: float, f: document.Facts) -> None:
    plan = ObjectivePlan(spec, o)
    pair = plan.window_events(span)
    if pair is not None:
        f.bad, f.total = _sum(prom, pair[0], t1), _sum(prom, pair[1], t1)
        if f.begins is not None and f.begins <= t0 - span + step:   # the period before, seen
            f.prev_bad, f.prev_total = _sum(prom, pair[0], t0), _sum(prom, pair[1], t0)
        whole = plan.window_events(o.window)
        f.window_total = _sum(prom, whole[1], t1) if whole else None
        before = prom.instant(f"min(last_over_time({cat.BUDGET_REMAINING.name}"
                              f'{{{_svc(spec)},objective="{o.name}"}}[1h]))', t0)
        f.prev_budget_left = before[0][1] if before else None
        return
    level = o.good_threshold                   # time slices: the value against the level
    if level is None:
        return
    values = [v for _, vals in prom.range(slice_values(spec, plan), t0 - span, t1, step)
              for v in vals]
    worse = (lambda v: v > level) if o.info.higher_is_worse else (lambda v: v < level)
    now = [v for t, v in values if t > t0]
    prev = [v for t, v in values if t <= t0]
    f.bad, f.total = float(sum(map(worse, now))), float(len(now))
    f.window_total = f.total + len(prev)
    if f.begins is not None and f.begins <= t0 - span + step:
        f.prev_bad, f.prev_total = float(sum(map(worse, prev))), float(len(prev))


def slice_values(spec: Spec, plan: ObjectivePlan) -> str:
    """The exported value a time slice is judged on (the worst replica's), only where the rules
    judge a slice: a lower-is-worse rate once its rate window is covered (before, unknown)."""
    sel = f'{{{_svc(spec)},objective="{plan.o.name}"}}'
    worst = "max" if plan.o.info.higher_is_worse else "min"
    return f"{worst}({cat.OBJECTIVE_VALUE.name}{sel}){plan.covered_guard}"


def _svc(spec: Spec) -> str:
    return f'{cat.SERVICE_LABEL}="{spec.service}"'


def _sum(prom: Prometheus, query: str, at: float) -> float | None:
    got = prom.instant(f"sum({query})", at)
    return got[0][1] if got and math.isfinite(got[0][1]) else None


def _datasets(prom: Prometheus, svc: str, t0: float, t1: float, step: float
              ) -> list[dict[str, Any]]:
    out: dict[str, list[dict[str, Any]]] = {}
    failures = prom.range(f"sum by (dataset) ({cat.CONTRACT_FAILURES.name}{{{svc}}})",
                          t0, t1, step)
    for labels, vals in failures:
        prev: float | None = None
        for t, v in vals:
            if prev is not None and (v > 0) != (prev > 0):
                out.setdefault(labels.get("dataset", ""), []).append(
                    {"t": t, "kind": "contract",
                     "text": f"contract failing ({v:g} expectations)" if v
                     else "contract passing again"})
            prev = v
    schema = prom.range(f"sum by (dataset) ({cat.SCHEMA_CHANGES.name}{{{svc}}})", t0, t1, step)
    for labels, vals in schema:
        prev = None
        for t, v in vals:
            if prev is not None and v > 0 and v != prev:
                out.setdefault(labels.get("dataset", ""), []).append(
                    {"t": t, "kind": "schema", "text": f"schema changed ({v:g} columns)"})
            prev = v
    return [{"name": k, "events": sorted(v, key=lambda e: e["t"])} for k, v in sorted(out.items())]
