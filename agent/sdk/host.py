"""What the SDK's parts read of their monitor: the decorator, handles, recorders, collector,
outbox and OTel bridge take a :class:`MonitorHost`, which :class:`agent.sdk.monitor.Monitor`
satisfies structurally. A leaf, so the parts never import the monitor that imports them."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from agent.sdk.series import LockedHistogram, Series
    from agent.sdk.values import LockedCounter, ShardedCounter


class MonitorHost(Protocol):
    service: str
    sample_stride: int
    request_ids: bool
    stream_timings: bool
    otel: Any                                    # agent.sdk.otel.OTelBridge | None
    max_features: int
    _cold_lock: threading.Lock
    _events: list[dict[str, Any]]
    _refused: set[str]
    _queue_values: dict[str, float]
    token_counters: dict[tuple[str, str, str], LockedCounter]
    cost_counters: dict[tuple[str, str], LockedCounter]
    feedback_counters: dict[tuple[str, str, str], LockedCounter]
    score_histograms: dict[tuple[str, str], LockedHistogram]
    cache_counters: dict[tuple[str, str], ShardedCounter]
    tag_cost: dict[tuple[str, str, str, str], LockedCounter]
    breakers: dict[str, float]
    degradation_level: float | None
    custom_gauges: dict[str, float]
    custom_counters: dict[str, ShardedCounter]
    queue_waits: dict[str, LockedHistogram]
    dropped: dict[str, LockedCounter]
    errors: dict[str, LockedCounter]
    overflow: dict[str, LockedCounter]
    shipped: LockedCounter

    def all_series(self) -> list[Series]: ...
    def queue_depths(self) -> dict[str, float]: ...
    def sdk_error(self, where: str) -> None: ...
    def error_type(self, series: Series, name: str) -> None: ...
    def alias_request(self, opts: Any, n: int, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> None: ...
    def sample(self, series: Series, opts: Any, n: int, args: tuple[Any, ...],
               kwargs: dict[str, Any], out: Any) -> None: ...
    def _enqueue_event(self, item: dict[str, Any]) -> None: ...
    def _ship_now(self) -> None: ...
    def _queue_wait(self, name: str) -> LockedHistogram: ...
    def _delta(self, key: tuple[Any, ...], total: float) -> float: ...
    def _drop(self, reason: str, count: int) -> None: ...
