"""The Monitor: decorators for inference code plus the cold-path recorders (feedback, queues,
tokens, cost, datasets), a Prometheus collector and a background shipper to the sidecar.

Configuration comes from the spec and the environment (``SLO_AGENT_URL``, ``SLO_AGENT_SPEC``,
``SLO_AGENT_TOKEN``, ``OTEL_*``). Nothing here raises into user code after construction: SDK
failures are counted in ``slo_agent_sdk_errors_total`` and logged once per place.
"""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
import socket
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from agent import catalogue as cat
from agent.sdk import lifecycle
from agent.sdk.conversions import _size
from agent.sdk.decorator import Options, check_options, instrument
from agent.sdk.environment import (
    ENV_SERVICE,
    ENV_TOKEN,
    ENV_URL,
    _otel_from_env,
    _warn_unconfigured,
)
from agent.sdk.handles import (
    BreakerHandle,
    CacheHandle,
    CounterHandle,
    GaugeHandle,
    JobRun,
    level_of,
)
from agent.sdk.labels import OTHER, LabelCap, clean
from agent.sdk.recorders import DatasetHandle, QueueHandle
from agent.sdk.requests import RequestJoin
from agent.sdk.series import LockedHistogram, Series
from agent.sdk.spec_uses import reads_feedback, reads_stream_timings
from agent.sdk.values import LockedCounter, ShardedCounter
from agent.spec.signals import DEGRADATION_LEVELS

log = logging.getLogger("slo_agent.sdk")

DEFAULT_BUCKETS = cat.DEFAULT_BUCKETS
TAG_VALUES = 50        # values per spend tag (user ids fold into 'other' past this)
TAG_KEYS = 8           # distinct spend tag keys
_METRIC_BAD = re.compile(r"[^a-zA-Z0-9_:]")


class Monitor(RequestJoin, lifecycle.Shipping):
    """Instrumentation for one service. Cheap to call, thread- and asyncio-safe."""

    def __init__(self, spec: Any = None, registry: Any = None, sidecar_url: str | None = None,
                 service: str | None = None, token: str | None = None,
                 sample_rate: float | None = None, flush_interval: float | None = None,
                 otel: bool | None = None, register: bool = True,
                 exit_timeout: float | None = None) -> None:
        from prometheus_client import REGISTRY

        sdk = getattr(spec, "sdk", None)
        self.spec = spec
        self.service = service or (spec.service if spec is not None else None) or \
            os.environ.get(ENV_SERVICE) or os.environ.get("OTEL_SERVICE_NAME") or \
            "unknown_service"
        rate = sample_rate if sample_rate is not None else (sdk.sample_rate if sdk else 1.0)
        self.sample_stride = 0 if rate <= 0 else max(1, round(1.0 / rate))
        #: set each call's request id in the context (thread / task) only where something
        #: reads it: an objective on user feedback (feedback joins its inference by the id),
        #: or no spec to tell; ``request_id=`` on a decorator sets it for that function
        self.request_ids = spec is None or reads_feedback(spec)
        #: time each item of a stream (TTFT, gaps) only where an objective reads it, or no
        #: spec tells; the whole stream's latency and outcome are always recorded
        self.stream_timings = spec is None or reads_stream_timings(spec)
        self.max_features = sdk.max_features if sdk else 64
        self.max_label_values = sdk.max_label_values if sdk else 200
        self.queue_size = sdk.queue_size if sdk else 10_000
        self.bounds = self._bounds(spec)
        self._series: dict[tuple[str, str], Series] = {}
        self._series_lock = threading.Lock()
        self._by_index: list[Series] = []            # request id >> 96 -> series (feedback)
        self._prefix = secrets.token_hex(4) + "-"
        self._aliases: OrderedDict[str, int] = OrderedDict()
        self._predictions: OrderedDict[int, Any] = OrderedDict()
        self._cold_lock = threading.Lock()
        self.token_counters: dict[tuple[str, str, str], LockedCounter] = {}
        self.cost_counters: dict[tuple[str, str], LockedCounter] = {}
        self.feedback_counters: dict[tuple[str, str, str], LockedCounter] = {}
        self.score_histograms: dict[tuple[str, str], LockedHistogram] = {}
        self.cache_counters: dict[tuple[str, str], ShardedCounter] = {}
        self._cache_handles: dict[str, CacheHandle] = {}
        self.tag_cost: dict[tuple[str, str, str, str], LockedCounter] = {}
        self.breakers: dict[str, float] = {}
        self.degradation_level: float | None = None
        self.custom_gauges: dict[str, float] = {}
        self.custom_counters: dict[str, ShardedCounter] = {}
        self._queue_values: dict[str, float] = {}
        self._tracked: dict[str, Callable[[], float | None]] = {}
        self.queue_waits: dict[str, LockedHistogram] = {}
        self.dropped: dict[str, LockedCounter] = {}
        self.errors: dict[str, LockedCounter] = {}
        self.overflow: dict[str, LockedCounter] = {}
        self.shipped = LockedCounter()
        self._logged: set[str] = set()
        self._events: list[dict[str, Any]] = []
        self._caps = {m: LabelCap(m, self.max_label_values, self._overflowed)
                      for m in (cat.TOKENS.name, cat.COST.name, cat.FEEDBACK.name,
                                cat.QUEUE_DEPTH.name, cat.QUEUE_WAIT.name, cat.CACHE.name,
                                cat.BREAKER.name, "custom")}
        self.max_tag_values = min(self.max_label_values, TAG_VALUES)
        self._tag_caps: dict[str, LabelCap] = {}
        self._shipped_totals: dict[tuple[Any, ...], float] = {}
        #: custom names the sidecar refused (its own cap): no longer shipped, still exported here
        self._refused: set[str] = set()
        self.registry = REGISTRY if registry is None else registry
        from agent.sdk.collector import SDKCollector

        self.collector = SDKCollector(self)
        if register:
            try:
                self.registry.register(self.collector)
            except ValueError as exc:   # names already registered by another Monitor
                log.warning("slo-agent: metrics not registered (%s); use Monitor(registry=...) "
                            "for a second monitor in one process", exc)
        self.otel = None
        if otel or (otel is None and _otel_from_env(sdk)):
            from agent.sdk.otel import OTelBridge

            self.otel = OTelBridge.create(self)
        url = sidecar_url if sidecar_url is not None else os.environ.get(ENV_URL)
        if url is None and spec is not None and os.environ.get(ENV_URL) is None:
            url = f"http://{spec.sidecar.listen}"
        self.shipper = None
        if not url and spec is None:
            _warn_unconfigured(self.service)
        if url:
            from agent.sdk.transport import SCHEMA_VERSION, Shipper

            self._schema = SCHEMA_VERSION
            self.shipper = Shipper(url, self._collect_items, self._envelope, self._drop,
                                   self.shipped.inc, on_refused=self._on_refused,
                                   interval=flush_interval or (sdk.flush_interval if sdk else 1.0),
                                   batch_items=sdk.batch_size if sdk else 500,
                                   token=token or os.environ.get(ENV_TOKEN),
                                   columnar=os.environ.get("SLO_AGENT_WIRE", "") != "json")
        #: the bound on waiting for the sidecar at exit, at SIGTERM and at a job's end
        self.exit_timeout = lifecycle.exit_timeout(exit_timeout, sdk.exit_timeout if sdk else None)
        if self.shipper is not None:
            lifecycle.register(self)

    # -- configuration ---------------------------------------------------------------------
    @staticmethod
    def _bounds(spec: Any) -> list[float]:
        levels: list[float] = list(DEFAULT_BUCKETS)
        if spec is not None:
            levels += spec.latency_thresholds() + list(spec.sdk.extra_buckets)
        return sorted({float(x) for x in levels if math.isfinite(x) and x > 0})

    # -- decorator ---------------------------------------------------------------------------
    def inference(self, fn: Callable[..., Any] | None = None, *, model: str = "default",
                  version: str = "", features: Callable[..., Any] | None = None,
                  prediction: Callable[[Any], Any] | None = None,
                  fallback: Callable[[Any], Any] | tuple[type[BaseException], ...] | None = None,
                  request_id: Callable[..., Any] | None = None) -> Any:
        """Decorate an inference function (sync, async, generator or async generator).

        ``features`` receives the call's arguments, ``prediction`` and a callable ``fallback``
        receive the return value (on a generator: the last item it yielded, once it has
        finished); ``fallback`` may instead be exception types that mean the service fell back.
        ``request_id`` receives the arguments and returns your own id. A model the spec does not
        name is said once (a typo would otherwise feed no objective). An option of the wrong
        kind is refused here, with a TypeError, rather than ignored on every call.
        """
        check_options(features=features, prediction=prediction, fallback=fallback,
                      request_id=request_id)

        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            if not callable(func):
                raise TypeError(f"@monitor.inference decorates a function, got "
                                f"{type(func).__name__}")
            try:
                self._check_model(clean(model))
                series = self._series_for(clean(model), clean(version))
                return instrument(func, self, series, Options(features, prediction, fallback,
                                                              request_id))
            except Exception:
                self.sdk_error("decorate")
                return func
        return decorate(fn) if fn is not None else decorate

    def _check_model(self, model: str) -> None:
        names = sorted({m.name for m in getattr(self.spec, "models", None) or []})
        if names and model not in names and f"model:{model}" not in self._logged \
                and len(self._logged) < 1000:
            self._logged.add(f"model:{model}")
            log.warning("slo-agent: model %r is not in the spec (models: %s); its samples feed "
                        "no objective of it. Said once.", model, ", ".join(names))

    def _series_for(self, model: str, version: str) -> Series:
        key = (model, version)
        with self._series_lock:
            s = self._series.get(key)
            if s is None:
                s = self._series[key] = Series(model, version, self.bounds,
                                               sample_limit=self.queue_size,
                                               index=len(self._series),
                                               max_features=self.max_features)
                self._by_index.append(s)
            return s

    def all_series(self) -> list[Series]:
        with self._series_lock:
            return list(self._series.values())

    # -- queues, tokens, cost, datasets -------------------------------------------------------
    def queue(self, name: str) -> QueueHandle:
        label = self._caps[cat.QUEUE_DEPTH.name]((clean(name),))[0]
        return QueueHandle(self, label)

    def track_queue(self, name: str, queue_obj: Any) -> None:
        """Sample ``len()``/``qsize()`` of a queue at every scrape (held weakly when possible)."""
        try:
            label = self._caps[cat.QUEUE_DEPTH.name]((clean(name),))[0]
            try:
                ref = weakref.ref(queue_obj)
                getter: Callable[[], Any] = ref
            except TypeError:
                getter = lambda: queue_obj  # noqa: E731 - not weak-referenceable
            self._tracked[label] = lambda: _size(getter())
        except Exception:
            self.sdk_error("queue")

    def queue_depths(self) -> dict[str, float]:
        out = dict(self._queue_values)
        for name, fn in list(self._tracked.items()):
            try:
                value = fn()
                if value is None:
                    del self._tracked[name]
                else:
                    out[name] = float(value)
            except Exception:
                self.sdk_error("queue")
        return out

    def _queue_wait(self, name: str) -> LockedHistogram:
        h = self.queue_waits.get(name)
        if h is None:
            with self._cold_lock:
                h = self.queue_waits.setdefault(name, LockedHistogram(self.bounds))
        return h

    def tokens(self, model: str = "default", input: int = 0, output: int = 0,
               version: str = "") -> None:
        try:
            for ttype, amount in (("input", input), ("output", output)):
                if amount:
                    self._counter(self.token_counters, cat.TOKENS.name,
                                  (clean(model), clean(version), ttype)).inc(float(amount))
            if self.otel is not None:
                self.otel.tokens(clean(model), input, output)
        except Exception:
            self.sdk_error("tokens")

    def cost(self, model: str = "default", usd: float = 0.0, version: str = "",
             tags: Mapping[str, Any] | None = None) -> None:
        """Spend on one call; ``tags`` (e.g. ``{"user": uid, "feature": "search"}``) also count
        it per tag value, at most ``TAG_VALUES`` values per tag (the rest as ``other``)."""
        try:
            amount = float(usd)
            if math.isfinite(amount) and amount >= 0:
                m, v = clean(model), clean(version)
                self._counter(self.cost_counters, cat.COST.name, (m, v)).inc(amount)
                for key, value in (tags or {}).items():
                    self._tag_counter(m, v, clean(key, 64), clean(value)).inc(amount)
        except Exception:
            self.sdk_error("cost")

    def _tag_counter(self, model: str, version: str, tag: str, value: str) -> LockedCounter:
        key = (model, version, tag, value)
        c = self.tag_cost.get(key)
        if c is None:
            cap = self._tag_caps.get(tag)
            if cap is None:
                with self._cold_lock:
                    if len(self._tag_caps) >= TAG_KEYS and tag not in self._tag_caps:
                        tag = OTHER
                    cap = self._tag_caps.setdefault(tag, LabelCap(
                        cat.COST_BY_TAG.name, self.max_tag_values, self._overflowed))
            key = (model, version, tag, cap((value,))[0])
            with self._cold_lock:
                c = self.tag_cost.setdefault(key, LockedCounter())
        return c

    # -- jobs, caches, degradation, breakers, custom metrics -----------------------------------
    def job(self, name: str) -> JobRun:
        """A batch job run: ``with monitor.job("retrain-fraud"):`` or ``@monitor.job(...)``."""
        return JobRun(self, clean(name))

    def cache(self, name: str) -> CacheHandle:
        """Hold the handle on a request path; looking it up per call is a dict hit. Handles are
        kept per label (capped), so a name past the cap shares the ``other`` handle and no raw
        name is kept."""
        label = self._caps[cat.CACHE.name]((clean(name),))[0]
        handle = self._cache_handles.get(label)
        if handle is None:
            with self._cold_lock:
                hits = self.cache_counters.setdefault((label, "hit"), ShardedCounter())
                misses = self.cache_counters.setdefault((label, "miss"), ShardedCounter())
                handle = self._cache_handles.setdefault(
                    label, CacheHandle(self, label, hits, misses))
        return handle

    def degradation(self, level: str | int) -> None:
        """The level the service serves at: full, limited, cached or minimal (or 0-3)."""
        try:
            self.degradation_level = float(level_of(level, DEGRADATION_LEVELS))
        except Exception:
            self.sdk_error("degradation")

    def circuit_breaker(self, name: str) -> BreakerHandle:
        return BreakerHandle(self, self._caps[cat.BREAKER.name]((clean(name),))[0])

    def gauge(self, name: str) -> GaugeHandle:
        """A gauge of your own for ``signal: custom`` (``custom.gauge: <name>``)."""
        return GaugeHandle(self, self._custom_name(name))

    def counter(self, name: str) -> CounterHandle:
        """A counter of your own for ``signal: custom`` (``custom.counter: <name>``)."""
        base = self._custom_name(name)
        with self._cold_lock:
            counter = self.custom_counters.setdefault(base, ShardedCounter())
        return CounterHandle(self, base, counter)

    def _custom_name(self, name: str) -> str:
        """A valid metric name, capped like every label (past the cap: ``other``)."""
        text = _METRIC_BAD.sub("_", clean(name)) or "custom"
        text = "_" + text if text[0].isdigit() else text
        text = text[: -len("_total")] if text.endswith("_total") else text
        return self._caps["custom"]((text,))[0]

    def dataset(self, name: str) -> DatasetHandle:
        return DatasetHandle(self, clean(name))

    # -- exposition ----------------------------------------------------------------------------
    def asgi_app(self) -> Any:
        from prometheus_client import make_asgi_app

        return make_asgi_app(registry=self.registry)

    def wsgi_app(self) -> Any:
        from prometheus_client import make_wsgi_app

        return make_wsgi_app(registry=self.registry)

    def serve(self, port: int = 8000, addr: str = "127.0.0.1") -> Any:
        """Serve /metrics on its own port from a daemon thread; returns (server, thread)."""
        from prometheus_client import start_http_server

        return start_http_server(port, addr=addr, registry=self.registry)

    # -- shipping (flush, close, exit: :class:`lifecycle.Shipping`) ---------------------------
    def _envelope(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        from agent import __version__

        return {"schema": self._schema, "service": self.service,
                "instance": f"{socket.gethostname()}:{os.getpid()}",
                "sdk": {"name": "slo-agent-python", "version": __version__},
                "sent_at": time.time(), "items": items}

    def _collect_items(self) -> list[dict[str, Any]]:
        """What changed since the last shipment (runs on the shipper thread)."""
        from agent.sdk.outbox import collect

        return collect(self)
