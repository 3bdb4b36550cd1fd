"""The ``@monitor.inference`` wrappers for sync, async, generator and async-generator functions:
what a call records (its outcome, the cold part) and which wrapper a function gets; the
wrappers' code is made in :mod:`agent.sdk.wrappers`.

Hot-path rules: the user's function is called exactly once with its own arguments, its exceptions
are re-raised untouched (same object, same traceback), and every SDK step is guarded so an SDK
failure is counted and logged once, never raised. Per call the SDK touches only its own thread's
shard: no lock, one append to its buffer, no I/O.

Every option works on every shape. On a generator or async generator, ``prediction=`` and a
callable ``fallback=`` receive the *last item yielded* (streams conventionally end with a summary
chunk; only that one item is held, never the whole stream), once the stream has finished.
"""

from __future__ import annotations

import functools
import inspect
import time
from bisect import bisect_left
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from agent.sdk.conversions import _features
from agent.sdk.values import sketch_add
from agent.sdk.wrappers import make_wrapper, returns_value

if TYPE_CHECKING:
    from agent.sdk.host import MonitorHost as Monitor
    from agent.sdk.series import Series

REQUEST_ID: ContextVar[int] = ContextVar("slo_agent_request_id", default=-1)


class Options:
    """What the decorator extracts; all callables are user code and are guarded."""

    __slots__ = ("fallback_exc", "fallback_fn", "features", "prediction", "request_id")

    def __init__(self, features: Callable[..., Any] | None, prediction: Callable[[Any], Any] | None,
                 fallback: Callable[[Any], Any] | tuple[type[BaseException], ...] | None,
                 request_id: Callable[..., Any] | None) -> None:
        self.features = features
        self.prediction = prediction
        self.request_id = request_id
        if isinstance(fallback, type) and issubclass(fallback, BaseException):
            fallback = (fallback,)
        self.fallback_exc: tuple[type[BaseException], ...] = \
            fallback if isinstance(fallback, tuple) else ()
        self.fallback_fn: Callable[[Any], Any] | None = \
            fallback if callable(fallback) and not isinstance(fallback, tuple) else None


def check_options(**options: Any) -> None:
    """Refuse, when the decorator is applied, an option that no call could use (a string as
    ``fallback=``, a value where a function is expected): ignoring it would record every call
    as ok without a word."""
    for name, value in options.items():
        if value is None:
            continue
        if name == "fallback":
            kinds = value if isinstance(value, tuple) else (value,)
            if all(isinstance(k, type) and issubclass(k, BaseException) for k in kinds):
                continue
            if not isinstance(value, (tuple, type)) and callable(value):
                continue
            raise TypeError("fallback= takes a function of the result (true: a fallback "
                            "answered) or exception types (raised: a fallback answered), got "
                            f"{value!r}")
        if not callable(value):
            raise TypeError(f"{name}= takes a function, got {type(value).__name__}")


def instrument(fn: Callable[..., Any], monitor: Monitor, series: Series, opts: Options
               ) -> Callable[..., Any]:
    """Wrap ``fn`` according to its kind; metadata and signature are preserved.

    Each wrapper's code is made from the templates of :mod:`agent.sdk.wrappers`. What the spec
    does not use is not paid for: the request id is set in the context only where something
    can read it (:attr:`Monitor.request_ids`, or ``request_id=``), the cold part (sampling,
    fallback predicate, aliases) is called only on calls that need it; where no call needs it
    (and a stream's items are not timed), the wrapper takes the function's own parameters (no
    tuple and dict per call).
    """
    shards = series.shards
    pc = time.perf_counter
    stride = monitor.sample_stride
    sdk_error = monitor.sdk_error
    fb_exc = opts.fallback_exc
    fb_fn = opts.fallback_fn
    want_samples = (opts.features is not None or opts.prediction is not None) and stride > 0
    alias = opts.request_id is not None
    track = alias or bool(getattr(monitor, "request_ids", True))
    timed = bool(getattr(monitor, "stream_timings", True))
    otel: Any = monitor.otel
    bounds = series.bounds

    def failed(sh: Any, t0: float, exc: BaseException) -> None:
        if not isinstance(exc, Exception):      # cancellation / exit: not an outcome, but
            sh.cancelled += 1                   # no longer in flight
            return
        dt = pc() - t0
        sh.buckets[bisect_left(bounds, dt)] += 1
        sh.sum += dt
        sh.count += 1
        sketch_add(sh.sketch, dt)
        if fb_exc and isinstance(exc, fb_exc):
            sh.fallbacks += 1
        else:
            sh.errors += 1
            monitor.error_type(series, type(exc).__name__)

    def after(n: int, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any, sh: Any) -> None:
        """Cold part of a call: fallback predicate, sampling, id aliasing (``n``: the call's
        number in its shard)."""
        if fb_fn is not None:
            try:
                if fb_fn(out):
                    sh.fallbacks += 1
            except Exception:
                sdk_error("fallback")
        rid = sh.rid_base + n
        if want_samples and n % stride == 0:
            monitor.sample(series, opts, rid, args, kwargs, out)
        if alias:
            monitor.alias_request(opts, rid, args, kwargs)

    if opts.features is not None and opts.prediction is None and not alias and fb_fn is None \
            and want_samples:
        after = _features_only(monitor, series, opts.features)
    # calls that need the cold part: every call (a fallback predicate, aliases), else every
    # ``stride``-th (sampling only), else none
    every = fb_fn is not None or alias
    sampled = stride if want_samples and not every else 0

    if otel is not None and not inspect.isasyncgenfunction(fn) \
            and not inspect.isgeneratorfunction(fn):
        return _mark(_otel_wrapper(fn, monitor, series, failed, after, (every, sampled), track),
                     series)
    form = "async generator" if inspect.isasyncgenfunction(fn) else \
        "generator" if inspect.isgeneratorfunction(fn) else \
        "async" if inspect.iscoroutinefunction(fn) else "sync"
    env = {"tls": shards._tls, "local": shards.local, "pc": pc, "drain": shards.drain,
           "sdk_error": sdk_error, "failed": failed,
           "set_rid": REQUEST_ID.set, "after": after}
    timed = timed and form in ("generator", "async generator")
    explicit = form == "generator" and returns_value(fn)
    wrapper = make_wrapper(form, fn, env, False, track=track, timed=timed,
                           cold=(every, sampled), explicit=explicit)
    if not every and not sampled and not timed:     # latency and outcome only: own parameters
        exact = make_wrapper(form, fn, dict(env, generic=wrapper), True, track=track)
        if exact is not None:
            wrapper = exact
    assert wrapper is not None
    return _mark(functools.wraps(fn)(wrapper), series)


def _mark(wrapper: Callable[..., Any], series: Series) -> Callable[..., Any]:
    wrapper.__slo_agent__ = (series.model, series.version)  # type: ignore[attr-defined]
    return wrapper


def _begin(series: Series, track: bool) -> tuple[Any, int, float]:
    """A call's start on the cold wrappers (OpenTelemetry): shard, call number, clock."""
    sh = series.shards.local()
    n = sh.started + 1
    sh.started = n
    if track:
        REQUEST_ID.set(sh.rid_base + n)
    return sh, n, time.perf_counter()


def _otel_wrapper(fn: Callable[..., Any], monitor: Monitor, series: Series, failed: Any,
                  after: Any, cold: tuple[bool, int], track: bool) -> Callable[..., Any]:
    """Sync or async functions with the OpenTelemetry bridge: a span around each call."""
    otel, pc, sdk_error = monitor.otel, time.perf_counter, monitor.sdk_error
    every, sampled = cold

    def finish(sh: Any, n: int, t0: float, args: Any, kwargs: Any, out: Any, span: Any) -> None:
        dt = pc() - t0
        sh.buckets[bisect_left(series.bounds, dt)] += 1
        sh.sum += dt
        sh.count += 1
        sketch_add(sh.sketch, dt)
        if every or (sampled and not n % sampled):
            after(n, args, kwargs, out, sh)
        otel.end(span, series, t0, None)

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                sh, n, t0 = _begin(series, track)
                span = otel.start(series)
            except Exception:
                sdk_error("start")
                return await fn(*args, **kwargs)
            try:
                out = await fn(*args, **kwargs)
            except BaseException as exc:
                try:
                    failed(sh, t0, exc)
                    otel.end(span, series, t0, exc)
                except Exception:
                    sdk_error("record")
                raise
            try:
                finish(sh, n, t0, args, kwargs, out, span)
            except Exception:
                sdk_error("record")
            return out
        return awrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            sh, n, t0 = _begin(series, track)
            span = otel.start(series)
        except Exception:
            sdk_error("start")
            return fn(*args, **kwargs)
        try:
            out = fn(*args, **kwargs)
        except BaseException as exc:
            try:
                failed(sh, t0, exc)
                otel.end(span, series, t0, exc)
            except Exception:
                sdk_error("record")
            raise
        try:
            finish(sh, n, t0, args, kwargs, out, span)
        except Exception:
            sdk_error("record")
        return out

    return wrapper


def _features_only(monitor: Monitor, series: Series, features: Callable[..., Any]
                   ) -> Callable[..., None]:
    """The cold part of a sampled call when only ``features=`` is set (the common case): a
    copy of the row (cleaned on the shipper thread)."""
    add = series.samples.add
    limit = monitor.max_features
    sdk_error = monitor.sdk_error

    def after(n: int, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any, sh: Any) -> None:
        try:
            raw = features(*args, **kwargs)
            row = raw.copy() if type(raw) is dict and len(raw) <= limit else \
                _features(raw, limit)
        except Exception:
            sdk_error("features")
            return
        if not add(row, None, False):
            monitor._drop("queue_full", 1)

    return after
