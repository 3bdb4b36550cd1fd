"""Cold-path recorders beyond inference calls: batch jobs, caches, degradation, circuit breakers
and the team's own gauges and counters.

Each handle is cheap and thread-safe and never raises into user code. Jobs are shipped to the
sidecar as events, which exports them (a retraining process exits before any scrape, the reason
Prometheus has a Pushgateway); the rest are also served from this process's registry.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from agent.sdk.values import ShardedCounter
from agent.spec.signals import BREAKER_STATES, DEGRADATION_LEVELS

if TYPE_CHECKING:
    from agent.sdk.host import MonitorHost as Monitor


class JobRun:
    """One run of a job: ``with monitor.job("retrain-fraud"):`` or ``@monitor.job(...)``.

    An exception inside marks the run failed and propagates unchanged; ``run.fail()`` marks it
    failed without raising (a job that reports failure through its exit status)."""

    def __init__(self, monitor: Monitor, name: str) -> None:
        self._monitor, self.name = monitor, name
        self._start: float | None = None
        self._run_id = ""
        self._failed: str | None = None

    def __enter__(self) -> JobRun:
        self._start = time.time()
        self._run_id = uuid.uuid4().hex[:12]
        self._failed = None
        self._send("start")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._end(exc_type)
        self._ship()

    def _end(self, exc_type: type[BaseException] | None) -> None:
        if exc_type is not None and not issubclass(exc_type, GeneratorExit):
            self._failed = exc_type.__name__     # a consumer closing a generator early is not
        self._send("failure" if self._failed else "success")

    def _ship(self) -> None:
        """The run's end leaves the process before the block returns (bounded: the monitor's
        ``exit_timeout``), so a script that ends right after needs no flush call."""
        try:
            self._monitor._ship_now()
        except Exception:
            self._monitor.sdk_error("job")

    async def __aenter__(self) -> JobRun:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._end(exc_type)
        await asyncio.to_thread(self._ship)      # never blocks the event loop

    def fail(self, reason: str = "failed") -> None:
        self._failed = reason

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator form: every call of ``fn`` is one run; on a generator (or async generator)
        the run lasts until it is exhausted, fails, or is closed by its consumer."""
        monitor, name = self._monitor, self.name
        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            async def arun_gen(*args: Any, **kwargs: Any) -> Any:
                async with JobRun(monitor, name):
                    async for item in fn(*args, **kwargs):
                        yield item
            return arun_gen
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def run_gen(*args: Any, **kwargs: Any) -> Any:
                with JobRun(monitor, name):
                    return (yield from fn(*args, **kwargs))
            return run_gen
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def arun(*args: Any, **kwargs: Any) -> Any:
                async with JobRun(monitor, name):
                    return await fn(*args, **kwargs)
            return arun

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with JobRun(monitor, name):
                return fn(*args, **kwargs)
        return run

    def _send(self, event: str) -> None:
        try:
            now = time.time()
            item: dict[str, Any] = {"type": "job", "job": self.name, "event": event,
                                    "run_id": self._run_id, "at": now}
            if event != "start" and self._start is not None:
                item["duration"] = max(0.0, now - self._start)
            if event == "failure" and self._failed:
                item["error"] = self._failed[:128]
            self._monitor._enqueue_event(item)
        except Exception:
            self._monitor.sdk_error("job")


class CacheHandle:
    """``monitor.cache("embeddings").hit()`` / ``.miss()``: one lock-free add per call."""

    __slots__ = ("_hits", "_misses", "_monitor", "name")

    def __init__(self, monitor: Monitor, name: str, hits: ShardedCounter,
                 misses: ShardedCounter) -> None:
        self._monitor, self.name = monitor, name
        self._hits, self._misses = hits, misses

    def hit(self, n: int = 1) -> None:
        try:
            self._hits.inc(n)
        except Exception:
            self._monitor.sdk_error("cache")

    def miss(self, n: int = 1) -> None:
        try:
            self._misses.inc(n)
        except Exception:
            self._monitor.sdk_error("cache")


class BreakerHandle:
    """``monitor.circuit_breaker("ranker").set("open")``: closed, half_open or open."""

    def __init__(self, monitor: Monitor, name: str) -> None:
        self._monitor, self.name = monitor, name

    def set(self, state: str | int) -> None:
        try:
            self._monitor.breakers[self.name] = float(level_of(state, BREAKER_STATES))
        except Exception:
            self._monitor.sdk_error("circuit_breaker")

    def open(self) -> None:
        self.set("open")

    def half_open(self) -> None:
        self.set("half_open")

    def close(self) -> None:
        self.set("closed")


class GaugeHandle:
    """A custom gauge for ``signal: custom`` with ``custom.gauge``."""

    def __init__(self, monitor: Monitor, name: str) -> None:
        self._monitor, self.name = monitor, name

    def set(self, value: float) -> None:
        try:
            self._monitor.custom_gauges[self.name] = float(value)
        except Exception:
            self._monitor.sdk_error("gauge")


class CounterHandle:
    """A custom counter for ``signal: custom`` with ``custom.counter`` (the sidecar reads its
    rate per second). Negative amounts are ignored: a counter only goes up."""

    __slots__ = ("_counter", "_monitor", "name")

    def __init__(self, monitor: Monitor, name: str, counter: ShardedCounter) -> None:
        self._monitor, self.name, self._counter = monitor, name, counter

    def inc(self, amount: float = 1.0) -> None:
        try:
            if amount >= 0:
                self._counter.inc(amount)
        except Exception:
            self._monitor.sdk_error("counter")


def level_of(value: str | int, names: tuple[str, ...]) -> int:
    """A named level (``"cached"``, ``"half-open"``) or its index."""
    if isinstance(value, bool):
        raise ValueError(f"expected one of {', '.join(names)}")
    if isinstance(value, int):
        if not 0 <= value < len(names):
            raise ValueError(f"expected 0..{len(names) - 1}")
        return value
    key = str(value).strip().lower().replace("-", "_")
    if key not in names:
        raise ValueError(f"unknown level {value!r}; expected one of {', '.join(names)}")
    return names.index(key)


__all__ = ["DEGRADATION_LEVELS", "BreakerHandle", "CacheHandle", "CounterHandle", "GaugeHandle",
           "JobRun", "level_of"]
