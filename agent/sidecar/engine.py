"""The engine: one worker thread owns the state (applies ingest, evaluates, publishes, snapshots);
a collector thread polls GPU, scrape targets and dataset files. The HTTP event loop only queues
work and reads what the last tick published, so a slow detector never stalls /metrics or ingest.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent import catalogue as cat
from agent.sidecar import persistence, service_signals
from agent.sidecar.apply import apply, dataset_batch, schema_changes
from agent.sidecar.collectors.datasets import DatasetPoller, DatasetReading
from agent.sidecar.collectors.gpu import GPUCollector
from agent.sidecar.collectors.scrape import Scraper, ScrapeResult
from agent.sidecar.evaluate import Evaluator, Result, Transition
from agent.sidecar.exposition import (
    _fam,
    dcgm_families,
    gpu_families,
    objective_families,
)
from agent.sidecar.histogram import Histograms
from agent.sidecar.history import History
from agent.sidecar.ingest import Batch
from agent.sidecar.state import AgentState, merged_sketch
from agent.sidecar.webhooks import Webhooks
from agent.spec.model import Spec
from agent.spec.signals import SignalKind
from agent.spec.units import format_duration, format_value
from detectors.detection import Detection

log = logging.getLogger("slo_agent.sidecar")
MAX_INSTANCES = 1000        # SDK instances remembered for the status page
MAX_SHOWN_INSTANCES = 50
EVAL_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Counters:
    """Live counters touched from the HTTP thread and the worker (small, locked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.batches: Counter[str] = Counter()
        self.samples: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.snapshots: Counter[str] = Counter()
        self.webhooks: Counter[str] = Counter()

    def inc(self, table: str, key: str, n: float = 1) -> None:
        with self._lock:
            getattr(self, table)[key] += n


class Engine:
    def __init__(self, spec: Spec, state_dir: Path | None = None, nvml: Any = None,
                 clock: Callable[[], float] = time.time, base_dir: Path | None = None,
                 baseline_warmup: int = 20) -> None:
        self.spec = spec
        self.clock = clock
        self.state_dir = state_dir or Path(spec.sidecar.state_dir)
        self.interval = spec.sidecar.interval
        self.state = AgentState(slot=self.interval, window_size=spec.drift.window_size,
                                reference_size=spec.drift.reference_size)
        self.gpu = GPUCollector(spec.sources.gpu.mode, list(spec.sources.gpu.devices), nvml)
        self.evaluator = Evaluator(spec, self.state, warmup=baseline_warmup,
                                   gpu=self.gpu.signal_values)
        self.scrapers = [Scraper(t) for t in spec.sources.scrape]
        base = base_dir or Path.cwd()
        self.pollers = [DatasetPoller(d, base, drift=spec.drift)
                        for d in spec.sources.datasets if d.path]
        self.inbox: deque[tuple[str, Any, float]] = deque()
        self.max_inbox = 10_000
        # parsed batches are big Python objects: the backlog is bounded by feature rows too
        self.max_pending_rows = 50_000
        self.pending_rows = 0
        self._pending_lock = threading.Lock()
        self.counters = Counters()
        self.transitions: Counter[tuple[str, str]] = Counter()
        self.recovery = Histograms()
        self.history = History(self.interval)
        self.instances: dict[str, float] = {}        # SDK instance -> last batch (bounded)
        self.detections: dict[str, Detection] = {}
        self._pending: dict[str, float | None] = {}     # objective -> pending since
        self.webhooks = Webhooks([(w.url, w.timeout) for w in spec.sidecar.webhooks],
                                 lambda r: self.counters.inc("webhooks", r))
        self.published: list[Any] = []
        self.published_dcgm: list[Any] = []
        self.status_doc: dict[str, Any] = {"ready": False}
        self.results: list[Result] = []
        self.ready = threading.Event()
        self.restored = False
        self.last_tick: float | None = None
        self.tick_lag = 0.0
        self.tick_durations = Histograms(EVAL_BUCKETS)
        self.tick_durations.touch(())
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._hostname = socket.gethostname()
        self.on_transition: Callable[[Transition], None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        saved = persistence.load(self.state_dir, self.spec.service)
        if saved is not None:
            try:
                self.state.restore(saved)
                self.restored = True
                log.info("state restored from %s", self.state_dir / persistence.SNAPSHOT)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                persistence.move_aside(self.state_dir / persistence.SNAPSHOT, repr(exc))
                self.state.__init__(slot=self.interval,  # type: ignore[misc]
                                    window_size=self.spec.drift.window_size,
                                    reference_size=self.spec.drift.reference_size)
                self.evaluator = Evaluator(self.spec, self.state, gpu=self.gpu.signal_values)
        self.gpu.start()
        self.tick(self.clock())
        self.ready.set()
        for target, name in ((self._work, "slo-agent-worker"),
                             (self._collect, "slo-agent-collectors")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Stop threads and write a final snapshot (SIGTERM path)."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(5.0)
        self._drain()
        self.snapshot()
        self.webhooks.close()
        self.gpu.shutdown()

    # -- work queue ----------------------------------------------------------------------------
    def submit(self, batch: Batch) -> bool:
        rows = _rows(batch)
        with self._pending_lock:
            if len(self.inbox) >= self.max_inbox or (
                    self.pending_rows and self.pending_rows + rows > self.max_pending_rows):
                return False
            self.pending_rows += rows
            self.inbox.append(("batch", batch, self.clock()))
        self._wake.set()
        return True

    def _drain(self, limit: int = 100_000) -> None:
        n = 0
        while self.inbox and n < limit:
            kind, payload, at = self.inbox.popleft()
            n += 1
            try:
                if kind == "batch":
                    self._seen(payload.instance, at)
                    with self._pending_lock:
                        self.pending_rows -= _rows(payload)
                    rows = apply(self.state, self.spec, payload, at)
                    self.counters.inc("samples", "feature_rows", rows)
                    for item in payload.items:
                        self.counters.inc("samples", item.type)
                elif kind == "scrape":
                    self._apply_scrape(*payload)
                elif kind == "dataset":
                    self._apply_dataset(payload, at)
            except Exception:
                log.exception("could not apply %s", kind)
                self.counters.inc("dropped", "apply_error")

    def _seen(self, instance: str, at: float) -> None:
        self.instances.pop(instance, None)
        self.instances[instance] = at
        while len(self.instances) > MAX_INSTANCES:
            self.instances.pop(next(iter(self.instances)))

    def _work(self) -> None:
        next_tick = self.clock() + self.interval
        while not self._stop.is_set():
            self._drain()
            now = self.clock()
            if now >= next_tick:
                self.tick_lag = now - next_tick
                self.tick(now)
                next_tick += self.interval
                if next_tick <= now:
                    next_tick = now + self.interval
            self._wake.wait(min(0.05, max(0.0, next_tick - self.clock())))
            self._wake.clear()

    def _collect(self) -> None:
        gpu_next = 0.0
        while not self._stop.is_set():
            now = self.clock()
            if self.gpu.status == "ok" and now >= gpu_next:
                try:
                    self.gpu.collect()
                except Exception:
                    log.exception("GPU collection failed")
                gpu_next = now + self.spec.sources.gpu.interval
            for s in self.scrapers:
                if now >= s.next_at:
                    s.next_at = now + s.target.interval
                    self.inbox.append(("scrape", (s, s.scrape(now)), now))
            for p in self.pollers:
                if now >= p.next_at:
                    p.next_at = now + p.dataset.poll_interval
                    try:
                        reading = p.poll()
                    except Exception as exc:
                        reading = DatasetReading(p.dataset.name, False, repr(exc)[:300])
                    if reading is not None:
                        self.inbox.append(("dataset", reading, now))
            self._stop.wait(0.2)

    def _apply_scrape(self, scraper: Scraper, result: ScrapeResult) -> None:
        name = scraper.target.name
        for kind, value in result.values.items():
            self.state.external.setdefault(kind.value, {})[name] = value
        for kind, counts in result.counts.items():
            self.state.external_counts.setdefault(kind.value, {})[name] = counts
            if kind.value not in {k.value for k in result.values}:   # no events: no ratio
                self.state.external.get(kind.value, {}).pop(name, None)

    def _apply_dataset(self, r: DatasetReading, now: float) -> None:
        d = self.state.dataset(r.name)
        if not r.ok:
            d.error = r.error
            return
        dataset_batch(self.state, self.spec, r.name, r.rows, r.columns or {}, r.nulls or {},
                      r.newest_event, now, source="file")
        fresh = next((ds.contract.freshness for ds in self.spec.sources.datasets
                      if ds.name == r.name), None)
        if r.mtime is not None and (fresh is None or not fresh.column):
            d.last_mark = max(d.last_mark or 0.0, r.mtime)
        if r.contract_failures is not None:
            d.contract_failures = r.contract_failures
        if r.drift is not None:
            d.drift = r.drift
            d.drift_skipped = r.drift_skipped or []
        if r.allowed is not None:
            d.allowed = r.allowed

    # -- evaluation tick -------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        t0 = time.perf_counter()
        try:
            results, transitions = self.evaluator.tick(now)
        except Exception:
            log.exception("evaluation failed")
            return
        for t in transitions:
            self.transitions[(t.objective, t.current)] += 1
            if t.recovery is not None:
                self.recovery.observe((t.objective, t.signal), t.recovery)
            self.history.transition(t.objective, t.at, t.previous, t.current, t.value,
                                    t.recovery)
            self._log_transition(t)
            self.webhooks.send({"service": self.spec.service, "objective": t.objective,
                                "signal": t.signal, "from": t.previous, "to": t.current,
                                "value": t.value, "at": t.at})
            if self.on_transition is not None:
                self.on_transition(t)
        for r in results:
            self.history.record(r.name, now, r.value, r.shown_status)
            started = r.pending is not None and self._pending.get(r.name) != r.pending["since"]
            self._pending[r.name] = r.pending["since"] if r.pending else None
            if started:
                self._log_pending(r)
        self.results = results
        self.last_tick = now
        self.detections = {o.name: service_signals.drift_detection(self.spec, self.state, o, now)
                           for o in self.spec.drift_objectives()}
        try:
            self.published = self._families(results, now)
            self.published_dcgm = dcgm_families(self.gpu.readings, self._hostname)
            self.status_doc = self._status(results, now)
        except Exception:
            log.exception("publishing failed")
        dt = time.perf_counter() - t0
        self.tick_durations.observe((), dt)
        self.snapshot()

    def snapshot(self) -> None:
        try:
            persistence.save(self.state_dir, self.spec.service, self.state.state())
            self.counters.inc("snapshots", "ok")
        except (OSError, ValueError, TypeError) as exc:
            self.counters.inc("snapshots", "error")
            log.error("snapshot failed: %s", exc)

    def _log_pending(self, r: Result) -> None:
        assert r.pending is not None
        o = self.spec.objective(r.name)
        record = {"event": "objective_pending", "service": self.spec.service,
                  "objective": r.name, "signal": o.signal.value, "status": r.status.value,
                  "pending": r.pending["level"], "value": r.value,
                  "value_text": format_value(r.value, o.info.unit),
                  "fires_at": r.pending["fires_at"], "for": format_duration(o.for_)}
        if sys.stderr.isatty():
            log.info("%s: pending %s (%s), fires in %s unless it recovers", r.name,
                     r.pending["level"], record["value_text"],
                     format_duration(r.pending["fires_in"]))
        else:
            log.info(json.dumps(record, default=str))

    def _log_transition(self, t: Transition) -> None:
        o = self.spec.objective(t.objective)
        record = {"event": "objective_transition", "service": self.spec.service,
                  "objective": t.objective, "signal": t.signal, "from": t.previous,
                  "to": t.current, "value": t.value,
                  "value_text": format_value(t.value, o.info.unit), "at": t.at}
        level = logging.WARNING if t.current in ("warning", "critical") else logging.INFO
        if sys.stderr.isatty():
            log.log(level, "%s: %s -> %s (%s)", t.objective, t.previous, t.current,
                    record["value_text"])
        else:
            log.log(level, json.dumps(record, default=str))

    # -- publication -------------------------------------------------------------------------------
    def _families(self, results: list[Result], now: float) -> list[Any]:
        svc = self.spec.service
        fams = objective_families(self.spec, results,
                                  {k: v for k, v in self.transitions.items()})
        fams += gpu_families(self.spec, self.gpu.readings)
        lat, ttft = _fam(cat.SKETCH_LATENCY), _fam(cat.SKETCH_TTFT)
        slots = max(1, int(self.spec.alerting.rate_window // self.interval))
        score, stat, pval = _fam(cat.DRIFT_SCORE), _fam(cat.DRIFT_STATISTIC), \
            _fam(cat.DRIFT_P_VALUE)
        pscore, ppval = _fam(cat.PREDICTION_DRIFT_SCORE), _fam(cat.PREDICTION_DRIFT_P_VALUE)
        peffect, effect = _fam(cat.PREDICTION_DRIFT_EFFECT), _fam(cat.DRIFT_EFFECT)
        newcat = _fam(cat.NEW_CATEGORY)
        thr, pthr = _fam(cat.DRIFT_THRESHOLD), _fam(cat.PREDICTION_DRIFT_THRESHOLD)
        for (model, version), ms in sorted(self.state.models.items()):
            for fam, ws in ((lat, ms.latency), (ttft, ms.ttft)):
                sk = merged_sketch([ws.merged(now, slots)])
                if sk.count:
                    labels = {cat.SERVICE_LABEL: svc, "model": model, "version": version}
                    for q in (0.5, 0.95, 0.99):
                        fam.add_sample(fam.name, {**labels, "quantile": str(q)}, sk.quantile(q))
                    fam.add_sample(fam.name + "_count", labels, float(sk.count))
                    fam.add_sample(fam.name + "_sum", labels, sk.sum)
            drift = self.evaluator.drift_cache.get((model, version))
            if drift is None and (ms.numeric or ms.categorical or ms.predictions):
                drift = self.evaluator._drift_for(ms)
            for r in drift or []:
                if r.status.value == "no_data":
                    continue
                if r.feature == "__prediction__":
                    pscore.add_metric([svc, model, version, r.test], r.score)
                    ppval.add_metric([svc, model, version, r.test], r.p_adjusted)
                    peffect.add_metric([svc, model, version, r.test], r.effect)
                    if r.threshold is not None:
                        pthr.add_metric([svc, model, version, r.test, str(r.threshold_source)],
                                        r.threshold)
                    continue
                feature_labels = [svc, model, version, r.feature, r.test]
                score.add_metric(feature_labels, r.score)
                stat.add_metric(feature_labels, r.statistic)
                pval.add_metric(feature_labels, r.p_adjusted)
                effect.add_metric(feature_labels, r.effect)
                if r.threshold is not None:
                    thr.add_metric([*feature_labels, str(r.threshold_source)], r.threshold)
                if r.new_share is not None:
                    newcat.add_metric([svc, model, version, r.feature], r.new_share)
        fams += [lat, ttft, score, stat, pval, pscore, ppval, peffect, effect, newcat, thr, pthr]
        fams += self._data_families(now)
        fams += self._service_families()
        up, scrape_dur, depth = _fam(cat.SOURCE_UP), _fam(cat.SCRAPE_DURATION), \
            _fam(cat.QUEUE_DEPTH)
        if self.gpu.mode != "off":
            up.add_metric([svc, "nvml", "gpu"], float(self.gpu.status == "ok"))
        for s in self.scrapers:
            if s.last is not None:
                up.add_metric([svc, s.target.name, "scrape"], float(s.last.up))
                scrape_dur.add_metric([svc, s.target.name], s.last.duration)
        for name, v in sorted(self.state.external.get("queue_depth", {}).items()):
            depth.add_metric([svc, name], v)
        for name, d in sorted(self.state.datasets.items()):
            up.add_metric([svc, name, "dataset"], float(d.error is None and d.rows is not None))
        lag = _fam(cat.EVALUATION_LAG)
        lag.add_metric([svc], self.tick_lag)
        dur = _fam(cat.EVALUATION_DURATION)
        for _, buckets, total in self.tick_durations.families():
            dur.add_metric([svc], buckets, total)
        return [*fams, up, scrape_dur, depth, lag, dur]

    def _service_families(self) -> list[Any]:
        """Jobs (reported as events, so the sidecar is their exporter), drift detection times
        and recovery times."""
        svc = self.spec.service
        runs, duration, success = _fam(cat.JOB_RUNS), _fam(cat.JOB_LAST_DURATION), \
            _fam(cat.JOB_LAST_SUCCESS)
        start, running = _fam(cat.JOB_LAST_START), _fam(cat.JOB_RUNNING)
        for name, j in sorted(self.state.service.jobs.items()):
            runs.add_metric([svc, name, "success"], j.success)
            runs.add_metric([svc, name, "failure"], j.failure)
            running.add_metric([svc, name], float(len(j.running)))
            for fam, v in ((duration, j.last_duration), (success, j.last_success),
                           (start, j.last_start)):
                if v is not None:
                    fam.add_metric([svc, name], v)
        detection = _fam(cat.DRIFT_DETECTION)
        for name, d in sorted(self.detections.items()):
            if d.seconds is not None:
                detection.add_metric([svc, name, self.spec.objective(name).signal.value],
                                     d.seconds)
        recovery = _fam(cat.RECOVERY)
        for (name, signal), buckets, total in self.recovery.families():
            recovery.add_metric([svc, name, signal], buckets, total)
        return [runs, duration, success, start, running, detection, recovery]

    def _data_families(self, now: float) -> list[Any]:
        from detectors.quality import freshness_lag

        svc = self.spec.service
        fresh, nulls, schema = _fam(cat.FRESHNESS), _fam(cat.NULL_RATIO), \
            _fam(cat.SCHEMA_CHANGES)
        rows, contract = _fam(cat.DATASET_ROWS), _fam(cat.CONTRACT_FAILURES)
        dscore, dpval = _fam(cat.DATASET_DRIFT_SCORE), _fam(cat.DATASET_DRIFT_P_VALUE)
        deffect, newcat = _fam(cat.DATASET_DRIFT_EFFECT), _fam(cat.DATASET_NEW_CATEGORY)
        dthr = _fam(cat.DATASET_DRIFT_THRESHOLD)
        newrows, disallowed = _fam(cat.DATASET_NEW_CATEGORY_ROWS), _fam(cat.DATASET_DISALLOWED)
        for name, d in sorted(self.state.datasets.items()):
            lag = freshness_lag(now, d.newest_event, d.last_mark)
            if lag is not None:
                fresh.add_metric([svc, name], lag)
            if d.rows:
                for col, n in sorted(d.nulls.items()):
                    nulls.add_metric([svc, name, col], n / d.rows)
            if d.rows is not None:
                rows.add_metric([svc, name], float(d.rows))
            changes = schema_changes(self.state, self.spec, name)
            for change, n in sorted((changes or {}).items()):
                schema.add_metric([svc, name, change], float(n))
            failures: Counter[tuple[str, str]] = Counter(
                (f["expectation"], f["column"]) for f in d.contract_failures)
            for (exp, col), n in sorted(failures.items()):
                contract.add_metric([svc, name, exp, col], float(n))
            for r in d.drift:
                if r.get("status") in ("ok", "warning", "critical"):
                    labels = [svc, name, r["column"], r["test"]]
                    for fam, key in ((dscore, "score"), (dpval, "p_adjusted"),
                                     (deffect, "effect")):
                        if r.get(key) is not None:
                            fam.add_metric(labels, float(r[key]))
                    if r.get("threshold") is not None:
                        dthr.add_metric([*labels, str(r.get("threshold_source"))],
                                        float(r["threshold"]))
                if r.get("new_category_share") is not None:
                    newcat.add_metric([svc, name, r["column"]], float(r["new_category_share"]))
                    for cat_name in r.get("new_categories", []):
                        newrows.add_metric([svc, name, r["column"], cat_name], 1.0)
                    if r.get("new_categories_more"):
                        newrows.add_metric([svc, name, r["column"], "<more>"],
                                           float(r["new_categories_more"]))
            for col, check in sorted(d.allowed.items()):
                if check.get("share") is not None:
                    disallowed.add_metric([svc, name, col], float(check["share"]))
        return [fresh, nulls, schema, rows, contract, dscore, dpval, deffect, newcat, newrows,
                disallowed, dthr]

    def _status(self, results: list[Result], now: float) -> dict[str, Any]:
        objectives = []
        for r in results:
            o = self.spec.objective(r.name)
            unit = o.info.unit
            entry: dict[str, Any] = {
                "name": r.name, "signal": o.signal.value,
                "selector": dict(o.selector.items()), "unit": unit.value,
                "direction": o.info.direction.value,
                "value": r.value, "value_text": format_value(r.value, unit),
                "status": r.shown_status, "since": r.since,
                "warning": r.warning, "critical": r.critical, "baseline": r.baseline,
                "for": format_duration(o.for_),
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
            if o.name in self.detections:
                d = self.detections[o.name]
                entry["detection"] = {"seconds": d.seconds, "samples": d.samples,
                                      "window_share": d.share, "reason": d.reason}
            if o.signal in (SignalKind.JOB_SUCCESS_RATIO, SignalKind.JOB_DURATION,
                            SignalKind.TIME_SINCE_SUCCESS, SignalKind.DRIFT_DETECTION_TIME,
                            SignalKind.CACHE_HIT_RATE):
                entry["detail"] = {k: v for k, v in r.detail.items() if k != "reason"}
            if o.signal in (SignalKind.FEATURE_DRIFT, SignalKind.PREDICTION_DRIFT,
                            SignalKind.NEW_CATEGORY_SHARE, SignalKind.DISALLOWED_VALUE_SHARE):
                entry["features"] = {k: v for k, v in r.detail.items() if k != "reason"}
            elif o.signal is SignalKind.NULL_RATIO and r.detail.get("column"):
                entry["detail"] = {k: r.detail[k] for k in ("column", "bad", "total",
                                                            "wilson_lower", "min_rows")
                                   if k in r.detail}
            objectives.append(entry)
        datasets = [{"name": n, "source": d.source, "last_seen": d.last_seen, "rows": d.rows,
                     "error": d.error, "contract_failures": len(d.contract_failures),
                     "drift": d.drift, "drift_skipped": d.drift_skipped,
                     "allowed_values": d.allowed}
                    for n, d in sorted(self.state.datasets.items())]
        return {
            "service": self.spec.service, "environment": self.spec.environment,
            "ready": self.ready.is_set(), "time": now,
            "objectives": objectives,
            "sources": {
                "gpu": {"mode": self.gpu.mode, "status": self.gpu.status,
                        "error": self.gpu.error,
                        "devices": [{"index": r.index, "uuid": r.uuid, "name": r.name,
                                     "errors": r.errors} for r in self.gpu.readings]},
                "scrape": [{"name": s.target.name, "url": s.target.url,
                            "up": None if s.last is None else s.last.up,
                            "last_error": None if s.last is None else s.last.error}
                           for s in self.scrapers],
                "datasets": datasets,
                "jobs": [{"name": n, "running": len(j.running), "last_start": j.last_start,
                          "last_success": j.last_success, "last_failure": j.last_failure,
                          "last_duration": j.last_duration, "last_error": j.last_error,
                          "runs": {"success": j.success, "failure": j.failure}}
                         for n, j in sorted(self.state.service.jobs.items())],
                "ingest": {"models": sorted(f"{m}:{v}" if v else m
                                            for m, v in self.state.models),
                           "items": dict(self.state.ingested),
                           "instances": [{"instance": k, "last_seen": v} for k, v in
                                         sorted(self.instances.items(), key=lambda kv: -kv[1])
                                         [:MAX_SHOWN_INSTANCES]]},
            },
            "evaluation": {"interval": self.interval, "last_tick": self.last_tick,
                           "lag": self.tick_lag, "restored": self.restored},
        }


def _rows(batch: Batch) -> int:
    return sum(len(getattr(item, "features", ())) for item in batch.items)
