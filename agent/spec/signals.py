"""The signal kinds an objective can watch, as the spec model sees them: the records of
:mod:`agent.signals` (unit, direction, selectors, baseline, SLI type, defaults). This module
only re-exports them under the names the spec has always used.
"""

from __future__ import annotations

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


__all__ = ["BREAKER_STATES", "DEGRADATION_LEVELS", "SELECTOR_KEYS", "SIGNALS", "Direction",
           "SLIType", "SignalInfo", "SignalKind", "signal"]
