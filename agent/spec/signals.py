"""The signal kinds an objective can watch, as the spec model sees them: the records of
:mod:`agent.signals` (unit, direction, selectors, baseline, SLI type, defaults). This module
only re-exports them under the names the spec has always used.
"""

from __future__ import annotations

from typing import Any

from agent.signals import (
    BREAKER_STATES,
    DEGRADATION_LEVELS,
    RECORDS,
    Direction,
    SignalKind,
    SignalRecord,
    SLIType,
    record,
)

SELECTOR_KEYS = ("model", "version", "feature", "column", "dataset", "gpu", "queue", "job",
                 "cache", "breaker", "objective", "scrape")
SignalInfo = SignalRecord
SIGNALS: dict[SignalKind, SignalRecord] = RECORDS


def signal(kind: SignalKind | str) -> SignalRecord:
    return record(kind)


def describe(r: SignalRecord) -> str:
    """One line for editors and docs: meaning, unit, direction and the default levels."""
    worse = "higher" if r.higher_is_worse else "lower"
    levels = ", ".join(f"default {name} {v}" for name, v in (
        ("warning", r.default_warning), ("critical", r.default_critical)) if v)
    return "; ".join(x for x in (r.meaning, f"unit: {r.docs_unit}", f"{worse} is worse",
                                  levels, r.note) if x)


def signal_json_schema() -> dict[str, Any]:
    """The JSON Schema of an objective's ``signal``, one described constant per record."""
    return {"type": "string", "enum": [k.value for k in RECORDS],
            "description": "the signal kind the objective watches",
            "oneOf": [{"const": k.value, "title": r.title, "description": describe(r)}
                      for k, r in RECORDS.items()]}


__all__ = ["BREAKER_STATES", "DEGRADATION_LEVELS", "SELECTOR_KEYS", "SIGNALS", "Direction",
           "SLIType", "SignalInfo", "SignalKind", "describe", "signal",
           "signal_json_schema"]
