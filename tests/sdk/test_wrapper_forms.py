"""Every stream wrapper the templates of agent/sdk/wrappers.py make passes the generator protocol
through, whatever the options: items timed or not (a spec with or without a TTFT objective) and
the cold part on no call, on every call (a fallback predicate) or on sampled ones (features).
Before the templates were one, a stream not timed but with a cold part dropped a value thrown
or sent into it (its step-by-step loop took the next item instead)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agent.sdk import Monitor
from agent.spec import parse_spec

LATENCY_ONLY = parse_spec({"service": "svc", "models": [{"name": "m", "version": "v1"}],
                           "objectives": [{"name": "lat", "signal": "latency",
                                           "selector": {"model": "m"}, "warning": "1s"}]})
OPTIONS: dict[str, dict[str, Any]] = {
    "no cold part": {},
    "fallback predicate": {"fallback": lambda out: out == "fell back"},
    "sampled features": {"features": lambda *a, **k: {"n": len(a) + len(k)}},
}


def _monitor(timed: bool) -> Monitor:
    mon = Monitor(None if timed else LATENCY_ONLY, service="svc", registry=CollectorRegistry(),
                  sidecar_url="", sample_rate=1.0)
    assert mon.stream_timings is timed
    return mon


def _counts(mon: Monitor) -> tuple[int, int, int, int]:
    """(finished calls, errors, in flight, fallbacks) of the monitor's one series."""
    total = mon.all_series()[0].shards.total()
    return total.count, total.errors, total.in_flight, total.fallbacks


@pytest.mark.parametrize("timed", [False, True], ids=["untimed", "timed"])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_a_generators_protocol_passes_through_every_wrapper(timed: bool, option: str) -> None:
    mon = _monitor(timed)
    opts = OPTIONS[option]

    @mon.inference(model="m", **opts)
    def echo(start: Any) -> Iterator[Any]:       # returns None: iterated by the ``for`` loop
        got = start
        while got != "stop":
            try:
                got = yield got
            except KeyError:
                got = "handled"
        yield "fell back"

    @mon.inference(model="m", **opts)
    def counted(n: int) -> Any:                  # returns a value: step by step from its start
        yield from range(n)
        return n * 10

    def outer() -> Any:
        total = yield from counted(3)
        yield total

    g = echo("s")
    assert [next(g), g.throw(KeyError()), g.send("a"), next(g), g.send("stop")] == \
        ["s", "handled", "a", None, "fell back"]
    assert list(g) == []
    h = echo(0)
    assert [next(h), h.send("a"), h.throw(KeyError())] == [0, "a", "handled"]
    h.close()                                    # closed early: still a call
    k = echo(0)
    next(k)
    with pytest.raises(IndexError):
        k.throw(IndexError("thrown in"))         # not handled: the call's error
    assert list(outer()) == [0, 1, 2, 30]
    c = counted(2)
    assert [next(c), c.send(None)] == [0, 1]
    with pytest.raises(StopIteration) as stop:
        next(c)
    assert stop.value.value == 20
    fallbacks = 1 if option == "fallback predicate" else 0
    assert _counts(mon) == (5, 1, 0, fallbacks)


@pytest.mark.parametrize("timed", [False, True], ids=["untimed", "timed"])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_an_async_generators_protocol_passes_through_every_wrapper(timed: bool, option: str
                                                                   ) -> None:
    mon = _monitor(timed)

    @mon.inference(model="m", **OPTIONS[option])
    async def echo(start: Any) -> AsyncIterator[Any]:
        got = start
        while True:
            try:
                got = yield got
                if got == "stop":
                    yield "fell back"
                    return
            except KeyError:
                got = "handled"

    async def main() -> list[Any]:
        g = echo("s")
        out = [await g.__anext__(), await g.athrow(KeyError()), await g.asend("a"),
               await g.__anext__(), await g.asend("stop")]
        out += [x async for x in g]
        h = echo(0)
        out += [await h.__anext__(), await h.asend("a"), await h.athrow(KeyError())]
        await h.aclose()                         # closed early: still a call
        k = echo(0)
        await k.__anext__()
        with pytest.raises(IndexError):
            await k.athrow(IndexError("thrown in"))
        return out

    assert asyncio.run(main()) == ["s", "handled", "a", None, "fell back", 0, "a", "handled"]
    fallbacks = 1 if option == "fallback predicate" else 0
    assert _counts(mon) == (3, 1, 0, fallbacks)
