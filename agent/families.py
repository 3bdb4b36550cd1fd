"""The one metric-family factory, shared by the SDK's collector and the sidecar's exposition.

A leaf the base install can import (prometheus_client only, no numpy): a catalogue entry in,
an empty prometheus_client family of its type out, so both processes expose a catalogue
metric identically (counters without ``_total`` in the family name, info without ``_info``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    SummaryMetricFamily,
)


class MetricSpec(Protocol):
    """What the factory reads of a catalogue entry (``agent.catalogue.Metric``)."""

    @property
    def name(self) -> str: ...
    @property
    def client_name(self) -> str: ...
    @property
    def help(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def labels(self) -> Sequence[str]: ...


def family(m: MetricSpec, extra: Iterable[str] = ()) -> Any:
    """An empty family for ``m`` whose labels are the catalogue's plus ``extra``."""
    labels = [*m.labels, *extra]
    if m.type == "counter":
        return CounterMetricFamily(m.client_name, m.help, labels=labels)
    if m.type == "summary":
        return SummaryMetricFamily(m.name, m.help, labels=labels)
    if m.type == "histogram":
        return HistogramMetricFamily(m.name, m.help, labels=labels)
    if m.type == "info":
        return InfoMetricFamily(m.client_name, m.help, labels=labels)
    return GaugeMetricFamily(m.name, m.help, labels=labels)
