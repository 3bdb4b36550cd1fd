"""The ``@monitor.inference`` wrappers for sync, async, generator and async-generator functions.

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
from agent.sdk.values import BUFFER_CAP, sketch_add

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

    The sync and async wrappers inline the whole hot path (no helper calls): a call costs one
    thread-local lookup, a request number, a context-variable set, two clock reads and one
    append to the thread's buffer; buckets, sum and sketch are built from the buffer off the
    caller's thread (at scrape / shipment, or by the thread itself every ``BUFFER_CAP`` calls).
    Everything past the user's function is guarded.
    """
    shards = series.shards
    tls = shards._tls
    local = shards.local
    bounds = series.bounds
    pc = time.perf_counter
    drain = shards.drain
    cap = BUFFER_CAP - 1
    stride = monitor.sample_stride
    sdk_error = monitor.sdk_error
    set_rid = REQUEST_ID.set
    fb_exc = opts.fallback_exc
    fb_fn = opts.fallback_fn
    want_samples = opts.features is not None or opts.prediction is not None
    alias = opts.request_id is not None
    cold = want_samples or alias
    otel: Any = monitor.otel

    def failed(sh: Any, t0: float, exc: BaseException) -> None:
        if not isinstance(exc, Exception):      # cancellation / exit: not an outcome
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
        """Cold part of a call: fallback predicate, sampling, id aliasing."""
        if fb_fn is not None:
            try:
                if fb_fn(out):
                    sh.fallbacks += 1
            except Exception:
                sdk_error("fallback")
        if want_samples and stride and n % stride == 0:
            monitor.sample(series, opts, n, args, kwargs, out)
        if alias:
            monitor.alias_request(opts, n, args, kwargs)

    if opts.features is not None and opts.prediction is None and not alias and fb_fn is None \
            and stride:
        after = _features_only(monitor, series, opts.features, stride)
    needs_after = cold or fb_fn is not None

    def start() -> tuple[Any, int, float]:
        sh = local()
        n = sh.rid_base + sh.started + 1
        sh.started += 1
        set_rid(n)
        return sh, n, pc()

    if inspect.isasyncgenfunction(fn):
        wrapper = _async_gen_wrapper(fn, monitor, series, start, failed, after, pc, otel)
    elif inspect.isgeneratorfunction(fn):
        wrapper = _gen_wrapper(fn, monitor, series, start, failed, after, pc, otel)
    elif inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                try:
                    sh = tls.shard
                except AttributeError:
                    sh = local()
                n = sh.started + 1
                sh.started = n
                set_rid(sh.rid_base + n)
                span = otel.start(series) if otel is not None else None
                t0 = pc()
            except Exception:
                sdk_error("start")
                return await fn(*args, **kwargs)
            try:
                out = await (fn(*args, **kwargs) if kwargs else fn(*args))
            except BaseException as exc:
                try:
                    failed(sh, t0, exc)
                    if span is not None:
                        otel.end(span, series, t0, exc)
                except Exception:
                    sdk_error("record")
                raise
            try:
                buf = sh.lat
                buf.append(pc() - t0)
                if not n & cap:          # every BUFFER_CAP calls of this thread
                    drain(sh)
                if needs_after:
                    after(sh.rid_base + n, args, kwargs, out, sh)
                if span is not None:
                    otel.end(span, series, t0, None)
            except Exception:
                sdk_error("record")
            return out
    elif otel is not None:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                sh, n, t0 = start()
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
                dt = pc() - t0
                sh.buckets[bisect_left(bounds, dt)] += 1
                sh.sum += dt
                sh.count += 1
                sketch_add(sh.sketch, dt)
                if needs_after:
                    after(n, args, kwargs, out, sh)
                otel.end(span, series, t0, None)
            except Exception:
                sdk_error("record")
            return out
    else:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                try:
                    sh = tls.shard
                except AttributeError:
                    sh = local()
                n = sh.started + 1
                sh.started = n
                set_rid(sh.rid_base + n)
                t0 = pc()
            except Exception:
                sdk_error("start")
                return fn(*args, **kwargs)
            try:
                out = fn(*args, **kwargs) if kwargs else fn(*args)   # no dict built per call
            except BaseException as exc:
                try:
                    failed(sh, t0, exc)
                except Exception:
                    sdk_error("record")
                raise
            try:
                sh.lat.append(pc() - t0)
                if not n & cap:          # every BUFFER_CAP calls of this thread
                    drain(sh)
                if needs_after:
                    after(sh.rid_base + n, args, kwargs, out, sh)
            except Exception:
                sdk_error("record")
            return out

    wrapper.__slo_agent__ = (series.model, series.version)  # type: ignore[attr-defined]
    return wrapper


def _features_only(monitor: Monitor, series: Series, features: Callable[..., Any], stride: int
                   ) -> Callable[..., None]:
    """The cold part of a call when only ``features=`` is set (the common case): sample every
    ``stride``-th call, a copy of the row (cleaned on the shipper thread)."""
    add = series.samples.add
    limit = monitor.max_features
    sdk_error = monitor.sdk_error

    def after(n: int, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any, sh: Any) -> None:
        if n % stride:
            return
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


class _Stream:
    """Per-stream timing (time to first item, gaps, total) and the last item yielded, which
    ``prediction=`` and a callable ``fallback=`` receive when the stream ends."""

    __slots__ = ("item", "last", "n", "sh", "t0")

    def __init__(self, sh: Any, t0: float) -> None:
        self.sh, self.t0, self.last, self.n = sh, t0, t0, 0
        self.item: Any = None


def _token(series: Series, st: _Stream, pc: Callable[[], float]) -> None:
    now = pc()
    sh = st.sh
    if st.n == 0:
        dt = now - st.t0
        sh.ttft_buckets[bisect_left(series.bounds, dt)] += 1
        sh.ttft_sum += dt
        sh.ttft_count += 1
        sketch_add(sh.ttft_sketch, dt)
    else:
        gap = now - st.last
        sh.inter_buckets[bisect_left(series.bounds, gap)] += 1
        sh.inter_sum += gap
        sh.inter_count += 1
    st.last = now
    st.n += 1


def _stream_done(series: Series, st: _Stream, pc: Callable[[], float]) -> None:
    dt = pc() - st.t0
    sh = st.sh
    sh.buckets[bisect_left(series.bounds, dt)] += 1
    sh.sum += dt
    sh.count += 1
    sketch_add(sh.sketch, dt)


def _gen_wrapper(fn: Callable[..., Any], monitor: Monitor, series: Series, start: Any,
                 failed: Any, after: Any, pc: Callable[[], float], otel: Any
                 ) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            sh, n, t0 = start()
            st = _Stream(sh, t0)
        except Exception:
            monitor.sdk_error("start")
            return (yield from fn(*args, **kwargs))
        try:
            gen = fn(*args, **kwargs)
            item = next(gen)
            st.item = item
            _safe(monitor, _token, series, st, pc)
            while True:
                try:
                    sent = yield item
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as exc:          # thrown in by the consumer
                    item = gen.throw(exc)
                else:
                    item = gen.send(sent) if sent is not None else next(gen)
                st.item = item
                _safe(monitor, _token, series, st, pc)
        except StopIteration as stop:
            _safe(monitor, _stream_done, series, st, pc)
            _safe(monitor, after, n, args, kwargs, st.item, sh)
            return stop.value
        except GeneratorExit:
            _safe(monitor, _stream_done, series, st, pc)   # consumer stopped early: still a call
            raise
        except BaseException as exc:
            _safe(monitor, failed, sh, t0, exc)
            raise

    return wrapper


def _async_gen_wrapper(fn: Callable[..., Any], monitor: Monitor, series: Series, start: Any,
                       failed: Any, after: Any, pc: Callable[[], float], otel: Any
                       ) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            sh, n, t0 = start()
            st = _Stream(sh, t0)
        except Exception:
            monitor.sdk_error("start")
            async for item in fn(*args, **kwargs):
                yield item
            return
        agen = fn(*args, **kwargs)
        try:
            item = await agen.__anext__()
            st.item = item
            _safe(monitor, _token, series, st, pc)
            while True:
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:
                    item = await agen.athrow(exc)
                else:
                    item = await agen.asend(sent)
                st.item = item
                _safe(monitor, _token, series, st, pc)
        except StopAsyncIteration:
            _safe(monitor, _stream_done, series, st, pc)
            _safe(monitor, after, n, args, kwargs, st.item, sh)
        except GeneratorExit:
            _safe(monitor, _stream_done, series, st, pc)
            raise
        except BaseException as exc:
            _safe(monitor, failed, sh, t0, exc)
            raise

    return wrapper


def _safe(monitor: Monitor, fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        monitor.sdk_error("stream")
