"""Service signals: request latency and streaming, errors, traffic, queues, caches, degradation
and circuit breakers — what the SDK's decorators and handles measure around each call."""

from __future__ import annotations

from dataclasses import replace

import agent.signals.inputs as inp
import agent.signals.query_shapes as pq
from agent import catalogue as cat
from agent.signals.record import (
    Aggregation,
    Compute,
    Direction,
    Example,
    Judge,
    Panel,
    Producer,
    Query,
    SignalKind,
    SignalRecord,
    SLIType,
)
from agent.units import Unit

_UP, _DOWN = Direction.HIGHER_IS_WORSE, Direction.LOWER_IS_WORSE
_SDK, _SCRAPE = (Producer.SDK,), (Producer.SDK, Producer.SCRAPE)
_MAX = Aggregation.MAX
_M = {"model": "m"}
_EV, _TS = SLIType.EVENTS, SLIType.TIMESLICES
_SCRAPED = ("model", "version", "scrape")    # scrape: a scrape target's own series (a preset)
_ALL = cat.OUTCOMES
_INFRA = "infrastructure"
_ERRORS = pq.counter_events(cat.REQUESTS, f'outcome="{cat.OUTCOMES[1]}"')
_HIT, _MISS = cat.CACHE_RESULTS
_MISSES = pq.counter_events(cat.CACHE, f'result="{_MISS}"')
#: degradation levels by name (``monitor.degradation("cached")``), worst last
DEGRADATION_LEVELS = ("full", "limited", "cached", "minimal")
#: circuit-breaker states by name, as exported (0 closed, 1 half-open, 2 open)
BREAKER_STATES = ("closed", "half_open", "open")


def _quantile(kind: SignalKind, title: str, hist: cat.Metric, sketch: str, meaning: str,
              selectors: tuple[str, ...] = _SCRAPED, **kw: object) -> SignalRecord:
    return SignalRecord(
        kind, title, Unit.SECONDS, _UP, selectors, _EV, _INFRA, meaning, quantile=True,
        learnable=True, grafana_unit="s", producers=_SCRAPE, metric=hist,
        value=pq.hist_quantile(hist), events=pq.hist_events(hist),
        source=pq.series(hist, "_count"),
        compute=Compute("sketch", {"attr": sketch}), inputs=inp.histogram(hist),
        **kw)  # type: ignore[arg-type]


def _states(names: tuple[str, ...]) -> str:
    return ", ".join(f"{i} {n.replace('_', '-')}" for i, n in enumerate(names))


_RECORDS = (
    _quantile(SignalKind.LATENCY, "Inference latency", cat.LATENCY, "latency",
              "a quantile of the inference call's duration",
              default_warning="2x baseline", default_critical="5x baseline",
              examples=(Example(_M, "250ms", "1s", {"quantile": "p95"}),)),
    _quantile(SignalKind.TTFT, "Time to first token", cat.TTFT, "ttft",
              "a quantile of the time from call to the first streamed item",
              default_warning="2x baseline", default_critical="5x baseline",
              examples=(Example(_M, "2x baseline", "5x baseline",
                                {"objective": "99%", "sli_threshold": "1s"}),)),
    _quantile(SignalKind.TIME_PER_OUTPUT_TOKEN, "Time per output token", cat.INTER_TOKEN, "tpot",
              "a quantile of the time between consecutive streamed items (inter-token latency, "
              "TPOT; vLLM's vllm:time_per_output_token_seconds)",
              default_warning="2x baseline", default_critical="5x baseline",
              note="streamed generations; `scrape` reads vLLM's histogram",
              examples=(Example(_M, "100ms", "250ms"),)),
    SignalRecord(SignalKind.ERROR_RATE, "Error rate", Unit.RATIO, _UP, _SCRAPED, _EV, _INFRA,
                 "share of calls that raised", default_warning="1%", default_critical="5%",
                 grafana_unit="percentunit", producers=_SCRAPE, metric=cat.REQUESTS,
                 examples=(Example(_M, "1%", "5%"),),
                 value=pq.ratio(_ERRORS), events=_ERRORS,
                 compute=Compute("counts", {"bad": cat.OUTCOMES[1], "of": _ALL}),
                 judge=Judge.BAD_RATIO,
                 inputs=inp.counter_ratio(cat.REQUESTS, "outcome", cat.OUTCOMES[1],
                                          cat.OUTCOMES[0])),
    SignalRecord(SignalKind.AVAILABILITY, "Availability", Unit.RATIO, _DOWN, _SCRAPED, _EV,
                 _INFRA, "share of calls that did not raise", default_warning="99%",
                 drawn_with=SignalKind.ERROR_RATE,
                 default_critical="95%", grafana_unit="percentunit", producers=_SCRAPE,
                 metric=cat.REQUESTS, examples=(Example(_M, "99%", "95%"),),
                 value=pq.ratio(_ERRORS, good=True), events=_ERRORS,
                 compute=Compute("counts", {"bad": cat.OUTCOMES[1], "of": _ALL, "good": True}),
                 judge=Judge.GOOD_RATIO,
                 inputs=inp.counter_ratio(cat.REQUESTS, "outcome", cat.OUTCOMES[1],
                                          cat.OUTCOMES[0], good_share=True)),
    SignalRecord(SignalKind.QUEUE_DEPTH, "Queue depth", Unit.COUNT, _UP, ("queue", "scrape"),
                 _TS, _INFRA, "requests waiting, summed over queues and replicas",
                 learnable=True, default_warning="1000", default_critical="10000",
                 producers=_SCRAPE, metric=cat.QUEUE_DEPTH, reexport=True,
                 examples=(Example({"queue": "q"}, "100", "1000"),),
                 compute=Compute("queue"), inputs=inp.gauge(cat.QUEUE_DEPTH)),
    _quantile(SignalKind.QUEUE_WAIT, "Queue wait", cat.QUEUE_WAIT, "queue_wait",
              "a quantile of the time requests waited in a queue",
              selectors=("queue", "scrape"),
              examples=(Example({"queue": "q"}, "100ms", "500ms", {"quantile": "p99"}),)),
    SignalRecord(SignalKind.IN_FLIGHT, "In-flight requests", Unit.COUNT, _UP, _SCRAPED, _TS,
                 _INFRA, "calls running now, summed over replicas", learnable=True,
                 producers=_SCRAPE, metric=cat.IN_FLIGHT,
                 examples=(Example(_M, "32", "64"),),
                 compute=Compute("in_flight"), inputs=inp.gauge(cat.IN_FLIGHT)),
    SignalRecord(SignalKind.THROUGHPUT, "Throughput", Unit.PER_SECOND, _DOWN, _SCRAPED, _TS,
                 _INFRA, "calls per second", learnable=True, grafana_unit="reqps",
                 producers=_SCRAPE, metric=cat.REQUESTS,
                 examples=(Example(_M, "5/s", "1/s"),),
                 value=lambda q: f"sum(rate({cat.REQUESTS.name}{q.m}[{q.w}]))",
                 compute=Compute("per_second", {"attrs": _ALL}),
                 inputs=inp.rate(cat.REQUESTS, {"outcome": cat.OUTCOMES[0]})),
    SignalRecord(SignalKind.CACHE_HIT_RATE, "Cache hit rate", Unit.RATIO, _DOWN, ("cache",),
                 _EV, _INFRA, "share of cache lookups that hit", grafana_unit="percentunit",
                 producers=_SDK, metric=cat.CACHE,
                 examples=(Example({"cache": "emb"}, "80%", "50%"),),
                 value=pq.ratio(_MISSES, good=True), events=_MISSES,
                 compute=Compute("cache"), judge=Judge.GOOD_RATIO,
                 status_detail="detail",
                 inputs=inp.counter_ratio(cat.CACHE, "result", _MISS, _HIT, good_share=True)),
    # discrete levels, judged "above": warning 0 = anything but full/closed
    SignalRecord(SignalKind.DEGRADATION_LEVEL, "Degradation level", Unit.COUNT, _UP, (), _TS,
                 _INFRA, "the level the service runs at, worst replica",
                 default_warning="0", default_critical="1", unit_text=_states(DEGRADATION_LEVELS),
                 states=DEGRADATION_LEVELS,
                 note="levels are strictly above: 0 ok, 1 warning, 2-3 critical",
                 producers=_SDK, metric=cat.DEGRADATION, aggregation=_MAX,
                 examples=(Example({}, "0", "1"),),
                 compute=Compute("latest", {"table": "degradation", "selector": None,
                                            "what": "degradation level"}),
                 inputs=inp.gauge(cat.DEGRADATION)),
    SignalRecord(SignalKind.CIRCUIT_BREAKER_STATE, "Circuit breaker state", Unit.COUNT, _UP,
                 ("breaker",), _TS, _INFRA, "a circuit breaker's state, worst replica",
                 default_warning="0", default_critical="1", unit_text=_states(BREAKER_STATES),
                 states=BREAKER_STATES,
                 note="strictly above: 0 ok, 1 warning, 2 critical",
                 producers=_SDK, metric=cat.BREAKER, aggregation=_MAX,
                 examples=(Example({"breaker": "ranker"}, "0", "1"),),
                 compute=Compute("latest", {"table": "breakers", "selector": "breaker",
                                            "what": "circuit-breaker state"}),
                 inputs=inp.gauge(cat.BREAKER)),
)

_I = "Infrastructure"
_RATE = "[$__rate_interval]"
_HIT_MATCHER = f'result="{_HIT}"'


def _quantile_panel(order: float, title: str, hist: cat.Metric) -> Panel:
    return Panel(_I, order, f"{title} p50 / p95 / p99", lambda m: f"{hist.name}_bucket{m}", "",
                 hist.help, style="quantile")


PANELS = {
    SignalKind.LATENCY: _quantile_panel(1, "Latency", cat.LATENCY),
    SignalKind.THROUGHPUT: Panel(
        _I, 2, "Throughput by outcome",
        lambda m: f"sum by (outcome) (rate({cat.REQUESTS.name}{m}{_RATE}))", "{{outcome}}",
        "Inference calls per second by outcome (ok, error, fallback); throughput objectives "
        "add their own line, dashed at their floors.", style="lines"),
    SignalKind.ERROR_RATE: Panel(
        _I, 3, "Error rate by type",
        lambda m: (f"sum by (error_type) (rate({cat.ERRORS.name}{m}{_RATE})) / "
                   f"scalar(sum(rate({cat.REQUESTS.name}{m}{_RATE})))"), "{{error_type}}",
        "Share of calls failing, per exception type; error-rate and availability objectives "
        "add their own line (all types), dashed at their levels.", style="lines"),
    SignalKind.IN_FLIGHT: Panel(
        _I, 4, "In-flight requests", None, "in flight",
        "Inference calls running now, summed over replicas; in-flight objectives add their "
        "own line, dashed at their levels.", style="lines"),
    SignalKind.QUEUE_DEPTH: Panel(
        _I, 5, "Queue depth", None,
        "{{queue}}", "Requests waiting per queue (a scrape target's under its name), summed "
        "over replicas; dashed at the levels of the objective watching that queue.",
        by="queue"),
    SignalKind.QUEUE_WAIT: _quantile_panel(6, "Queue wait", cat.QUEUE_WAIT),
    SignalKind.TTFT: _quantile_panel(7, "Time to first token", cat.TTFT),
    SignalKind.TIME_PER_OUTPUT_TOKEN: _quantile_panel(7.5, "Time per output token",
                                                      cat.INTER_TOKEN),
    SignalKind.CACHE_HIT_RATE: Panel(
        _I, 12, "Cache hit rate",
        lambda m: (f"sum by (cache) (rate({cat.CACHE.name}{pq.with_(m, _HIT_MATCHER)}"
                   f"{_RATE})) / sum by (cache) (rate({cat.CACHE.name}{m}{_RATE}))"),
        "{{cache}}", "Share of cache lookups that hit, per cache; cache objectives add their "
        "own line, dashed at their floors.", style="lines", raw_thresholds=True),
    SignalKind.DEGRADATION_LEVEL: Panel(
        _I, 13, "Degradation level", None, "level",
        "The level the service runs at (0 full, 1 limited, 2 cached, 3 minimal), worst "
        "replica; coloured as the degradation objective (or the defaults) judges it.",
        style="state"),
    SignalKind.CIRCUIT_BREAKER_STATE: Panel(
        _I, 14, "Circuit breakers", None, "{{breaker}}",
        "Circuit-breaker state per breaker (0 closed, 1 half-open, 2 open), worst replica; "
        "coloured as the breaker objective (or the defaults) judges it.",
        style="state", by="breaker"),
}
RECORDS = tuple(replace(r, panel=PANELS.get(r.kind)) for r in _RECORDS)

__all__ = ["BREAKER_STATES", "DEGRADATION_LEVELS", "RECORDS", "Query"]
