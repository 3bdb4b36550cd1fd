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

from agent import catalogue as cat
from agent.sli import ObjectivePlan
from agent.spec.document import TierWindows
from agent.spec.promql_syntax import counting_function
from agent.spec.signals import SLIType
from agent.units import Unit, format_duration
from alerts import custom_inputs, text
from alerts.rules import burn_alert, slower_tiers
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
    """Seconds of data the history recording holds after ``t`` ticks: the time since its first
    evaluation with data, as the sidecar counts ``now - first_seen``."""
    return max(t - _late(p), 0) * tick_seconds(p)


def _late(p: ObjectivePlan) -> int:
    """Ticks before the series the history reads has its first value: the raw counter of
    counted events at once; a recorded total or value taken by a rate one tick later (a rate
    needs two samples). A lower-is-worse rate's slices wait until the series its guard reads
    held a sample a rate window ago (:attr:`ObjectivePlan.covered_guard`)."""
    c = p.o.custom
    if p.covered_guard:
        own = p.absent_selector == p.value_series        # the recorded value, a tick late
        return _ticks(p, p.spec.alerting.rate_window) + (1 if own and _rated(p) else 0)
    if p.sli_type is SLIType.EVENTS and c is not None:
        return 1 if c.counter is not None or (
            c.total is not None and counting_function(c.total) is not None) else 0
    return 1 if p.sli_type is not SLIType.EVENTS and _rated(p) else 0


def _rated(p: ObjectivePlan) -> bool:
    c = p.o.custom
    return c.counter is not None if c is not None else (
        p.o.info.unit is Unit.PER_SECOND or bool(p.o.info.quantile))


def coverage(p: ObjectivePlan, seconds: float, t: int) -> float:
    if seconds <= p.spec.alerting.rate_window:
        return 1.0
    return min(1.0, _history(p, t) / seconds)


def _ticks_of(p: ObjectivePlan, seconds: float) -> int:
    return max(1, round(seconds / tick_seconds(p)))


def _ratio(rs: list[float], k: int, w: int) -> float | None:
    """Bad share of the increments inside the window of ``w`` ticks ending at tick ``k`` (the
    increment into tick j has bad share rs[j]; every tick carries the same traffic)."""
    got = rs[max(1, k - w + 1):k + 1]
    return sum(got) / len(got) if got else None


def _rates(segments: list[tuple[int, float]]) -> list[float]:
    """rs[j]: the bad share of the increment into tick j of :func:`synth`'s counters (the
    first segment's first tick is the counters' start)."""
    rs = [0.0]
    for i, (n, r) in enumerate(segments):
        rs += [r] * (n - 1 if i == 0 else n)
    return rs


def fires_at(p: ObjectivePlan, tier: TierWindows, rs: list[float], t: int) -> bool:
    """The tier's own condition at tick ``t`` of a fresh start whose bad shares are ``rs``."""
    level = p.tier_threshold(tier)
    for w in (tier.long, tier.short):
        r = _ratio(rs, t, _ticks_of(p, w))
        if r is None or r * coverage(p, w, t) <= level:
            return False
    need = p.spec.alerting.page_min_events
    if need and tier.severity == "critical" and p.bad_events_expr(tier.long) is not None:
        seen = rs[max(1, t - _ticks_of(p, tier.long) + 1):t + 1]
        return RATE_PER_S * tick_seconds(p) * sum(seen) >= need
    return True


def firing_at(p: ObjectivePlan, rs: list[float], t: int) -> list[TierWindows]:
    """The tiers firing at tick ``t``, each held while a slower tier of its severity fires its
    own condition (the rule reads its own alert one evaluation back)."""
    return _firing_by_tick(p, rs, t)[t]


def fires(p: ObjectivePlan, tier: TierWindows, r: float, t: int) -> bool:
    """Whether the tier fires ``t`` ticks into a fresh start whose bad ratio is ``r`` (for
    time slices: 1 all bad, 0 all good). At a constant ratio the condition, once met, stays met
    (coverage and bad events only grow), so a tier's ``for`` asks it of the tick that long ago."""
    since = t - (_ticks(p, tier.for_) if tier.for_ else 0)
    return since >= 1 and fires_at(p, tier, [0.0] + [r] * t, since)


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


def expected_annotations(p: ObjectivePlan, tier: TierWindows, r: float,
                         rs: list[float] | None = None, t: int = 0) -> dict[str, str]:
    """What Prometheus prints for a firing tier: at a constant bad ratio ``r`` since the start
    every window, the compliance window too, holds that ratio; with ``rs`` (bad shares per
    tick) each window holds its own, and the budget left is the sum of the SLI step's
    recorded increases (which weighs each tick by the steps it falls in)."""
    period, budget = p.o.window, p.o.error_budget
    long_r = short_r = spent = r
    if rs is not None:
        long_r = _ratio(rs, t, _ticks_of(p, tier.long)) or 0.0
        short_r = _ratio(rs, t, _ticks_of(p, tier.short)) or 0.0
        step = _ticks_of(p, p.spec.alerting.rate_window)
        steps = [rs[max(1, k - step + 1):k + 1] for k in range(1, t + 1)]
        spent = sum(sum(x) for x in steps) / sum(len(x) for x in steps)
    burn, short = long_r / budget, short_r / budget
    shown = float(f"{burn:f}")          # printf "%f" $value
    left = 1.0 - spent / budget
    if left > 0:
        gone = humanize_duration(float(f"{left:f}") * period / shown)
        left_text = f"{_pct(left)} of it is left, gone in {gone} at this burn"
    else:
        left_text = f"it is already spent ({_pct(left)} left)"
    slower = [x.name for x in slower_tiers(p, tier)]
    held = slower and (burn <= tier.factor or short <= tier.factor)
    values = {text.BURN: f"{burn:.1f}", text.SHORT_BURN: f"{short:.1f}",
              text.LASTS: humanize_duration(period / shown), text.LEFT: left_text,
              text.HELD: text.held_text(tier, slower) if held else ""}
    ours = {text.render(parts): text.fill(parts, values)
            for parts in (text.burn_summary(p, tier), text.burn_description(p, tier, slower))}
    # the team's own annotations win over ours and may use $value too
    return {k: ours[v] if v in ours else expand(v, burn)
            for k, v in burn_alert(p, tier)["annotations"].items()}


def _labels(p: ObjectivePlan, tier: TierWindows) -> dict[str, str]:
    """The alert's labels, after those a custom SLI's own result keeps (a grouping)."""
    return {**custom_inputs.result_labels(p, tick_seconds(p)), **burn_alert(p, tier)["labels"]}


def _expected(p: ObjectivePlan, r: float, t: int) -> list[dict[str, Any]]:
    return [{"exp_labels": _labels(p, tier),
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


def _sli_settle(p: ObjectivePlan) -> int:
    """Ticks for a change of input to leave the SLI's recorded events: a value-judged SLI reads
    the value (which may settle over a day), counted events only the SLI step's increase."""
    if p.sli_type is SLIType.EVENTS:
        return _ticks(p, p.spec.alerting.rate_window) + 3
    return _settle(p)


def _case(p: ObjectivePlan, title: str, r: float, t_fire: int, resolve: bool = True
          ) -> dict[str, Any]:
    """``r`` for ``t_fire`` ticks from a fresh start: the tiers :func:`fires` names at
    ``t_fire``; with ``resolve``, then good, and none once every short window is clean again."""
    name = p.burn_alert_name
    fired = {"eval_time": _at(p, t_fire), "alertname": name,
             "exp_alerts": _expected(p, r, t_fire)}
    if not resolve:
        return {"name": f"{name}: {title}", "interval": _at(p, 1),
                "input_series": synth(p, [(t_fire + 2, _dist(p, r))]),
                "alert_rule_test": [fired]}
    slowest = max(t.short for t in p.tiers)
    t_resolve = t_fire + _ticks(p, slowest) + _sli_settle(p) + 10
    return {
        "name": f"{name}: {title}, then resolves",
        "interval": _at(p, 1),
        "input_series": synth(p, [(t_fire + 1, _dist(p, r)),
                                  (t_resolve - t_fire + 2, _dist(p, 0.0))]),
        "alert_rule_test": [
            fired, {"eval_time": _at(p, t_resolve), "alertname": name, "exp_alerts": []}]}


def _cases(p: ObjectivePlan, wanted: list[tuple[str, float, int]], shown: set[str]
           ) -> list[dict[str, Any]]:
    """The firing cases, each tier shown resolving once: a case waits for every short window to
    clear (the slowest tier's, hours at a 30-day objective) only where it fires a tier that no
    earlier resolving case, nor the tiers in ``shown`` (the hold case's), fired; the rest end
    where they are checked. Cases firing the most tiers resolve first."""
    fired = [{x.name for x in p.tiers if fires(p, x, r, t)} for _, r, t in wanted]
    shown = set(shown)
    resolving: set[int] = set()
    for i in sorted(range(len(wanted)), key=lambda i: (-len(fired[i]), wanted[i][2])):
        if fired[i] - shown:
            shown |= fired[i]
            resolving.add(i)
    return [_case(p, title, r, t, i in resolving) for i, (title, r, t) in enumerate(wanted)]


def _base_ticks(p: ObjectivePlan) -> int:
    """Ticks a case runs before it looks: past the SLI step's ramp and every tier's ``for``."""
    held = max([_ticks(p, t.for_) + 5 for t in p.tiers if t.for_], default=0)
    return max(15, 3 * _ticks(p, p.spec.alerting.rate_window), held)


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
    wanted: list[tuple[str, float, int]] = []
    quiet: list[tuple[float, int]] = []
    seen: set[tuple[float, int]] = set()
    for tier in possible:
        # a ratio 1.5 times what the tier needs after t ticks of a fresh start
        need = p.tier_threshold(tier) * tier.long / tick_seconds(p)
        hold = _ticks(p, tier.for_) if tier.for_ else 0
        t = max(base, math.ceil(1.5 * need) + hold) if events else base
        if t > MAX_TICKS:
            continue
        seen_for = min(t - hold, tier.long / tick_seconds(p))   # burn ticks in the window, for: on
        r = _stable(p, min(1.0, 1.5 * need / seen_for)) if events else 1.0
        if not events and not fires(p, tier, r, t):
            continue
        if (r, t) not in seen:
            seen.add((r, t))
            wanted.append((f"bad ratio {r:.4g} for {format_duration(t * tick_seconds(p))} "
                           "fires the tiers it spends the share of", r, t))
        if events:
            quiet.append((_stable(p, 0.6 * r), t))
    startup = startup_cases(p, possible) if events else []
    holding, held = hold_tests(p, possible) if events else ([], set())
    cases = _cases(p, wanted + startup, held)
    tests += cases[:len(wanted)]
    for r, t in sorted(set(quiet)):
        tests.append({
            "name": f"{name}: bad ratio {r:.4g} for {format_duration(t * tick_seconds(p))} "
                    "stays under the tiers whose share it does not spend",
            "interval": _at(p, 1),
            "input_series": synth(p, [(t + 10, _dist(p, r))]),
            "alert_rule_test": [{"eval_time": _at(p, t), "alertname": name,
                                 "exp_alerts": _expected(p, r, t)}]})
    if not events:
        return tests + [good_slices(p, base)]
    tests += cases[len(wanted):] + holding
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


def good_slices(p: ObjectivePlan, base: int) -> dict[str, Any]:
    """Every slice good from a fresh start: quiet, and the whole budget left. A rate where lower
    is worse is fed half again its level, so ``rate()`` reads under the level for the first
    two thirds of its window while it fills: those slices are unknown, not bad
    (:attr:`ObjectivePlan.covered_guard`), and spend nothing."""
    level = p.o.good_threshold or 0.0
    good = [(level * 1.5, 1.0)] if p.covered_guard else _dist(p, 0.0)
    left = f"{cat.RULE_BUDGET_REMAINING}{cat.label_matchers(p.labels)}"
    return {"name": f"{p.burn_alert_name}: all slices good stays quiet, the budget whole",
            "interval": _at(p, 1), "input_series": synth(p, [(base + 10, good)]),
            "alert_rule_test": [{"eval_time": _at(p, base), "alertname": p.burn_alert_name,
                                 "exp_alerts": []}],
            "promql_expr_test": [{"expr": left, "eval_time": _at(p, base),
                                  "exp_samples": [{"labels": left, "value": 1}]}]}


def _printable(p: ObjectivePlan, tier: TierWindows, rs: list[float], t: int) -> bool:
    """Whether the tier's printed numbers sit clear of rounding boundaries at tick ``t``."""
    out = []
    for w in (tier.long, tier.short):
        burn = (_ratio(rs, t, _ticks_of(p, w)) or 0.0) / p.o.error_budget
        out.append(f"{burn * (1 - 1e-9):.1f}" == f"{burn * (1 + 1e-9):.1f}"
                   and f"{burn * (1 - 1e-12):f}" == f"{burn * (1 + 1e-12):f}")
    return all(out)


def hold_tests(p: ObjectivePlan, possible: list[TierWindows]
               ) -> tuple[list[dict[str, Any]], set[str]]:
    """A tier that quiets a slower one (Alertmanager's inhibition) stays firing while that one
    still does, so the incident does not page again when the faster tier's windows cool: all
    requests fail until both fire, then all succeed; once the faster tier's short window is
    clean it is held by the slower one, and both resolve together. Also the names of the
    tiers the case shows firing and then resolved."""
    pairs = [(f, s) for f in sorted(possible, key=lambda x: x.severity != "critical")
             for s in slower_tiers(p, f) if s in possible and not (f.for_ or s.for_)]
    c = p.o.custom
    if not pairs or (c is not None and c.error_ratio is not None):
        # a team's raw error ratio is averaged per window, not counted per tick as _rates
        # models it; the hold is the same PromQL for every SLI and is tested on the others
        return [], set()
    fast, slow = pairs[0]
    first = next((t for t in range(1, MAX_TICKS) if fires(p, fast, 1.0, t)
                  and fires(p, slow, 1.0, t)), None)
    if first is None:
        return [], set()
    slowest = max(x.short for x in p.tiers)
    for t1 in range(first + 1, min(MAX_TICKS, first + 400)):
        end = t1 + _ticks_of(p, slowest) + _sli_settle(p) + 10
        segments = [(t1 + 1, 1.0), (end - t1 + 2, 0.0)]
        rs = _rates(segments)
        te = t1 + _ticks_of(p, fast.short) + 1
        while te < end and not (_printable(p, fast, rs, te) and _printable(p, slow, rs, te)):
            te += 1
        if te < end and not fires_at(p, fast, rs, te) and fires_at(p, slow, rs, te):
            break
    else:
        return [], set()
    name = p.burn_alert_name
    states = _firing_by_tick(p, rs, end)
    firing = states[te]
    if fast not in firing or slow not in firing:
        return [], set()
    # both resolved: the first tick after te where neither fires (the model fires no tier
    # again once its windows only cool), printable for the tiers still firing (tickets may
    # outlast the pages by hours: they are expected there, not waited out)
    done = next((k for k in range(te + 1, end) if fast not in states[k]
                 and slow not in states[k]
                 and all(_printable(p, x, rs, k) for x in states[k])), end)
    after = states[done] if done < end else []

    def expect(tiers: list[TierWindows], t: int) -> list[dict[str, Any]]:
        return [{"exp_labels": _labels(p, tier),
                 "exp_annotations": expected_annotations(p, tier, 0.0, rs, t)}
                for tier in tiers]

    return [{
        "name": f"{name}: {fast.name} stays firing while {slow.name} does (the Alertmanager "
                f"config quiets {slow.name} under it), then both resolve",
        "interval": _at(p, 1),
        "input_series": synth(p, [(t1 + 1, _dist(p, 1.0)),
                                  (done - t1 + 2, _dist(p, 0.0))]),
        "alert_rule_test": [
            {"eval_time": _at(p, te), "alertname": name, "exp_alerts": expect(firing, te)},
            {"eval_time": _at(p, done), "alertname": name,
             "exp_alerts": expect(after, done)}]}], \
        {x.name for x in firing if x not in after}


def _firing_by_tick(p: ObjectivePlan, rs: list[float], upto: int) -> list[list[TierWindows]]:
    """:func:`firing_at` at every tick up to ``upto``, in one pass (index = tick)."""
    out: list[list[TierWindows]] = [[]]
    firing: set[str] = set()
    for k in range(1, upto + 1):
        own = {x.name for x in p.tiers if fires_at(p, x, rs, k)}
        firing = {x.name for x in p.tiers if x.name in own or (
            x.name in firing and any(s.name in own for s in slower_tiers(p, x)))}
        out.append([x for x in p.tiers if x.name in firing])
    return out


def startup_cases(p: ObjectivePlan, possible: list[TierWindows]
                  ) -> list[tuple[str, float, int]]:
    """A fresh start: a bad ratio 1.5 times the fastest page tier's level (which paged at once
    before windows counted their coverage) does not page, most requests failing does; as
    (title, ratio, tick) for :func:`_cases`."""
    pages = sorted((t for t in possible if t.severity == "critical"), key=lambda t: t.long)
    if not pages:
        return []
    tier, out = pages[0], []
    t = _base_ticks(p)
    r = _stable(p, min(1.0, 1.5 * p.tier_threshold(tier)))
    if not any(fires(p, x, r, t) for x in pages):
        out.append((f"a fresh start with bad ratio {r:.4g} (a {r / p.o.error_budget:.3g}x"
                    f" burn) for {format_duration(t * tick_seconds(p))} does not page", r, t))
    bad = _stable(p, max(MOST_FAILING, min(1.0, 1.5 * p.tier_threshold(tier))))
    first = _first_firing(p, tier, bad)
    if first is not None:
        t = first + 1
        out.append((f"a fresh start with {bad:.0%} bad events pages within "
                    f"{format_duration(t * tick_seconds(p))}", bad, t))
    return out


__all__ = ["burn_tests", "coverage", "expected_annotations", "fires", "fires_at", "hold_tests",
           "startup_cases"]
