"""The custom kind: the team's own PromQL or SDK metric; its objective supplies the rest."""

from __future__ import annotations

from agent.signals.record import Compute, Direction, SignalKind, SignalRecord, SLIType
from agent.units import Unit

RECORDS = (
    SignalRecord(SignalKind.CUSTOM, "Custom SLI", Unit.COUNT, Direction.HIGHER_IS_WORSE, (),
                 SLIType.TIMESLICES, "custom", "the team's own query or SDK metric",
                 unit_text="`custom.unit`",
                 note="your PromQL / SDK metric; direction `custom.higher_is_worse`",
                 compute=Compute("custom")),
)
