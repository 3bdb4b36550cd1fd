"""Evaluation: signal values from the state, thresholds (learned baselines included), ``for``
durations, hysteresis, error budgets and burn rates. Runs on the state worker thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.sidecar import data_signals, drift_signals, service_signals
from agent.sidecar.apply import schema_changes
from agent.sidecar.state import AgentState, ModelState, ObjectiveState, Slots, merged_sketch
from agent.spec.model import Objective, Spec
from agent.spec.signals import SignalKind, SLIType
from agent.spec.units import Base, format_duration, format_value
from detectors.baseline import BaselineLearner
from detectors.drift import DriftThresholds, FeatureDrift
from detectors.quality import freshness_lag
from detectors.rates import RatioResult, ratio_status
from detectors.thresholds import Status, classify

_RATIOS = {SignalKind.ERROR_RATE: ("error",), SignalKind.AVAILABILITY: ("error",),
           SignalKind.FALLBACK_RATE: ("fallback",)}
FINE_SLOT = 60.0           # coarsest slot for burn-rate windows
FINE_PER_WINDOW = 10       # slots in the shortest burn-rate window
MIN_COVERAGE = 0.5         # a burn-rate window less than half covered by data reports none
COARSE_SLOT = 3600.0
_DATASET_KINDS = (SignalKind.FEATURE_DRIFT, SignalKind.PREDICTION_DRIFT,
                  SignalKind.NEW_CATEGORY_SHARE)


def fine_slots(spec: Spec, o: Objective) -> tuple[float, float]:
    """(slot, horizon) of an objective's burn-rate counts: a tenth of its shortest tier window
    (at least one tick, at most a minute), kept as long as its longest tier window."""
    tiers = spec.tiers_for(o)
    if not tiers:
        return FINE_SLOT, spec.alerting.rate_window
    shortest = min(t.short for t in tiers)
    slot = min(FINE_SLOT, max(spec.sidecar.interval, shortest / FINE_PER_WINDOW))
    return slot, max(t.long for t in tiers)


@dataclass
class Result:
    name: str
    value: float | None
    status: Status
    since: float | None
    warning: float | None
    critical: float | None
    baseline: float | None
    budget_remaining: float | None = None
    budget: dict[str, Any] = field(default_factory=dict)     # coverage, partial, reason
    burn_rates: dict[str, float] = field(default_factory=dict)
    tiers: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    pending: dict[str, Any] | None = None   # past a level, waiting for `for`: level, fires_at
    #: the number the status was judged on and why: on, basis, reason (see ``_judgement``)
    judgement: dict[str, Any] = field(default_factory=dict)

    @property
    def shown_status(self) -> str:
        """What /status and the CLI show: ``pending_critical`` while ``for`` runs, as
        Prometheus shows a pending alert."""
        return f"pending_{self.pending['level']}" if self.pending else self.status.value


@dataclass
class Transition:
    objective: str
    signal: str
    previous: str
    current: str
    value: float | None
    at: float
    recovery: float | None = None   # critical → ok: seconds since it turned critical


class Evaluator:
    def __init__(self, spec: Spec, state: AgentState, warmup: int = 20,
                 gpu: Callable[[], dict[str, dict[str, float]]] | None = None) -> None:
        self.spec = spec
        self.state = state
        self.gpu = gpu or (lambda: {})
        self.window = spec.alerting.rate_window
        self.model_drift = drift_signals.ModelDrift(spec)
        self.drift_cache = self.model_drift.cache          # what /metrics exports per model
        self.calibrations = self.model_drift.calibrations  # kept across ticks
        for o in spec.objectives:
            os_ = state.objectives.setdefault(o.name, ObjectiveState())
            if _learns(o) and os_.baseline is None:
                factor = o.warning_threshold.value if o.warning_threshold else 1.5
                os_.baseline = BaselineLearner(warmup=warmup, alpha=0.05,
                                               freeze_factor=max(1.2, factor * 0.75),
                                               higher_is_worse=o.info.higher_is_worse)
            if o.has_target:
                fine, keep = fine_slots(spec, o)
                if os_.bad_fine is None or (os_.bad_fine.slot, os_.bad_fine.keep) != (fine, keep):
                    os_.bad_fine, os_.total_fine = Slots(fine, keep), Slots(fine, keep)
                if os_.bad_coarse is None or os_.bad_coarse.keep != o.window:
                    coarse = min(COARSE_SLOT, o.window / 24)
                    os_.bad_coarse, os_.total_coarse = Slots(coarse, o.window), \
                        Slots(coarse, o.window)

    # -- per-signal values ----------------------------------------------------------------------
    def _models(self, o: Objective) -> list[ModelState]:
        sel = o.selector
        return [ms for (name, ver), ms in self.state.models.items()
                if (sel.model is None or sel.model == name)
                and (sel.version is None or sel.version == ver)]

    def _sum(self, models: list[ModelState], attr: str, now: float, window: float) -> float:
        return sum(getattr(ms, attr).total(now, window) for ms in models)

    def value(self, o: Objective, now: float) -> tuple[float | None, dict[str, Any]]:
        if o.selector.scrape is not None:
            return self._scraped(o)
        k = o.signal
        models = self._models(o)
        w = self.window
        if k in (SignalKind.LATENCY, SignalKind.TTFT):
            sk = merged_sketch(getattr(ms, "latency" if k is SignalKind.LATENCY else "ttft")
                               .merged(now, max(1, int(w // self.state.slot))) for ms in models)
            return (None if sk.count == 0 else sk.quantile(o.quantile or 0.95)), \
                {"count": sk.count}
        if k in _RATIOS:
            bad = self._sum(models, _RATIOS[k][0], now, w)
            total = bad + sum(self._sum(models, a, now, w) for a in ("ok", "error", "fallback")
                              if a != _RATIOS[k][0])
            if total <= 0:
                return None, {"bad": bad, "total": total}
            ratio = bad / total
            return (1 - ratio if k is SignalKind.AVAILABILITY else ratio), \
                {"bad": bad, "total": total}
        if k is SignalKind.NEGATIVE_FEEDBACK_RATE:
            neg = self._sum(models, "negative", now, w)
            total = neg + self._sum(models, "positive", now, w) + \
                self._sum(models, "neutral", now, w)
            return (None if total <= 0 else neg / total), {"bad": neg, "total": total}
        if k is SignalKind.THROUGHPUT:
            if not models:
                return None, {}
            return sum(self._sum(models, a, now, w) for a in ("ok", "error", "fallback")) / w, {}
        if k is SignalKind.TOKEN_RATE:
            return (self._sum(models, "tokens", now, w) / w) if models else None, {}
        if k is SignalKind.COST_PER_1K:
            req = sum(self._sum(models, a, now, w) for a in ("ok", "error", "fallback"))
            return (None if req <= 0 else 1000 * self._sum(models, "cost", now, w) / req), {}
        if k is SignalKind.DAILY_SPEND:
            return (self._sum(models, "cost", now, 86400.0) if models else None), {}
        if k is SignalKind.IN_FLIGHT:
            fresh = [n for ms in models for n, t in ms.in_flight.values() if now - t < 3 * w]
            return (float(sum(fresh)) if fresh else None), {}
        if k is SignalKind.QUEUE_DEPTH:
            qs = [d for name, (d, t) in self.state.queues.items()
                  if o.selector.queue in (None, name) and now - t < 3 * w]
            ext = self.state.external.get("queue_depth", {})
            qs += [v for name, v in ext.items() if o.selector.queue in (None, name)]
            return (float(sum(qs)) if qs else None), {}
        if k in _DATASET_KINDS and o.selector.dataset is not None:
            return self._data(o, now)
        if k in (SignalKind.FEATURE_DRIFT, SignalKind.PREDICTION_DRIFT,
                 SignalKind.NEW_CATEGORY_SHARE):
            return self._drift(o, models)
        if k in (SignalKind.GPU_UTILIZATION, SignalKind.GPU_MEMORY_RATIO,
                 SignalKind.GPU_TEMPERATURE):
            readings = self.gpu().get(k.value, {})
            values = [v for gpu, v in readings.items() if o.selector.gpu in (None, gpu)]
            return (max(values) if values else None), {}
        if k in (SignalKind.FRESHNESS_LAG, SignalKind.NULL_RATIO, SignalKind.SCHEMA_DRIFT,
                 SignalKind.DISALLOWED_VALUE_SHARE):
            return self._data(o, now)
        sv, now_w = self.state.service, (now, w)
        if k in (SignalKind.JOB_SUCCESS_RATIO, SignalKind.JOB_DURATION,
                 SignalKind.TIME_SINCE_SUCCESS):
            return service_signals.job(sv, o, now)
        if k is SignalKind.CACHE_HIT_RATE:
            return service_signals.cache_hit_rate(sv, o, *now_w)
        if k is SignalKind.DEGRADATION_LEVEL:
            return service_signals.latest(sv.degradation, None, *now_w, "degradation level")
        if k is SignalKind.CIRCUIT_BREAKER_STATE:
            return service_signals.latest(sv.breakers, o.selector.breaker, *now_w,
                                          "circuit-breaker state")
        if k is SignalKind.CUSTOM:
            return service_signals.custom(sv, o, *now_w)
        if k is SignalKind.DRIFT_DETECTION_TIME:
            return service_signals.detection_value(self.spec, self.state, o, now)
        if k is SignalKind.ROW_COUNT:
            d = self.state.datasets.get(o.selector.dataset or "")
            if d is None or d.rows is None:
                return None, {"reason": f"no batch of dataset {o.selector.dataset!r} seen yet"}
            return float(d.rows), {}
        ext = self.state.external.get(k.value, {})       # e.g. queue_wait from a scrape target
        return (max(ext.values()) if ext else None), {}

    def _scraped(self, o: Objective) -> tuple[float | None, dict[str, Any]]:
        """The value a scrape target's own series gave at its last scrape; a ratio comes with
        its event counts so it is judged like the SDK's."""
        name, kind = o.selector.scrape or "", o.signal.value
        value = self.state.external.get(kind, {}).get(name)
        detail: dict[str, Any] = {"scrape": name}
        counts = self.state.external_counts.get(kind, {}).get(name)
        if counts is not None:
            detail.update(bad=counts[0], total=counts[1])
        if value is None:
            detail["reason"] = (f"scrape target {name!r} gave no {kind} value yet (a rate or "
                                "quantile needs two scrapes, a ratio some requests)")
            return None, detail
        if o.signal is SignalKind.AVAILABILITY:
            value = 1.0 - value
        return value, detail

    def _drift(self, o: Objective, models: list[ModelState]) -> tuple[float | None, dict[str, Any]]:
        """Drift (or new-category share) of the SDK's feature windows (:mod:`.drift_signals`)."""
        return self.model_drift.value(o, self.state, models, self.drift_thresholds(o))

    def drift_thresholds(self, o: Objective) -> DriftThresholds:
        warn, crit, _ = self.levels(o, self.state.objectives[o.name])
        return drift_signals.objective_thresholds(self.spec, o, warn, crit)

    def _drift_for(self, ms: ModelState) -> list[FeatureDrift]:
        return self.model_drift.run(ms)

    def _data(self, o: Objective, now: float) -> tuple[float | None, dict[str, Any]]:
        name = o.selector.dataset or ""
        d = self.state.datasets.get(name)
        if d is None:
            return None, {"reason": f"nothing seen from dataset {name!r} yet"}
        if d.error is not None and d.rows is None:
            return None, {"reason": d.error}
        if o.signal is SignalKind.FRESHNESS_LAG:
            return freshness_lag(now, d.newest_event, d.last_mark), {}
        if o.signal is SignalKind.SCHEMA_DRIFT:
            changes = schema_changes(self.state, self.spec, name)
            return (None if changes is None else float(sum(changes.values()))), changes or {}
        column = o.selector.column
        if o.signal is SignalKind.NULL_RATIO:
            return data_signals.null_ratio(d, column)
        if o.signal is SignalKind.NEW_CATEGORY_SHARE:
            return data_signals.new_categories(d, column)
        if o.signal is SignalKind.DISALLOWED_VALUE_SHARE:
            return data_signals.disallowed(d, column)
        return data_signals.dataset_drift(d, column, self.drift_thresholds(o))

    # -- one tick ---------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> tuple[list[Result], list[Transition]]:
        now = time.time() if now is None else now
        self.model_drift.reset()
        results, transitions = [], []
        for o in self.spec.objectives:
            try:
                value, detail = self.value(o, now)
            except Exception as exc:   # one broken signal must not stop the others
                value, detail = None, {"error": f"{type(exc).__name__}: {exc}"}
            if value is not None and not math.isfinite(value):
                value = None
            try:
                r, t = self._judge(o, value, detail, now)
            except Exception as exc:   # nor a broken judgement: this one shows no data, why
                os_ = self.state.objectives[o.name]
                r, t = Result(o.name, None, Status.NO_DATA, os_.since, None, None, None,
                              detail={"reason": f"could not be judged: {type(exc).__name__}: "
                                                f"{exc}"[:300]}), None
            results.append(r)
            if t is not None:
                transitions.append(t)
        return results, transitions

    def levels(self, o: Objective, os_: ObjectiveState) -> tuple[float | None, float | None,
                                                                  float | None]:
        baseline = o.pinned_baseline
        if baseline is None and os_.baseline is not None:
            baseline = os_.baseline.value

        def resolve(t: Any) -> float | None:
            if t is None:
                return None
            return t.resolve(o.daily_budget if t.base is Base.BUDGET else baseline)

        return resolve(o.warning_threshold), resolve(o.critical_threshold), baseline

    def _judge(self, o: Objective, value: float | None, detail: dict[str, Any], now: float
               ) -> tuple[Result, Transition | None]:
        os_ = self.state.objectives[o.name]
        if os_.baseline is not None:
            os_.baseline.observe(value)
        warning, critical, baseline = self.levels(o, os_)
        if isinstance(detail.get("judged_against"), dict):   # drift: the worst column's levels
            warning, critical = detail["judged_against"]["warning"], \
                detail["judged_against"]["critical"]
        previous = Status(os_.status)
        rr: RatioResult | None = None
        min_count = 20
        if o.signal is SignalKind.NULL_RATIO:
            # one judgement for every null ratio: the Wilson bound on enough rows
            min_count = data_signals.MIN_ROWS
            rr = ratio_status(detail.get("bad", 0.0), detail.get("total", 0.0), warning,
                              critical, min_count=min_count, previous=previous,
                              hysteresis=o.hysteresis)
            raw = rr.status
        elif o.signal is SignalKind.CACHE_HIT_RATE:
            rr = ratio_status(detail.get("bad", 0.0), detail.get("total", 0.0), _flip(warning),
                              _flip(critical), min_count=20, previous=previous,
                              hysteresis=o.hysteresis)
            raw = rr.status
            if detail.get("total", 0.0) > 0 and raw is Status.NO_DATA:
                raw = Status.OK
        elif o.signal in _RATIOS or o.signal is SignalKind.NEGATIVE_FEEDBACK_RATE:
            # judge by the confidence bound: a handful of failures at night does not page
            bad, total = detail.get("bad", 0.0), detail.get("total", 0.0)
            if o.signal is SignalKind.AVAILABILITY:
                rr = ratio_status(bad, total, _flip(warning), _flip(critical), min_count=20,
                                  previous=previous, hysteresis=o.hysteresis)
            else:
                rr = ratio_status(bad, total, warning, critical, min_count=20,
                                  previous=previous, hysteresis=o.hysteresis)
            raw = rr.status
            if total > 0 and raw is Status.NO_DATA:
                raw = Status.OK       # traffic too thin to judge: not an incident
        else:
            raw = classify(value, warning, critical, o.info.higher_is_worse, previous,
                           o.hysteresis)
        # escalation waits for `for`; de-escalation is immediate (hysteresis already applied)
        current = previous
        if raw.rank > previous.rank and previous is not Status.NO_DATA:
            if os_.pending != raw.value:
                os_.pending, os_.pending_since = raw.value, now
            if now - (os_.pending_since or now) >= o.for_:
                current = raw
        else:
            os_.pending, os_.pending_since = None, None
            current = raw
        if previous is Status.NO_DATA and raw is not Status.NO_DATA:
            current = raw if raw is Status.OK or o.for_ == 0 else Status.OK
            if raw.rank > Status.OK.rank and o.for_ > 0:
                os_.pending, os_.pending_since = raw.value, now
        transition = None
        if current is not previous:
            transition = Transition(o.name, o.signal.value, previous.value, current.value,
                                    value, now)
            if current is Status.CRITICAL and os_.incident_since is None:
                os_.incident_since = now
            elif current is Status.OK and os_.incident_since is not None:
                transition.recovery = now - os_.incident_since
                os_.incident_since = None
            os_.status, os_.since = current.value, now
            os_.transitions += 1
        if os_.since is None:
            os_.since = now
        os_.value = value
        result = Result(o.name, value, current, os_.since, warning, critical, baseline,
                        detail=detail,
                        judgement=_judgement(o, value, rr, min_count, warning, critical,
                                             current))
        if os_.pending and os_.pending_since is not None and \
                Status(os_.pending).rank > current.rank:
            result.pending = {"level": os_.pending, "since": os_.pending_since,
                              "fires_at": os_.pending_since + o.for_,
                              "fires_in": max(0.0, os_.pending_since + o.for_ - now)}
        if o.has_target:
            self._budget(o, os_, value, detail, now, result)
        return result, transition

    def _budget(self, o: Objective, os_: ObjectiveState, value: float | None,
                detail: dict[str, Any], now: float, result: Result) -> None:
        assert os_.bad_fine and os_.total_fine and os_.bad_coarse and os_.total_coarse
        bad, total = self._tick_events(o, os_, value, now)
        if total > 0:
            for s, v in ((os_.bad_fine, bad), (os_.total_fine, total),
                         (os_.bad_coarse, bad), (os_.total_coarse, total)):
                s.add(now, v)
        if total > 0 and os_.first_seen is None:
            os_.first_seen = now
        budget = o.error_budget

        def ratio(bad_s: Slots, total_s: Slots, window: float) -> float | None:
            t = total_s.total(now, window)
            return None if t <= 0 else bad_s.total(now, window) / t

        def covered(window: float) -> float:
            return 0.0 if os_.first_seen is None else min(1.0, (now - os_.first_seen) / window)

        tiers = self.spec.tiers_for(o)
        needed = min((t.long for t in tiers), default=3600.0)
        full_cov = covered(o.window)
        result.budget = {"window": format_duration(o.window), "coverage": full_cov,
                         "partial": full_cov < 1.0}
        full = ratio(os_.bad_coarse, os_.total_coarse, o.window)
        if full is None:
            result.budget["reason"] = "no events in the window yet"
        elif full_cov * o.window < needed:
            result.budget["reason"] = (
                f"not enough data yet: {format_duration(full_cov * o.window)} of "
                f"{format_duration(o.window)} covered; the budget is shown after "
                f"{format_duration(needed)}")
        else:
            result.budget_remaining = 1.0 - full / budget
        for tier in tiers:
            entry: dict[str, Any] = {"name": tier.name, "severity": tier.severity,
                                     "factor": tier.factor, "budget_share": tier.budget_share,
                                     "exhaustion": format_duration(tier.exhaustion)}
            burns = []
            for which, w in (("long", tier.long), ("short", tier.short)):
                cov = covered(w)
                r = ratio(os_.bad_fine, os_.total_fine, w)
                window: dict[str, Any] = {"window": format_duration(w), "coverage": cov,
                                          "partial": cov < 1.0, "burn_rate": None}
                if r is None:
                    window["reason"] = "no events in the window"
                elif cov < MIN_COVERAGE:
                    window["reason"] = (f"not enough data yet: {format_duration(cov * w)} of "
                                        f"{format_duration(w)}")
                else:
                    window["burn_rate"] = r / budget
                    result.burn_rates[format_duration(w)] = r / budget
                entry[which] = window
                burns.append(window["burn_rate"])
            entry["firing"] = all(b is not None and b > tier.factor for b in burns)
            result.tiers.append(entry)

    def _tick_events(self, o: Objective, os_: ObjectiveState, value: float | None,
                     now: float) -> tuple[float, float]:
        """(bad, total) for this tick: new events for event SLIs, one slice for gauges."""
        interval = self.spec.sidecar.interval
        if o.info.sli is SLIType.TIMESLICES:
            level = o.good_threshold
            if value is None or level is None:
                return 0.0, 0.0
            worse = value > level if o.info.higher_is_worse else value < level
            return float(worse), 1.0
        sv = self.state.service
        if o.signal is SignalKind.JOB_SUCCESS_RATIO:
            j = sv.jobs.get(o.selector.job or "")
            return self._cursor(os_, {"bad": j.failure, "good": j.success} if j else {})
        if o.signal is SignalKind.CACHE_HIT_RATE:
            cum = {"bad": 0.0, "good": 0.0}
            for (c, result), t in sv.caches.items():
                if o.selector.cache in (None, c):
                    cum["bad" if result == "miss" else "good"] += t.cum
            return self._cursor(os_, cum)
        models = self._models(o)
        if o.signal in _RATIOS or o.signal is SignalKind.NEGATIVE_FEEDBACK_RATE:
            if o.signal is SignalKind.NEGATIVE_FEEDBACK_RATE:
                bad_key, keys = "negative", ("positive", "negative", "neutral")
            else:
                bad_key, keys = _RATIOS[o.signal][0], ("ok", "error", "fallback")
            cum = {k: sum(ms.cum.get(k, 0.0) for ms in models) for k in keys}
            delta = {k: max(0.0, v - os_.cursor.get(k, 0.0)) for k, v in cum.items()}
            os_.cursor = cum
            return delta[bad_key], sum(delta.values())
        if o.signal in (SignalKind.LATENCY, SignalKind.TTFT) and o.good_threshold is not None:
            slots = max(1, int(interval // self.state.slot))
            sk = merged_sketch(getattr(ms, "latency" if o.signal is SignalKind.LATENCY
                                       else "ttft").merged(now, slots) for ms in models)
            if sk.count == 0:
                return 0.0, 0.0
            g = sk.gamma
            bin_keys = np.fromiter(sk.bins.keys(), dtype=np.float64, count=len(sk.bins))
            counts = np.fromiter(sk.bins.values(), dtype=np.float64, count=len(sk.bins))
            above = float(counts[2.0 * np.power(g, bin_keys) / (g + 1.0) > o.good_threshold]
                          .sum())
            return above, float(sk.count)
        return 0.0, 0.0


    @staticmethod
    def _cursor(os_: ObjectiveState, cum: dict[str, float]) -> tuple[float, float]:
        """(bad, total) since the last tick from cumulative bad/good totals."""
        delta = {k: max(0.0, v - os_.cursor.get(k, 0.0)) for k, v in cum.items()}
        os_.cursor = dict(cum)
        return delta.get("bad", 0.0), sum(delta.values())


def _learns(o: Objective) -> bool:
    return o.pinned_baseline is None and any(
        t is not None and t.base is Base.BASELINE
        for t in (o.warning_threshold, o.critical_threshold))


_GOOD_RATIOS = (SignalKind.AVAILABILITY, SignalKind.CACHE_HIT_RATE)


def _judgement(o: Objective, value: float | None, rr: RatioResult | None, min_count: int,
               warning: float | None, critical: float | None, status: Status
               ) -> dict[str, Any]:
    """The number a status was judged on and why, so "6.25 %, warning 5 %, ok" explains itself:
    ratios are judged on the 99 % Wilson bound on the side that matters, not the point value."""
    unit = o.info.unit
    levels = ", ".join(f"{name} {format_value(level, unit)}" for name, level in
                       (("warning", warning), ("critical", critical)) if level is not None)
    if rr is None:
        if value is None:
            return {"on": None, "basis": "value", "reason": "no value to judge"}
        return {"on": value, "basis": "value",
                "reason": f"value {format_value(value, unit)} against {levels or 'no level'}: "
                          f"{status.value}"}
    good = o.signal in _GOOD_RATIOS
    bound = None if not math.isfinite(rr.lower) else (1.0 - rr.lower if good else rr.lower)
    basis = "Wilson 99 % upper bound" if good else "Wilson 99 % lower bound"
    out: dict[str, Any] = {"on": bound, "basis": basis, "bad": rr.bad, "total": rr.total,
                           "min_count": min_count}
    if rr.total < min_count:
        out["reason"] = (f"{rr.total:g} events, fewer than {min_count}: too few to judge, "
                         "shown as ok while any arrive")
    else:
        out["reason"] = (f"{basis} {format_value(bound, unit)} of {rr.total:g} events "
                         f"against {levels or 'no level'}: {status.value}")
    return out


def _flip(level: float | None) -> float | None:
    """Availability thresholds as error-ratio thresholds (99 % available = 1 % errors)."""
    return None if level is None else 1.0 - level
