"""The series of OTLP-fed models, re-exported under the names the SDK exports from an inference
process (requests by outcome, the latency / TTFT / time-per-token histograms, tokens by type),
so the generated rules and dashboards read them as they read SDK-fed ones.

Histogram buckets sit on the catalogue's default bounds plus every level the spec names (as the
SDK places them), counted from the all-time sketches of :mod:`.state.otlp_totals`: exact to the
sketch's 1 % and the OTLP histogram's own bucket resolution. Error types are not re-exported
(only their total: ``outcome="error"``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from agent import catalogue as cat
from agent.families import family as _fam
from agent.sidecar.state.otlp_totals import OtlpTotals
from agent.spec.document import Spec
from detectors.sketch import QuantileSketch

HISTOGRAMS = {"latency": cat.LATENCY, "ttft": cat.TTFT, "tpot": cat.INTER_TOKEN}


def bounds(spec: Spec) -> list[float]:
    """The SDK's bounds: the defaults, the spec's levels and ``sdk.extra_buckets``."""
    levels = [*cat.DEFAULT_BUCKETS, *spec.latency_thresholds(), *spec.sdk.extra_buckets]
    return sorted({float(x) for x in levels if math.isfinite(x) and x > 0})


def _buckets(sk: QuantileSketch, edges: list[float]) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` of a sketch on ``edges`` (plus +Inf)."""
    keys = np.fromiter(sk.bins.keys(), dtype=np.float64, count=len(sk.bins))
    counts = np.fromiter(sk.bins.values(), dtype=np.float64, count=len(sk.bins))
    values = 2.0 * np.power(sk.gamma, keys) / (sk.gamma + 1.0)
    out = [(cat.le_value(b), float(sk.zeros + counts[values <= b].sum())) for b in edges]
    return [*out, ("+Inf", float(sk.count))]


def families(spec: Spec, totals: OtlpTotals) -> list[Any]:
    svc = spec.service
    requests, tokens = _fam(cat.REQUESTS), _fam(cat.TOKENS)
    hists = {attr: _fam(metric) for attr, metric in HISTOGRAMS.items()}
    edges = bounds(spec)
    for (model, version), t in sorted(totals.models.items()):
        if t.counts:
            for outcome in cat.OUTCOMES:       # every outcome from the start: rate() sees
                requests.add_metric([svc, model, version, outcome],   # the first error
                                    t.counts.get(outcome, 0.0))
        for ttype, n in sorted(t.tokens.items()):
            tokens.add_metric([svc, model, version, ttype], n)
        for attr, sk in sorted(t.sketches.items()):
            if attr in hists and sk.count:
                hists[attr].add_metric([svc, model, version], _buckets(sk, edges), sk.sum)
    return [f for f in (requests, tokens, *hists.values()) if f.samples]


__all__ = ["bounds", "families"]
