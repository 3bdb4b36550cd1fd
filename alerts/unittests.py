"""promtool unit tests generated with the rules: for every alert, synthetic raw series that must
fire it, that must not, and that resolve it.

The inputs are the *raw* series the SDK and sidecar export (counters, histograms, gauges), so a test
exercises the whole chain: raw series → recording rules → alert. Expected annotations are the rule's
own, with ``$value`` expanded the way Prometheus's template functions print it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from agent import catalogue as cat
from agent.signals import inputs as inp
from agent.sli import Level, ObjectivePlan, prom_duration
from agent.spec.document import TierWindows
from agent.spec.signals import SLIType
from agent.units import Unit
from alerts import custom_inputs
from alerts.rules import absent_alert, burn_alert, threshold_alert

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
        return min(v, (level + 1) / 2) if p.o.info.unit is Unit.RATIO else v
    return level / factor


def _threshold_inputs(p: ObjectivePlan, level: Level, value: float) -> list[dict[str, str]]:
    """Sidecar-exported resolved thresholds, for levels relative to a learned baseline."""
    if level.constant is not None:
        return []
    build = p.record.column_level_inputs
    if level.per_column is not None and build is not None:
        s = inp.Synth(dict(p.raw_labels), tick_seconds(p), _per_tick(p),
                      dataset=p.o.selector.dataset is not None, fleet=p.fleet)
        return build(s, [(2001, [(value, 1.0)])])
    metric = cat.OBJECTIVE_WARNING if level.severity == "warning" else cat.OBJECTIVE_CRITICAL
    return [{"series": _series(metric.name, p.labels), "values": f"{_num(value)}+0x2000"}]


def _exp(rule: dict[str, Any], value: float | None, extra: dict[str, str] | None = None
         ) -> dict[str, Any]:
    labels = dict(extra or {})
    labels.update(rule["labels"])
    ann = {k: (expand(v, value) if value is not None else v)
           for k, v in rule["annotations"].items()}
    return {"exp_labels": labels, "exp_annotations": ann}


def threshold_tests(p: ObjectivePlan, level: Level) -> list[dict[str, Any]]:
    rule = threshold_alert(p, level)
    name = rule["alert"]
    lv = level_value(p, level)
    bad, good = _beyond(p, lv, worse=True), _beyond(p, lv, worse=False)
    rate_m = _ticks(p, p.spec.alerting.rate_window)
    warmup = rate_m + 2                     # ticks until the value reflects the input
    t_fire = warmup + _ticks(p, p.o.for_) + 3
    recover = _settle(p)
    t_resolve = t_fire + 1 + recover + 1
    total = t_resolve + 2
    extra = _threshold_inputs(p, level, lv)
    segments: list[Segment] = [(t_fire + 1, [(bad, 1.0)]), (total - t_fire - 1, [(good, 1.0)])]
    shown = _shown_value(p, bad, segments)
    return [
        {"name": f"{name}: fires past {level.text}, resolves when back",
         "interval": _at(p, 1),
         "input_series": synth(p, segments) + extra,
         "alert_rule_test": [
             {"eval_time": _at(p, t_fire), "alertname": name,
              "exp_alerts": [_exp(rule, shown, custom_inputs.result_labels(p, tick_seconds(p)))]},
             {"eval_time": _at(p, t_resolve), "alertname": name, "exp_alerts": []},
         ]},
        {"name": f"{name}: stays quiet inside {level.text}",
         "interval": _at(p, 1),
         "input_series": synth(p, [(total, [(good, 1.0)])]) + extra,
         "alert_rule_test": [{"eval_time": _at(p, t_fire), "alertname": name,
                              "exp_alerts": []}],
        },
    ]


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


def burn_tests(p: ObjectivePlan) -> list[dict[str, Any]]:
    tiers = p.tiers
    built = {id(t): burn_alert(p, t) for t in tiers}      # read, never changed, by _exp
    if not tiers:
        return []
    name = p.burn_alert_name
    events = p.sli_type is SLIType.EVENTS
    grouping = custom_inputs.result_labels(p, tick_seconds(p))    # a custom SLI's own labels
    held = max([_ticks(p, t.for_) + 5 for t in tiers if t.for_], default=0)   # tiers' `for`
    possible = [t for t in tiers if p.tier_threshold(t) < 1.0]
    tests: list[dict[str, Any]] = []

    def dist(r: float) -> list[tuple[float, float]]:
        """Segment content for a bad-event (or bad-slice) ratio r."""
        if not events:
            level = p.o.good_threshold or 0.0
            return [(_beyond(p, level, worse=r > 0), 1.0)]
        if p.o.info.quantile:
            t = p.o.good_threshold or 1.0
            parts = [(t * 2, r), (t / 2, 1 - r)]
            return [(v, s) for v, s in parts if s > 0]
        return [(1.0 - r if _good_share(p) else r, 1.0)]

    def stable(r: float) -> float:
        """Nudge a ratio off printf "%.1f" rounding boundaries of its burn rate: Prometheus's sums
        and Python's division may differ in the last bit, and 0.35 prints as 0.3 or 0.4."""
        for _ in range(100):
            burn = r / p.o.error_budget
            if f"{burn * (1 - 1e-7):.1f}" == f"{burn * (1 + 1e-7):.1f}":
                return r
            r *= 1.002
        return r

    def guarded(t: TierWindows, r: float, seconds: float) -> bool:
        """Whether the page tiers' minimum-events guard holds the tier back: too few bad events
        in its long window after ``seconds`` of ratio r."""
        need = p.spec.alerting.page_min_events
        if not need or t.severity != "critical" or p.bad_events_expr(t.long) is None:
            return False
        return RATE_PER_S * r * min(seconds, t.long) < need

    def expected(r: float, at: int | None = None) -> list[dict[str, Any]]:
        burn = r / p.o.error_budget
        seconds = (at if at is not None else 10**9) * tick_seconds(p)
        firing = [t for t in tiers if r > p.tier_threshold(t) and not guarded(t, r, seconds)]
        return [_exp(built[id(t)], burn, grouping) for t in firing]

    ratios = sorted({min(1.0, stable(1.5 * p.tier_threshold(t))) for t in possible}) if events \
        else ([1.0] if possible else [])
    for r in ratios:
        if r <= 0:
            continue
        slowest = max(t.short for t in tiers if r > p.tier_threshold(t))
        t_fire = max(15, 3 * _ticks(p, p.spec.alerting.rate_window), held)
        t_resolve = t_fire + _ticks(p, slowest) + _settle(p) + 10
        tests.append({
            "name": f"{name}: bad ratio {r:.4g} fires the tiers it exceeds, then resolves",
            "interval": _at(p, 1),
            "input_series": synth(p, [(t_fire + 1, dist(r)), (t_resolve - t_fire + 2, dist(0.0))]),
            "alert_rule_test": [
                {"eval_time": _at(p, t_fire), "alertname": name,
                 "exp_alerts": expected(r, t_fire)},
                {"eval_time": _at(p, t_resolve), "alertname": name, "exp_alerts": []},
            ],
        })
    quiet = [stable(0.9 * p.tier_threshold(t)) for t in possible] if events else [0.0]
    t_quiet = max(30, 3 * _ticks(p, p.spec.alerting.rate_window), held)
    for r in sorted(set(quiet)):
        tests.append({
            "name": f"{name}: bad ratio {r:.4g} stays under the tiers it does not exceed",
            "interval": _at(p, 1),
            "input_series": synth(p, [(t_quiet + 10, dist(r))]),
            "alert_rule_test": [{"eval_time": _at(p, t_quiet), "alertname": name,
                                 "exp_alerts": expected(r, t_quiet) if events else []}],
        })
    guard = p.spec.alerting.min_request_rate
    if events and guard and possible:
        low = guard * 0.5 / RATE_PER_S        # share of normal traffic under the guard
        tests.append({
            "name": f"{name}: all errors at {guard * 0.5:g} req/s stay under the traffic guard",
            "interval": _at(p, 1),
            "input_series": synth(p, [(t_quiet + 10, [(v, s * low) for v, s in dist(1.0)])]),
            "alert_rule_test": [{"eval_time": _at(p, t_quiet), "alertname": name,
                                 "exp_alerts": []}],
        })
    return tests


def absent_tests(p: ObjectivePlan) -> list[dict[str, Any]]:
    rule = absent_alert(p)
    name = rule["alert"]
    window = _ticks(p, p.spec.alerting.absent_for)
    present = [(_healthy(p), 1.0)]
    eq_labels = dict(p.raw_labels)
    return [
        {"name": f"{name}: fires without data, resolves when data arrives",
         "interval": _at(p, 1),
         "input_series": _late(p, 5, window + 5),
         "alert_rule_test": [
             {"eval_time": _at(p, 3), "alertname": name,
              "exp_alerts": [_exp(rule, None, eq_labels)]},
             {"eval_time": _at(p, window + 8), "alertname": name, "exp_alerts": []},
         ]},
        {"name": f"{name}: quiet while data flows",
         "interval": _at(p, 1),
         "input_series": synth(p, [(window + 10, present)]),
         "alert_rule_test": [{"eval_time": _at(p, window + 5), "alertname": name,
                              "exp_alerts": []}]},
    ]


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


def untested(p: ObjectivePlan) -> str | None:
    """Why no promtool tests are written for an objective (promtool still checks its rules):
    a model server's own series, or a team's query no synthetic series can drive."""
    if p.o.selector.scrape is not None:
        return "it reads a model server's own series (a scrape target), which are not ours"
    return custom_inputs.problem(p, tick_seconds(p))


def has_unit_tests(p: ObjectivePlan) -> bool:
    return untested(p) is None


def objective_tests(p: ObjectivePlan) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = []
    if not has_unit_tests(p):
        return tests
    for level in p.levels:
        tests.extend(threshold_tests(p, level))
    tests.extend(burn_tests(p))
    if p.o.no_data_alert:
        tests.extend(absent_tests(p))
    return tests


def test_file(p: ObjectivePlan, rule_file: str) -> dict[str, Any]:
    """One promtool test file per objective, next to (and naming) its rule file."""
    return {"rule_files": [rule_file], "evaluation_interval": _at(p, 1),
            "tests": objective_tests(p)}


__all__ = ["expand", "humanize_duration", "objective_tests", "prom_duration", "synth",
           "test_file"]
