"""The signal registry: one record per kind, collected from the family modules.

Every consumer (spec model, rules, dashboards, promtool tests, sidecar evaluator, docs) reads
:data:`RECORDS`; a kind without a record fails at import, so no consumer falls through.
"""

from __future__ import annotations

from dataclasses import replace

from agent.signals import otel_names
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


def otlp_instruments(r: SignalRecord, http_only: bool = False) -> tuple[str, ...]:
    """The OpenTelemetry instruments the sidecar's OTLP door reads for a kind (only ``http.*``
    ones: ``http_only``), joined from the door's table (:mod:`.otel_names`) to the record: an
    instrument feeds a kind whose computation reads what it fills (a sketch, the bad outcome,
    or any of the counts it sums)."""
    p = r.compute.params
    out = []
    for i in otel_names.INSTRUMENTS:
        fills = set(otel_names.FILLS[i.role])
        if http_only and i.conventions != "http":
            continue
        if (r.compute.shape == "sketch" and p.get("attr") in fills) \
                or (r.compute.shape == "counts" and p.get("bad") in fills) \
                or (r.compute.shape == "per_second" and fills & set(p.get("attrs", ()))):
            out.append(i.name)
    return tuple(out)


def _with_otlp(r: SignalRecord) -> SignalRecord:
    """A kind the OTLP door feeds is produced by it too: the sidecar re-exports OTLP-fed
    models under the SDK's names (``sidecar/_otlp_series.py``)."""
    if not otlp_instruments(r) or Producer.OTLP in r.producers:
        return r
    return replace(r, producers=(*r.producers, Producer.OTLP))


RECORDS: dict[SignalKind, SignalRecord] = {
    r.kind: _with_otlp(r) for family in (_SERVICE, _INFRA, _DATA, _MODEL, _JOBS, _CUSTOM)
    for r in family}
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
    """The names a kind's series has outside our catalogue: the OpenTelemetry instrument the
    SDK exports it as (``otel``), the instruments the OTLP door reads for it (``otlp``) and
    each model-server preset's series (``vllm``, ``tgi`` ...)."""
    r = record(kind)
    out = {} if r.otel_name is None else {"otel": r.otel_name}
    if otlp_instruments(r):
        out["otlp"] = ", ".join(otlp_instruments(r))
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
           "SLIType", "SignalKind", "SignalRecord", "events_expr", "names_elsewhere",
           "otlp_instruments", "record", "value_expr"]
