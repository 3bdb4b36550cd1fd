"""The sidecar's metric families, built once per evaluation tick on the worker thread.

A scrape only yields the families published by the last tick (plus live ingest counters), so
/metrics never waits for statistics. Names come from the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from agent import catalogue as cat
from agent.sidecar.collectors.gpu import THROTTLE_REASONS, GPUReading
from agent.spec.model import Spec

if TYPE_CHECKING:
    from agent.sidecar.engine import Engine
    from agent.sidecar.evaluate import Result


def _fam(m: cat.Metric, extra: tuple[str, ...] = ()) -> Any:
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


def objective_families(spec: Spec, results: list[Result], transitions: dict[tuple[str, str], int],
                       guard: Callable[..., Any] | None = None
                       ) -> list[Any]:
    """Objective series; each objective is built on its own (through ``guard``), so one that
    fails is left out and the others stay live."""
    svc = spec.service
    fams = {m.name: _fam(m) for m in (cat.OBJECTIVE_VALUE, cat.OBJECTIVE_STATE,
                                      cat.OBJECTIVE_PENDING,
                                      cat.OBJECTIVE_WARNING, cat.OBJECTIVE_CRITICAL,
                                      cat.OBJECTIVE_BASELINE, cat.BUDGET_REMAINING,
                                      cat.BURN_RATE, cat.OBJECTIVE_TRANSITIONS)}
    signals = {o.name: o.signal.value for o in spec.objectives}

    def one(r: Result) -> list[tuple[str, list[str], float]]:
        labels = [svc, r.name, signals[r.name]]
        out = [(cat.OBJECTIVE_STATE.name, labels, float(r.status.rank))]
        if r.value is not None:
            out.append((cat.OBJECTIVE_VALUE.name, labels, float(r.value)))
        if r.pending is not None:
            out.append((cat.OBJECTIVE_PENDING.name, [*labels, r.pending["level"]],
                        float(r.pending["fires_at"])))
        for metric, level in ((cat.OBJECTIVE_WARNING, r.warning),
                              (cat.OBJECTIVE_CRITICAL, r.critical),
                              (cat.OBJECTIVE_BASELINE, r.baseline),
                              (cat.BUDGET_REMAINING, r.budget_remaining)):
            if level is not None:
                out.append((metric.name, labels, float(level)))
        for window, rate in sorted(r.burn_rates.items()):
            out.append((cat.BURN_RATE.name, [*labels, window], float(rate)))
        return out

    for r in results:
        rows = one(r) if guard is None else guard(f"objective {r.name}", [], one, r)
        for name, labels, value in rows:
            fams[name].add_metric(labels, value)
    for (name, to), n in sorted(transitions.items()):
        fams[cat.OBJECTIVE_TRANSITIONS.name].add_metric([svc, name, signals.get(name, ""), to],
                                                        float(n))
    return list(fams.values())


def gpu_families(spec: Spec, readings: list[GPUReading]) -> list[Any]:
    svc = spec.service
    out: dict[str, Any] = {}

    def add(m: cat.Metric, labels: list[str], value: float | None,
            extra: tuple[str, ...] = ()) -> None:
        if value is None:
            return
        fam = out.get(m.name)
        if fam is None:
            fam = out[m.name] = _fam(m)
        fam.add_metric(labels, value)

    for r in readings:
        base = [svc, str(r.index), r.uuid, r.name]
        add(cat.GPU_UTIL, base, r.utilization)
        add(cat.GPU_MEM_USED, base, r.memory_used)
        add(cat.GPU_MEM_TOTAL, base, r.memory_total)
        add(cat.GPU_TEMP, base, r.temperature)
        add(cat.GPU_POWER, base, r.power)
        add(cat.GPU_POWER_LIMIT, base, r.power_limit)
        add(cat.GPU_SM_CLOCK, base, r.sm_clock)
        add(cat.GPU_MEM_CLOCK, base, r.memory_clock)
        if r.throttle_mask is not None:
            for bit, reason in THROTTLE_REASONS.items():
                add(cat.GPU_THROTTLED, [*base, reason], float(bool(r.throttle_mask & bit)))
        add(cat.GPU_ECC, [*base, "corrected"], r.ecc_corrected)
        add(cat.GPU_ECC, [*base, "uncorrected"], r.ecc_uncorrected)
        for pid, name, used in r.processes:
            add(cat.GPU_PROCESS_MEM, [*base, str(pid), name], used)
    return list(out.values())


def dcgm_families(readings: list[GPUReading], hostname: str) -> list[Any]:
    """DCGM-exporter compatible series (gpu, UUID, device, modelName, Hostname labels)."""
    fams = {name: GaugeMetricFamily(name, help_, labels=list(cat.DCGM_LABELS))
            for name, (help_, _, _) in cat.DCGM.items()}
    for r in readings:
        labels = [str(r.index), r.uuid, f"nvidia{r.index}", r.name, hostname]
        for name, (_, field, scale) in cat.DCGM.items():
            value = getattr(r, field)
            if value is not None:
                fams[name].add_metric(labels, float(value) * scale)
    return [f for f in fams.values() if f.samples]


class Published(Collector):
    """Serves the families of the last tick plus live counters from the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Any]:
        return iter(())

    def collect(self) -> Iterator[Any]:
        eng = self.engine
        yield from eng.published
        svc = eng.spec.service
        for metric, table in ((cat.INGEST_BATCHES, eng.counters.batches),
                              (cat.INGEST_SAMPLES, eng.counters.samples),
                              (cat.INGEST_DROPPED, eng.counters.dropped),
                              (cat.SNAPSHOTS, eng.counters.snapshots),
                              (cat.WEBHOOKS, eng.counters.webhooks),
                              (cat.PUBLICATION_ERRORS, eng.counters.publish_errors),
                              (cat.CARDINALITY_OVERFLOW, eng.admission.report()["overflow"])):
            fam = _fam(metric)
            for key, value in sorted(table.items()):
                fam.add_metric([svc, key], value)
            yield fam
        if eng.published_at is not None:
            age = _fam(cat.PUBLICATION_AGE)
            age.add_metric([svc], max(0.0, eng.clock() - eng.published_at))
            yield age
        size = _fam(cat.SNAPSHOT_BYTES)
        size.add_metric([svc], float(eng.snapshot_bytes))
        yield size
        build = InfoMetricFamily(cat.BUILD_INFO.client_name, cat.BUILD_INFO.help,
                                 labels=[cat.SERVICE_LABEL])
        from agent import __version__

        build.add_metric([svc], {"version": __version__})
        yield build


class DCGMPublished(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Any]:
        return iter(())

    def collect(self) -> Iterator[Any]:
        yield from self.engine.published_dcgm
