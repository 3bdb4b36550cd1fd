"""What one shipment carries: the deltas since the last one (counts, merged sketches, samples,
token/cost/cache increments, queue depths, state) and the events queued since, as ingest items.

Runs on the shipper thread only; it reads the monitor's shards and tables, never blocks a call.
Custom names the sidecar refused (its cardinality cap) are left out, so the rest keeps flowing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.sdk.host import MonitorHost as Monitor

_PLURAL = {"hit": "hits", "miss": "misses"}


def collect(mon: Monitor) -> list[dict[str, Any]]:
    """What changed since the last shipment (runs on the shipper thread)."""
    from detectors.sketch import QuantileSketch

    items: list[dict[str, Any]] = []
    now = time.time()
    for s in mon.all_series():
        t = s.shards.total()
        ok = t.count - t.errors - t.fallbacks
        counts = {k: mon._delta((s.index, k), v) for k, v in
                  (("ok", ok), ("error", t.errors), ("fallback", t.fallbacks))}
        lat, ttft = QuantileSketch(), QuantileSketch()
        for a, b in s.shards.swap_sketches():
            lat.merge(a)
            ttft.merge(b)
        columns, rows, preds, dropped = s.samples.take()
        if dropped:
            mon._drop("queue_full", dropped)
        if any(counts.values()) or lat.count or ttft.count:
            item: dict[str, Any] = {"type": "requests", "model": s.model,
                                    "version": s.version, "at": now, "counts": counts,
                                    "in_flight": t.in_flight}
            if lat.count:
                item["latency"] = lat.to_dict()
            if ttft.count:
                item["ttft"] = ttft.to_dict()
            items.append(item)
        if rows or preds:
            # columns; the transport sends them as they are (schema 2) or as rows (JSON)
            items.append({"type": "samples", "model": s.model, "version": s.version,
                          "at": now, "rows": rows, "columns": columns, "predictions": preds})
    for (model, version, ttype), c in list(mon.token_counters.items()):
        d = mon._delta(("tokens", model, version, ttype), c.value)
        if d:
            items.append({"type": "tokens", "model": model, "version": version,
                          "token_type": ttype, "count": d, "at": now})
    for (model, version), c in list(mon.cost_counters.items()):
        d = mon._delta(("cost", model, version), c.value)
        if d:
            items.append({"type": "cost", "model": model, "version": version, "usd": d,
                          "at": now})
    for name, depth in mon.queue_depths().items():
        items.append({"type": "queue", "queue": name, "depth": depth, "at": now})
    caches: dict[str, dict[str, Any]] = {}
    for (name, result), hits in list(mon.cache_counters.items()):
        d = mon._delta(("cache", name, result), hits.value)
        if d:
            caches.setdefault(name, {"type": "cache", "cache": name, "hits": 0.0,
                                     "misses": 0.0, "at": now})[_PLURAL[result]] = d
    items.extend(caches.values())
    state: dict[str, Any] = {}
    if mon.degradation_level is not None:
        state["degradation"] = mon.degradation_level
    if mon.breakers:
        state["breakers"] = dict(mon.breakers)
    refused = mon._refused
    gauges = {k: v for k, v in list(mon.custom_gauges.items()) if k not in refused}
    if gauges:
        state["gauges"] = gauges
    counters = {name: d for name, k in list(mon.custom_counters.items())
                if (d := mon._delta(("counter", name), k.value)) and name not in refused}
    if counters:
        state["counters"] = counters
    if state:
        items.append({"type": "state", "at": now, **state})
    with mon._cold_lock:
        events, mon._events = mon._events, []
    items.extend(events)
    return items
