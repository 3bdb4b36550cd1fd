"""promtool tests of the burn-rate alerts, start-up included.

The synthetic series start at the test's first tick, so every case is a fresh start: a burn window
holds ``min(t, window)`` of data and its coverage is that share of it. :func:`fires` is the rule
the generated alerts follow, written out once more in Python (the tier's factor over the window's
coverage, the minimum bad events of page tiers); each case feeds a bad ratio long enough for the
tier it is about and expects exactly the tiers that rule fires, with the annotations Prometheus
prints. Start-up cases: the few errors that used to page at once do not, while most requests
failing pages within minutes.
"""

from __future__ import annotations

import math
from typing import Any

from agent.sli import ObjectivePlan
from agent.spec.document import TierWindows
from agent.spec.signals import SLIType
from agent.units import Unit, format_duration
from alerts import text
from alerts.rules import burn_alert
from alerts.synthetic import (
    RATE_PER_S,
    _at,
    _beyond,
    _good_share,
    _settle,
    _ticks,
    expand,
    go_g,
    humanize_duration,
    synth,
    tick_seconds,
)

MAX_TICKS = 2000       # a case that needs longer to fire a tier is left out (promtool time)
MOST_FAILING = 0.9     # a bad deploy: most requests fail


def _history(p: ObjectivePlan, t: int) -> float:
    """Seconds of data the coverage recording sees after ``t`` ticks: a value taken by a rate
    starts a tick late (time slices count recorded values); under one SLI step the step itself
    is the estimate; a single sample is none."""
    ticks = t - (1 if p.sli_type is not SLIType.EVENTS and _rated(p) else 0)
    if ticks <= 0:
        return 0.0
    return max(ticks * tick_seconds(p), p.spec.alerting.rate_window)


def _rated(p: ObjectivePlan) -> bool:
    c = p.o.custom
    return c.counter is not None if c is not None else (
        p.o.info.unit is Unit.PER_SECOND or bool(p.o.info.quantile))


def coverage(p: ObjectivePlan, seconds: float, t: int) -> float:
    if seconds <= p.spec.alerting.rate_window:
        return 1.0
    return min(1.0, _history(p, t) / seconds)


def fires(p: ObjectivePlan, tier: TierWindows, r: float, t: int) -> bool:
    """Whether the tier fires ``t`` ticks into a fresh start whose bad ratio is ``r`` (for
    time slices: 1 all bad, 0 all good)."""
    level = p.tier_threshold(tier)
    if any(r * coverage(p, w, t) <= level for w in (tier.long, tier.short)):
        return False
    need = p.spec.alerting.page_min_events
    if need and tier.severity == "critical" and p.bad_events_expr(tier.long) is not None:
        return RATE_PER_S * r * min(t * tick_seconds(p), tier.long) >= need
    return True


def _stable(p: ObjectivePlan, r: float) -> float:
    """Nudge a ratio off the printing boundaries of its burn ("%.1f", and "%f" feeding the
    exhaustion query): Prometheus's sums and Python's division may differ in the last bit."""
    for _ in range(200):
        burn = r / p.o.error_budget
        lo, hi = burn * (1 - 1e-10), burn * (1 + 1e-10)
        if f"{lo:.1f}" == f"{hi:.1f}" and f"{lo:f}" == f"{hi:f}" and r <= 1.0:
            return r
        r *= 0.998 if r > 0.99 else 1.002
    return r


def _pct(v: float) -> str:
    return f"{go_g(v * 100)}%"


def expected_annotations(p: ObjectivePlan, tier: TierWindows, r: float) -> dict[str, str]:
    """What Prometheus prints for a tier firing at a constant bad ratio ``r`` since the start:
    every window, the compliance window too, holds that ratio."""
    period = p.o.window
    burn = r / p.o.error_budget
    shown = float(f"{burn:f}")          # printf "%f" $value
    left = 1.0 - burn
    if left > 0:
        gone = humanize_duration(float(f"{left:f}") * period / shown)
        left_text = f"{_pct(left)} of it is left, gone in {gone} at this burn"
    else:
        left_text = f"it is already spent ({_pct(left)} left)"
    values = {text.BURN: f"{burn:.1f}", text.SHORT_BURN: f"{burn:.1f}",
              text.LASTS: humanize_duration(period / shown), text.LEFT: left_text}
    ours = {text.render(parts): text.fill(parts, values)
            for parts in (text.burn_summary(p, tier), text.burn_description(p, tier))}
    # the team's own annotations win over ours and may use $value too
    return {k: ours[v] if v in ours else expand(v, burn)
            for k, v in burn_alert(p, tier)["annotations"].items()}


def _expected(p: ObjectivePlan, r: float, t: int) -> list[dict[str, Any]]:
    return [{"exp_labels": burn_alert(p, tier)["labels"],
             "exp_annotations": expected_annotations(p, tier, r)}
            for tier in p.tiers if fires(p, tier, r, t)]


def _dist(p: ObjectivePlan, r: float) -> list[tuple[float, float]]:
    """Segment content for a bad-event (or bad-slice) ratio r."""
    if p.sli_type is not SLIType.EVENTS:
        level = p.o.good_threshold or 0.0
        return [(_beyond(p, level, worse=r > 0), 1.0)]
    if p.o.info.quantile:
        t = p.o.good_threshold or 1.0
        parts = [(t * 2, r), (t / 2, 1 - r)]
        return [(v, s) for v, s in parts if s > 0]
    return [(1.0 - r if _good_share(p) else r, 1.0)]


def _case(p: ObjectivePlan, title: str, r: float, t_fire: int) -> dict[str, Any]:
    """``r`` for ``t_fire`` ticks from a fresh start, then good: the tiers :func:`fires` names
    at ``t_fire``, and none once every short window is clean again."""
    slowest = max(t.short for t in p.tiers)
    t_resolve = t_fire + _ticks(p, slowest) + _settle(p) + 10
    name = p.burn_alert_name
    return {
        "name": f"{name}: {title}",
        "interval": _at(p, 1),
        "input_series": synth(p, [(t_fire + 1, _dist(p, r)),
                                  (t_resolve - t_fire + 2, _dist(p, 0.0))]),
        "alert_rule_test": [
            {"eval_time": _at(p, t_fire), "alertname": name,
             "exp_alerts": _expected(p, r, t_fire)},
            {"eval_time": _at(p, t_resolve), "alertname": name, "exp_alerts": []},
        ]}


def _base_ticks(p: ObjectivePlan) -> int:
    return max(15, 3 * _ticks(p, p.spec.alerting.rate_window))


def _first_firing(p: ObjectivePlan, tier: TierWindows, r: float) -> int | None:
    for t in range(1, MAX_TICKS + 1):
        if fires(p, tier, r, t):
            return t
    return None


def burn_tests(p: ObjectivePlan) -> list[dict[str, Any]]:
    tiers = p.tiers
    if not tiers:
        return []
    name = p.burn_alert_name
    events = p.sli_type is SLIType.EVENTS
    possible = [t for t in tiers if p.tier_threshold(t) < 1.0]
    base = _base_ticks(p)
    tests: list[dict[str, Any]] = []
    quiet: list[tuple[float, int]] = []
    seen: set[tuple[float, int]] = set()
    for tier in possible:
        # a ratio 1.5 times what the tier needs after t ticks of a fresh start
        need = p.tier_threshold(tier) * tier.long / tick_seconds(p)
        t = max(base, math.ceil(1.5 * need)) if events else base
        if t > MAX_TICKS:
            continue
        seen_for = min(t, tier.long / tick_seconds(p))      # ticks of the burn in the window
        r = _stable(p, min(1.0, 1.5 * need / seen_for)) if events else 1.0
        if not events and not fires(p, tier, r, t):
            continue
        if (r, t) not in seen:
            seen.add((r, t))
            tests.append(_case(p, f"bad ratio {r:.4g} for {format_duration(t * tick_seconds(p))}"
                                  " fires the tiers it spends the share of, then resolves", r, t))
        if events:
            quiet.append((_stable(p, 0.6 * r), t))
    for r, t in sorted(set(quiet)):
        tests.append({
            "name": f"{name}: bad ratio {r:.4g} for {format_duration(t * tick_seconds(p))} "
                    "stays under the tiers whose share it does not spend",
            "interval": _at(p, 1),
            "input_series": synth(p, [(t + 10, _dist(p, r))]),
            "alert_rule_test": [{"eval_time": _at(p, t), "alertname": name,
                                 "exp_alerts": _expected(p, r, t)}]})
    if not events:
        return tests + [{
            "name": f"{name}: all slices good stays quiet", "interval": _at(p, 1),
            "input_series": synth(p, [(base + 10, _dist(p, 0.0))]),
            "alert_rule_test": [{"eval_time": _at(p, base), "alertname": name,
                                 "exp_alerts": []}]}]
    tests += startup_tests(p, possible)
    guard = p.spec.alerting.min_request_rate
    if guard and possible:
        low = guard * 0.5 / RATE_PER_S        # share of normal traffic under the guard
        tests.append({
            "name": f"{name}: all errors at {guard * 0.5:g} req/s stay under the traffic guard",
            "interval": _at(p, 1),
            "input_series": synth(p, [(base + 10, [(v, s * low) for v, s in _dist(p, 1.0)])]),
            "alert_rule_test": [{"eval_time": _at(p, base), "alertname": name,
                                 "exp_alerts": []}]})
    return tests


def startup_tests(p: ObjectivePlan, possible: list[TierWindows]) -> list[dict[str, Any]]:
    """A fresh start: a bad ratio 1.5 times the fastest page tier's level (which paged at once
    before windows counted their coverage) does not page, most requests failing does."""
    pages = sorted((t for t in possible if t.severity == "critical"), key=lambda t: t.long)
    if not pages:
        return []
    tier, out = pages[0], []
    t = _base_ticks(p)
    r = _stable(p, min(1.0, 1.5 * p.tier_threshold(tier)))
    if not any(fires(p, x, r, t) for x in pages):
        out.append(_case(p, f"a fresh start with bad ratio {r:.4g} (a {r / p.o.error_budget:.3g}x"
                            f" burn) for {format_duration(t * tick_seconds(p))} does not page",
                         r, t))
    bad = _stable(p, max(MOST_FAILING, min(1.0, 1.5 * p.tier_threshold(tier))))
    first = _first_firing(p, tier, bad)
    if first is not None:
        t = first + 1
        out.append(_case(p, f"a fresh start with {bad:.0%} bad events pages within "
                            f"{format_duration(t * tick_seconds(p))}", bad, t))
    return out


__all__ = ["burn_tests", "coverage", "expected_annotations", "fires", "startup_tests"]
