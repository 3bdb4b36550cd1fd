"""The review document from the sidecar's own state (``/report.json``, ``/report``): events from
the journal, event counts from each objective's budget slots (the compliance window's, hour by
hour at 30d), the latest verdicts. Built on the worker thread (:meth:`Engine.on_worker`), which
owns the state."""

from __future__ import annotations

from typing import Any

from agent.report import document
from agent.report.render import when
from agent.sidecar.view import EngineView
from agent.units import format_duration


def build(eng: EngineView, span: float, now: float) -> dict[str, Any]:
    t0, t1 = now - span, now
    journal = eng.state.journal
    results = {r.name: r for r in eng.results}
    facts, notes = [], []
    for o in eng.spec.objectives:
        key = f"objective:{o.name}"
        r = results.get(o.name)
        f = document.Facts(o.name, events=list(journal.events.get(key, ())),
                           begins=journal.begins(key))
        if r is not None:
            f.status, f.value = r.shown_status, r.value
            f.warning, f.critical = r.warning, r.critical
            f.budget_left = r.budget_remaining
        os_ = eng.state.objectives.get(o.name)
        if o.has_target and os_ is not None and os_.bad_coarse and os_.total_coarse:
            within = min(span, o.window)
            f.bad = os_.bad_coarse.total(now, within)
            f.total = os_.total_coarse.total(now, within)
            f.window_total = os_.total_coarse.total(now, o.window)
            covered = os_.first_seen is not None and \
                os_.first_seen <= t0 - span + os_.bad_coarse.slot
            if 2 * span <= o.window and covered:      # the period before, if it was all seen
                f.prev_bad = os_.bad_coarse.total(now, 2 * span) - f.bad
                f.prev_total = os_.total_coarse.total(now, 2 * span) - f.total
            if span > o.window:
                notes.append(f"{o.name}: events are kept for its {format_duration(o.window)} "
                             "window only, so its SLI covers that much")
        facts.append(f)
    if journal.started is not None and journal.started > t0:
        notes.append(f"This sidecar's record begins {when(journal.started)}: the period before "
                     "it is shown as unrecorded.")
    datasets = [{"name": name[len("dataset:"):],
                 "events": [{"t": e["t"], "kind": e["kind"], "text": e.get("text", e["kind"])}
                            for e in journal.since(name, t0) if e["t"] <= t1]}
                for name in sorted(k for k in journal.events if k.startswith("dataset:"))]
    return document.build(eng.spec, facts, t0, t1, "sidecar", datasets, notes)
