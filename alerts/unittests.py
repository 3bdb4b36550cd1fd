"""promtool unit tests generated with the rules: for every alert, synthetic raw series that must
fire it, that must not, and that resolve it (burn-rate and start-up cases in
:mod:`alerts.burntests`); for the service, that its no-data alert fires when every source is
silent while the objectives' own stay quiet.

Expected annotations are the rule's own, with ``$value`` expanded the way Prometheus's template
functions print it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from agent import catalogue as cat
from agent.sli import Level, ObjectivePlan, plans
from agent.spec.document import Spec
from alerts import custom_inputs
from alerts.burntests import burn_tests
from alerts.rules import (
    SERVICE_NO_DATA,
    absent_alert,
    no_data_for,
    service_absent_alert,
    threshold_alert,
)
from alerts.synthetic import (
    RATE_PER_S,
    Segment,
    _at,
    _beyond,
    _healthy,
    _late,
    _num,
    _per_tick,
    _series,
    _settle,
    _shown_value,
    _ticks,
    expand,
    go_g,
    humanize_duration,
    inp,
    level_value,
    prom_duration,
    synth,
    tick_seconds,
)


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


def _fire_and_resolve(p: ObjectivePlan, levels: list[Level]) -> tuple[int, dict[str, Any]]:
    """One value past every level in ``levels`` until each alert fires, then back inside until
    each resolves: (the tick they fire at, the test)."""
    rules = [threshold_alert(p, level) for level in levels]
    # past every level, and inside every level
    bads = [_beyond(p, level_value(p, level), worse=True) for level in levels]
    goods = [_beyond(p, level_value(p, level), worse=False) for level in levels]
    worst, best = (max, min) if p.o.info.higher_is_worse else (min, max)
    bad, good = worst(bads), best(goods)
    rate_m = _ticks(p, p.spec.alerting.rate_window)
    warmup = rate_m + 2                     # ticks until the value reflects the input
    t_fire = warmup + _ticks(p, p.o.for_) + 3
    t_resolve = t_fire + 1 + _settle(p) + 1
    total = t_resolve + 2
    extra = [s for level in levels for s in _threshold_inputs(p, level, level_value(p, level))]
    segments: list[Segment] = [(t_fire + 1, [(bad, 1.0)]), (total - t_fire - 1, [(good, 1.0)])]
    shown = _shown_value(p, bad, segments)
    labels = custom_inputs.result_labels(p, tick_seconds(p))
    names = " and ".join(r["alert"] for r in rules)
    past = " and ".join(level.text for level in levels)
    return t_fire, {
        "name": f"{names}: fire{'s' if len(rules) == 1 else ''} past {past}, "
                f"resolve{'s' if len(rules) == 1 else ''} when back",
        "interval": _at(p, 1),
        "input_series": synth(p, segments) + extra,
        "alert_rule_test": [
            *({"eval_time": _at(p, t_fire), "alertname": r["alert"],
               "exp_alerts": [_exp(r, shown, labels)]} for r in rules),
            *({"eval_time": _at(p, t_resolve), "alertname": r["alert"], "exp_alerts": []}
              for r in rules)]}


def threshold_tests(p: ObjectivePlan) -> list[dict[str, Any]]:
    """Each level's alert fires past it and resolves when back, and stays quiet inside it. A
    value that settles slowly (a day's spend, a day's job runs) needs a day to resolve, so
    there one value past every constant level drives all the alerts through one day, not one
    day per level."""
    levels = list(p.levels)
    together = p.settle is not None and len(levels) > 1 and all(
        level.constant is not None for level in levels)
    groups = [levels] if together else [[level] for level in levels]
    tests: list[dict[str, Any]] = []
    for group in groups:
        t_fire, case = _fire_and_resolve(p, group)
        tests.append(case)
        for level in group:
            rule = threshold_alert(p, level)
            good = _beyond(p, level_value(p, level), worse=False)
            extra = _threshold_inputs(p, level, level_value(p, level))
            tests.append({
                "name": f"{rule['alert']}: stays quiet inside {level.text}",
                "interval": _at(p, 1),
                "input_series": synth(p, [(t_fire + 2, [(good, 1.0)])]) + extra,
                "alert_rule_test": [{"eval_time": _at(p, t_fire), "alertname": rule["alert"],
                                     "exp_alerts": []}]})
    return tests


def absent_tests(p: ObjectivePlan) -> list[dict[str, Any]]:
    rule = absent_alert(p)
    name = rule["alert"]
    window = _ticks(p, p.spec.alerting.absent_for)
    fired = _ticks(p, no_data_for(p)) + 2
    present = [(_healthy(p), 1.0)]
    eq_labels = dict(p.raw_labels)
    return [
        {"name": f"{name}: fires without data, resolves when data arrives",
         "interval": _at(p, 1),
         "input_series": _late(p, fired + 2, window + fired + 2),
         "alert_rule_test": [
             {"eval_time": _at(p, fired), "alertname": name,
              "exp_alerts": [_exp(rule, None, eq_labels)]},
             {"eval_time": _at(p, window + fired + 5), "alertname": name, "exp_alerts": []},
         ]},
        {"name": f"{name}: quiet while data flows",
         "interval": _at(p, 1),
         "input_series": synth(p, [(window + 10, present)]),
         "alert_rule_test": [{"eval_time": _at(p, window + 5), "alertname": name,
                              "exp_alerts": []}]},
    ]


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
    tests.extend(threshold_tests(p))
    tests.extend(burn_tests(p))
    if p.o.no_data_alert:
        tests.extend(absent_tests(p))
    return tests


def test_file(p: ObjectivePlan, rule_file: str) -> dict[str, Any]:
    """One promtool test file per objective, next to (and naming) its rule file."""
    return {"rule_files": [rule_file], "evaluation_interval": _at(p, 1),
            "tests": objective_tests(p)}


def _service_tick(spec: Spec) -> float:
    a = spec.alerting
    waits = [a.absent_for, 2 * a.evaluation_interval + a.scrape_interval]
    return 60.0 if all(w % 60 == 0 for w in waits) else max(1.0, min(60.0, a.evaluation_interval))


_PLAIN = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*\{(?:[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*",?)*\}$')


def service_tests(spec: Spec, rule_files: dict[str, str], service_file: str
                  ) -> dict[str, Any] | None:
    """The service's test file: with nothing reporting, the service-wide no-data alert fires and
    the objectives' own stay quiet (they would only repeat it); with one source reporting, the
    service alert stays quiet and the objectives that read another source fire. ``rule_files``:
    objective name → its rule file."""
    rule = service_absent_alert(spec)
    if rule is None:
        return None
    tick = _service_tick(spec)

    def at(n: int) -> str:
        return prom_duration(n * tick)

    ps = [p for p in plans(spec) if p.o.no_data_alert]
    fired = math.ceil(no_data_for(ps[0]) / tick) + 2
    checks: list[dict[str, Any]] = [
        {"eval_time": at(fired), "alertname": SERVICE_NO_DATA,
         "exp_alerts": [{"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}]}]
    checks += [{"eval_time": at(fired), "alertname": absent_alert(p)["alert"], "exp_alerts": []}
               for p in ps]
    silent = {"name": f"{SERVICE_NO_DATA}: fires with nothing reporting; the objectives' "
                      "no-data alerts stay quiet",
              "interval": at(1), "input_series": [], "alert_rule_test": checks}
    tests = [silent]
    plain = [p for p in ps if has_unit_tests(p) and _PLAIN.match(p.absent_selector)]
    if plain:
        present = plain[0].absent_selector
        checks = [{"eval_time": at(fired), "alertname": SERVICE_NO_DATA, "exp_alerts": []}]
        for p in plain:
            alert = absent_alert(p)
            exp = [] if p.absent_selector == present else [_exp(alert, None, dict(p.raw_labels))]
            checks.append({"eval_time": at(fired), "alertname": alert["alert"],
                           "exp_alerts": exp})
        tests.append({"name": f"{SERVICE_NO_DATA}: quiet while {present} reports; the "
                              "objectives that read other series fire",
                      "interval": at(1),
                      "input_series": [{"series": present, "values": f"1+1x{fired + 5}"}],
                      "alert_rule_test": checks})
    files = [rule_files[p.o.name] for p in ps] + [service_file]
    return {"rule_files": files, "evaluation_interval": at(1), "tests": tests}


__all__ = ["RATE_PER_S", "expand", "go_g", "humanize_duration", "objective_tests",
           "prom_duration", "service_tests", "synth", "test_file", "tick_seconds"]
