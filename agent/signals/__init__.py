"""The signal registry: one record per kind, collected from the family modules.

Every consumer (spec model, rules, dashboards, promtool tests, sidecar evaluator, docs) reads
:data:`RECORDS`; a kind without a record fails at import, so no consumer falls through.
"""

from __future__ import annotations

from agent.signals.custom_kinds import RECORDS as _CUSTOM
from agent.signals.data_kinds import RECORDS as _DATA
from agent.signals.infra_kinds import RECORDS as _INFRA
from agent.signals.job_kinds import RECORDS as _JOBS
from agent.signals.model_kinds import RECORDS as _MODEL
from agent.signals.presets import preset_names
from agent.signals.record import (
    Aggregation,
    Compute,
    Direction,
    Example,
    Judge,
    Producer,
    Query,
    SignalKind,
    SignalRecord,
    SLIType,
)
from agent.signals.service_kinds import BREAKER_STATES, DEGRADATION_LEVELS
from agent.signals.service_kinds import RECORDS as _SERVICE

RECORDS: dict[SignalKind, SignalRecord] = {
    r.kind: r for family in (_SERVICE, _INFRA, _DATA, _MODEL, _JOBS, _CUSTOM) for r in family}
_missing = [k.value for k in SignalKind if k not in RECORDS]
if _missing:
    raise RuntimeError(f"signal kinds without a record: {', '.join(_missing)}")

#: the order consumers present kinds in (docs table, schema): the enum's
ORDERED = tuple(RECORDS[k] for k in SignalKind)
#: the discrete states a level-like kind is drawn with, by kind
STATE_NAMES = {r.kind: r.states for r in ORDERED if r.states}


def record(kind: SignalKind | str) -> SignalRecord:
    """The record of a kind; an unknown kind raises ValueError naming it."""
    return RECORDS[SignalKind(kind)]


def names_elsewhere(kind: SignalKind | str) -> dict[str, str]:
    """The names a kind's series has outside our catalogue: its OpenTelemetry instrument
    (``otel``) and each model-server preset's series (``vllm``, ``tgi`` ...)."""
    r = record(kind)
    out = {} if r.otel_name is None else {"otel": r.otel_name}
    return {**out, **preset_names(r.kind)}


def value_expr(kind: SignalKind, q: Query) -> str:
    """PromQL of a kind's value over the query's window, aggregated across replicas."""
    r = record(kind)
    if r.value is None:
        raise ValueError(f"{kind.value}: its PromQL comes from its objective")
    return r.value(q)


def events_expr(kind: SignalKind, q: Query) -> tuple[str, str]:
    """(bad, total) PromQL of an events SLI."""
    r = record(kind)
    if r.events is None:
        raise ValueError(f"{kind.value} is not an event-based signal")
    return r.events(q)


__all__ = ["BREAKER_STATES", "DEGRADATION_LEVELS", "ORDERED", "RECORDS", "STATE_NAMES",
           "Aggregation", "Compute", "Direction", "Example", "Judge", "Producer", "Query",
           "SLIType", "SignalKind", "SignalRecord", "events_expr", "names_elsewhere", "record",
           "value_expr"]
