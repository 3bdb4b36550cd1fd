"""The evaluation tick: evaluate every objective, act on transitions (history, log, webhooks)
and publish what the HTTP side serves until the next tick (metric families, DCGM families,
the ``/status`` document). Runs on the worker thread only."""

from __future__ import annotations

import json
import logging
import sys
import time

from agent.sidecar import _journaling, _status_doc
from agent.sidecar._rendering import Renderer
from agent.sidecar.exposition import dcgm_families, families
from agent.sidecar.ingest.apply import expire_instances
from agent.sidecar.judge import service_signals
from agent.sidecar.judge.evaluate import Result, Transition
from agent.sidecar.view import EngineView
from agent.spec.document import Spec
from agent.units import format_duration, format_span, format_value, json_number

log = logging.getLogger("slo_agent.sidecar")


class Ticker:
    """Per-engine tick memory that nothing else reads (pending starts already logged)."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        self.pending: dict[str, float | None] = {}      # objective -> pending since
        self.renderer = Renderer()

    def tick(self, eng: EngineView, now: float) -> None:
        t0 = time.perf_counter()
        expire_instances(eng.state, now - eng.admission.instance_ttl)
        eng.expire_instances(now)
        try:
            results, transitions = eng.evaluator.tick(now)
        except Exception:
            log.exception("evaluation failed")
            return
        for t in transitions:
            _on_transition(eng, t)
        eng.guard("journal", None, _journaling.record, eng.spec, eng.state, results,
                  transitions, now)
        for r in results:
            eng.history.record(r.name, now, r.value, r.shown_status)
            since = r.pending["since"] if r.pending else None
            started = r.pending is not None and self.pending.get(r.name) != since
            self.pending[r.name] = since
            if started:
                log_pending(eng.spec, r)
        eng.results = results
        eng.last_tick = now
        eng.detections = {o.name: service_signals.drift_detection(eng.spec, eng.state, o, now)
                          for o in eng.spec.drift_objectives()}
        # a replica exports no objective state for what the checker evaluates: seven replicas
        # saying "no data" for a job's success ratio would contradict the one that knows
        mine = [r for r in results if r.name not in eng.evaluator.checker_only]
        eng.published = eng.guard("metrics", eng.published, families, eng, mine, now)
        # rendered here, once per tick: a scrape sends these bytes (its time follows its size)
        eng.published_text = eng.guard("metrics text", eng.published_text,
                                       self.renderer.render, eng.published)
        eng.published_dcgm = eng.guard("dcgm", [], dcgm_families, eng.gpu.readings,
                                       self.hostname)
        eng.status_doc = eng.guard("status", eng.status_doc, _status_doc.document, eng,
                                   results, now)
        eng.published_at = eng.clock()
        eng.snapshot(now)
        eng.tick_durations.observe((), time.perf_counter() - t0)   # snapshot cost included


def _on_transition(eng: EngineView, t: Transition) -> None:
    eng.transitions[(t.objective, t.current)] += 1
    if t.recovery is not None:
        eng.recovery.observe((t.objective, t.signal), t.recovery)
    eng.history.transition(t.objective, t.at, t.previous, t.current, t.value, t.recovery)
    log_transition(eng.spec, t)
    eng.webhooks.send({"service": eng.spec.service, "objective": t.objective,
                       "signal": t.signal, "from": t.previous, "to": t.current,
                       "value": t.value, "at": t.at})
    if eng.on_transition is not None:
        eng.on_transition(t)


def log_pending(spec: Spec, r: Result) -> None:
    """One line when an objective starts pending: text on a terminal, JSON otherwise."""
    assert r.pending is not None
    o = spec.objective(r.name)
    record = {"event": "objective_pending", "service": spec.service,
              "objective": r.name, "signal": o.signal.value, "status": r.status.value,
              "pending": r.pending["level"], "value": json_number(r.value),
              "value_text": format_value(r.value, o.info.unit),
              "fires_at": r.pending["fires_at"], "for": format_duration(o.for_)}
    if sys.stderr.isatty():
        log.info("%s: pending %s (%s), fires in %s unless it recovers", r.name,
                 r.pending["level"], record["value_text"],
                 format_span(r.pending["fires_in"]))
    else:
        log.info(json.dumps(record, default=str))


def log_transition(spec: Spec, t: Transition) -> None:
    o = spec.objective(t.objective)
    record = {"event": "objective_transition", "service": spec.service,
              "objective": t.objective, "signal": t.signal, "from": t.previous,
              "to": t.current, "value": t.value,
              "value_text": format_value(t.value, o.info.unit), "at": t.at}
    level = logging.WARNING if t.current in ("warning", "critical") else logging.INFO
    if sys.stderr.isatty():
        log.log(level, "%s: %s -> %s (%s)", t.objective, t.previous, t.current,
                record["value_text"])
    else:
        log.log(level, json.dumps(record, default=str))
