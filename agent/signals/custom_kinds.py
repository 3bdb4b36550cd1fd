"""The custom kind: the team's own PromQL or SDK metric; its objective supplies the rest."""

from __future__ import annotations

from agent.signals.record import (
    Compute,
    Direction,
    Example,
    Producer,
    SignalKind,
    SignalRecord,
    SLIType,
)
from agent.units import Unit

RECORDS = (
    SignalRecord(SignalKind.CUSTOM, "Custom SLI", Unit.COUNT, Direction.HIGHER_IS_WORSE, (),
                 SLIType.TIMESLICES, "custom", "the team's own query or SDK metric",
                 unit_text="`custom.unit`",
                 note="your PromQL / SDK metric; direction `custom.higher_is_worse`",
                 producers=(Producer.SDK,), compute=Compute("custom"), examples=(
                     # an SDK counter (tested with synthetic inputs) ...
                     Example({}, "5/s", "1/s", {"custom": {
                         "counter": "orders_total", "unit": "per_second",
                         "higher_is_worse": False}}, name="counter"),
                     # ... and Sloth-style queries over the team's own series
                     Example({}, "1%", "5%", {"objective": "99.9%", "custom": {
                         "bad": 'sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))',
                         "total": "sum(rate(http_requests_total[{{.window}}]))"}},
                         name="events"))),
)
