"""The engine's lifecycle: one worker thread owns the state (applies ingest, ticks, snapshots);
a collector thread polls GPU and scrape targets and starts dataset reads, each on its dataset's
own thread (:mod:`.collectors.collection`).
The HTTP event loop only queues work and reads what the last tick published (:mod:`._tick`), so
a slow detector never stalls /metrics or ingest.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from agent.sidecar._histogram import Histograms
from agent.sidecar._tick import Ticker
from agent.sidecar._webhooks import Webhooks
from agent.sidecar.collectors.collection import apply_dataset, apply_scrape, poll_due, resume
from agent.sidecar.collectors.datasets import DatasetPoller, DatasetReading
from agent.sidecar.collectors.gpu import GPUCollector
from agent.sidecar.collectors.scrape import Scraper, ScrapeResult
from agent.sidecar.collectors.sql_datasets import SqlPoller
from agent.sidecar.ingest.apply import Admission, apply
from agent.sidecar.ingest.otlp import OtlpDoor
from agent.sidecar.ingest.payload import Batch
from agent.sidecar.judge.evaluate import Evaluator, Result, Transition
from agent.sidecar.state import persistence, roles
from agent.sidecar.state.agent_state import AgentState
from agent.sidecar.state.history import History
from agent.sidecar.view import Counters
from agent.spec.document import Spec
from detectors.detection import Detection

log = logging.getLogger("slo_agent.sidecar")
MAX_INSTANCES = 1000        # SDK instances remembered for the status page
SNAPSHOT_FREE_BYTES = 256_000     # a state this small is written every interval
SNAPSHOT_BYTES_PER_S = 100_000    # beyond it, each 100 kB more waits a second: 1 MB ~ every 7.4 s
SNAPSHOT_MAX_GAP = 60.0            # and never less often than this
EVAL_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Engine:
    def __init__(self, spec: Spec, state_dir: Path | None = None, nvml: Any = None,
                 clock: Callable[[], float] = time.time, base_dir: Path | None = None,
                 baseline_warmup: int = 20) -> None:
        self.spec = spec
        self.clock = clock
        self.state_dir = state_dir or Path(spec.sidecar.state_dir)
        self.interval = spec.sidecar.interval
        self.state = AgentState(slot=self.interval, window_size=spec.drift.window_size,
                                reference_size=spec.drift.reference_size,
                                keep=counts_keep(spec), fleet_bins=spec.drift.fleet_bins,
                                fleet_categories=spec.drift.fleet_categories)
        self.gpu = GPUCollector(spec.sources.gpu.mode, list(spec.sources.gpu.devices), nvml)
        self._warmup = baseline_warmup
        self.evaluator = Evaluator(spec, self.state, warmup=baseline_warmup,
                                   gpu=self.gpu.signal_values)
        # over the rules' window, at the quantile each objective on the target asks for
        self.scrapers = [Scraper(t, window=spec.alerting.rate_window, quantiles={
            o.signal: o.quantile for o in spec.objectives
            if o.selector.scrape == t.name and o.quantile is not None}, thresholds={
            o.signal: o.good_threshold for o in spec.objectives
            if o.selector.scrape == t.name and o.has_target and o.good_threshold is not None})
            for t in spec.sources.scrape]
        base = base_dir or Path.cwd()
        # a replica reads no dataset file at all: the checker polls them for the service
        self.pollers: list[DatasetPoller | SqlPoller] = [
            DatasetPoller(d, base, drift=spec.drift, interval=self.interval) if d.path else
            SqlPoller(d, base, drift=spec.drift) for d in spec.sources.datasets
            if (d.path or d.sql) and roles.polls_datasets(spec.sidecar.role)]
        self.inbox: deque[tuple[str, Any, float]] = deque()
        self.max_inbox = 10_000
        # parsed batches are big Python objects: the backlog is bounded by feature rows too
        self.max_pending_rows = 50_000
        self.pending_rows = 0
        #: request bodies being read or queued and not yet applied (sidecar.limits)
        self.max_inbox_bytes = spec.sidecar.limits.max_inbox_bytes
        self.inbox_bytes = 0
        self.http_connections = 0           # set by the HTTP side, shown on /metrics
        self._pending_lock = threading.Lock()
        self.counters = Counters()
        self.admission = Admission(spec, clock)     # caps checked by the HTTP handler, shown here
        self.otlp = OtlpDoor(spec, clock)            # OTLP streams, shared by HTTP and gRPC
        self.transitions: Counter[tuple[str, str]] = Counter()
        self.recovery = Histograms()
        self.history = History(self.interval)
        self.instances: dict[str, float] = {}        # live SDK instance -> last batch (bounded)
        self.ended_instances: dict[str, float] = {}  # instance -> when its process said it ended
        self.detections: dict[str, Detection] = {}
        self.webhooks = Webhooks([(w.url, w.timeout) for w in spec.sidecar.webhooks],
                                 lambda r: self.counters.inc("webhooks", r))
        self.published: list[Any] = []
        self.published_text = b""                    # self.published as /metrics sends it
        self.published_at: float | None = None
        self.snapshot_bytes = 0
        self.snapshots = persistence.Health()
        self.snapshot_due = 0.0
        self._publish_logged: set[str] = set()
        self.published_dcgm: list[Any] = []
        self.status_doc: dict[str, Any] = {"ready": False}
        self.results: list[Result] = []
        self.ready = threading.Event()
        self.restored = False
        self.restore_dropped: list[str] = []
        self.last_tick: float | None = None
        self.tick_lag = 0.0
        self.tick_durations = Histograms(EVAL_BUCKETS)
        self.tick_durations.touch(())
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ticker = Ticker(socket.gethostname())
        self.on_transition: Callable[[Transition], None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        persistence.sweep(self.state_dir)
        restored = persistence.restore(self.state_dir, self.spec.service, self._restore)
        self.snapshots.restored(restored)
        self.restored = restored.which is not None
        if not self.restored:
            self._fresh_state()
        resume(self.state, self.pollers)        # since_last_poll windows go on where they were
        self.gpu.start()
        self.tick(self.clock())
        self.ready.set()
        for target, name in ((self._work, "slo-agent-worker"),
                             (self._collect, "slo-agent-collectors")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def _restore(self, saved: dict[str, Any]) -> None:
        """Use one saved state (raises when it cannot: the next snapshot is tried)."""
        self._fresh_state()
        try:
            self.restore_dropped = self.state.restore(saved)
        except (KeyError, ValueError, TypeError, AttributeError):
            self._fresh_state()
            raise
        roles.forget_shared(self.state, self.spec)   # kept under an earlier role
        if self.restore_dropped:
            log.warning("%d unreadable parts of the snapshot dropped",
                        len(self.restore_dropped))

    def _fresh_state(self) -> None:
        self.restore_dropped = []
        self.state.__init__(slot=self.interval,  # type: ignore[misc]
                            window_size=self.spec.drift.window_size,
                            reference_size=self.spec.drift.reference_size,
                            keep=counts_keep(self.spec), fleet_bins=self.spec.drift.fleet_bins,
                            fleet_categories=self.spec.drift.fleet_categories)
        self.evaluator = Evaluator(self.spec, self.state, warmup=self._warmup,
                                   gpu=self.gpu.signal_values)

    def stop(self) -> bool:
        """Stop threads and write a final snapshot (SIGTERM path); True when it was written."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(5.0)
        self._drain()
        written = self.snapshot()
        self.webhooks.close()
        self.gpu.shutdown()
        return written

    # -- work queue ----------------------------------------------------------------------------
    def reserve(self, size: int) -> bool:
        """Hold ``size`` bytes of the inbox for a body about to be read; False when that would
        pass ``max_inbox_bytes`` (one body always fits an empty inbox)."""
        with self._pending_lock:
            if self.inbox_bytes and self.inbox_bytes + size > self.max_inbox_bytes:
                return False
            self.inbox_bytes += size
            return True

    def release(self, size: int) -> None:
        with self._pending_lock:
            self.inbox_bytes = max(0, self.inbox_bytes - size)

    def claim(self, batch: Batch) -> bool:
        """False when a batch of this ``batch_id`` was accepted already (applied, or still in
        the inbox): the door answers it as a duplicate. True claims the id: the caller submits
        the batch, or :meth:`unclaim` s it when it refuses the batch after all."""
        return self.state.batch_ids.claim(batch.batch_id, self.clock())

    def unclaim(self, batch: Batch) -> None:
        self.state.batch_ids.release(batch.batch_id)

    def submit(self, batch: Batch, size: int = 0) -> bool:
        """Queue an admitted batch; ``size`` reserved bytes stay held until it is applied."""
        rows = _rows(batch)
        with self._pending_lock:
            if len(self.inbox) >= self.max_inbox or (
                    self.pending_rows and self.pending_rows + rows > self.max_pending_rows):
                return False
            self.pending_rows += rows
            self.inbox.append(("batch", (batch, size), self.clock()))
        self._wake.set()
        return True

    def _drain(self, limit: int = 100_000) -> None:
        n = 0
        while self.inbox and n < limit:
            kind, payload, at = self.inbox.popleft()
            n += 1
            try:
                if kind == "batch":
                    payload, size = payload
                    self._seen(payload, at)
                    with self._pending_lock:
                        self.pending_rows -= _rows(payload)
                        self.inbox_bytes = max(0, self.inbox_bytes - size)
                    try:
                        rows = apply(self.state, self.spec, payload, at)
                    finally:            # a batch acknowledged is never applied again
                        self.state.batch_ids.applied(payload.batch_id, at)
                    self.counters.inc("samples", "feature_rows", rows)
                    for item in payload.items:
                        self.counters.inc("samples", item.type)
                elif kind == "scrape":
                    self._apply_scrape(*payload)
                elif kind == "dataset":
                    self._apply_dataset(payload, at)
                elif kind == "call":
                    fn, done = payload
                    try:
                        done.set_result(fn())
                    except Exception as exc:
                        done.set_exception(exc)
            except Exception:
                log.exception("could not apply %s", kind)
                self.counters.inc("dropped", "apply_error")

    def _seen(self, batch: Batch, at: float) -> None:
        """An SDK instance is live from its first batch until it says its process ended
        (``sdk.lifecycle: exit``, sent by its exit flush) or goes unseen for the instance TTL
        (:meth:`expire_instances`). A process that only ever sent job events is a job's run,
        counted under the job, not an instance."""
        instance = batch.instance
        jobs_only = all(item.type == "job" for item in batch.items)
        if batch.sdk.get("lifecycle") == "exit":
            if self.instances.pop(instance, None) is not None or not jobs_only:
                self.ended_instances.pop(instance, None)
                self.ended_instances[instance] = at
                _cap(self.ended_instances)
            return
        if instance not in self.instances and batch.items and jobs_only:
            return
        self.instances.pop(instance, None)
        self.instances[instance] = at
        _cap(self.instances)

    def expire_instances(self, now: float) -> None:
        """Instances unseen for the instance TTL leave the live list; ended ones are shown for
        as long, then forgotten."""
        cutoff = now - self.admission.instance_ttl
        for table in (self.instances, self.ended_instances):
            for name in [k for k, t in table.items() if t < cutoff]:
                del table[name]

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
            gpu_next = poll_due(self.gpu, self.spec.sources.gpu.interval, gpu_next,
                                self.scrapers, self.pollers, self.inbox, self.clock())
            self._stop.wait(0.2)

    def _apply_scrape(self, scraper: Scraper, result: ScrapeResult) -> None:
        apply_scrape(self.state, scraper, result)

    def _apply_dataset(self, r: DatasetReading, now: float) -> None:
        apply_dataset(self.state, self.spec, r, now)

    def on_worker(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` on the worker thread, which owns the state (a read that must not race a
        tick, e.g. the review); the caller waits on the future."""
        done: Future[Any] = Future()
        with self._pending_lock:
            self.inbox.append(("call", (fn, done), self.clock()))
        self._wake.set()
        return done

    def report(self, span: float) -> Future[dict[str, Any]]:
        """The review of the last ``span`` seconds (see :mod:`._report_doc`)."""
        from agent.sidecar import _report_doc

        return self.on_worker(lambda: _report_doc.build(self, span, self.clock()))

    # -- evaluation tick -------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Evaluate and publish (see :mod:`agent.sidecar._tick`)."""
        self._ticker.tick(self, now)

    def guard(self, part: str, default: Any, build: Callable[..., Any], *args: Any) -> Any:
        """One part of a publication, ``build(*args)``; a failure leaves that part out (counted,
        logged once per part) and never freezes the rest."""
        try:
            return build(*args)
        except Exception as exc:
            self.counters.inc("publish_errors", part)
            if part not in self._publish_logged and len(self._publish_logged) < 1000:
                self._publish_logged.add(part)
                log.error("could not publish %s (left out until it recovers): %r", part, exc,
                          exc_info=exc)
            return default

    def snapshot(self, now: float | None = None) -> bool:
        """Write the state; from a tick (``now`` given) only when due. A state of up to
        SNAPSHOT_FREE_BYTES is written every interval (a crash loses at most one interval); a
        larger one waits (B - SNAPSHOT_FREE_BYTES) / SNAPSHOT_BYTES_PER_S seconds (at most
        SNAPSHOT_MAX_GAP) before the next, so its cost stays bounded as the state grows.
        Without ``now`` (stop) it always writes. Returns whether a snapshot was written; a
        failure is counted, logged (:class:`persistence.Health`) and shown on /status."""
        if now is not None and now < self.snapshot_due:
            return False
        written = False
        # everything acknowledged before ``covered`` is in this snapshot: the inbox is applied
        # first (batches acknowledged while the tick evaluated would otherwise wait a tick)
        covered = self.clock()
        self._drain()
        try:
            self.snapshot_bytes = persistence.save(
                self.state_dir, self.spec.service, self.state.state(),
                keep_previous=self.snapshots.newest_good, saved_at=covered)
            self.counters.inc("snapshots", "ok")
            self.snapshots.ok(covered)
            written = True
        except (OSError, ValueError, TypeError) as exc:
            self.counters.inc("snapshots", "error")
            self.snapshots.failed(exc, self.clock())
        if now is not None:
            over = max(0, self.snapshot_bytes - SNAPSHOT_FREE_BYTES)
            self.snapshot_due = now + min(SNAPSHOT_MAX_GAP, over / SNAPSHOT_BYTES_PER_S)
        return written


def _cap(table: dict[str, float]) -> None:
    while len(table) > MAX_INSTANCES:
        table.pop(next(iter(table)))


def counts_keep(spec: Spec) -> float:
    """How long windowed counts are kept: three rate windows, at least ten minutes."""
    return max(3 * spec.alerting.rate_window, 600.0)


def _rows(batch: Batch) -> int:
    """Feature rows a batch holds (as JSON rows or as columns): what the inbox caps."""
    return sum(getattr(item, "rows", 0) or len(getattr(item, "features", ()))
               for item in batch.items)
