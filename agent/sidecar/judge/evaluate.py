"""Evaluation: signal values from the state, thresholds (learned baselines included), ``for``
durations, hysteresis, error budgets and burn rates. Runs on the state worker thread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.sidecar.judge import data_signals, drift_signals
from agent.sidecar.judge._signal_values import TICKS, VALUES, scraped_events
from agent.sidecar.judge._tiers import hold_and_wait, tier_entry
from agent.sidecar.state import roles
from agent.sidecar.state.agent_state import AgentState, ModelState, ObjectiveState, Slots
from agent.signals import Judge, record
from agent.spec.document import Objective, Spec, TierWindows
from agent.spec.signals import SLIType
from agent.units import Base, format_duration, format_span, format_value, json_number
from detectors.baseline import BaselineLearner
from detectors.drift import DriftThresholds, FeatureDrift
from detectors.rates import MIN_EVENTS, RatioResult, ratio_status
from detectors.thresholds import Status, classify

FINE_SLOT = 60.0           # coarsest slot for burn-rate windows
FINE_PER_WINDOW = 10       # slots in the shortest burn-rate window
COARSE_SLOT = 3600.0


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
    breach_since: float | None = None   # an escalation: when its level was first passed


class Evaluator:
    def __init__(self, spec: Spec, state: AgentState, warmup: int = 20,
                 gpu: Callable[[], dict[str, dict[str, float]]] | None = None) -> None:
        self.spec = spec
        self.state = state
        self.gpu = gpu or (lambda: {})
        self.window = spec.alerting.rate_window
        self.checker_only = roles.checker_objectives(spec)   # a replica leaves these alone
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

    def models(self, o: Objective) -> list[ModelState]:
        return self._models(o)

    def sum(self, models: list[ModelState], attr: str, now: float, window: float) -> float:
        return self._sum(models, attr, now, window)

    def value(self, o: Objective, now: float) -> tuple[float | None, dict[str, Any]]:
        """The objective's value, computed by the shape its kind's record names."""
        if o.name in self.checker_only:
            return None, {"reason": roles.CHECKER_REASON}
        if o.selector.scrape is not None:
            return self._scraped(o)
        c = record(o.signal).compute
        return VALUES[c.shape](self, o, now, **c.params)

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
        if record(o.signal).judge is Judge.GOOD_RATIO:
            value = 1.0 - value
        return value, detail

    def drift_thresholds(self, o: Objective) -> DriftThresholds:
        warn, crit, _ = self.levels(o, self.state.objectives[o.name])
        return drift_signals.objective_thresholds(self.spec, o, warn, crit)

    def _drift_for(self, ms: ModelState) -> list[FeatureDrift]:
        model = next((k[0] for k, v in self.state.models.items() if v is ms), "")
        return self.model_drift.run(ms, model=model)

    # -- one tick ---------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> tuple[list[Result], list[Transition]]:
        now = time.time() if now is None else now
        for ms in self.state.models.values():     # the drift windows span fleet_window to now
            ms.mark_windows(now, self.spec.drift.fleet_window)
        self.model_drift.reset(now)
        results, transitions = [], []
        for o in self.spec.objectives:
            try:
                value, detail = self.value(o, now)
            except Exception as exc:   # one broken signal must not stop the others
                value, detail = None, {"error": f"{type(exc).__name__}: {exc}"}
            # +inf is a value (a drift never detected: worse than any level); NaN is none
            if value is not None and not math.isfinite(value) and value != math.inf:
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
        min_count = MIN_EVENTS
        judge = Judge.VALUE if o.custom is not None else record(o.signal).judge
        if judge is Judge.VALUE:
            raw = classify(value, warning, critical, o.info.higher_is_worse, previous,
                           o.hysteresis)
        else:
            # judge by the confidence bound: a handful of failures at night does not page
            bad, total = detail.get("bad", 0.0), detail.get("total", 0.0)
            good = judge is Judge.GOOD_RATIO
            if judge is Judge.ROWS_RATIO:      # one judgement for every null ratio
                min_count = data_signals.MIN_ROWS
            rr = ratio_status(bad, total, _flip(warning) if good else warning,
                              _flip(critical) if good else critical, min_count=min_count,
                              previous=previous, hysteresis=o.hysteresis)
            raw = rr.status
            if total > 0 and raw is Status.NO_DATA and judge is not Judge.ROWS_RATIO:
                raw = Status.OK       # traffic too thin to judge: not an incident
        filling = self._filling(o, os_, value, now)
        if filling is not None and raw.rank > Status.OK.rank:
            raw = Status.OK           # a rate that reads low while its window fills
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
            if current.rank > max(previous.rank, Status.OK.rank):
                transition.breach_since = os_.pending_since if os_.pending == current.value \
                    and os_.pending_since is not None else now
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
        pending = None
        verdict = current.value
        if os_.pending and os_.pending_since is not None and \
                Status(os_.pending).rank > current.rank:
            pending = {"level": os_.pending, "since": os_.pending_since,
                       "fires_at": os_.pending_since + o.for_,
                       "fires_in": max(0.0, os_.pending_since + o.for_ - now)}
            verdict = (f"pending {os_.pending}: past the {os_.pending} level for "
                       f"{format_duration(now - os_.pending_since)}, it fires after "
                       f"for: {format_duration(o.for_)} (in "
                       f"{format_duration(pending['fires_in'])}) unless it recovers; "
                       f"{current.value} until then")
        result = Result(o.name, value, current, os_.since, warning, critical, baseline,
                        detail=detail,
                        judgement=_judgement(o, value, rr, min_count, warning, critical,
                                             verdict))
        result.pending = pending
        if filling is not None:
            result.judgement["reason"] = filling
        if o.has_target:      # a time slice while a rate's window fills is unknown: none
            self._budget(o, os_, value if filling is None else None, detail, now, result)
        return result, transition

    def _filling(self, o: Objective, os_: ObjectiveState, value: float | None, now: float
                 ) -> str | None:
        """Why a lower-is-worse rate is not judged yet: its rate window holds less data than
        its length (a deploy start), as the rules judge it only once its series held a sample
        one window ago; the clock starts at the first event counted (a series appears with its
        first event) and stops with the value. None once covered (or where it does not
        apply)."""
        if not o.info.judged_once_covered or value is None:
            os_.valued_since = None
            return None
        if os_.valued_since is None:
            if value == 0:          # nothing counted yet: the rules' series does not exist
                return "no events counted yet: a rate where lower is worse is judged once " \
                       "its window is covered, ok until then"
            os_.valued_since = now
        held = now - os_.valued_since
        if held >= self.window:
            return None
        return (f"value {format_value(value, o.info.unit)} over {format_span(held)} of data in "
                f"the {format_duration(self.window)} rate window: a rate where lower is worse "
                "is judged once its window is covered, ok until then")

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
        # what the budget rests on: the events in the window, over how much of it (so
        # /status can also say why the budget and the status differ)
        events = os_.total_coarse.total(now, o.window)
        bad = os_.bad_coarse.total(now, o.window)
        basis = (f"{events:,.0f} events ({bad:,.0f} bad) over "
                 f"{format_span(full_cov * o.window)} of {format_duration(o.window)}")
        if os_.carried_from is not None:
            basis += (f", counted before a restart under a {format_duration(os_.carried_from)}"
                      " window and kept")
        result.budget.update(events=events, basis=basis, bad=bad, total=events, allowed=budget)
        if full is None:
            result.budget["reason"] = "no events in the window yet"
        elif full_cov * o.window < needed:
            result.budget["reason"] = (
                f"not enough data yet: {basis}; the budget is shown after "
                f"{format_span(needed)}")
        else:
            result.budget_remaining = 1.0 - full / budget
        bad_s, total_s = os_.bad_fine, os_.total_fine
        guard = self.spec.alerting.min_request_rate
        step = self.spec.alerting.rate_window
        quiet = bool(guard) and o.info.sli is SLIType.EVENTS \
            and total_s.total(now, step) / step < (guard or 0.0)
        entries = [tier_entry(tier, budget, lambda w: ratio(bad_s, total_s, w), covered,
                              lambda w: bad_s.total(now, w), self._min_bad(o, tier), quiet)
                   for tier in tiers]
        os_.tiers_firing = hold_and_wait(tiers, entries, os_.tiers_since, os_.tiers_firing,
                                         now)
        for entry in entries:
            for which in ("long", "short"):
                burn = entry[which]["burn_rate"]
                if burn is not None:
                    result.burn_rates[entry[which]["window"]] = burn
            result.tiers.append(entry)

    def _min_bad(self, o: Objective, tier: TierWindows) -> int:
        """The rules' minimum bad events of a page tier (``alerting.page_min_events``): only
        where events are counted."""
        need = self.spec.alerting.page_min_events
        events = o.info.sli is SLIType.EVENTS and o.selector.scrape is None and (
            o.custom is None or o.custom.events)
        return need if tier.severity == "critical" and events else 0

    def _tick_events(self, o: Objective, os_: ObjectiveState, value: float | None,
                     now: float) -> tuple[float, float]:
        """(bad, total) for this tick: new events for event SLIs, one slice for gauges."""
        if o.info.sli is SLIType.TIMESLICES:
            level = o.good_threshold
            if value is None or level is None:
                return 0.0, 0.0
            worse = value > level if o.info.higher_is_worse else value < level
            return float(worse), 1.0
        if o.selector.scrape is not None:     # the target's own counters, as the rules read
            return scraped_events(self.state, o, os_)
        c = record(o.signal).compute
        tick = TICKS.get(c.shape) if o.custom is None else None
        return (0.0, 0.0) if tick is None else tick(self, o, os_, now, **c.params)


def _learns(o: Objective) -> bool:
    return o.pinned_baseline is None and any(
        t is not None and t.base is Base.BASELINE
        for t in (o.warning_threshold, o.critical_threshold))


def _judgement(o: Objective, value: float | None, rr: RatioResult | None, min_count: int,
               warning: float | None, critical: float | None, verdict: str
               ) -> dict[str, Any]:
    """The number a status was judged on and why, so "6.25 %, warning 5 %, ok" explains itself:
    ratios are judged on the 99 % Wilson bound on the side that matters, not the point value."""
    unit = o.info.unit
    levels = ", ".join(f"{name} {format_value(level, unit)}" for name, level in
                       (("warning", warning), ("critical", critical)) if level is not None)
    if rr is None:
        if value is None:
            return {"on": None, "basis": "value", "reason": "no value to judge"}
        return {"on": json_number(value), "basis": "value",      # +inf: the text says never
                "reason": f"value {format_value(value, unit)} against {levels or 'no level'}: "
                          f"{verdict}"}
    good = record(o.signal).judge is Judge.GOOD_RATIO
    bound = None if not math.isfinite(rr.lower) else (1.0 - rr.lower if good else rr.lower)
    basis = "Wilson 99 % upper bound" if good else "Wilson 99 % lower bound"
    out: dict[str, Any] = {"on": bound, "basis": basis, "bad": rr.bad, "total": rr.total,
                           "min_count": min_count}
    if rr.total < min_count:
        out["reason"] = (f"{rr.total:g} events, fewer than {min_count}: too few to judge, "
                         "shown as ok while any arrive")
    else:
        out["reason"] = (f"{basis} {format_value(bound, unit)} of {rr.total:g} events "
                         f"against {levels or 'no level'}: {verdict}")
    return out


def _flip(level: float | None) -> float | None:
    """Availability thresholds as error-ratio thresholds (99 % available = 1 % errors)."""
    return None if level is None else 1.0 - level
