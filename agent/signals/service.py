"""Service signals: request latency and streaming, errors, traffic, queues, caches, degradation
and circuit breakers — what the SDK's decorators and handles measure around each call."""

from __future__ import annotations

from agent import catalogue as cat
from agent.signals import inputs as inp
from agent.signals import promql as pq
from agent.signals.record import (
    Compute,
    Direction,
    Judge,
    Panel,
    Query,
    SignalKind,
    SignalRecord,
    SLIType,
)
from agent.spec.units import Unit

_UP, _DOWN = Direction.HIGHER_IS_WORSE, Direction.LOWER_IS_WORSE
_EV, _TS = SLIType.EVENTS, SLIType.TIMESLICES
_SCRAPED = ("model", "version", "scrape")    # scrape: a scrape target's own series (a preset)
_ALL = ("ok", "error", "fallback")
_INFRA = "infrastructure"
_ERRORS = pq.counter_events(cat.REQUESTS, f'outcome="{cat.OUTCOMES[1]}"')
_MISSES = pq.counter_events(cat.CACHE, 'result="miss"')
#: degradation levels by name (``monitor.degradation("cached")``), worst last
DEGRADATION_LEVELS = ("full", "limited", "cached", "minimal")
#: circuit-breaker states by name, as exported (0 closed, 1 half-open, 2 open)
BREAKER_STATES = ("closed", "half_open", "open")


def _quantile(kind: SignalKind, title: str, hist: cat.Metric, sketch: str, meaning: str,
              selectors: tuple[str, ...] = _SCRAPED, **kw: object) -> SignalRecord:
    return SignalRecord(
        kind, title, Unit.SECONDS, _UP, selectors, _EV, _INFRA, meaning, quantile=True,
        learnable=True, grafana_unit="s", value=pq.hist_quantile(hist),
        events=pq.hist_events(hist), source=pq.series(hist, "_count"),
        compute=Compute("sketch", {"attr": sketch}), inputs=inp.histogram(hist),
        **kw)  # type: ignore[arg-type]


def _states(names: tuple[str, ...]) -> str:
    return ", ".join(f"{i} {n.replace('_', '-')}" for i, n in enumerate(names))


RECORDS = (
    _quantile(SignalKind.LATENCY, "Inference latency", cat.LATENCY, "latency",
              "a quantile of the inference call's duration",
              default_warning="2x baseline", default_critical="5x baseline"),
    _quantile(SignalKind.TTFT, "Time to first token", cat.TTFT, "ttft",
              "a quantile of the time from call to the first streamed item",
              default_warning="2x baseline", default_critical="5x baseline"),
    _quantile(SignalKind.TIME_PER_OUTPUT_TOKEN, "Time per output token", cat.INTER_TOKEN, "tpot",
              "a quantile of the time between consecutive streamed items (inter-token latency, "
              "TPOT; vLLM's vllm:time_per_output_token_seconds)",
              default_warning="2x baseline", default_critical="5x baseline",
              note="streamed generations; `scrape` reads vLLM's histogram"),
    SignalRecord(SignalKind.ERROR_RATE, "Error rate", Unit.RATIO, _UP, _SCRAPED, _EV, _INFRA,
                 "share of calls that raised", default_warning="1%", default_critical="5%",
                 grafana_unit="percentunit", value=pq.ratio(_ERRORS), events=_ERRORS,
                 source=pq.series(cat.REQUESTS),
                 compute=Compute("counts", {"bad": cat.OUTCOMES[1], "of": _ALL}),
                 judge=Judge.BAD_RATIO,
                 inputs=inp.counter_ratio(cat.REQUESTS, "outcome", cat.OUTCOMES[1],
                                          cat.OUTCOMES[0])),
    SignalRecord(SignalKind.AVAILABILITY, "Availability", Unit.RATIO, _DOWN, _SCRAPED, _EV,
                 _INFRA, "share of calls that did not raise", default_warning="99%",
                 default_critical="95%", grafana_unit="percentunit",
                 value=pq.ratio(_ERRORS, good=True), events=_ERRORS,
                 source=pq.series(cat.REQUESTS),
                 compute=Compute("counts", {"bad": cat.OUTCOMES[1], "of": _ALL, "good": True}),
                 judge=Judge.GOOD_RATIO,
                 inputs=inp.counter_ratio(cat.REQUESTS, "outcome", cat.OUTCOMES[1],
                                          cat.OUTCOMES[0], good_share=True)),
    SignalRecord(SignalKind.QUEUE_DEPTH, "Queue depth", Unit.COUNT, _UP, ("queue", "scrape"),
                 _TS, _INFRA, "requests waiting, summed over queues and replicas",
                 learnable=True, default_warning="1000", default_critical="10000",
                 value=pq.gauge("sum", cat.QUEUE_DEPTH), source=pq.series(cat.QUEUE_DEPTH),
                 compute=Compute("queue"), inputs=inp.gauge(cat.QUEUE_DEPTH),
                 panel=Panel("Infrastructure", "Queue depth",
                             lambda m: f"sum by (queue) ({cat.QUEUE_DEPTH.name}{m})", "{{queue}}",
                             "Requests waiting per queue, summed over replicas; dashed at the "
                             "levels of the objective watching that queue.", order=5)),
    _quantile(SignalKind.QUEUE_WAIT, "Queue wait", cat.QUEUE_WAIT, "queue_wait",
              "a quantile of the time requests waited in a queue",
              selectors=("queue", "scrape")),
    SignalRecord(SignalKind.IN_FLIGHT, "In-flight requests", Unit.COUNT, _UP, _SCRAPED, _TS,
                 _INFRA, "calls running now, summed over replicas", learnable=True,
                 value=pq.gauge("sum", cat.IN_FLIGHT), source=pq.series(cat.IN_FLIGHT),
                 compute=Compute("in_flight"), inputs=inp.gauge(cat.IN_FLIGHT)),
    SignalRecord(SignalKind.THROUGHPUT, "Throughput", Unit.PER_SECOND, _DOWN, _SCRAPED, _TS,
                 _INFRA, "calls per second", learnable=True, grafana_unit="reqps",
                 value=lambda q: f"sum(rate({cat.REQUESTS.name}{q.m}[{q.w}]))",
                 source=pq.series(cat.REQUESTS),
                 compute=Compute("per_second", {"attrs": _ALL}),
                 inputs=inp.rate(cat.REQUESTS, {"outcome": cat.OUTCOMES[0]})),
    SignalRecord(SignalKind.CACHE_HIT_RATE, "Cache hit rate", Unit.RATIO, _DOWN, ("cache",),
                 _EV, _INFRA, "share of cache lookups that hit", grafana_unit="percentunit",
                 value=pq.ratio(_MISSES, good=True), events=_MISSES,
                 source=pq.series(cat.CACHE), compute=Compute("cache"), judge=Judge.GOOD_RATIO,
                 inputs=inp.counter_ratio(cat.CACHE, "result", "miss", "hit", good_share=True)),
    # discrete levels, judged "above": warning 0 = anything but full/closed
    SignalRecord(SignalKind.DEGRADATION_LEVEL, "Degradation level", Unit.COUNT, _UP, (), _TS,
                 _INFRA, "the level the service runs at, worst replica",
                 default_warning="0", default_critical="1", unit_text=_states(DEGRADATION_LEVELS),
                 note="levels are strictly above: 0 ok, 1 warning, 2-3 critical",
                 value=pq.gauge("max", cat.DEGRADATION), source=pq.series(cat.DEGRADATION),
                 compute=Compute("latest", {"table": "degradation", "selector": None,
                                            "what": "degradation level"}),
                 inputs=inp.gauge(cat.DEGRADATION)),
    SignalRecord(SignalKind.CIRCUIT_BREAKER_STATE, "Circuit breaker state", Unit.COUNT, _UP,
                 ("breaker",), _TS, _INFRA, "a circuit breaker's state, worst replica",
                 default_warning="0", default_critical="1", unit_text=_states(BREAKER_STATES),
                 note="strictly above: 0 ok, 1 warning, 2 critical",
                 value=pq.gauge("max", cat.BREAKER), source=pq.series(cat.BREAKER),
                 compute=Compute("latest", {"table": "breakers", "selector": "breaker",
                                            "what": "circuit-breaker state"}),
                 inputs=inp.gauge(cat.BREAKER)),
)

#: the discrete states a level-like kind is drawn with, by kind
STATE_NAMES = {SignalKind.DEGRADATION_LEVEL: DEGRADATION_LEVELS,
               SignalKind.CIRCUIT_BREAKER_STATE: BREAKER_STATES}

__all__ = ["BREAKER_STATES", "DEGRADATION_LEVELS", "RECORDS", "STATE_NAMES", "Query"]
