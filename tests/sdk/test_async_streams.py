"""Async generators stepped in C (``agent/sdk/_streams.c``) against the pure-Python wrapper made
from the templates (``agent/sdk/wrappers.py``) and against the bare function.

The C stepper does the templates' bookkeeping itself, so the two are held equal here: any
consumer (``__anext__``, ``asend``, ``athrow``, ``aclose``, a task cancelled mid-step, a stream
dropped or left unfinished, two steps at once) of any generator (items, awaits, a thrown
exception caught or not, an error at its end) sees what it sees on the bare function, and the
monitor records the same calls, errors, cancellations, in-flight count and request ids."""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import gc
import inspect
import pickle
import traceback
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from agent.sdk import Monitor, wrappers
from agent.sdk.decorator import REQUEST_ID
from agent.spec import parse_spec

pytestmark = pytest.mark.usefixtures("streams_built")


def _monitor(track: bool = False) -> Monitor:
    objectives: list[dict[str, Any]] = [{"name": "lat", "signal": "latency",
                                         "selector": {"model": "m"}, "warning": "1s"}]
    if track:       # a feedback objective reads request ids: they are set
        objectives.append({"name": "unhappy", "signal": "negative_feedback_rate",
                           "selector": {"model": "m"}, "warning": "10%"})
    spec = parse_spec({"service": "svc", "models": [{"name": "m", "version": "v1"}],
                       "objectives": objectives})
    return Monitor(spec, registry=CollectorRegistry(), sidecar_url="", sample_rate=0)


@dataclass(frozen=True)
class Plan:
    """What the user's generator does: ``n`` items, an ``await`` before each (``sleeps``),
    a thrown KeyError ``caught`` or not, a ValueError at its end (``fails``)."""
    n: int
    sleeps: bool
    caught: bool
    fails: bool


def _user(plan: Plan, seen: list[int]) -> Callable[..., AsyncIterator[Any]]:
    async def stream(start: int, *, step: int = 1) -> AsyncIterator[Any]:
        seen.append(REQUEST_ID.get())
        i = start
        while i < start + plan.n * step:
            if plan.sleeps:
                await asyncio.sleep(0)
            try:
                got = yield i
            except KeyError:
                if not plan.caught:
                    raise
                got = None
            i += step if got is None else 100 * step
        if plan.fails:
            raise ValueError("boom")
    return stream


ACTIONS = ("next", "send", "throw", "close", "cancel", "overlap", "again", "drop")


async def _drive(fn: Callable[..., Any], actions: list[str]) -> list[tuple[Any, ...]]:
    """What a consumer sees of each action, then the stream dropped and finalisers run."""
    stream: Any = fn(0, step=1)
    out: list[tuple[Any, ...]] = []
    for act in actions:
        if stream is None:
            break
        try:
            if act == "next":
                out.append(("item", await stream.__anext__()))
            elif act == "send":
                out.append(("item", await stream.asend(7)))
            elif act == "throw":
                out.append(("item", await stream.athrow(KeyError("k"))))
            elif act == "close":
                await stream.aclose()
                out.append(("closed",))
            elif act == "again":        # an awaitable awaited twice
                step = stream.__anext__()
                try:
                    out.append(("item", await step))
                finally:
                    out.append(("again", *await _outcome(step)))
                    del step        # (it keeps the stream)
            elif act == "cancel":
                out.append(await _cancelled(stream))
            elif act == "overlap":
                other = asyncio.ensure_future(stream.__anext__())
                try:
                    out.append(("item", await stream.__anext__()))
                finally:
                    out.append(("other", *await _outcome(other)))
                    del other       # a task keeps what it awaited (the step, so the stream)
            else:
                stream = None
        except BaseException as exc:
            out.append(("raised", type(exc).__name__, str(exc)))
    del stream                  # no cycle: freed here, not by a collection
    for _ in range(6):          # asyncio's finaliser hook closes dropped generators in tasks
        await asyncio.sleep(0)
    return out


async def _cancelled(stream: Any) -> tuple[Any, ...]:
    """A step in a task, cancelled after the loop ran once (a step that awaits gets it)."""
    task = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0)
    task.cancel()
    return await _outcome(task)


async def _outcome(task: Awaitable[Any]) -> tuple[Any, ...]:
    try:
        return ("item", await task)
    except BaseException as exc:
        # the task keeps its exception, whose traceback holds the task: a cycle that would keep
        # what the task awaited until a collection (a stream stepped in C is recorded when it
        # is freed; the Python wrapper's is closed by asyncio's shutdown_asyncgens)
        exc.__traceback__ = None
        return ("raised", type(exc).__name__, str(exc))


def _record(mon: Monitor) -> tuple[int, int, int, int, int]:
    total = mon.all_series()[0].shards.total()
    return total.started, total.count, total.errors, total.cancelled, total.in_flight


def _run(plan: Plan, actions: list[str], track: bool, how: str, monkeypatch: Any
         ) -> tuple[list[tuple[Any, ...]], tuple[int, ...] | None, list[int]]:
    seen: list[int] = []
    fn = _user(plan, seen)
    mon = None
    if how != "bare":
        mon = _monitor(track)
        with monkeypatch.context() as patch:
            if how == "Python":
                patch.setattr(wrappers, "_streams", None)
            fn = mon.inference(model="m")(fn)
        assert (type(fn).__name__ == "Fn") == (how == "C")
    out = asyncio.run(_drive(fn, actions))
    if mon is None:
        return out, None, seen
    base = mon.all_series()[0].shards.local().rid_base
    return out, _record(mon), [rid - base if rid != -1 else -1 for rid in seen]


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.builds(Plan, n=st.integers(0, 3), sleeps=st.booleans(), caught=st.booleans(),
                      fails=st.booleans()),
       actions=st.lists(st.sampled_from(ACTIONS), max_size=7), track=st.booleans())
def test_c_and_python_streams_agree_with_each_other_and_the_bare_function(
        plan: Plan, actions: list[str], track: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    bare, _, _ = _run(plan, actions, track, "bare", monkeypatch)
    py_out, py_rec, py_ids = _run(plan, actions, track, "Python", monkeypatch)
    c_out, c_rec, c_ids = _run(plan, actions, track, "C", monkeypatch)
    assert c_out == py_out == bare
    assert c_rec == py_rec
    assert c_ids == py_ids
    assert c_rec is not None and c_rec[4] == 0          # nothing left in flight


def test_an_exception_passes_through_untouched_and_each_outcome_is_counted_once() -> None:
    mon = _monitor()
    boom = ValueError("boom")

    @mon.inference(model="m")
    async def fails(x: int) -> AsyncIterator[int]:
        yield x
        raise boom

    async def consume() -> list[int]:
        return [i async for i in fails(1)]

    with pytest.raises(ValueError) as info:
        asyncio.run(consume())
    assert info.value is boom
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "fails" and not any(n.startswith("_slo") for n in frames)
    assert _record(mon) == (1, 1, 1, 0, 0)


def test_the_decorated_function_reads_as_the_users_own() -> None:
    """inspect, functools.wraps, methods, pickling by name, contextlib."""
    mon = _monitor()

    async def stream(x: int, *, k: str = "a") -> AsyncIterator[str]:
        """Doc."""
        yield k * x

    wrapped = mon.inference(model="m")(stream)
    assert type(wrapped).__name__ == "Fn"
    assert inspect.isasyncgenfunction(wrapped) and not inspect.iscoroutinefunction(wrapped)
    assert inspect.signature(wrapped) == inspect.signature(stream)
    assert wrapped.__name__ == "stream" and wrapped.__doc__ == "Doc."
    assert wrapped.__wrapped__ is stream and "stream" in repr(wrapped)
    made = wrapped(1)       # not started: not a call
    assert isinstance(made, collections.abc.AsyncGenerator) and "stream" in repr(made)
    del made

    class Model:
        def __init__(self) -> None:
            self.scale = 2

        @mon.inference(model="m")
        async def predict(self, x: int) -> AsyncIterator[int]:
            yield x * self.scale

    async def method() -> list[int]:
        return [i async for i in Model().predict(3)]

    assert asyncio.run(method()) == [6]
    assert inspect.isasyncgenfunction(Model().predict)

    @contextlib.asynccontextmanager
    @mon.inference(model="m")
    async def session() -> AsyncIterator[str]:
        yield "open"

    async def use() -> str:
        async with session() as got:
            return str(got)

    assert asyncio.run(use()) == "open"
    assert pickle.loads(pickle.dumps(_PICKLED)) is _PICKLED
    assert _record(mon)[:3] == (2, 2, 0)


async def _pickled(x: int) -> AsyncIterator[int]:
    yield x

_PICKLED = _monitor().inference(model="m")(_pickled)
_pickled = _PICKLED     # pickled by its qualified name, as a decorated module function is


def test_a_call_that_does_not_bind_is_the_calls_error_as_in_python() -> None:
    mon = _monitor()

    @mon.inference(model="m")
    async def stream(x: int) -> AsyncIterator[int]:
        yield x

    async def consume(*args: Any, **kwargs: Any) -> list[int]:
        return [i async for i in stream(*args, **kwargs)]

    with pytest.raises(TypeError, match="positional argument"):
        asyncio.run(consume(1, 2))
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        asyncio.run(consume(1, x=2))        # refused by the function's own binding
    assert _record(mon) == (2, 2, 2, 0, 0)


def test_a_failing_bookkeeping_step_is_counted_and_never_reaches_the_caller() -> None:
    mon = _monitor()

    @mon.inference(model="m")
    async def stream(x: int) -> AsyncIterator[int]:
        yield x

    async def consume() -> list[int]:
        return [i async for i in stream(1)]

    def errors(where: str) -> float | None:
        return mon.registry.get_sample_value("slo_agent_sdk_errors_total",
                                             {"service": "svc", "where": where})

    class Refusing(list[float]):
        def append(self, value: float) -> None:
            raise MemoryError if value < 0 else OSError("full")

    shard = mon.all_series()[0].shards.local()
    shard.lat = Refusing()      # the end's append fails
    assert asyncio.run(consume()) == [1]
    shard.started = "1"         # type: ignore[assignment]  # the start fails: not timed
    assert asyncio.run(consume()) == [1]
    shard.started = 1           # as it was (the totals read it)
    assert (errors("stream"), errors("start")) == (1, 1)
    assert _record(mon)[:3] == (1, 0, 0)        # started, not finished: its latency was lost


def test_many_streams_leave_nothing_behind() -> None:
    """No reference or memory kept per stream, whatever way it ends."""
    mon = _monitor()

    @mon.inference(model="m")
    async def stream(x: int) -> AsyncIterator[int]:
        yield x
        yield x + 1
        if x % 3 == 0:
            raise ValueError(x)

    async def many(n: int) -> None:
        for i in range(n):
            s = stream(i)
            try:
                if i % 4 == 0:
                    await s.__anext__()         # dropped half-way
                elif i % 4 == 1:
                    await s.__anext__()
                    await s.aclose()
                else:
                    async for _ in s:
                        pass
            except ValueError:
                pass

    tracemalloc.start()         # a first run sizes what is kept for good (asyncio's own sets)
    asyncio.run(many(20_000))
    gc.collect()
    tracemalloc.stop()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        asyncio.run(many(20_000))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100_000, grown           # a leak of one object per stream is ~1 MB
    raised = 2 * sum(1 for i in range(20_000) if i % 3 == 0 and i % 4 >= 2)
    assert _record(mon) == (40_000, 40_000, raised, 0, 0)
