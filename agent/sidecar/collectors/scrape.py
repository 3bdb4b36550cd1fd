"""Scraping an existing Prometheus exposition and mapping its metrics onto signal kinds, so the
agent adds value next to a model server that has its own metrics (Triton, vLLM, TGI ...).

Gauges (queue depth, in-flight, GPU ...) are summed over series; counters become a rate between
two scrapes; histograms give the spec's quantile of the increase between scrapes.
"""

from __future__ import annotations

import math
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from agent.spec.model import ScrapeTarget
from agent.spec.signals import SignalKind

MAX_BYTES = 16 * 1024 * 1024


@dataclass
class ScrapeResult:
    up: bool
    duration: float
    error: str | None = None
    values: dict[SignalKind, float] = field(default_factory=dict)


class Scraper:
    def __init__(self, target: ScrapeTarget, quantile: float = 0.95) -> None:
        self.target = target
        self.quantile = quantile
        self._last: dict[str, tuple[float, Any]] = {}
        self.last: ScrapeResult | None = None
        self.next_at = 0.0

    def fetch(self) -> str:
        req = urllib.request.Request(self.target.url, headers={"Accept": "text/plain"})
        with urllib.request.urlopen(req, timeout=self.target.timeout) as resp:
            body: bytes = resp.read(MAX_BYTES + 1)
        if len(body) > MAX_BYTES:
            raise ValueError(f"exposition larger than {MAX_BYTES} bytes")
        return body.decode("utf-8", errors="replace")

    def scrape(self, now: float | None = None) -> ScrapeResult:
        now = time.time() if now is None else now
        t0 = time.perf_counter()
        try:
            text = self.fetch()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            values = {}
            for kind, metric in self.target.metrics.items():
                v = self._value(kind, metric, families, now)
                if v is not None:
                    values[kind] = v
            result = ScrapeResult(True, time.perf_counter() - t0, values=values)
        except Exception as exc:   # down, timeout, garbage: a reported state
            result = ScrapeResult(False, time.perf_counter() - t0,
                                  error=f"{type(exc).__name__}: {exc}"[:300])
        self.last = result
        return result

    def _value(self, kind: SignalKind, metric: str, families: dict[str, Any], now: float
               ) -> float | None:
        base = metric.removesuffix("_total").removesuffix("_bucket")
        # exporters differ on whether the TYPE line carries _total; take the family with samples
        candidates = [families.get(n) for n in (metric, base, base + "_total")]
        fam = next((f for f in candidates if f is not None and f.samples), None)
        if fam is None:
            return None
        counter = fam.type == "counter" or any(
            f is not None and f.type == "counter" for f in candidates)
        if fam.type == "histogram":
            buckets: dict[float, float] = {}
            for s in fam.samples:
                if s.name.endswith("_bucket"):
                    le = float(s.labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + s.value
            prev = self._last.get(metric)
            self._last[metric] = (now, buckets)
            if prev is None:
                return None
            delta = {le: c - prev[1].get(le, 0.0) for le, c in buckets.items()}
            return _bucket_quantile(self.quantile, delta)
        if counter:
            total = sum(s.value for s in fam.samples if not s.name.endswith("_created"))
        elif fam.type in ("summary",):
            total = sum(s.value for s in fam.samples if s.name == fam.name + "_count")
        else:   # gauge / unknown: every sample is a value (its name may end in _count)
            total = sum(s.value for s in fam.samples)
        if counter:
            prev = self._last.get(metric)
            self._last[metric] = (now, total)
            if prev is None or now <= prev[0]:
                return None
            return max(0.0, total - prev[1]) / (now - prev[0])
        return total


def _bucket_quantile(q: float, cumulative: dict[float, float]) -> float | None:
    """histogram_quantile's linear interpolation inside the bucket holding rank q."""
    bounds = sorted(cumulative)
    if not bounds or cumulative[bounds[-1]] <= 0:
        return None
    total = cumulative[bounds[-1]]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        c = cumulative[b]
        if c >= rank:
            if math.isinf(b):
                return prev_bound
            if c == prev_count:
                return b
            return prev_bound + (b - prev_bound) * (rank - prev_count) / (c - prev_count)
        prev_bound, prev_count = b, c
    return prev_bound
