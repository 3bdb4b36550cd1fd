"""Infrastructure signals read from the GPUs (NVML, or a scrape target's exporter)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import agent.signals.inputs as inp
from agent import catalogue as cat
from agent.signals.record import (
    Aggregation,
    Compute,
    Direction,
    Example,
    Inputs,
    Panel,
    Producer,
    SignalKind,
    SignalRecord,
    SLIType,
)
from agent.units import Unit

_UP, _TS = Direction.HIGHER_IS_WORSE, SLIType.TIMESLICES
_GPU = {"gpu": "0", "uuid": "GPU-test"}
_GPU_BYTES = 80e9
_NVML = (Producer.SIDECAR,)
_MAX = Aggregation.MAX


def _gpu_on(sources: Any) -> bool:
    """The sidecar reads NVML unless the spec turns the GPU off."""
    return bool(sources.gpu.mode != "off")


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
                 grafana_unit="percentunit", producers=(*_NVML, Producer.SCRAPE),
                 metric=cat.GPU_UTIL, aggregation=_MAX, fed_by=_gpu_on,
                 examples=(Example({}, "90%", "98%"),),
                 compute=Compute("gpu"), inputs=inp.gauge(cat.GPU_UTIL, _GPU)),
    SignalRecord(SignalKind.GPU_MEMORY_RATIO, "GPU memory used", Unit.RATIO, _UP, ("gpu",), _TS,
                 "infrastructure", "framebuffer memory used as a share of the card",
                 grafana_unit="percentunit", producers=_NVML, metric=cat.GPU_MEM_USED,
                 aggregation=_MAX, fed_by=_gpu_on, examples=(Example({}, "80%", "95%"),),
                 value=lambda q: _MAX.promql(f"{cat.GPU_MEM_USED.name}{q.m} / "
                                             f"{cat.GPU_MEM_TOTAL.name}{q.m}"),
                 compute=Compute("gpu"), inputs=_mem_inputs),
    SignalRecord(SignalKind.GPU_TEMPERATURE, "GPU temperature", Unit.CELSIUS, _UP, ("gpu",),
                 _TS, "infrastructure", "core temperature of the hottest GPU",
                 grafana_unit="celsius", producers=_NVML, metric=cat.GPU_TEMP, aggregation=_MAX,
                 fed_by=_gpu_on, examples=(Example({}, "80", "90"),),
                 compute=Compute("gpu"), inputs=inp.gauge(cat.GPU_TEMP, _GPU)),
    # a model server's own gauge (vLLM's vllm:gpu_cache_usage_perc, a 0-1 share), read through
    # its preset and re-exported by the sidecar per scrape target
    SignalRecord(SignalKind.KV_CACHE_USAGE, "KV cache usage", Unit.RATIO, _UP, ("scrape",),
                 _TS, "infrastructure", "share of the model server's KV cache in use, worst "
                 "engine behind the target", required=("scrape",), default_warning="90%",
                 default_critical="98%", grafana_unit="percentunit",
                 note="a model server's own gauge (`scrape`, e.g. the vllm preset)",
                 producers=(Producer.SCRAPE,), metric=cat.KV_CACHE_USAGE, aggregation=_MAX,
                 reexport=True, examples=(Example({"scrape": "vllm"}, "90%", "98%"),)),
)

PANELS = {
    SignalKind.GPU_UTILIZATION: Panel(
        "Infrastructure", 8, "GPU utilisation", None, "GPU {{gpu}}",
        "Busy-time share per GPU (NVML); dashed at the GPU objective's levels.", by="gpu"),
    SignalKind.GPU_MEMORY_RATIO: Panel(
        "Infrastructure", 9, "GPU memory used",
        lambda m: _MAX.promql(f"{cat.GPU_MEM_USED.name}{m} / {cat.GPU_MEM_TOTAL.name}{m}",
                              "gpu"),
        "GPU {{gpu}}", "Framebuffer memory used per GPU as a share of its size; dashed at the "
        "GPU objective's levels."),
    SignalKind.GPU_TEMPERATURE: Panel(
        "Infrastructure", 10, "GPU temperature", None, "GPU {{gpu}}",
        "Core temperature per GPU; dashed at the GPU objective's levels.", by="gpu"),
    SignalKind.KV_CACHE_USAGE: Panel(
        "Infrastructure", 10.5, "KV cache usage", None, "{{source}}",
        "Share of each model server's KV cache in use (the worst engine behind the scrape "
        "target, as the sidecar last read it); dashed at the levels of the objective "
        "watching that server.", by="source"),
}

RECORDS = tuple(replace(r, panel=PANELS.get(r.kind)) for r in _RECORDS)
