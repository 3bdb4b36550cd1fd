"""What the tick, the exposition and the ``/status`` document read of a running sidecar.

A leaf: the engine satisfies :class:`EngineView` structurally, so the modules that build a
publication take the view and never import the engine (imports point one way: engine → tick →
exposition / status_doc → view).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from agent.sidecar._histogram import Histograms
    from agent.sidecar._webhooks import Webhooks
    from agent.sidecar.collectors.datasets import DatasetPoller
    from agent.sidecar.collectors.gpu import GPUCollector
    from agent.sidecar.collectors.scrape import Scraper
    from agent.sidecar.collectors.sql_datasets import SqlPoller
    from agent.sidecar.ingest.apply import Admission
    from agent.sidecar.ingest.otlp import OtlpDoor
    from agent.sidecar.judge.evaluate import Evaluator, Result, Transition
    from agent.sidecar.state.agent_state import AgentState
    from agent.sidecar.state.history import History
    from agent.sidecar.state.persistence import Health
    from agent.spec.document import Spec
    from detectors.detection import Detection


class Counters:
    """Live counters touched from the HTTP thread and the worker (small, locked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.batches: Counter[str] = Counter()
        self.samples: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.snapshots: Counter[str] = Counter()
        self.webhooks: Counter[str] = Counter()
        self.publish_errors: Counter[str] = Counter()
        self.http_closed: Counter[str] = Counter()

    def inc(self, table: str, key: str, n: float = 1) -> None:
        with self._lock:
            getattr(self, table)[key] += n


class EngineView(Protocol):
    """The engine's parts a publication reads (and the tick updates)."""

    spec: Spec
    state: AgentState
    clock: Callable[[], float]
    interval: float
    gpu: GPUCollector
    evaluator: Evaluator
    scrapers: list[Scraper]
    pollers: list[DatasetPoller | SqlPoller]
    counters: Counters
    admission: Admission
    otlp: OtlpDoor
    transitions: Counter[tuple[str, str]]
    recovery: Histograms
    history: History
    instances: dict[str, float]
    ended_instances: dict[str, float]
    detections: dict[str, Detection]
    webhooks: Webhooks
    published: list[Any]
    published_at: float | None
    published_dcgm: list[Any]
    status_doc: dict[str, Any]
    results: list[Result]
    ready: threading.Event
    restored: bool
    restore_dropped: list[str]
    last_tick: float | None
    tick_lag: float
    tick_durations: Histograms
    snapshot_bytes: int
    snapshots: Health
    inbox_bytes: int
    http_connections: int
    on_transition: Callable[[Transition], None] | None

    def guard(self, part: str, default: Any, build: Callable[..., Any], *args: Any) -> Any: ...

    def snapshot(self, now: float | None = None) -> bool: ...

    def expire_instances(self, now: float) -> None: ...

    def report(self, span: float) -> Future[dict[str, Any]]: ...
