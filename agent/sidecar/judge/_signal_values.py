"""The sidecar's computation shapes: one implementation per shape a signal record names
(:class:`agent.signals.Compute`), shared by every kind of that shape. ``VALUES[shape]`` gives
``(value, detail)``; ``TICKS[shape]`` gives the (bad, total) events of one tick for events SLIs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from agent import catalogue as cat
from agent.sidecar.ingest.apply import schema_changes
from agent.sidecar.judge import data_signals, service_signals
from agent.sidecar.state.agent_state import ModelState, ObjectiveState, merged_sketch
from agent.signals import record
from agent.spec.document import Objective

Value = tuple[float | None, dict[str, Any]]
SDK_SKETCHES = ("latency", "ttft")       # the sketches the SDK ships; the others come by OTLP
Shape = Callable[..., Value]


def _sketch(ev: Any, o: Objective, now: float, attr: str) -> Value:
    models = ev.models(o)
    if attr not in ModelState.__dataclass_fields__:
        return None, {"reason": f"the SDK ships no {attr} sketches to the sidecar; the "
                                "generated rules judge it from the exported histogram, and "
                                "`scrape` reads a model server's own"}
    sk = merged_sketch(getattr(ms, attr).merged(now, max(1, int(ev.window // ev.state.slot)))
                       for ms in models)
    if sk.count == 0 and attr not in SDK_SKETCHES:
        return None, {"count": 0, "reason": f"no {attr} sketches received: the SDK ships none "
                      "to the sidecar (the generated rules judge its exported histogram); "
                      "OTLP (models[].otlp) or `scrape` feeds it here"}
    return (None if sk.count == 0 else sk.quantile(o.quantile or 0.95)), {"count": sk.count}


def _counts(ev: Any, o: Objective, now: float, bad: str, of: tuple[str, ...],
            good: bool = False) -> Value:
    models, w = ev.models(o), ev.window
    n_bad = ev.sum(models, bad, now, w)
    total = n_bad + sum(ev.sum(models, a, now, w) for a in of if a != bad)
    if total <= 0:
        return None, {"bad": n_bad, "total": total}
    ratio = n_bad / total
    return (1 - ratio if good else ratio), {"bad": n_bad, "total": total}


def _per_second(ev: Any, o: Objective, now: float, attrs: tuple[str, ...]) -> Value:
    models = ev.models(o)
    if not models:
        return None, {}
    return sum(ev.sum(models, a, now, ev.window) for a in attrs) / ev.window, {}


def _per_request(ev: Any, o: Objective, now: float, attr: str, per: float,
                 of: tuple[str, ...]) -> Value:
    models, w = ev.models(o), ev.window
    req = sum(ev.sum(models, a, now, w) for a in of)
    return (None if req <= 0 else per * ev.sum(models, attr, now, w) / req), {}


def _window_sum(ev: Any, o: Objective, now: float, attr: str, seconds: float) -> Value:
    models = ev.models(o)
    return (ev.sum(models, attr, now, seconds) if models else None), {}


def _in_flight(ev: Any, o: Objective, now: float) -> Value:
    fresh = [n for ms in ev.models(o) for n, t in ms.in_flight.values()
             if now - t < 3 * ev.window]
    return record(o.signal).aggregation.combine(fresh), {}


def _queue(ev: Any, o: Objective, now: float) -> Value:
    qs = [d for name, (d, t) in ev.state.queues.items()
          if o.selector.queue in (None, name) and now - t < 3 * ev.window]
    ext = ev.state.external.get(o.signal.value, {})
    qs += [v for name, v in ext.items() if o.selector.queue in (None, name)]
    return record(o.signal).aggregation.combine(qs), {}


def _gpu(ev: Any, o: Objective, now: float) -> Value:
    readings = ev.gpu().get(o.signal.value, {})
    values = [v for gpu, v in readings.items() if o.selector.gpu in (None, gpu)]
    return record(o.signal).aggregation.combine(values), {}


def _dataset(ev: Any, o: Objective, now: float, what: str) -> Value:
    name = o.selector.dataset or ""
    d = ev.state.datasets.get(name)
    if what == "rows":
        if d is None or d.rows is None:
            return None, {"reason": f"no batch of dataset {name!r} seen yet"}
        return float(d.rows), {}
    if d is None:
        return None, {"reason": f"nothing seen from dataset {name!r} yet"}
    if d.error is not None and d.rows is None:
        return None, {"reason": d.error}
    column = o.selector.column
    if what == "freshness":
        return data_signals.freshness(ev.spec, name, d, now)
    if what == "schema":
        changes = schema_changes(ev.state, ev.spec, name)
        return (None if changes is None else float(sum(changes.values()))), changes or {}
    if what == "drift":
        return data_signals.dataset_drift(d, column, ev.drift_thresholds(o))
    per_column: dict[str, Callable[[Any, str | None], Value]] = {
        "null_ratio": data_signals.null_ratio, "new_categories": data_signals.new_categories,
        "disallowed": data_signals.disallowed}
    return per_column[what](d, column)


def _drift(ev: Any, o: Objective, now: float, dataset: str, windows: str) -> Value:
    """The SDK's windows (features, predictions or new categories), or with a dataset selected
    the file against its reference."""
    if o.selector.dataset is not None:
        return _dataset(ev, o, now, dataset)
    out: Value = ev.model_drift.value(o, ev.state, ev.models(o), ev.drift_thresholds(o), windows)
    return out


def _job(ev: Any, o: Objective, now: float, what: str) -> Value:
    return service_signals.job(ev.state.service, o, now, what)


def _cache(ev: Any, o: Objective, now: float) -> Value:
    return service_signals.cache_hits(ev.state.service, o, now, ev.window)


def _latest(ev: Any, o: Objective, now: float, table: str, selector: str | None,
            what: str) -> Value:
    key = None if selector is None else getattr(o.selector, selector)
    return service_signals.latest(getattr(ev.state.service, table), key, now, ev.window, what,
                                  record(o.signal).aggregation.combine)


def _custom(ev: Any, o: Objective, now: float) -> Value:
    return service_signals.custom(ev.state.service, o, now, ev.window)


def _detection(ev: Any, o: Objective, now: float) -> Value:
    return service_signals.detection_value(ev.spec, ev.state, o, now)


def _external(ev: Any, o: Objective, now: float) -> Value:
    ext = ev.state.external.get(o.signal.value, {})       # e.g. queue_wait from a scrape target
    return record(o.signal).aggregation.combine(ext.values()), {}


VALUES: dict[str, Shape] = {
    "sketch": _sketch, "counts": _counts, "per_second": _per_second,
    "per_request": _per_request, "window_sum": _window_sum, "in_flight": _in_flight,
    "queue": _queue, "gpu": _gpu, "dataset": _dataset, "drift": _drift, "job": _job,
    "cache": _cache, "latest": _latest, "custom": _custom, "detection": _detection,
    "external": _external}


# --- the events of one tick, for events SLIs ------------------------------------------------
def cursor(os_: ObjectiveState, cum: dict[str, float]) -> tuple[float, float]:
    """(bad, total) since the last tick from cumulative bad/good totals."""
    delta = {k: max(0.0, v - os_.cursor.get(k, 0.0)) for k, v in cum.items()}
    os_.cursor = dict(cum)
    return delta.get("bad", 0.0), sum(delta.values())


def scraped_events(state: Any, o: Objective, os_: ObjectiveState) -> tuple[float, float]:
    """(bad, total) since the last tick of an objective on a scrape target: the events its
    scraper counted (never the SDK's, whatever models the selector leaves open). The scraper
    counts from zero when the sidecar starts, so a total under the kept cursor starts anew."""
    got = state.external_events.get(o.signal.value, {}).get(o.selector.scrape or "")
    if got is None:
        return 0.0, 0.0
    cum = {"bad": got[0], "all": got[1]}
    before = {k: os_.cursor.get(k, 0.0) for k in cum}
    os_.cursor = cum
    if any(cum[k] < before[k] for k in cum):       # a new scraper: its counts are all new
        return cum["bad"], cum["all"]
    return cum["bad"] - before["bad"], cum["all"] - before["all"]


def _tick_counts(ev: Any, o: Objective, os_: ObjectiveState, now: float, bad: str,
                 of: tuple[str, ...], good: bool = False) -> tuple[float, float]:
    models = ev.models(o)
    cum = {k: sum(ms.cum.get(k, 0.0) for ms in models) for k in of}
    delta = {k: max(0.0, v - os_.cursor.get(k, 0.0)) for k, v in cum.items()}
    os_.cursor = cum
    return delta[bad], sum(delta.values())


def _tick_job(ev: Any, o: Objective, os_: ObjectiveState, now: float, what: str
              ) -> tuple[float, float]:
    j = ev.state.service.jobs.get(o.selector.job or "")
    return cursor(os_, {"bad": j.failure, "good": j.success} if j else {})


def _tick_cache(ev: Any, o: Objective, os_: ObjectiveState, now: float) -> tuple[float, float]:
    cum = {"bad": 0.0, "good": 0.0}
    for (c, result), t in ev.state.service.caches.items():
        if o.selector.cache in (None, c):
            cum["bad" if result == cat.CACHE_RESULTS[1] else "good"] += t.cum
    return cursor(os_, cum)


def _tick_sketch(ev: Any, o: Objective, os_: ObjectiveState, now: float, attr: str
                 ) -> tuple[float, float]:
    """The calls added to the models' cumulative sketches since the last tick, those over the
    objective's threshold bad: each call once, as the rules count a histogram's cumulative
    buckets. The cursor keeps the threshold it counted under: where that changed (a restart
    with another ``sli_threshold``, or a snapshot from before the cursor kept it) the tick
    takes the totals as its start and counts nothing, since the calls before it were counted
    under the old threshold. A new objective counts every call so far, as the counts do."""
    level = o.good_threshold
    if level is None or attr not in ModelState.__dataclass_fields__:
        return 0.0, 0.0
    bad = total = 0.0
    for ms in ev.models(o):
        sk = ms.cum_sketches.get(attr)
        if sk is None or sk.count == 0:
            continue
        keys = np.fromiter(sk.bins.keys(), dtype=np.float64, count=len(sk.bins))
        counts = np.fromiter(sk.bins.values(), dtype=np.float64, count=len(sk.bins))
        with np.errstate(over="ignore"):      # a key past the threshold's range: inf > level
            bad += float(counts[2.0 * np.power(sk.gamma, keys) / (sk.gamma + 1.0) > level].sum())
        total += float(sk.count)
    if os_.cursor and os_.cursor.get("le") != level:
        os_.cursor = {"bad": bad, "good": total - bad, "le": level}
        return 0.0, 0.0
    got = cursor(os_, {"bad": bad, "good": total - bad})
    os_.cursor["le"] = level
    return got


TICKS: dict[str, Callable[..., tuple[float, float]]] = {
    "counts": _tick_counts, "job": _tick_job, "cache": _tick_cache, "sketch": _tick_sketch}

__all__ = ["TICKS", "VALUES", "cursor", "scraped_events"]
