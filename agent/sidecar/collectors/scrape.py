"""Scraping an existing Prometheus exposition and mapping its metrics onto signal kinds, so the
agent adds value next to a model server that has its own metrics (vLLM, TGI, Triton, TorchServe
through presets, or any exporter through explicit mappings).

Gauges (queue depth, in-flight, GPU, KV cache ...) combine over the matching series as the
kind's record aggregates them (queue depths add, a usage share takes the worst engine), as the
rules' PromQL does. Everything else is taken over the same window as the generated rules'
``rate(…[alerting.rate_window])``, from the scrapes inside it, so the sidecar and Prometheus judge
the same number: counters become a rate; histograms give the objective's quantile of the
increase; ``bad``/``good``/``total`` counters give an error ratio (with the event counts, so the
evaluator judges it like the SDK's); ``sum``/``count`` counters give a mean. A counter that went
down restarted and counts from zero.
"""

from __future__ import annotations

import base64
import itertools
import math
import os
import time
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from agent.redact import redact_url, scrub
from agent.signals import record
from agent.spec.document import ScrapeTarget
from agent.spec.reach import resolved_refusal
from agent.spec.signals import SignalKind
from agent.spec.sources import MetricMap

MAX_BYTES = 16 * 1024 * 1024
MAX_SAMPLES = 2048          # scrapes kept per series key (a 5m window at 1s scrapes is 300)
Sample = tuple[float, Any]  # (time, a counter's total or a histogram's cumulative buckets)


@dataclass
class ScrapeResult:
    up: bool
    duration: float
    error: str | None = None
    values: dict[SignalKind, float] = field(default_factory=dict)
    counts: dict[SignalKind, tuple[float, float]] = field(default_factory=dict)  # bad, total
    #: (bad, total) events counted since the scraper started, for the burn-rate windows: a
    #: ratio's counters, or a quantile's requests above the objective's SLI threshold
    events: dict[SignalKind, tuple[float, float]] = field(default_factory=dict)


def _matches(labels: dict[str, str], want: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in want.items())


class MissingCredential(Exception):
    """An auth variable the spec names is not set: a reported state, like a target down."""


def credentials(target: ScrapeTarget, url: str) -> tuple[str, dict[str, str]]:
    """The URL to request (without userinfo) and its Authorization header, from the target's
    ``auth`` variables or the URL's own ``user:password@`` (urllib sends neither by itself)."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    headers: dict[str, str] = {}
    if parts.username is not None:
        user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(user_pass.encode()).decode()
        url = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path,
                          parts.query, parts.fragment))
    auth = target.auth
    if auth is None:
        return url, headers

    def env(name: str) -> str:
        value = os.environ.get(name)
        if not value:
            raise MissingCredential(f"the environment variable {name} (sources.scrape."
                                    f"{target.name}.auth) is not set")
        return value

    if auth.bearer_token_env is not None:
        headers["Authorization"] = f"Bearer {env(auth.bearer_token_env)}"
    elif auth.username_env is not None and auth.password_env is not None:
        pair = f"{env(auth.username_env)}:{env(auth.password_env)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return url, headers


class Scraper:
    """Scrapes one target. ``target`` is the spec's target as shown (URL redacted: /status and
    the page read it); the real URL and credentials stay private to ``fetch``."""

    def __init__(self, target: ScrapeTarget, quantile: float = 0.95, window: float = 300.0,
                 quantiles: dict[SignalKind, float] | None = None,
                 thresholds: dict[SignalKind, float] | None = None) -> None:
        self._url = target.url
        self.target = target.model_copy(update={"url": redact_url(target.url)})
        self.quantile = quantile
        self.quantiles = dict(quantiles or {})      # an objective's own quantile per kind
        #: an objective's SLI threshold per quantile kind: its bad events are the requests
        #: above it, counted from the bucket the rules read (``le`` = the threshold)
        self.thresholds = dict(thresholds or {})
        self._events: dict[SignalKind, tuple[float, float]] = {}
        self.window = window
        self.mappings = target.mappings()
        self._seen: dict[str, deque[Sample]] = {}
        self.last: ScrapeResult | None = None
        self.next_at = 0.0

    def fetch(self) -> str:
        url, headers = credentials(self.target, self._url)
        if not self.target.allow_link_local:
            parts = urllib.parse.urlsplit(url)
            why = resolved_refusal(parts.hostname or "",
                                   parts.port or (443 if parts.scheme == "https" else 80))
            if why:
                raise PermissionError(f"not scraped: {why} (allow_link_local)")
        req = urllib.request.Request(url, headers={"Accept": "text/plain", **headers})
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
            result = ScrapeResult(True, 0.0)
            for kind, mapping in self.mappings.items():
                v = self._mapped(kind, mapping, families, now, result,
                                 self.quantiles.get(kind, self.quantile))
                if v is not None and math.isfinite(v):
                    result.values[kind] = v
                step = self._step_events(kind, mapping)
                if step is not None:
                    bad, total = self._events.get(kind, (0.0, 0.0))
                    self._events[kind] = (bad + step[0], total + step[1])
                    result.events[kind] = self._events[kind]
            result.duration = time.perf_counter() - t0
        except Exception as exc:   # down, timeout, garbage: a reported state
            error = scrub(f"{type(exc).__name__}: {exc}", self._url, self.target.url)
            result = ScrapeResult(False, time.perf_counter() - t0, error=error[:300])
        self.last = result
        return result

    # -- one mapping ------------------------------------------------------------------------------
    def _window(self, key: str, now: float, value: Any) -> tuple[list[Sample], float]:
        """The scrapes of ``key`` inside the window ending now (this one included) and the
        seconds they span."""
        seen = self._seen.setdefault(key, deque(maxlen=MAX_SAMPLES))
        seen.append((now, value))
        while len(seen) > 1 and seen[0][0] < now - self.window:
            seen.popleft()
        return list(seen), seen[-1][0] - seen[0][0]

    def _mapped(self, kind: SignalKind, m: MetricMap, families: dict[str, Any], now: float,
                result: ScrapeResult, quantile: float) -> float | None:
        if m.metric is not None:
            return self._value(kind, m.metric, m.labels, families, now, quantile)
        if m.sum is not None and m.count is not None:
            s = self._delta(f"{kind.value}:sum", m.sum, m.labels, families, now)
            c = self._delta(f"{kind.value}:count", m.count, m.labels, families, now)
            if s is None or c is None or c <= 0:
                return None
            return s / c * m.scale
        bad = None if m.bad is None else self._delta(
            f"{kind.value}:bad", m.bad, {**m.labels, **m.bad_labels}, families, now)
        good = None if m.good is None else self._delta(
            f"{kind.value}:good", m.good, m.labels, families, now)
        total = None if m.total is None else self._delta(
            f"{kind.value}:total", m.total, m.labels, families, now)
        if total is None and bad is not None and good is not None:
            total = bad + good
        if bad is None and good is not None and total is not None:
            bad = max(0.0, total - good)
        if bad is None or total is None:
            return None
        result.counts[kind] = (bad, total)
        return None if total <= 0 else min(1.0, bad / total)

    def _last_step(self, key: str) -> Any:
        """What ``key`` went up by since the previous scrape; None before a second scrape."""
        seen = self._seen.get(key)
        if seen is None or len(seen) < 2:
            return None
        a, b = seen[-2][1], seen[-1][1]
        if isinstance(b, dict):
            return _bucket_increase([a, b])
        return _increase([a, b])

    def _step_events(self, kind: SignalKind, m: MetricMap) -> tuple[float, float] | None:
        """(bad, total) events of the last scrape interval, as the rules count them: a ratio's
        counters, or the requests above the SLI threshold of a quantile's histogram."""
        if m.metric is not None:
            level = self.thresholds.get(kind)
            if level is None:
                return None
            inc = self._last_step(kind.value)
            if not isinstance(inc, dict) or not inc:
                return None
            total = inc[max(inc)]
            under = [le for le in inc if le <= level * (1 + 1e-9)]
            good = inc[max(under)] if under else 0.0
            return max(0.0, total - good), total
        if m.sum is not None:
            return None
        bad, good, total = (None if name is None else self._last_step(f"{kind.value}:{key}")
                            for key, name in (("bad", m.bad), ("good", m.good),
                                              ("total", m.total)))
        if total is None and bad is not None and good is not None:
            total = bad + good
        if bad is None and good is not None and total is not None:
            bad = max(0.0, total - good)
        return None if bad is None or total is None else (float(bad), float(total))

    def _typed(self, name: str, families: dict[str, Any]) -> tuple[Any, bool]:
        """(the family with samples, whether the metric is a counter): exporters differ on
        whether the TYPE line carries _total, and the parser then splits type and samples."""
        base = name.removesuffix("_total").removesuffix("_bucket")
        candidates = [families.get(n) for n in (name, base, base + "_total")]
        fam = next((f for f in candidates if f is not None and f.samples), None)
        counter = any(f is not None and f.type == "counter" for f in candidates)
        return fam, counter

    def _total(self, fam: Any, labels: dict[str, str]) -> float:
        return float(sum(s.value for s in fam.samples if not s.name.endswith("_created")
                         and _matches(s.labels, labels)))

    def _delta(self, key: str, name: str, labels: dict[str, str], families: dict[str, Any],
               now: float) -> float | None:
        """A counter's increase over the window (None until a second scrape)."""
        fam = self._typed(name, families)[0]
        if fam is None:
            return None
        samples, span = self._window(key, now, self._total(fam, labels))
        return None if span <= 0 else _increase([v for _, v in samples])

    def _value(self, kind: SignalKind, metric: str, labels: dict[str, str],
               families: dict[str, Any], now: float, quantile: float) -> float | None:
        key = kind.value
        fam, counter = self._typed(metric, families)
        if fam is None:
            return None
        if fam.type == "histogram":
            buckets: dict[float, float] = {}
            for s in fam.samples:
                if s.name.endswith("_bucket") and _matches(s.labels, labels):
                    le = float(s.labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + s.value
            samples, span = self._window(key, now, buckets)
            if span <= 0:
                return None
            return _bucket_quantile(quantile, _bucket_increase([v for _, v in samples]))
        if counter:
            samples, span = self._window(key, now, self._total(fam, labels))
            if span <= 0:
                return None
            inc, first = _increase([v for _, v in samples]), samples[0][1]
            # as the rules' rate(): a series younger than the window (its counter started
            # from zero inside it, a deploy) counts the time before it as no traffic; a series
            # that predates the sidecar's first scrape (the sidecar restarted) does not
            if inc > 0 and first * span / inc + span < self.window:
                return (inc + first) / self.window
            return inc / span
        if fam.type == "summary":
            return float(sum(s.value for s in fam.samples if s.name == fam.name + "_count"
                             and _matches(s.labels, labels)))
        # gauge / unknown: every sample is a value (its name may end in _count), combined as
        # the kind's record aggregates (the rules' PromQL does the same)
        return record(kind).aggregation.combine(
            s.value for s in fam.samples if _matches(s.labels, labels))


def _increase(values: list[float]) -> float:
    """A counter's increase over consecutive scrapes; a drop is a restart from zero."""
    return sum(b - a if b >= a else b for a, b in itertools.pairwise(values))


def _bucket_increase(values: list[dict[float, float]]) -> dict[float, float]:
    """Each cumulative bucket's increase over consecutive scrapes, restarts as above."""
    out: dict[float, float] = {}
    for a, b in itertools.pairwise(values):
        for le, c in b.items():
            before = a.get(le, 0.0)
            out[le] = out.get(le, 0.0) + (c - before if c >= before else c)
    return out


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
