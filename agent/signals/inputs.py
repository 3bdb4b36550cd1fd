"""Synthetic raw series for the generated promtool tests, by shape: a counter ratio, a
histogram, a gauge, a rate. A record picks one and says which metric and labels to feed, so the
test inputs of a kind live with the kind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent import catalogue as cat
from agent.signals.fleet import NEW, le_labels
from agent.signals.record import Fleet, Inputs

Segment = tuple[int, list[tuple[float, float]]]   # (ticks, [(value, share), ...])


@dataclass(frozen=True)
class Synth:
    """What an input builder is given about the objective and the test's clock."""

    base: Mapping[str, str]            # the objective's selector as labels
    tick: float                        # seconds per sample
    per_tick: float                    # requests per sample at full traffic
    bounds: Sequence[float] = ()       # finite histogram bounds the test needs
    dataset: bool = False
    alpha: float | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    fleet: Fleet | None = None          # SDK drift: the fleet rules' bins and levels


def num(x: float) -> str:
    return f"{x:.12g}"


def counter(increments: Sequence[tuple[int, float]]) -> str:
    """Per-tick increments per segment → promtool's 'a+bxn' notation, continuing the total."""
    parts, last = [], None
    for ticks, inc in increments:
        start = 0.0 if last is None else last + inc
        parts.append(f"{num(start)}+{num(inc)}x{ticks - 1}")
        last = start + (ticks - 1) * inc
    return " ".join(parts)


def gauge_values(values: Sequence[tuple[int, float | None]]) -> str:
    return " ".join(" ".join(["_"] * t) if v is None else f"{num(v)}+0x{t - 1}"
                    for t, v in values)


def series(name: str, labels: Mapping[str, str]) -> str:
    """``name{labels}``; the same few series recur in every test of an objective."""
    key = (name, *labels.items())
    got = _SERIES.get(key)
    if got is None:
        if len(_SERIES) >= _SERIES_CAP:
            _SERIES.clear()
        got = _SERIES[key] = name + cat.label_matchers(labels)
    return got


#: rendered series selectors, emptied past its cap
_SERIES: dict[tuple[Any, ...], str] = {}
_SERIES_CAP = 4096


def band(v: float) -> tuple[float, float]:
    return v * 0.99, v * 1.01


def counter_ratio(metric: cat.Metric, label: str, bad: str, good: str,
                  good_share: bool = False) -> Inputs:
    """Bad and good counters whose bad share (or good share) follows the segments."""
    def build(s: Synth, segments: Sequence[Segment]) -> list[dict[str, str]]:
        bad_inc, good_inc = [], []
        for ticks, dist in segments:
            r = 1.0 - dist[0][0] if good_share else dist[0][0]
            bad_inc.append((ticks, s.per_tick * dist[0][1] * r))
            good_inc.append((ticks, s.per_tick * dist[0][1] * (1.0 - r)))
        return [{"series": series(metric.name, {**s.base, label: bad}),
                 "values": counter(bad_inc)},
                {"series": series(metric.name, {**s.base, label: good}),
                 "values": counter(good_inc)}]
    return build


def histogram(hist: cat.Metric) -> Inputs:
    """Buckets holding each (value, share) in a narrow band around the value."""
    def build(s: Synth, segments: Sequence[Segment]) -> list[dict[str, str]]:
        out = []
        for le in [*s.bounds, math.inf]:
            incs = [(t, sum(s.per_tick * share for v, share in dist if band(v)[1] <= le))
                    for t, dist in segments]
            le_text = "+Inf" if math.isinf(le) else cat.le_value(le)
            out.append({"series": series(hist.name + "_bucket", {**s.base, "le": le_text}),
                        "values": counter(incs)})
        out.append({"series": series(hist.name + "_count", s.base),
                    "values": counter([(t, s.per_tick * sum(x for _, x in d))
                                       for t, d in segments])})
        return out
    return build


def rate(metric: cat.Metric, labels: Mapping[str, str]) -> Inputs:
    """A counter rising at the segment's value per second."""
    def build(s: Synth, segments: Sequence[Segment]) -> list[dict[str, str]]:
        return [{"series": series(metric.name, {**s.base, **labels}),
                 "values": counter([(t, d[0][0] * s.tick) for t, d in segments])}]
    return build


def gauge(metric: cat.Metric, labels: Mapping[str, str] | None = None,
          dataset: tuple[cat.Metric, Mapping[str, str]] | None = None,
          significance: tuple[cat.Metric, cat.Metric] | None = None,
          dataset_significance: tuple[cat.Metric, cat.Metric] | None = None) -> Inputs:
    """A gauge at the segment's value; a dataset-file objective reads ``dataset`` instead, and
    one with its own alpha reads effect x (p-value < alpha): significant throughout."""
    def build(s: Synth, segments: Sequence[Segment]) -> list[dict[str, str]]:
        name, extra = metric, dict(labels or {})
        sig = significance
        if s.dataset and dataset is not None:
            name, extra = dataset[0], dict(dataset[1])
            sig = dataset_significance
        lab = {**extra, **s.base}
        values = gauge_values([(t, d[0][0]) for t, d in segments])
        if s.alpha is not None and sig is not None:
            effect, p_value = sig
            return [{"series": series(effect.name, lab), "values": values},
                    {"series": series(p_value.name, lab),
                     "values": gauge_values([(t, 0.0) for t, _ in segments])}]
        return [{"series": series(name.name, lab), "values": values}]
    return build


REPLICAS = ("replica-a", "replica-b")


def _split(share: float) -> tuple[float, float]:
    """Two replicas' shares whose mean is ``share``: only the sum shows the objective's value."""
    return (share / 2, share * 1.5) if share * 1.5 <= 1 else (share, share)


def _replica(labels: Mapping[str, str], i: int) -> dict[str, str]:
    return {**labels, "instance": REPLICAS[i]}


def rank_counts(feature: str, fallback: Inputs,
                watched: tuple[cat.Metric, cat.Metric] | None = None) -> Inputs:
    """Two replicas' rank histograms whose summed window has KS distance = the segment's value
    against a reference on its exact quantiles: window share at edge q = q + s (1 - q), so the
    distance is largest at the first edge; the replicas carry s/2 and 3s/2 of the shift. The
    reference size makes a calibrated level sit between the tests' quiet and firing values
    (0.75 x the warning level for large windows). ``watched``: the per-replica (score, effect)
    gauges the no-data alert watches, exported at 0."""
    def build(s: Synth, segments: Sequence[Segment]) -> list[dict[str, str]]:
        f = s.fleet
        if s.dataset or f is None:
            return fallback(s, segments)
        les = le_labels(f.bins)
        qs = [float(q) for q in les[:-1]]
        labels = {"feature": feature, **s.base}
        if f.calibration is not None and f.level:
            c = math.sqrt(-math.log((1 - f.calibration) / 2) / 2)
            m = (c / (0.75 * f.level)) ** 2
        else:
            m = 1e6
        hist, ref = cat.DRIFT_WINDOW_RANK.name, cat.DRIFT_REFERENCE_RANK.name
        out = []
        for i in range(len(REPLICAS)):
            lab = _replica(labels, i)
            shifts = [_split(d[0][0] / (1 - qs[0]))[i] for _, d in segments]
            half = s.per_tick / 2
            total = sum(t for t, _ in segments)
            for le, q in zip(les, [*qs, 1.0], strict=True):
                incs = [(t, half * (q + sh * (1 - q)))
                        for (t, _), sh in zip(segments, shifts, strict=True)]
                out.append({"series": series(hist + "_bucket", {**lab, "le": le}),
                            "values": counter(incs)})
                out.append({"series": series(ref + "_bucket", {**lab, "le": le}),
                            "values": f"{num(q * m)}+0x{total - 1}"})
            out.append({"series": series(hist + "_count", lab),
                        "values": counter([(t, half) for t, _ in segments])})
            out.append({"series": series(ref + "_count", lab), "values": f"{num(m)}+0x{total - 1}"})
            if watched is not None:
                gauge_metric = watched[1] if s.alpha is not None else watched[0]
                out.append({"series": series(gauge_metric.name, {**lab, "test": "ks"}),
                            "values": f"0+0x{total - 1}"})
        return out
    return build


def category_counts(fallback: Inputs) -> Inputs:
    """Two replicas' category counters whose summed window holds the segment's share of new
    categories (``__new__``), the rest in one reference category."""
    def build(s: Synth, segments: Sequence[Segment]) -> list[dict[str, str]]:
        if s.dataset or s.fleet is None:
            return fallback(s, segments)
        samples, ref = cat.DRIFT_CATEGORY_SAMPLES.name, cat.DRIFT_REFERENCE_CATEGORY.name
        labels = {"feature": "f", **s.base}
        total = sum(t for t, _ in segments)
        out = []
        for i in range(len(REPLICAS)):
            lab = _replica(labels, i)
            shares = [_split(d[0][0])[i] for _, d in segments]
            half = s.per_tick / 2
            for category, share in ((NEW, 0.0), ("c1", 1.0)):
                incs = [(t, half * (sh if category == NEW else 1 - sh))
                        for (t, _), sh in zip(segments, shares, strict=True)]
                out.append({"series": series(samples, {**lab, "category": category}),
                            "values": counter(incs)})
                out.append({"series": series(ref, {**lab, "category": category}),
                            "values": f"{num(share)}+0x{total - 1}"})
        return out
    return build
