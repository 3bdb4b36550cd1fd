"""Exposition of the SDK's state through prometheus_client's own metric families.

Values live in per-thread shards (see ``values``); at scrape time they are summed into the standard
families, so the exposition format, escaping and content negotiation are prometheus_client's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from agent import catalogue as cat
from agent.families import family as _family

if TYPE_CHECKING:
    from agent.sdk.host import MonitorHost as Monitor


def _cumulative(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    out, acc = [], 0
    for bound, c in zip([*bounds, float("inf")], counts, strict=True):
        acc += c
        out.append((floatToGoString(bound), float(acc)))
    return out


class SDKCollector(Collector):
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def describe(self) -> Iterator[Metric]:
        """Names without samples, so a registry can detect duplicates without a collect."""
        for m in cat.SDK_METRICS:
            yield _family(m)

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._collect()
        except Exception:   # a scrape must never take the host down
            self.monitor.sdk_error("collect")

    def _collect(self) -> Iterator[Metric]:
        mon = self.monitor
        svc = mon.service
        requests, errors = _family(cat.REQUESTS), _family(cat.ERRORS)
        latency, inflight = _family(cat.LATENCY), _family(cat.IN_FLIGHT)
        ttft, inter = _family(cat.TTFT), _family(cat.INTER_TOKEN)
        for s in mon.all_series():
            t = s.shards.total()
            base = [svc, s.model, s.version]
            ok = t.count - t.errors - t.fallbacks
            for outcome, value in (("ok", ok), ("error", t.errors), ("fallback", t.fallbacks)):
                requests.add_metric([*base, outcome], float(value))
            for etype, value in sorted(s.error_types.items()):
                errors.add_metric([*base, etype], float(value))
            latency.add_metric(base, _cumulative(s.bounds, t.buckets), t.sum)
            inflight.add_metric(base, float(t.in_flight))
            if t.ttft_count:
                ttft.add_metric(base, _cumulative(s.bounds, t.ttft_buckets), t.ttft_sum)
            if t.inter_count:
                inter.add_metric(base, _cumulative(s.bounds, t.inter_buckets), t.inter_sum)
        yield from (requests, errors, latency, inflight, ttft, inter)

        tokens, cost = _family(cat.TOKENS), _family(cat.COST)
        for (model, version, ttype), c in sorted(mon.token_counters.items()):
            tokens.add_metric([svc, model, version, ttype], c.value)
        for (model, version), c in sorted(mon.cost_counters.items()):
            cost.add_metric([svc, model, version], c.value)
        feedback, score = _family(cat.FEEDBACK), _family(cat.FEEDBACK_SCORE)
        for (model, version, sentiment), c in sorted(mon.feedback_counters.items()):
            feedback.add_metric([svc, model, version, sentiment], c.value)
        for (model, version), h in sorted(mon.score_histograms.items()):
            buckets, total, _ = h.snapshot()
            score.add_metric([svc, model, version], _cumulative(h.bounds, buckets), total)
        yield from (tokens, cost, feedback, score)

        depth, wait = _family(cat.QUEUE_DEPTH), _family(cat.QUEUE_WAIT)
        for name, level in sorted(mon.queue_depths().items()):
            depth.add_metric([svc, name], level)
        for name, h in sorted(mon.queue_waits.items()):
            buckets, total, _ = h.snapshot()
            wait.add_metric([svc, name], _cumulative(h.bounds, buckets), total)
        yield from (depth, wait)

        cache, breaker = _family(cat.CACHE), _family(cat.BREAKER)
        for (name, result), looked in sorted(mon.cache_counters.items()):
            cache.add_metric([svc, name, result], looked.value)
        for name, level in sorted(mon.breakers.items()):
            breaker.add_metric([svc, name], level)
        degradation, by_tag = _family(cat.DEGRADATION), _family(cat.COST_BY_TAG)
        if mon.degradation_level is not None:
            degradation.add_metric([svc], mon.degradation_level)
        for (model, version, tag, tag_value), c in sorted(mon.tag_cost.items()):
            by_tag.add_metric([svc, model, version, tag, tag_value], c.value)
        yield from (cache, breaker, degradation, by_tag)
        for gname, v in sorted(mon.custom_gauges.items()):
            g = GaugeMetricFamily(gname, "custom gauge (monitor.gauge)",
                                  labels=[cat.SERVICE_LABEL])
            g.add_metric([svc], v)
            yield g
        for cname, own in sorted(mon.custom_counters.items()):
            k = CounterMetricFamily(cname, "custom counter (monitor.counter)",
                                    labels=[cat.SERVICE_LABEL])
            k.add_metric([svc], own.value)
            yield k

        dropped, shipped = _family(cat.SDK_DROPPED), _family(cat.SDK_SHIPPED)
        errs, overflow = _family(cat.SDK_ERRORS), _family(cat.SDK_OVERFLOW)
        for reason, c in sorted(mon.dropped.items()):
            dropped.add_metric([svc, reason], c.value)
        shipped.add_metric([svc], mon.shipped.value)
        for where, c in sorted(mon.errors.items()):
            errs.add_metric([svc, where], c.value)
        for metric, c in sorted(mon.overflow.items()):
            overflow.add_metric([svc, metric], c.value)
        yield from (dropped, shipped, errs, overflow)
