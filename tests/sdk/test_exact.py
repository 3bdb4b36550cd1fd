"""Wrappers made with the decorated function's own parameters (agent/sdk/params.py): where a call
needs nothing but its latency and outcome, the wrapper takes the function's parameters instead
of ``(*args, **kwargs)``. Any call must behave exactly as on the bare function (same result,
same exception and message), and what is recorded must not change: a call with arguments the
function cannot take is still the call's error, an SDK failure never reaches the caller, a
stream's protocol passes through and in-flight counts balance."""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from agent.sdk import Monitor
from agent.spec import parse_spec

# every test here with async generators stepped in C and in Python
pytestmark = pytest.mark.usefixtures("stepping")

SPEC = parse_spec({"service": "svc", "models": [{"name": "m", "version": "v1"}],
                   "objectives": [{"name": "lat", "signal": "latency",
                                   "selector": {"model": "m"}, "warning": "1s"}]})


def _monitor() -> Monitor:
    return Monitor(SPEC, registry=CollectorRegistry(), sidecar_url="", sample_rate=0)


def _exact(wrapper: Callable[..., Any]) -> bool:
    """Made with the function's own parameters (or an async generator's stepped in C)."""
    return type(wrapper).__name__ == "Fn" or wrapper.__code__.co_filename.startswith(
        "<slo-agent wrapper")


def _counts(mon: Monitor) -> tuple[int, int, int]:
    """(finished calls, errors, in flight) of the monitor's one series."""
    total = mon.all_series()[0].shards.total()
    return total.count, total.errors, total.in_flight


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except TypeError as exc:
        return "TypeError", str(exc)


FORMS = ["sync", "async", "generator", "async generator"]


def _run(form: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A call of ``fn`` in its form, a stream consumed to its end."""
    if form == "async":
        return asyncio.run(fn(*args, **kwargs))
    if form == "generator":
        return list(fn(*args, **kwargs))
    if form == "async generator":
        async def consume() -> list[Any]:
            return [x async for x in fn(*args, **kwargs)]
        return asyncio.run(consume())
    return fn(*args, **kwargs)


# -- signatures from a strategy: every shape a plain function's parameters can take ------------
@st.composite
def signatures(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """Source of ``f(...)`` of a form, returning (or yielding) its arguments; the form; its
    names that can be given by keyword."""
    names = iter(f"p{i}" for i in range(20))
    posonly = [next(names) for _ in range(draw(st.integers(0, 2)))]
    pos = [next(names) for _ in range(draw(st.integers(0, 2)))]
    n_default = draw(st.integers(0, len(posonly) + len(pos)))
    params = [f"{n}={i}" if i >= len(posonly) + len(pos) - n_default else n
              for i, n in enumerate(posonly + pos)]
    if posonly:
        params.insert(len(posonly), "/")
    varargs = draw(st.booleans())
    kwonly = [next(names) for _ in range(draw(st.integers(0, 2)))]
    kw_defaults = draw(st.lists(st.booleans(), min_size=len(kwonly), max_size=len(kwonly)))
    if varargs:
        params.append("*rest")
    elif kwonly:
        params.append("*")
    params += [f"{n}=-1" if d else n for n, d in zip(kwonly, kw_defaults, strict=True)]
    varkw = draw(st.booleans())
    if varkw:
        params.append("**extra")
    everything = posonly + pos + (["rest"] if varargs else []) + kwonly + \
        (["extra"] if varkw else [])
    form = draw(st.sampled_from(FORMS))
    returns = "yield" if "generator" in form else "return"
    src = (f"{'async ' if form.startswith('async') else ''}def f({', '.join(params)}):\n"
           f"    {returns} ({''.join(n + ', ' for n in everything)})\n")
    return src, form, pos + kwonly


@settings(max_examples=150, deadline=None)
@given(signatures(), st.integers(0, 5), st.lists(st.sampled_from(
    ["p0", "p1", "p2", "p3", "p4", "p5", "nope"]), max_size=3, unique=True))
def test_any_call_behaves_as_on_the_bare_function(sig: tuple[str, str, list[str]],
                                                   n_args: int, keywords: list[str]) -> None:
    src, form, _ = sig
    namespace: dict[str, Any] = {}
    exec(src, namespace)
    bare = namespace["f"]
    mon = _monitor()
    wrapped = mon.inference(model="m")(bare)
    assert _exact(wrapped)
    args = tuple(range(100, 100 + n_args))
    kwargs = {k: f"v{k}" for k in keywords}
    want = _outcome(lambda: _run(form, bare, *args, **kwargs))
    got = _outcome(lambda: _run(form, wrapped, *args, **kwargs))
    count, errors, in_flight = _counts(mon)
    assert in_flight == 0
    if got[0] == "TypeError" and "multiple values" in got[1] and type(wrapped).__name__ != "Fn":
        # a value given twice is refused by the wrapper's own binding, before the call starts
        # (it may be found before what the bare function's binding names first); stepped in C,
        # the function's own binding refuses it and the call is recorded, as any that does not
        # fit
        assert want[0] == "TypeError" and (count, errors) == (0, 0)
        return
    assert got == want
    if want[0] == "ok":
        assert (count, errors) == (1, 0)
    else:                                       # it fits no parameter: the call's error
        assert (count, errors) == (1, 1)


@pytest.mark.parametrize("form", FORMS)
def test_arguments_that_do_not_fit_are_the_calls_error_at_every_form(form: str) -> None:
    mon = _monitor()

    def sync(a: int, b: int = 2, /, *, c: int) -> int:
        return a + b + c

    async def coro(a: int, b: int = 2, /, *, c: int) -> int:
        return a + b + c

    def gen(a: int, b: int = 2, /, *, c: int) -> Iterator[int]:
        yield a + b + c

    async def agen(a: int, b: int = 2, /, *, c: int) -> AsyncIterator[int]:
        yield a + b + c

    bare = {"sync": sync, "async": coro, "generator": gen, "async generator": agen}[form]
    wrapped = mon.inference(model="m")(bare)
    assert _exact(wrapped)

    def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return _run(form, fn, *args, **kwargs)

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((1,), {"c": 3}), ((1, 2), {"c": 3}), ((), {"c": 3}), ((1,), {}), ((1, 2, 3), {"c": 3}),
        ((1,), {"c": 3, "d": 4}), ((), {"a": 1, "c": 3})]
    for args, kwargs in calls:
        assert _outcome(lambda a=args, k=kwargs: run(wrapped, *a, **k)) == \
            _outcome(lambda a=args, k=kwargs: run(bare, *a, **k))
    assert _counts(mon) == (7, 5, 0)


def test_parameters_named_like_the_wrappers_own_names() -> None:
    mon = _monitor()

    def f(CALL: int, RID: int, CAP: int = 1, *, FALLBACK: int = 2, pass_: int = 3) -> int:
        return CALL + RID + CAP + FALLBACK + pass_

    def g(_slo_fn: int) -> int:
        return _slo_fn

    wf, wg = mon.inference(model="m")(f), mon.inference(model="m")(g)
    assert _exact(wf) and not _exact(wg)            # a name of ours: the generic wrapper
    assert wf(10, 20) == 36 and wf(CALL=1, RID=1, CAP=1, FALLBACK=1, pass_=1) == 5
    assert wg(7) == 7 and wg(_slo_fn=8) == 8
    assert _counts(mon) == (4, 0, 0)


def test_metadata_and_methods() -> None:
    mon = _monitor()

    class Model:
        @mon.inference(model="m")
        def predict(self, x: int, scale: int = 2) -> int:
            """Doc."""
            return x * scale

    m = Model()
    assert m.predict(3) == 6 and Model.predict(m, 3, scale=3) == 9
    assert Model.predict.__name__ == "predict" and Model.predict.__doc__ == "Doc."
    assert Model.predict.__wrapped__.__qualname__.endswith("Model.predict")  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match=r"predict\(\) got multiple values for argument 'x'"):
        m.predict(1, x=2)                                           # type: ignore[misc]


@pytest.mark.parametrize("form", FORMS)
def test_the_wrapper_is_of_its_functions_kind_and_its_traceback_reads(form: str) -> None:
    mon = _monitor()
    ns: dict[str, Any] = {}
    exec({"sync": "def f(x):\n    raise KeyError(x)",
          "async": "async def f(x):\n    raise KeyError(x)",
          "generator": "def f(x):\n    raise KeyError(x)\n    yield",
          "async generator": "async def f(x):\n    raise KeyError(x)\n    yield"}[form], ns)
    wrapped = mon.inference(model="m")(ns["f"])
    assert _exact(wrapped)
    kinds = (inspect.iscoroutinefunction, inspect.isgeneratorfunction,
             inspect.isasyncgenfunction)
    assert [k(wrapped) for k in kinds] == [k(ns["f"]) for k in kinds]
    assert inspect.signature(wrapped) == inspect.signature(ns["f"])
    with pytest.raises(KeyError) as info:
        _run(form, wrapped, 1)
    lines = "".join(traceback.format_exception(info.value)).splitlines()
    if type(wrapped).__name__ == "Fn":          # stepped in C: no frame of ours at all
        assert not any("slo-agent" in line for line in lines)
        assert [line for line in lines if line.lstrip().startswith("File")][-1] \
            .endswith("in f")
        return
    at = next(i for i, line in enumerate(lines) if "<slo-agent wrapper of f #" in line)
    assert "_slo_" in lines[at + 1]              # the wrapper's own line, shown


@pytest.mark.parametrize("form", FORMS)
def test_a_broken_shard_never_reaches_the_caller(form: str) -> None:
    """An SDK failure at a call's start is counted and logged, and the call still runs."""
    mon = _monitor()

    def sync(x: int) -> int:
        return x + 1

    async def coro(x: int) -> int:
        return x + 1

    def gen(x: int) -> Iterator[int]:
        yield x + 1
        return None

    async def agen(x: int) -> AsyncIterator[int]:
        yield x + 1

    wrapped = mon.inference(model="m")(
        {"sync": sync, "async": coro, "generator": gen, "async generator": agen}[form])
    assert _exact(wrapped)
    mon.all_series()[0].shards._tls.shard = object()     # no counters: every start fails
    got = _run(form, wrapped, 1)
    assert got == ([2] if "generator" in form else 2)
    assert mon.registry.get_sample_value("slo_agent_sdk_errors_total",
                                         {"service": "svc", "where": "start"}) == 1


def test_a_generators_protocol_passes_through_the_exact_wrapper() -> None:
    """send(), throw(), close() and the return value, a stream closed early, one that raises:
    each counted once, in flight back to 0."""
    mon = _monitor()

    @mon.inference(model="m")
    def echo(start: Any, *, stop: str = "stop") -> Any:
        got = start
        while True:
            try:
                got = yield got
            except KeyError:
                got = "handled"
            if got == stop:
                return "done"

    @mon.inference(model="m")
    def items(n: int, fail: bool = False) -> Iterator[int]:
        yield from range(n)
        if fail:
            raise ValueError("mid-stream")

    assert _exact(echo) and _exact(items)

    def outer() -> Any:
        result = yield from echo("s", stop="end")
        yield result

    o = outer()
    assert [next(o), o.send("a"), o.throw(KeyError()), o.send("end")] == \
        ["s", "a", "handled", "done"]
    g = items(5)
    assert next(g) == 0
    g.close()                                                  # closed early: still a call
    with pytest.raises(ValueError, match="mid-stream"):
        list(items(2, fail=True))
    h = echo(0)
    next(h)
    with pytest.raises(IndexError):
        h.throw(IndexError("thrown in"))                       # not handled: the call's error
    assert list(items(3)) == [0, 1, 2]
    assert _counts(mon) == (5, 2, 0)


@pytest.mark.parametrize("generic", [False, True], ids=["exact", "generic"])
def test_an_async_call_cancelled_or_raising_balances(generic: bool) -> None:
    """A cancelled call (a coroutine, or a stream cancelled mid-way) is not an outcome and is no
    longer in flight; before, it stayed in flight for good. ``generic``: a fallback predicate
    keeps the ``(*args, **kwargs)`` wrapper."""
    mon = _monitor()
    opts: dict[str, Any] = {"fallback": lambda out: False} if generic else {}

    @mon.inference(model="m", **opts)
    async def slow(x: int) -> int:
        await asyncio.sleep(x)
        return x

    @mon.inference(model="m", **opts)
    async def boom(x: int) -> int:
        raise LookupError(x)

    @mon.inference(model="m", **opts)
    async def ticks(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0.001 if i == 0 else 10)
            yield i

    assert _exact(slow) is _exact(boom) is _exact(ticks) is not generic

    async def consume() -> None:
        async for _ in ticks(3):
            pass

    async def main() -> None:
        for coro in (slow(10), consume()):
            t = asyncio.create_task(coro)
            await asyncio.sleep(0.05)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
        with pytest.raises(LookupError):
            await boom(1)
        assert await slow(0) == 0

    asyncio.run(main())
    assert _counts(mon) == (2, 1, 0)


def test_an_async_generators_protocol_passes_through_the_exact_wrapper() -> None:
    """asend(), athrow(), aclose(), a stream closed early, one that raises, one a value is sent
    into and that then ends: each counted once, in flight back to 0."""
    mon = _monitor()

    @mon.inference(model="m")
    async def echo(start: Any, *, stop: str = "stop") -> AsyncIterator[Any]:
        got = start
        while got != stop:
            try:
                got = yield got
            except KeyError:
                got = "handled"

    @mon.inference(model="m")
    async def items(n: int, fail: bool = False) -> AsyncIterator[int]:
        for i in range(n):
            yield i
        if fail:
            raise ValueError("mid-stream")

    assert _exact(echo) and _exact(items)

    async def main() -> list[Any]:
        g = echo("s", stop="end")
        out = [await g.__anext__(), await g.asend("a"), await g.athrow(KeyError())]
        with pytest.raises(StopAsyncIteration):
            await g.asend("end")                            # sent into, then ended: ok
        h = echo(0)
        await h.__anext__()
        await h.aclose()                                    # closed early: still a call
        k = echo(0)
        await k.__anext__()
        with pytest.raises(IndexError):
            await k.athrow(IndexError("thrown in"))         # not handled: the call's error
        with pytest.raises(ValueError, match="mid-stream"):
            [x async for x in items(2, fail=True)]
        return out + [x async for x in items(3)]

    assert asyncio.run(main()) == ["s", "a", "handled", 0, 1, 2]
    assert _counts(mon) == (5, 2, 0)
