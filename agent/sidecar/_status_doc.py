"""The ``/status`` document, built once per tick on the worker thread: each objective's value,
levels, the number it was judged on and why, budgets and tiers, and each source's state.

Each objective's entry is built on its own (``Engine.guard``): one that fails shows as
"could not be shown" and the others stay current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent import catalogue as cat
from agent.sidecar.collectors.datasets import DatasetPoller
from agent.sidecar.view import EngineView
from agent.units import Unit, format_duration, format_percent, format_value, json_number

if TYPE_CHECKING:
    from agent.sidecar.judge.evaluate import Result

MAX_SHOWN_INSTANCES = 50
REPLICA_NOTE = ("This replica's view: drift of the samples this sidecar received. The fleet's "
                f"drift is computed by the generated rules from every replica's counts "
                f"({cat.DRIFT_WINDOW_RANK.name}, {cat.DRIFT_CATEGORY_SAMPLES.name}).")


def document(eng: EngineView, results: list[Result], now: float) -> dict[str, Any]:
    objectives = [eng.guard(f"status {r.name}",
                             {"name": r.name, "status": r.shown_status, "value": None,
                              "value_text": "could not be shown",
                              "reason": "this objective's entry failed (see the log)"},
                             _entry, eng, r)
                  for r in results]
    return _rest(eng, objectives, now)

def _entry(eng: EngineView, r: Result) -> dict[str, Any]:
    """One objective of /status, with the number it was judged on and why."""
    o = eng.spec.objective(r.name)
    unit = o.info.unit
    entry: dict[str, Any] = {
        "name": r.name, "signal": o.signal.value,
        "selector": dict(o.selector.items()), "unit": unit.value,
        "direction": o.info.direction.value,
        # JSON has no infinity: the text says it ("never")
        "value": json_number(r.value),
        "value_text": format_value(r.value, unit),
        "status": r.shown_status, "since": r.since,
        "warning": r.warning, "critical": r.critical, "baseline": r.baseline,
        "for": format_duration(o.for_), "judgement": r.judgement,
    }
    if r.pending is not None:
        entry["pending"] = r.pending
    if r.value is None or r.status.value == "no_data":
        entry["reason"] = r.detail.get("reason") or "no data yet"
    if o.quantile is not None:
        entry["quantile"] = o.quantile
    if o.has_target:
        entry.update(target=o.objective, window=format_duration(o.window),
                     error_budget_remaining=r.budget_remaining,
                     error_budget=r.budget, burn_rates=r.burn_rates, tiers=r.tiers)
        note = budget_note(r.shown_status, r.budget_remaining, r.budget, r.judgement,
                           format_duration(eng.spec.alerting.rate_window))
        if note:
            entry["budget_note"] = note
    if o.name in eng.detections:
        d = eng.detections[o.name]
        entry["detection"] = {"seconds": d.seconds, "samples": d.samples,
                              "window_share": d.share, "reason": d.reason}
    if o.info.compute.shape == "drift" and o.selector.dataset is None:
        entry["scope"] = "replica"             # the SDK's windows of this replica only
        entry["scope_note"] = REPLICA_NOTE
    shown = o.info.status_detail             # what the kind's record shows of its detail
    if shown in ("detail", "features"):
        entry[shown] = {k: v for k, v in r.detail.items() if k != "reason"}
    elif shown == "column" and r.detail.get("column"):
        entry["detail"] = {k: r.detail[k] for k in ("column", "bad", "total",
                                                    "wilson_lower", "min_rows")
                           if k in r.detail}
    return entry


def _file(poller: Any, state: str | None) -> dict[str, Any]:
    """A polled file as a source: its path (resolved), whether it is there, how often it is
    checked."""
    return {"path": str(poller.path), "state": state or "not checked yet",
            "poll_interval": poller.interval}


def budget_colour(remaining: float) -> str:
    """The colour the page gives a budget: ok over half left, warning over a tenth, else
    critical (spent or overspent)."""
    return "ok" if remaining > 0.5 else ("warning" if remaining > 0.1 else "critical")


def budget_note(status: str, remaining: float | None, budget: dict[str, Any],
                judgement: dict[str, Any], rate_window: str) -> str | None:
    """Why the status and the error budget disagree (an objective ok beside an overspent
    budget, or critical beside a full one): they judge different spans. None when they agree."""
    if remaining is None or status in ("no_data",):
        return None
    shown = status.removeprefix("pending_")
    colour = budget_colour(remaining)
    calm_but_spent = shown in ("ok", "warning") and colour == "critical"
    if not calm_but_spent and not (shown == "critical" and colour == "ok"):
        return None
    window = budget.get("window", "the window")
    bad, total, allowed = budget.get("bad"), budget.get("total"), budget.get("allowed")
    counted = ""
    if bad is not None and total:
        counted = (f": {format_percent(bad / total)} of {format_value(total, Unit.COUNT)} "
                   f"events were bad against {format_percent(allowed or 0.0)} allowed")
    judged = (judgement or {}).get("reason") or "the latest value"
    budget_text = f"{format_percent(remaining)} of the budget is left"
    if remaining < 0:
        budget_text = f"the budget is overspent ({format_percent(remaining)} left)"
    if calm_but_spent:
        return (f"Both hold: the status is {shown} because it judges the latest value, over the "
                f"last {rate_window} at most ({judged}); {budget_text} because the budget "
                f"counts the whole {window}{counted}. An earlier burst spent it; the budget "
                f"comes back as that burst leaves the {window} window.")
    return (f"Both hold: the status is {shown} because it judges the latest value, over the "
            f"last {rate_window} at most ({judged}); {budget_text} because the budget counts "
            f"the whole {window}{counted}. A recent or short breach has not spent it yet.")


def _rest(eng: EngineView, objectives: list[dict[str, Any]], now: float) -> dict[str, Any]:
    polled = {p.dataset.name: p for p in eng.pollers
              if isinstance(p, DatasetPoller) and p.path is not None}
    datasets = [{"name": n, "source": d.source, "where": d.where,
                 "path": str(polled[n].path) if n in polled else None,
                 "last_seen": d.last_seen, "rows": d.rows,
                 "error": d.error, "contract_failures": len(d.contract_failures),
                 "drift": d.drift, "drift_skipped": d.drift_skipped,
                 "allowed_values": d.allowed,
                 **({"file": _file(polled[n], d.file_state)} if n in polled else {})}
                for n, d in sorted(eng.state.datasets.items())]
    return {
        "service": eng.spec.service, "environment": eng.spec.environment,
        "ready": eng.ready.is_set(), "time": now,
        "objectives": objectives,
        "sources": {
            "role": eng.spec.sidecar.role,
            "gpu": {"mode": eng.gpu.mode, "status": eng.gpu.status,
                    "error": eng.gpu.error,
                    "devices": [{"index": r.index, "uuid": r.uuid, "name": r.name,
                                 "errors": r.errors} for r in eng.gpu.readings]},
            "scrape": [{"name": s.target.name, "url": s.target.url,
                        "up": None if s.last is None else s.last.up,
                        "last_error": None if s.last is None else s.last.error}
                       for s in eng.scrapers],
            "datasets": datasets,
            "jobs": [{"name": n, "running": len(j.running), "last_start": j.last_start,
                      "last_success": j.last_success, "last_failure": j.last_failure,
                      "last_duration": j.last_duration, "last_error": j.last_error,
                      "runs": {"success": j.success, "failure": j.failure}}
                     for n, j in sorted(eng.state.service.jobs.items())],
            "ingest": {"models": sorted(f"{m}:{v}" if v else m
                                        for m, v in eng.state.models),
                       "items": dict(eng.state.ingested),
                       **eng.admission.report(),
                       "batch_ids": eng.state.batch_ids.report(),
                       "instances_live": len(eng.instances),
                       "instance_ttl": eng.admission.instance_ttl,
                       "instances": [{"instance": k, "last_seen": v} for k, v in
                                     sorted(eng.instances.items(), key=lambda kv: -kv[1])
                                     [:MAX_SHOWN_INSTANCES]],
                       "instances_ended": [{"instance": k, "ended_at": v} for k, v in
                                           sorted(eng.ended_instances.items(),
                                                  key=lambda kv: -kv[1])
                                           [:MAX_SHOWN_INSTANCES]]},
            "otlp": eng.otlp.report(),
        },
        "evaluation": {"interval": eng.interval, "last_tick": eng.last_tick,
                       "lag": eng.tick_lag, "restored": eng.restored,
                       "restore_dropped": eng.restore_dropped[:50],
                       "published_at": eng.published_at,
                       "publication_errors": dict(eng.counters.publish_errors),
                       "snapshot_bytes": eng.snapshot_bytes,
                       "snapshot": eng.snapshots.report(now)},
        "http": {"connections": eng.http_connections, "inbox_bytes": eng.inbox_bytes,
                 "closed": dict(eng.counters.http_closed)},
    }
