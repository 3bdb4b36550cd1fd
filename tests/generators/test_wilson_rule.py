"""One level, two judges (issue 34): the generated rules judge a ratio as the sidecar does, on the
99 % Wilson bound of its share over the rate window with at least ``MIN_EVENTS`` events. promtool
evaluates the generated bound recording on raw counters, and its result must equal
:func:`detectors.rates.wilson_interval` on the same counts (the bad share's lower bound; the good
share's upper bound); the threshold alert fires only with the bound past the level and enough
events, as :func:`detectors.rates.ratio_status` judges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import catalogue as cat
from agent.sli import ObjectivePlan, plans
from agent.spec import parse_spec
from alerts.grafana import query_expr
from alerts.rules import objective_group, threshold_alert
from alerts.unittests import _exp
from detectors.rates import MIN_EVENTS, ratio_status, wilson_interval
from detectors.thresholds import Status
from tests.helpers import promtool_test_rules

WINDOW = 5            # minutes: the rate window, one sample a minute
SPEC = {"service": "svc", "models": [{"name": "m"}],
        "alerting": {"evaluation_interval": "1m", "rate_window": f"{WINDOW}m"},
        "objectives": [
            {"name": "errs", "signal": "error_rate", "selector": {"model": "m"},
             "warning": "1%", "critical": "50%", "for": "0s"},
            {"name": "avail", "signal": "availability", "selector": {"model": "m"},
             "warning": "99%", "critical": "50%", "for": "0s"}]}


def _plans() -> dict[str, ObjectivePlan]:
    return {p.o.name: p for p in plans(parse_spec(SPEC))}


def _inputs(p: ObjectivePlan, bad: int, good: int) -> list[dict[str, str]]:
    """The SDK's request counter, ``bad`` errors and ``good`` successes a minute: the rate
    window's increase is exactly ``WINDOW`` times each (samples on both edges)."""
    return [{"series": cat.REQUESTS.name + cat.label_matchers({**p.raw_labels, "outcome": o}),
             "values": f"0+{n}x{2 * WINDOW}"}
            for o, n in ((cat.OUTCOMES[1], bad), (cat.OUTCOMES[0], good))]


def _run(tmp_path: Path, tests: list[dict[str, Any]]) -> None:
    promtool_test_rules(tmp_path, [objective_group(p) for p in _plans().values()], tests)


def _bound_case(bad: int, good: int) -> dict[str, Any]:
    """Both objectives' recorded bound at the end of the window, against ``wilson_interval``
    on the window's counts (a difference past 1e-9 returns 0 and fails)."""
    ps = _plans()
    b, n = bad * WINDOW, (bad + good) * WINDOW
    bad_lower, _ = wilson_interval(b, n)          # the bad share's lower bound
    _, good_upper = wilson_interval(n - b, n)     # the good share's upper bound
    checks = []
    for name, want in (("errs", bad_lower), ("avail", good_upper)):
        p = ps[name]
        checks.append({"expr": f"abs({p.bound_series} - {want!r}) < bool 1e-9",
                       "eval_time": f"{2 * WINDOW}m",
                       "exp_samples": [{"labels": cat.label_matchers(p.labels), "value": 1}]})
    return {"interval": "1m", "input_series": _inputs(ps["errs"], bad, good),
            "promql_expr_test": checks}


@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 400)).filter(lambda c: sum(c) > 0),
                min_size=1, max_size=4))
def test_the_recorded_bound_is_wilson_interval_on_the_windows_counts(
        tmp_path: Path, cases: list[tuple[int, int]]) -> None:
    _run(tmp_path, [_bound_case(b, g) for b, g in cases])


def test_a_threshold_alert_needs_the_bound_past_its_level_and_enough_events(
        tmp_path: Path) -> None:
    """Past the level on the ratio alone (1 error in 40, 2.5 % against 1 %, on 200 events) or
    on too few events (5 in 15) stays quiet, as the sidecar stays ok; bound and count past
    both fires."""
    ps = _plans()
    p = ps["errs"]
    rule = threshold_alert(p, next(lv for lv in p.levels if lv.severity == "warning"))
    name = rule["alert"]
    cases = []
    for bad, good in ((1, 39), (1, 2), (3, 7)):
        b, n = bad * WINDOW, (bad + good) * WINDOW
        judged = ratio_status(b, n, 0.01, 0.5)
        fires = judged.status is Status.WARNING
        assert fires == ((bad, good) == (3, 7)), (bad, good, judged)
        assert (n >= MIN_EVENTS) == ((bad, good) != (1, 2))
        exp = [_exp(rule, bad / (bad + good))] if fires else []
        cases.append({"interval": "1m", "input_series": _inputs(p, bad, good),
                      "alert_rule_test": [{"eval_time": f"{2 * WINDOW}m", "alertname": name,
                                           "exp_alerts": exp}]})
    _run(tmp_path, cases)


def test_the_grafana_query_reads_the_bound_or_the_level_and_is_empty_only_for_no_series(
        tmp_path: Path) -> None:
    """The Grafana-managed rule's query A: the bound where enough events are in the window; the
    level itself (not past it: Normal, as the sidecar says ok) where there are too few, never an
    empty result that Grafana notifies as No Data; empty only when the objective has no series
    (a silent service, which the NoData alert reports)."""
    p = _plans()["errs"]
    level = next(lv for lv in p.levels if lv.severity == "warning")
    expr, threshold = query_expr(p, level)
    cases = []
    for bad, good in ((1, 2), (0, 1), (3, 7)):
        b, n = bad * WINDOW, (bad + good) * WINDOW
        want = wilson_interval(b, n)[0] if n >= MIN_EVENTS else threshold
        cases.append({"interval": "1m", "input_series": _inputs(p, bad, good),
                      "promql_expr_test": [{
                          "expr": f"abs(({expr}) - {want!r}) < bool 1e-9",
                          "eval_time": f"{2 * WINDOW}m",
                          "exp_samples": [{"labels": "{}", "value": 1}]}]})
    other = {**p.raw_labels, "model": "another"}
    cases.append({"interval": "1m", "input_series": [
                      {"series": cat.REQUESTS.name + cat.label_matchers({**other, "outcome": o}),
                       "values": f"0+1x{2 * WINDOW}"} for o in cat.OUTCOMES[:2]],
                  "promql_expr_test": [{"expr": f"count({expr})", "eval_time": f"{2 * WINDOW}m",
                                        "exp_samples": []}]})
    _run(tmp_path, cases)
