"""Collection: what the collector thread polls (GPU, scrape targets, dataset files and tables)
and how the worker folds a scrape result or a dataset reading into the state. No HTTP, no
tick."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from agent.sidecar.collectors.datasets import DatasetPoller, DatasetReading
from agent.sidecar.collectors.gpu import GPUCollector
from agent.sidecar.collectors.scrape import Scraper, ScrapeResult
from agent.sidecar.collectors.sql_datasets import SqlPoller
from agent.sidecar.ingest.apply import dataset_batch
from agent.sidecar.state.agent_state import AgentState
from agent.spec.document import Spec

log = logging.getLogger("slo_agent.sidecar")


def poll_due(gpu: GPUCollector, gpu_interval: float, gpu_next: float, scrapers: list[Scraper],
             pollers: list[DatasetPoller | SqlPoller], inbox: deque[tuple[str, Any, float]],
             now: float) -> float:
    """Poll every source that is due; readings go to ``inbox`` for the worker. Returns when
    the GPU is next due. A failing source is a reading with its error, never an exception; a
    dataset read runs on its own thread, so a slow one never delays the GPU or a scrape."""
    if gpu.status == "ok" and now >= gpu_next:
        try:
            gpu.collect()
        except Exception:
            log.exception("GPU collection failed")
        gpu_next = now + gpu_interval
    for s in scrapers:
        if now >= s.next_at:
            s.next_at = now + s.target.interval
            inbox.append(("scrape", (s, s.scrape(now)), now))
    for p in pollers:
        if now >= p.next_at:            # each dataset reads on its own thread
            p.next_at = now + p.interval
            if (late := p.start()) is not None:
                inbox.append(("dataset", late, now))     # a read overrunning: said
        if (done := p.finished()) is not None:
            inbox.append(("dataset", done, now))
    return gpu_next


def apply_scrape(state: AgentState, scraper: Scraper, result: ScrapeResult) -> None:
    name = scraper.target.name
    for kind, value in result.values.items():
        state.external.setdefault(kind.value, {})[name] = value
    for kind, events in result.events.items():
        state.external_events.setdefault(kind.value, {})[name] = events
    for kind, counts in result.counts.items():
        state.external_counts.setdefault(kind.value, {})[name] = counts
        if kind.value not in {k.value for k in result.values}:   # no events: no ratio
            state.external.get(kind.value, {}).pop(name, None)


def apply_dataset(state: AgentState, spec: Spec, r: DatasetReading, now: float) -> None:
    d = state.dataset(r.name)
    d.where, d.source = r.where, r.source          # a failed read is still its source's
    d.polled = True
    if r.source == "file":
        d.file_state = r.file_state
    if not r.ok:
        d.error = r.error
        return
    dataset_batch(state, spec, r.name, r.rows, r.columns or {}, r.nulls or {},
                  r.newest_event, now, source=r.source)
    fresh = next((ds.contract.freshness for ds in spec.sources.datasets
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
    if r.position is not None:
        d.position = r.position


def resume(state: AgentState, pollers: list[DatasetPoller | SqlPoller]) -> None:
    """After a restore, each SQL dataset's ``since_last_poll`` goes on from the position its
    last applied reading reached (kept in the snapshot), so the rows that arrived meanwhile
    are counted once."""
    for p in pollers:
        d = state.datasets.get(p.dataset.name)
        if isinstance(p, SqlPoller) and d is not None:
            p.resume(d.position)
