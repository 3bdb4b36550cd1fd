"""Infrastructure signals read from the GPUs (NVML, or a scrape target's exporter)."""

from __future__ import annotations

from dataclasses import replace

import agent.signals.inputs as inp
import agent.signals.query_shapes as pq
from agent import catalogue as cat
from agent.signals.record import (
    Compute,
    Direction,
    Inputs,
    Panel,
    SignalKind,
    SignalRecord,
    SLIType,
)
from agent.units import Unit

_UP, _TS = Direction.HIGHER_IS_WORSE, SLIType.TIMESLICES
_GPU = {"gpu": "0", "uuid": "GPU-test"}
_GPU_BYTES = 80e9


def _memory_inputs(s: inp.Synth, segments: list[inp.Segment]) -> list[dict[str, str]]:
    """Used bytes at the segment's share of an 80 GB card, and the card's size."""
    labels = {**s.base, **_GPU}
    return [{"series": inp.series(cat.GPU_MEM_USED.name, labels),
             "values": inp.gauge_values([(t, d[0][0] * _GPU_BYTES) for t, d in segments])},
            {"series": inp.series(cat.GPU_MEM_TOTAL.name, labels),
             "values": inp.gauge_values([(t, _GPU_BYTES) for t, _ in segments])}]


_mem_inputs: Inputs = _memory_inputs

_RECORDS = (
    SignalRecord(SignalKind.GPU_UTILIZATION, "GPU utilisation", Unit.RATIO, _UP,
                 ("gpu", "scrape"), _TS, "infrastructure", "busy-time share of the busiest GPU",
                 grafana_unit="percentunit", value=pq.gauge("max", cat.GPU_UTIL),
                 source=pq.series(cat.GPU_UTIL), compute=Compute("gpu"),
                 inputs=inp.gauge(cat.GPU_UTIL, _GPU)),
    SignalRecord(SignalKind.GPU_MEMORY_RATIO, "GPU memory used", Unit.RATIO, _UP, ("gpu",), _TS,
                 "infrastructure", "framebuffer memory used as a share of the card",
                 grafana_unit="percentunit",
                 value=lambda q: (f"max({cat.GPU_MEM_USED.name}{q.m} / "
                                  f"{cat.GPU_MEM_TOTAL.name}{q.m})"),
                 source=pq.series(cat.GPU_MEM_USED), compute=Compute("gpu"),
                 inputs=_mem_inputs),
    SignalRecord(SignalKind.GPU_TEMPERATURE, "GPU temperature", Unit.CELSIUS, _UP, ("gpu",),
                 _TS, "infrastructure", "core temperature of the hottest GPU",
                 grafana_unit="celsius", value=pq.gauge("max", cat.GPU_TEMP),
                 source=pq.series(cat.GPU_TEMP), compute=Compute("gpu"),
                 inputs=inp.gauge(cat.GPU_TEMP, _GPU)),
)

PANELS = {
    SignalKind.GPU_UTILIZATION: Panel(
        "Infrastructure", 8, "GPU utilisation",
        lambda m: f"max by (gpu) ({cat.GPU_UTIL.name}{m})", "GPU {{gpu}}",
        "Busy-time share per GPU (NVML); dashed at the GPU objective's levels."),
    SignalKind.GPU_MEMORY_RATIO: Panel(
        "Infrastructure", 9, "GPU memory used",
        lambda m: f"max by (gpu) ({cat.GPU_MEM_USED.name}{m} / {cat.GPU_MEM_TOTAL.name}{m})",
        "GPU {{gpu}}", "Framebuffer memory used per GPU as a share of its size; dashed at the "
        "GPU objective's levels."),
    SignalKind.GPU_TEMPERATURE: Panel(
        "Infrastructure", 10, "GPU temperature",
        lambda m: f"max by (gpu) ({cat.GPU_TEMP.name}{m})", "GPU {{gpu}}",
        "Core temperature per GPU; dashed at the GPU objective's levels."),
}

RECORDS = tuple(replace(r, panel=PANELS.get(r.kind)) for r in _RECORDS)
