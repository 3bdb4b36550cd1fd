"""Every decorator option works on every function shape: a callable ``fallback=`` and
``prediction=`` on a (async) generator receive the last item it yielded; a model the spec does
not name is said once at decoration."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agent.sdk import Monitor
from agent.spec import parse_spec


def _fallbacks(m: Monitor, model: str) -> float:
    s = next(s for s in m.all_series() if s.model == model)
    return float(s.shards.total().fallbacks)


def _predictions(m: Monitor, model: str) -> list[Any]:
    s = next(s for s in m.all_series() if s.model == model)
    return s.samples.take()[2]          # (columns, rows, predictions, dropped)


def _shapes(m: Monitor, model: str, fallback: Callable[[Any], Any],
            prediction: Callable[[Any], Any]) -> Callable[[str], Any]:
    """One function per shape, each producing the chunks 'a' then ``last``; a caller."""
    deco = m.inference(model=model, fallback=fallback, prediction=prediction,
                       features=lambda last: {"x": 1.0})

    if model == "sync":
        @deco
        def f(last: str) -> str:
            return last
        return f
    if model == "async":
        @deco
        async def af(last: str) -> str:
            return last
        return lambda last: asyncio.run(af(last))
    if model == "gen":
        @deco
        def g(last: str) -> Iterator[str]:
            yield "a"
            yield last
        return lambda last: list(g(last))

    @deco
    async def ag(last: str) -> AsyncIterator[str]:
        yield "a"
        yield last

    async def consume(last: str) -> list[str]:
        return [x async for x in ag(last)]
    return lambda last: asyncio.run(consume(last))


@pytest.mark.parametrize("shape", ["sync", "async", "gen", "agen"])
def test_callable_fallback_and_prediction_on_every_shape(shape: str) -> None:
    m = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url="")
    call = _shapes(m, shape, fallback=lambda out: out == "rules",
                   prediction=lambda out: f"pred:{out}")
    call("model")
    call("rules")
    call("model")
    assert _fallbacks(m, shape) == 1, shape           # the 'rules' answer was a fallback
    assert _predictions(m, shape) == ["pred:model", "pred:rules", "pred:model"], shape


def test_unknown_model_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    spec = parse_spec({"service": "svc", "models": [{"name": "clf"}], "objectives": []})
    m = Monitor(spec, registry=CollectorRegistry(), sidecar_url="")
    with caplog.at_level(logging.WARNING, logger="slo_agent.sdk"):
        for _ in range(3):
            m.inference(model="clff")(lambda x: x)(1)
        m.inference(model="clf")(lambda x: x)(1)
    said = [r.getMessage() for r in caplog.records if "clff" in r.getMessage()]
    assert len(said) == 1 and "clf" in said[0].replace("'clff'", ""), said
    assert not any("'clf'" in r.getMessage() and "not" in r.getMessage()
                   and "clff" not in r.getMessage() for r in caplog.records)


def test_feedback_for_an_unknown_request_id_is_said_once(
        caplog: pytest.LogCaptureFixture) -> None:
    m = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url="")
    m.inference(model="clf")(lambda x: x)(1)
    known = m.current_request_id()
    with caplog.at_level(logging.WARNING, logger="slo_agent.sdk"):
        m.feedback(known, positive=True)
        for i in range(3):
            m.feedback(f"no-such-id-{i}", positive=False)
    said = [r.getMessage() for r in caplog.records if "did not serve" in r.getMessage()]
    assert len(said) == 1 and "no-such-id-0" in said[0], said


@pytest.mark.parametrize("options", [
    {"fallback": "rules"}, {"fallback": (TimeoutError, "x")}, {"fallback": 3},
    {"prediction": "score"}, {"features": ["a", "b"]}, {"request_id": "id"}])
def test_options_of_the_wrong_kind_are_refused_when_applied(options: dict[str, Any]) -> None:
    m = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url="")
    with pytest.raises(TypeError, match=next(iter(options))):
        m.inference(model="m", **options)


@pytest.mark.parametrize("shape", ["sync", "async", "gen", "agen"])
def test_job_decorator_spans_the_whole_run_on_every_shape(shape: str) -> None:
    m = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url="http://127.0.0.1:1",
                flush_interval=3600)
    job = m.job("nightly")
    order: list[str] = []

    def seen() -> list[str]:    # a run's end is shipped at once: held by the shipper (down)
        assert m.shipper is not None
        held = [i for b in m.shipper._pending for i in b if i.get("type") == "job"]
        return [e["event"] for e in held + m._events]

    if shape == "sync":
        job(lambda: order.append(str(seen())))()
    elif shape == "async":
        async def a() -> None:
            order.append(str(seen()))
        asyncio.run(job(a)())
    elif shape == "gen":
        def g() -> Iterator[int]:
            order.append(str(seen()))
            yield 1
            raise ValueError("late failure")
        with pytest.raises(ValueError):
            list(job(g)())
    else:
        async def ag() -> AsyncIterator[int]:
            order.append(str(seen()))
            yield 1

        async def consume() -> list[int]:
            return [x async for x in job(ag)()]
        asyncio.run(consume())
    assert order == ["['start']"], (shape, order)       # the body ran inside the run
    want = "failure" if shape == "gen" else "success"
    assert seen() == ["start", want], shape
    m.close()
