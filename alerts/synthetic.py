"""Synthetic raw series for the generated promtool tests, and Prometheus's template functions as
Go prints them: what the rule tests feed and expect.

The inputs are the *raw* series the SDK and sidecar export (counters, histograms, gauges), so a test
exercises the whole chain: raw series → recording rules → alert.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from agent.signals import inputs as inp
from agent.sli import Level, ObjectivePlan, prom_duration
from agent.spec.signals import SLIType
from agent.units import Unit
from alerts import custom_inputs
from detectors.rates import wilson_interval

RATE_PER_S = 10.0                 # synthetic traffic: 10 requests per second
Segment = inp.Segment

# --- Prometheus template functions, as Go prints them ---------------------------------------
def go_g(value: float, digits: int = 4) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.{digits}g}"


def humanize_duration(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return go_g(v)
    if v == 0:
        return f"{go_g(v)}s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        d = int(v)
        secs, mins, hours, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {hours}h {mins}m {secs}s"
        if hours:
            return f"{sign}{hours}h {mins}m {secs}s"
        if mins:
            return f"{sign}{mins}m {secs}s"
        return f"{sign}{go_g(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{go_g(v)}{prefix}s"


def expand(text: str, value: float) -> str:
    return (text.replace("{{ $value | humanizeDuration }}", humanize_duration(value))
            .replace("{{ $value | humanizePercentage }}", f"{go_g(value * 100)}%")
            .replace('{{ $value | printf "%.4g" }}', go_g(value))
            .replace('{{ $value | printf "%.1f" }}', f"{value:.1f}"))


# --- synthetic raw series -----------------------------------------------------------------
def _num(x: float) -> str:
    return f"{x:.12g}"


def tick_seconds(p: ObjectivePlan) -> float:
    """Sample and evaluation step of the generated tests: a minute where every window the rules
    use is a whole number of minutes, else the spec's evaluation interval (e.g. a demo's 1s)."""
    global _LAST_TICK
    last = _LAST_TICK              # asked ~50 times per objective, one objective at a time
    if last[0] is p:
        return last[1]
    a = p.spec.alerting
    windows = [a.rate_window] + [w for t in p.tiers for w in (t.long, t.short)]
    tick = 60.0 if all(w % 60 == 0 for w in windows) else max(1.0, min(60.0, a.evaluation_interval))
    _LAST_TICK = (p, tick)         # one tuple: a thread reads a consistent pair
    return tick


_LAST_TICK: tuple[Any, float] = (None, 0.0)


def _ticks(p: ObjectivePlan, seconds: float) -> int:
    return max(1, math.ceil(seconds / tick_seconds(p)))


def _at(p: ObjectivePlan, ticks: int) -> str:
    return prom_duration(ticks * tick_seconds(p))


def _per_tick(p: ObjectivePlan) -> float:
    return RATE_PER_S * tick_seconds(p)


def _series(name: str, labels: dict[str, str]) -> str:
    return inp.series(name, labels)


_band = inp.band


def _good_share(p: ObjectivePlan) -> bool:
    """An events SLI whose levels are good shares (availability, hit rate, job success): its
    synthetic segments carry the good share."""
    return p.sli_type is SLIType.EVENTS and not p.o.info.higher_is_worse


def synth(p: ObjectivePlan, segments: Sequence[Segment]) -> list[dict[str, str]]:
    """Raw input series whose signal value follows ``segments`` (value, share pairs per tick),
    built by the record of the objective's kind."""
    if p.o.custom is not None:      # an SDK metric, or the series the team's PromQL reads
        return custom_inputs.inputs(p, segments, tick_seconds(p))
    build = p.record.inputs
    if build is None:
        raise ValueError(f"{p.o.signal.value}: no promtool test inputs in its record")
    s = inp.Synth(dict(p.raw_labels), tick_seconds(p), _per_tick(p),
                  _bounds(p, segments) if p.o.info.quantile else (),
                  p.o.selector.dataset is not None, p.o.alpha, fleet=p.fleet)
    return build(s, list(segments))


# --- scenario levels ------------------------------------------------------------------------
# An assumed learned baseline for relative thresholds (the sidecar exports the resolved level).
_ASSUMED_BASELINE = {Unit.SECONDS: 0.1, Unit.RATIO: 0.01, Unit.COUNT: 10.0, Unit.EFFECT_SIZE: 0.1,
                     Unit.PER_SECOND: 10.0, Unit.CELSIUS: 50.0, Unit.USD: 1.0}


def level_value(p: ObjectivePlan, level: Level) -> float:
    if level.constant is not None:
        return level.constant
    if level.per_column is not None:      # the calibrated level the inputs export
        return level.threshold.value
    return level.threshold.value * _ASSUMED_BASELINE[p.o.info.unit]


def _ramping(p: ObjectivePlan) -> bool:
    """Rates ramp up over the first rate window of a series (Prometheus extrapolates from the
    first sample), so synthetic rate levels keep a wide margin from the threshold."""
    c = p.o.custom
    return c.counter is not None if c is not None else p.o.info.unit is Unit.PER_SECOND


def _beyond(p: ObjectivePlan, level: float, worse: bool) -> float:
    """A value clearly past (worse) or clearly inside (better) a level."""
    factor = 10.0 if _ramping(p) else 2.0
    higher_worse = p.o.info.higher_is_worse
    up = worse == higher_worse
    if up:
        v = level * factor if level > 0 else 1.0
        v = min(v, (level + 1) / 2) if p.o.info.unit is Unit.RATIO else v
    else:
        v = level / factor
    return _bound_past(p, level, v) if worse and p.bounded else v


def _bound_past(p: ObjectivePlan, level: float, value: float) -> float:
    """A ratio judged on its Wilson bound: the share moved on towards all-bad until the bound
    over one rate window of the synthetic traffic is clearly past the level too."""
    n = RATE_PER_S * p.spec.alerting.rate_window
    flip = not p.o.info.higher_is_worse          # a good share: its bad share is one minus
    bad, limit = (1 - value, 1 - level) if flip else (value, level)
    while bad < 0.999 and wilson_interval(bad * n, n)[0] <= limit * 1.25:
        bad = (bad + 1) / 2
    return 1 - bad if flip else bad


def _bounds(p: ObjectivePlan, segments: Sequence[Segment]) -> list[float]:
    """Finite bucket bounds of a synthetic histogram: each value's band, plus the SLI level."""
    bounds = {b for _, dist in segments for v, _ in dist for b in _band(v)}
    if p.o.good_threshold is not None:
        bounds.add(p.o.good_threshold)
    return sorted(bounds)


def _settle(p: ObjectivePlan) -> int:
    """Ticks for a change of input to fully leave the signal's value."""
    if p.settle is not None:
        return _ticks(p, p.settle) + 3
    return _ticks(p, p.spec.alerting.rate_window) + 3


def _shown_value(p: ObjectivePlan, v: float, segments: Sequence[Segment]) -> float:
    """What PromQL computes for a synthetic value: histogram_quantile interpolates linearly
    inside the bucket that holds every observation, from the bound below it."""
    if p.o.info.quantile:
        hi = _band(v)[1]
        lo = max((b for b in _bounds(p, segments) if b < hi), default=0.0)
        return lo + (hi - lo) * (p.o.quantile or 0.95)
    return v


def _healthy(p: ObjectivePlan) -> float:
    levels = [level_value(p, lv) for lv in p.levels]
    if p.o.good_threshold is not None:
        levels.append(p.o.good_threshold)
    if not levels:
        return 1.0
    worst = min(levels) if p.o.info.higher_is_worse else max(levels)
    return _beyond(p, worst, worse=False)


def _late(p: ObjectivePlan, gap: int, minutes: int) -> list[dict[str, str]]:
    """Series that start only after ``gap`` minutes: the first values are missing ('_')."""
    series = synth(p, [(minutes, [(_healthy(p), 1.0)])])
    return [{"series": s["series"], "values": " ".join(["_"] * gap) + " " + s["values"]}
            for s in series]
