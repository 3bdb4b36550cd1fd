"""The ``/status`` document, built once per tick on the worker thread: each objective's value,
levels, the number it was judged on and why, budgets and tiers, and each source's state.

Each objective's entry is built on its own (``Engine.guard``): one that fails shows as
"could not be shown" and the others stay current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent import catalogue as cat
from agent.sidecar.view import EngineView
from agent.units import format_duration, format_value

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
        "value": r.value, "value_text": format_value(r.value, unit),
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

def _rest(eng: EngineView, objectives: list[dict[str, Any]], now: float) -> dict[str, Any]:
    files = {p.dataset.name: str(path) for p in eng.pollers
             if (path := getattr(p, "path", None)) is not None}
    datasets = [{"name": n, "source": d.source, "where": d.where, "path": files.get(n),
                 "last_seen": d.last_seen, "rows": d.rows,
                 "error": d.error, "contract_failures": len(d.contract_failures),
                 "drift": d.drift, "drift_skipped": d.drift_skipped,
                 "allowed_values": d.allowed}
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
