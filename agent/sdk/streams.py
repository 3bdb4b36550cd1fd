"""The ``@monitor.inference`` wrappers of generator and async-generator functions.

A stream is timed as one call from its first step to its end: the time to its first item and
each gap after it go to the thread's buffers (one clock read and one append per item), folded
off the hot path like durations; the whole stream's latency, its outcome and the cold part
(``prediction=`` / a callable ``fallback=`` get the last item) are recorded once, at its end.

The wrapper iterates the user's stream with a ``for`` loop: its end costs no exception in
Python. ``send()`` of a value and ``throw()`` hand the rest of the stream to a step-by-step
loop that forwards them; so does, from the start, a generator function that may ``return`` a
value (``yield from`` callers get it). Every SDK step is guarded: the SDK never raises into
user code, and the user's exceptions pass through untouched.
"""

from __future__ import annotations

import dis
import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.sdk.exact import exact_wrapper
from agent.sdk.values import BUFFER_CAP

if TYPE_CHECKING:
    from agent.sdk.host import MonitorHost as Monitor
    from agent.sdk.series import Series


def returns_value(fn: Callable[..., Any]) -> bool:
    """Whether a generator function may ``return`` something other than None (read from its
    bytecode; anything not understood counts as yes)."""
    try:
        code = fn.__code__
        ops = list(dis.get_instructions(code))
    except Exception:
        return True
    for prev, op in zip([None, *ops], ops, strict=False):
        if op.opname == "RETURN_CONST" and op.argval is not None:
            return True
        if op.opname == "RETURN_VALUE" and not (
                prev is not None and prev.opname == "LOAD_CONST" and prev.argval is None):
            return True
    return False


def _ends(monitor: Monitor, series: Series, failed: Any, after: Any, cold: tuple[bool, int]
          ) -> tuple[Any, Any, Any]:
    """A stream's three ends, built once per decorated function and called once per stream
    (never per item): ``ended`` (ran out: its latency, a drain when the buffer is full, the
    cold part), ``closed`` (stopped early by its consumer: still a call), ``raised``."""
    drain, pc, sdk_error = series.shards.drain, time.perf_counter, monitor.sdk_error
    cap = BUFFER_CAP - 1
    every, sampled = cold

    def ended(sh: Any, n: int, t0: float, item: Any, args: Any, kwargs: Any) -> None:
        try:
            sh.lat.append(pc() - t0)
            if len(sh.gaps) > cap or not n & cap:
                drain(sh)
            if every or (sampled and not n % sampled):
                after(n, args, kwargs, item, sh)
        except Exception:
            sdk_error("stream")

    def closed(sh: Any, t0: float) -> None:
        try:
            sh.lat.append(pc() - t0)
        except Exception:
            sdk_error("stream")

    def raised(sh: Any, t0: float, exc: BaseException) -> None:
        try:
            failed(sh, t0, exc)
        except Exception:
            sdk_error("stream")

    return ended, closed, raised


def gen_wrapper(fn: Callable[..., Any], monitor: Monitor, series: Series, failed: Any,
                after: Any, cold: tuple[bool, int], track: bool,
                set_rid: Callable[[int], Any], timed: bool = True) -> Callable[..., Any]:
    """A generator function's wrapper (see the module's docstring); ``set_rid`` sets the
    call's request id in the context (where ``track``); ``timed``: items are timed (TTFT,
    gaps). Untimed, with no cold part to hand the last item to, the stream is delegated
    whole (:func:`_lean_gen`)."""
    shards = series.shards
    tls, local, drain = shards._tls, shards.local, shards.drain
    pc, sdk_error = time.perf_counter, monitor.sdk_error
    cap = BUFFER_CAP - 1
    every, sampled = cold

    ended, closed, raised = _ends(monitor, series, failed, after, cold)
    if not timed and not every and not sampled:
        return _lean_gen(fn, series, failed, closed, track, set_rid, sdk_error)

    def stepwise(gen: Any, sh: Any, n: int, t0: float, last: float, item: Any,
                 exc: BaseException | None, sent: Any, args: Any, kwargs: Any) -> Any:
        """The stream from here on, one step at a time: ``last`` 0 (not started) takes the
        first item; else ``exc`` is thrown into it, or ``sent`` sent."""
        try:
            item = next(gen) if not last else gen.throw(exc) if exc is not None else \
                gen.send(sent)
            if timed:
                try:
                    now = pc()
                    if last:
                        sh.gaps.append(now - last)
                    else:
                        sh.ttfts.append(now - t0)
                    last = now
                except Exception:
                    sdk_error("stream")
            while True:
                try:
                    sent = yield item
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as thrown:          # thrown in by the consumer
                    item = gen.throw(thrown)
                else:
                    item = gen.send(sent)                # send(None) is next()
                if timed:
                    try:
                        now = pc()
                        sh.gaps.append(now - last)
                        last = now
                    except Exception:
                        sdk_error("stream")
        except StopIteration as stop:
            ended(sh, n, t0, item, args, kwargs)
            return stop.value
        except GeneratorExit:
            closed(sh, t0)
            raise
        except BaseException as e:
            raised(sh, t0, e)
            raise

    explicit = returns_value(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            try:
                sh = tls.shard
            except AttributeError:
                sh = local()
            n = sh.started + 1
            sh.started = n
            if track:
                set_rid(sh.rid_base + n)
            t0 = pc()
        except Exception:
            sdk_error("start")
            return (yield from fn(*args, **kwargs))
        try:                        # arguments are bound here: a TypeError is the call's error
            gen = fn(*args, **kwargs) if kwargs else fn(*args)
        except BaseException as exc:
            raised(sh, t0, exc)
            raise
        if explicit:
            return (yield from stepwise(gen, sh, n, t0, 0.0, None, None, None, args, kwargs))
        item: Any = None
        last = 0.0
        handoff: tuple[BaseException | None, Any] | None = None
        try:
            for item in gen:
                if timed:
                    try:
                        now = pc()
                        if last:
                            sh.gaps.append(now - last)
                        else:
                            sh.ttfts.append(now - t0)
                        last = now
                    except Exception:
                        sdk_error("stream")
                try:
                    sent = yield item
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as thrown:      # thrown in: the rest step by step
                    handoff = (thrown, None)
                    break
                if sent is not None:                 # a value sent: the rest step by step
                    handoff = (None, sent)
                    break
        except GeneratorExit:
            closed(sh, t0)
            raise
        except BaseException as exc:
            raised(sh, t0, exc)
            raise
        if handoff is not None:
            return (yield from stepwise(gen, sh, n, t0, last, item, handoff[0], handoff[1],
                                        args, kwargs))
        try:                                        # ended(), inlined: the common end
            sh.lat.append(pc() - t0)
            if len(sh.gaps) > cap or not n & cap:
                drain(sh)
            if every or (sampled and not n % sampled):
                after(n, args, kwargs, item, sh)
        except Exception:
            sdk_error("stream")
        return None

    return wrapper


def async_gen_wrapper(fn: Callable[..., Any], monitor: Monitor, series: Series, failed: Any,
                      after: Any, cold: tuple[bool, int], track: bool,
                      set_rid: Callable[[int], Any], timed: bool = True) -> Callable[..., Any]:
    """An async generator function's wrapper, as :func:`gen_wrapper` (an async generator
    returns no value, and has no ``yield from``: its items always pass through this loop)."""
    shards = series.shards
    tls, local, drain = shards._tls, shards.local, shards.drain
    pc, sdk_error = time.perf_counter, monitor.sdk_error
    cap = BUFFER_CAP - 1
    every, sampled = cold

    ended, closed, raised = _ends(monitor, series, failed, after, cold)
    lean = not timed and not every and not sampled

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            try:
                sh = tls.shard
            except AttributeError:
                sh = local()
            n = sh.started + 1
            sh.started = n
            if track:
                set_rid(sh.rid_base + n)
            t0 = pc()
        except Exception:
            sdk_error("start")
            async for each in fn(*args, **kwargs):
                yield each
            return
        try:                        # arguments are bound here: a TypeError is the call's error
            agen = fn(*args, **kwargs) if kwargs else fn(*args)
        except BaseException as exc:
            raised(sh, t0, exc)
            raise
        item: Any = None
        last = 0.0
        handoff: tuple[BaseException | None, Any] | None = None
        try:
            async for item in agen:
                if timed:
                    try:
                        now = pc()
                        if last:
                            sh.gaps.append(now - last)
                        else:
                            sh.ttfts.append(now - t0)
                        last = now
                    except Exception:
                        sdk_error("stream")
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as thrown:
                    handoff = (thrown, None)
                    break
                if sent is not None:
                    handoff = (None, sent)
                    break
        except GeneratorExit:
            closed(sh, t0)
            raise
        except BaseException as exc:
            raised(sh, t0, exc)
            raise
        if handoff is None:
            try:                                    # ended(), inlined: the common end
                sh.lat.append(pc() - t0)
                if len(sh.gaps) > cap or not n & cap:
                    drain(sh)
                if every or (sampled and not n % sampled):
                    after(n, args, kwargs, item, sh)
            except Exception:
                sdk_error("stream")
            return
        thrown_in, sent = handoff       # the rest step by step (no ``yield from`` in async)
        try:
            item = await (agen.athrow(thrown_in) if thrown_in is not None else
                          agen.asend(sent))
            while True:
                if timed:
                    try:
                        now = pc()
                        sh.gaps.append(now - last)
                        last = now
                    except Exception:
                        sdk_error("stream")
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as thrown:
                    item = await agen.athrow(thrown)
                else:
                    item = await agen.asend(sent)
        except StopAsyncIteration:
            ended(sh, n, t0, item, args, kwargs)
        except GeneratorExit:
            closed(sh, t0)
            raise
        except BaseException as e:
            raised(sh, t0, e)
            raise

    exact = exact_wrapper("async generator", fn, wrapper,
                          {"tls": tls, "local": local, "pc": pc, "drain": drain, "cap": cap,
                           "sdk_error": sdk_error, "closed": closed, "ended": ended,
                           "raised": raised, "set_rid": set_rid if track else None}
                          ) if lean else None
    return functools.wraps(fn)(exact) if exact is not None else wrapper


def _lean_gen(fn: Callable[..., Any], series: Series, failed: Any, closed: Any, track: bool,
              set_rid: Callable[[int], Any], sdk_error: Callable[[str], None]
              ) -> Callable[..., Any]:
    """A generator function's wrapper where nothing is wanted per item: the stream is handed
    to ``yield from``, which forwards items, ``send()``, ``throw()``, ``close()`` and the return
    value in C; the wrapper runs Python only at the stream's first step and at its end. Made
    with the function's own parameters where they are understood (:mod:`agent.sdk.exact`)."""
    shards = series.shards
    tls, local, drain = shards._tls, shards.local, shards.drain
    pc = time.perf_counter
    cap = BUFFER_CAP - 1

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            try:
                sh = tls.shard
            except AttributeError:
                sh = local()
            n = sh.started + 1
            sh.started = n
            if track:
                set_rid(sh.rid_base + n)
            t0 = pc()
        except Exception:
            sdk_error("start")
            return (yield from fn(*args, **kwargs))
        try:                        # arguments are bound here: a TypeError is the call's error
            out = yield from (fn(*args, **kwargs) if kwargs else fn(*args))
        except GeneratorExit:
            closed(sh, t0)
            raise
        except BaseException as exc:
            try:
                failed(sh, t0, exc)
            except Exception:
                sdk_error("stream")
            raise
        try:
            sh.lat.append(pc() - t0)
            if not n & cap:
                drain(sh)
        except Exception:
            sdk_error("stream")
        return out

    exact = exact_wrapper("generator", fn, wrapper,
                          {"tls": tls, "local": local, "pc": pc, "drain": drain, "cap": cap,
                           "sdk_error": sdk_error, "failed": failed, "closed": closed,
                           "set_rid": set_rid if track else None})
    return functools.wraps(fn)(exact) if exact is not None else wrapper
