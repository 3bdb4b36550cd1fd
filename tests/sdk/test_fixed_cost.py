"""What a decorated call pays for depends on what the spec uses (agent/sdk/decorator.py): the
request id is set in the context only where an objective reads user feedback (or the decorator
takes ``request_id=``, or no spec says otherwise); a stream's items are timed only where an
objective reads TTFT or inter-token time (or no spec says otherwise), and that per-item timing
goes through the thread's buffers, folded off the hot path into the same histograms and
sketches."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agent.sdk import Monitor
from agent.sdk.monitor import reads_feedback, reads_stream_timings
from agent.spec import parse_spec

MODELS = [{"name": "m", "version": "v1"}]


def _spec(*objectives: dict[str, Any]) -> Any:
    return parse_spec({"service": "svc", "models": MODELS, "objectives": list(objectives)})


LATENCY = {"name": "lat", "signal": "latency", "selector": {"model": "m"}, "warning": "1s",
           "critical": "2s"}
FEEDBACK = {"name": "unhappy", "signal": "negative_feedback_rate", "selector": {"model": "m"},
            "warning": "10%", "critical": "20%"}


TTFT = {"name": "first", "signal": "ttft", "quantile": "p95", "selector": {"model": "m"},
        "warning": "1s", "critical": "2s"}


def _monitor(spec: Any) -> Monitor:
    return Monitor(spec, registry=CollectorRegistry(), sidecar_url="", sample_rate=0)


def test_a_spec_without_feedback_objectives_sets_no_request_id(
        caplog: pytest.LogCaptureFixture) -> None:
    mon = _monitor(_spec(LATENCY))
    assert mon.request_ids is False

    @mon.inference(model="m")
    def f(x: int) -> int:
        return x

    def call() -> tuple[str | None, str | None]:   # in a fresh context: no id set before
        f(1)
        return mon.current_request_id(), mon.current_request_id()

    with caplog.at_level(logging.WARNING, logger="slo_agent.sdk"):
        assert contextvars.Context().run(call) == (None, None)
    said = [r for r in caplog.records if "request ids are tracked only" in r.getMessage()]
    assert len(said) == 1                                       # said once


def test_request_id_option_sets_the_id_for_its_function() -> None:
    mon = _monitor(_spec(LATENCY))

    @mon.inference(model="m", request_id=lambda x: f"order-{x}")
    def f(x: int) -> int:
        return x

    f(7)
    rid = mon.current_request_id()
    assert rid is not None
    mon.feedback("order-7", positive=False)          # the alias joins the call
    mon.feedback(rid, positive=True)


@pytest.mark.parametrize("spec", [_spec(LATENCY, FEEDBACK), None])
def test_a_feedback_objective_or_no_spec_tracks_ids(spec: Any) -> None:
    mon = _monitor(spec)
    assert mon.request_ids is True

    @mon.inference(model="m")
    def f(x: int) -> int:
        return x

    f(1)
    first = mon.current_request_id()
    f(2)
    assert first is not None and mon.current_request_id() not in (None, first)


def test_ids_stay_per_task_where_they_are_tracked() -> None:
    mon = _monitor(_spec(FEEDBACK))

    @mon.inference(model="m")
    async def infer(delay: float) -> str | None:
        await asyncio.sleep(delay)
        return mon.current_request_id()

    async def run() -> list[tuple[str | None, str | None]]:
        async def one(d: float) -> tuple[str | None, str | None]:
            return await infer(d), mon.current_request_id()
        return await asyncio.gather(*(one(d) for d in (0.03, 0.01, 0.02)))

    pairs = asyncio.run(run())
    assert all(a == b and a is not None for a, b in pairs) and len(set(pairs)) == 3


def test_custom_slis_on_the_feedback_counter_read_feedback() -> None:
    from agent import catalogue as cat

    custom = {"name": "c", "signal": "custom", "warning": "10%", "critical": "20%",
              "custom": {"value": f"sum(rate({cat.FEEDBACK.name}[{{{{.window}}}}]))",
                         "unit": "ratio"}}
    assert reads_feedback(_spec(custom))
    assert not reads_feedback(_spec(LATENCY))


def test_stream_timing_lands_in_the_histograms_through_the_buffers() -> None:
    mon = _monitor(None)

    @mon.inference(model="chat")
    def stream(n: int) -> Iterator[int]:
        for i in range(n):
            time.sleep(0.002)
            yield i

    @mon.inference(model="chat")
    async def astream(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0.002)
            yield i

    async def consume() -> list[int]:
        return [i async for i in astream(3)]

    assert list(stream(4)) == [0, 1, 2, 3]
    assert asyncio.run(consume()) == [0, 1, 2]
    (series,) = mon.all_series()
    sh = series.shards.local()
    assert len(sh.ttfts) == 2 and len(sh.gaps) == 3 + 2 and len(sh.lat) == 2   # buffered
    total = series.shards.total()                                # a reader folds them
    assert (total.ttft_count, total.inter_count, total.count) == (2, 5, 2)
    assert total.ttft_sum >= 0.004 and total.inter_sum >= 0.010
    assert total.sum >= total.ttft_sum + total.inter_sum
    assert sum(total.ttft_buckets) == 2 and sum(total.inter_buckets) == 5
    assert not sh.ttfts and not sh.gaps and not sh.lat
    sketches = series.shards.swap_sketches()
    assert sum(b.count for _, b in sketches) == 2               # the TTFT sketch ships too


def _value(mon: Monitor, name: str, **labels: str) -> float:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(mon.registry).decode()
    return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name == name and set(labels.items()) <= set(s.labels.items()))


def test_stream_timings_follow_the_spec() -> None:
    custom = {"name": "c", "signal": "custom", "warning": "1s", "critical": "2s",
              "custom": {"value": "histogram_quantile(0.9, sum by (le) (rate("
                                  "inference_inter_token_seconds_bucket[{{.window}}])))",
                         "unit": "seconds"}}
    assert reads_stream_timings(_spec(TTFT)) and reads_stream_timings(_spec(custom))
    assert not reads_stream_timings(_spec(LATENCY, FEEDBACK))
    assert _monitor(None).stream_timings and _monitor(_spec(TTFT)).stream_timings
    assert not _monitor(_spec(LATENCY)).stream_timings


@pytest.mark.parametrize("spec", [_spec(LATENCY), _spec(TTFT)], ids=["untimed", "timed"])
def test_a_stream_is_one_call_whether_or_not_its_items_are_timed(spec: Any) -> None:
    """Without a TTFT / inter-token objective a generator is handed to ``yield from`` whole:
    items, send(), throw(), close() and the return value pass through, and the stream is still
    one call with its latency and outcome; with one, its first item and gaps are timed too."""
    mon = _monitor(spec)
    timed = mon.stream_timings

    @mon.inference(model="m")
    def stream(n: int, fail: bool = False) -> Iterator[int]:
        for i in range(n):
            time.sleep(0.001)
            yield i
        if fail:
            raise RuntimeError("mid-stream")

    @mon.inference(model="m")
    def echo() -> Any:
        got = None
        while True:
            try:
                got = yield got
            except KeyError:
                got = "handled"
            if got == "stop":
                return "done"

    def outer() -> Any:
        result = yield from echo()
        yield result

    assert list(stream(3)) == [0, 1, 2]
    boom = None
    try:
        list(stream(2, fail=True))
    except RuntimeError as exc:
        boom = exc
    assert boom is not None and str(boom) == "mid-stream"
    g = stream(10)
    next(g)
    g.close()                                       # stopped early: a call all the same
    o = outer()
    assert [next(o), o.send("a"), o.throw(KeyError()), o.send("stop")] == \
        [None, "a", "handled", "done"]
    h = echo()
    next(h)
    with pytest.raises(ValueError):
        h.throw(ValueError("thrown in"))            # not handled: the stream's error
    total = mon.all_series()[0].shards.total()
    assert total.count == 5 and total.sum >= 0.003
    assert _value(mon, "inference_requests_total", model="m", outcome="ok") == 3
    assert _value(mon, "inference_requests_total", model="m", outcome="error") == 2
    assert _value(mon, "inference_errors_total", error_type="ValueError") == 1
    assert _value(mon, "inference_in_flight_requests", model="m") == 0
    # first items: stream(3), stream(2), stream(10), echo() twice; gaps: 2 + 1 + 0 + 2
    assert (total.ttft_count, total.inter_count) == ((5, 5) if timed else (0, 0))


@pytest.mark.parametrize("spec", [_spec(LATENCY), _spec(TTFT)], ids=["untimed", "timed"])
def test_an_async_stream_is_one_call_whether_or_not_its_items_are_timed(spec: Any) -> None:
    mon = _monitor(spec)

    @mon.inference(model="m")
    async def echo() -> AsyncIterator[Any]:
        got = None
        while True:
            try:
                got = yield got
            except KeyError:
                got = "handled"

    @mon.inference(model="m")
    async def astream(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0.001)
            yield i

    async def run() -> list[Any]:
        g = echo()
        out = [await g.__anext__(), await g.asend("a"), await g.athrow(KeyError())]
        await g.aclose()
        return out + [i async for i in astream(3)]

    assert asyncio.run(run()) == [None, "a", "handled", 0, 1, 2]
    total = mon.all_series()[0].shards.total()
    assert total.count == 2 and total.sum >= 0.003
    assert (total.ttft_count, total.inter_count) == ((2, 4) if mon.stream_timings else (0, 0))


@pytest.mark.parametrize("spec", [_spec(LATENCY), _spec(TTFT)], ids=["untimed", "timed"])
def test_a_stream_called_with_wrong_arguments_is_an_error_not_a_call_in_flight(spec: Any) -> None:
    """A generator function's arguments are bound when its first item is asked for (the
    wrapper is a generator too): a TypeError there is the call's error, as on a plain call."""
    mon = _monitor(spec)

    @mon.inference(model="m")
    def stream(n: int) -> Iterator[int]:
        yield n

    @mon.inference(model="m")
    async def astream(n: int) -> AsyncIterator[int]:
        yield n

    async def consume() -> list[int]:
        return [i async for i in astream()]        # type: ignore[call-arg]

    with pytest.raises(TypeError):
        list(stream())                               # type: ignore[call-arg]
    with pytest.raises(TypeError):
        asyncio.run(consume())
    assert _value(mon, "inference_in_flight_requests", model="m") == 0
    assert _value(mon, "inference_requests_total", model="m", outcome="error") == 2
    assert _value(mon, "inference_errors_total", error_type="TypeError") == 2
