"""Values of the service signals: batch jobs, caches, degradation, circuit breakers, custom
metrics, dataset volume and drift detection time.

Each returns ``(value, detail)``; a value that cannot be given is ``None`` with
``detail["reason"]`` in words a user can act on. Events kinds also give ``bad``/``total``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent import catalogue as cat
from agent.sidecar.state.agent_state import AgentState, ModelState
from agent.sidecar.state.service_state import ServiceSignals
from agent.signals import record
from agent.spec.document import Objective, Spec
from agent.units import format_duration
from detectors.detection import Detection, detection_time

Value = tuple[float | None, dict[str, Any]]


def fresh_for(window: float) -> float:
    """How long an SDK-reported state stays current (the SDK reports it every flush)."""
    return max(3 * window, 30.0)


def job(sv: ServiceSignals, o: Objective, now: float, what: str) -> Value:
    """``what``: success_ratio (over a day), duration (last run) or since_success."""
    name = o.selector.job or ""
    j = sv.jobs.get(name)
    if j is None:
        return None, {"reason": f"no run of job {name!r} reported yet (monitor.job or "
                                "slo-agent job-event)"}
    detail: dict[str, Any] = {"running": len(j.running), "last_error": j.last_error}
    if what == "success_ratio":
        failed, total = j.counts(now, cat.JOB_WINDOW_SECONDS)
        detail.update(bad=float(failed), total=float(total))
        if total == 0:
            detail["reason"] = f"no finished run of {name!r} in the last {cat.JOB_WINDOW}"
            return None, detail
        return 1.0 - failed / total, detail
    if what == "duration":
        if j.last_duration is None:
            detail["reason"] = f"no finished run of {name!r} with a duration yet"
        return j.last_duration, detail
    if j.last_success is None:
        detail["reason"] = f"no successful run of {name!r} recorded yet"
        return None, detail
    return max(0.0, now - j.last_success), detail


def cache_hits(sv: ServiceSignals, o: Objective, now: float, window: float) -> Value:
    names = {c for c, _ in sv.caches if o.selector.cache in (None, c)}
    hit, miss = cat.CACHE_RESULTS
    hits = sum(sv.caches[(c, hit)].slots.total(now, window) for c in names
               if (c, hit) in sv.caches)
    misses = sum(sv.caches[(c, miss)].slots.total(now, window) for c in names
                 if (c, miss) in sv.caches)
    total = hits + misses
    detail: dict[str, Any] = {"bad": misses, "total": total}
    if total <= 0:
        detail["reason"] = "no cache lookups in the rate window"
        return None, detail
    return hits / total, detail


def latest(table: dict[str, tuple[float, float]], key: str | None, now: float,
           window: float, what: str,
           combine: Callable[[list[float]], float | None] = max) -> Value:
    """The fresh values reported under ``key`` (any key: all), combined as the kind's record
    aggregates them (the worst replica's degradation level, by default the largest)."""
    values = [v for k, (v, t) in table.items() if key in (None, k) and now - t < fresh_for(window)]
    if not values:
        return None, {"reason": f"no {what} reported in the last "
                                f"{format_duration(fresh_for(window))}"}
    return combine(values), {}


def custom(sv: ServiceSignals, o: Objective, now: float, window: float) -> Value:
    c = o.custom
    assert c is not None
    if c.gauge is not None:
        return latest(sv.gauges, c.gauge, now, window, f"value of gauge {c.gauge!r}")
    if c.counter is not None:
        name = c.counter[: -len("_total")] if c.counter.endswith("_total") else c.counter
        t = sv.counters.get(name)
        if t is None:
            return None, {"reason": f"counter {name!r} not reported yet (monitor.counter)"}
        return t.slots.total(now, window) / window, {}
    return None, {"reason": "a PromQL-only custom SLI is evaluated by the generated Prometheus "
                            "rules; add custom.gauge or custom.counter for the sidecar to "
                            "evaluate it"}


def sample_rate(ms: list[ModelState], now: float, window: float) -> float:
    """Sampled rows per second over the spec's rate window, like every other rate, but over
    the part of it since the first row was sampled: at a deploy start the window is not yet
    covered, and the rows it holds over its whole length would read a fraction of the rate the
    service runs at (a detection time many times too long: a false alert at every start)."""
    starts = [min(m.sampled.data) * m.sampled.slot for m in ms if m.sampled.data]
    if not starts:
        return 0.0
    covered = min(window, max(now - min(starts), ms[0].sampled.slot))
    return sum(m.sampled.total(now, window) for m in ms) / covered


def drift_detection(spec: Spec, state: AgentState, drift: Objective, now: float) -> Detection:
    """Detection time of a shift of the drift objective's critical size at its warning floor."""
    d = spec.drift
    sel = drift.selector
    models = [ms for (name, ver), ms in state.models.items()
              if sel.model in (None, name) and sel.version in (None, ver)]
    levels = [t.value for t in (drift.warning_threshold, drift.critical_threshold)
              if t is not None]
    shift, floor = max(levels), min(levels)
    if record(drift.signal).compute.params.get("windows") == "predictions" \
            or sel.feature is not None:
        tests = 1
    else:
        tests = max([len(ms.numeric) + len(ms.categorical) for ms in models] + [1])
    hold, alpha = drift.for_, drift.alpha or d.alpha
    q = drift.drift_calibration(d.calibration)
    if q is not None:   # calibrated: a fixed floor if set, and the calibration's family tail
        floor, alpha = d.min_ks_effect or 0.0, min(alpha, 1.0 - q)
    return detection_time(shift, floor, alpha, tests, d.window_size,
                          d.reference_size, d.min_samples,
                          sample_rate(models, now, spec.alerting.rate_window),
                          spec.sidecar.interval, hold, d.fleet_window)


def detection_value(spec: Spec, state: AgentState, o: Objective, now: float) -> Value:
    drift = spec.objective(o.selector.objective or "")
    r = drift_detection(spec, state, drift, now)
    detail: dict[str, Any] = {"drift_objective": drift.name, "samples": r.samples,
                              "window_share": r.share}
    if r.reason:
        detail["reason"] = r.reason
    return r.seconds, detail
