"""A deploy start spends no budget on a rate where lower is worse (issue 34), in the rules.

A throughput objective with an error-budget target counts time slices: a slice is bad while the
rate is under its level. At a deploy start its rate window holds less data than its length, so
``rate()`` reads low (a tenth of the window, a tenth of the rate) although the service is
healthy. Its warning and critical alerts already wait until the window is covered; the slices
must too: an uncovered slice is neither good nor bad (unknown, as a burn window with less history
than its length counts the missing part). promtool runs the generated rules on a fresh counter
that is healthy from its first sample: no bad slice, the whole budget left, no burn alert; a real
outage after the window is covered still spends budget and pages. The Grafana-managed rules'
query judges the level under the same guard (reading the level itself meanwhile, not an empty
result Grafana would take for No Data), and so does the review from Prometheus
(``slo-agent report``) when it counts slices from the sidecar's exported value.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from agent import catalogue as cat
from agent.report.prometheus import slice_values
from agent.sli import ObjectivePlan, plans
from agent.spec import parse_spec
from alerts import burntests
from alerts.grafana import query_expr
from alerts.rules import objective_group
from tests.deploy_start import HEALTHY, LEVEL, SPEC, STEP
from tests.helpers import promtool_test_rules


def _plan() -> ObjectivePlan:
    return plans(parse_spec(SPEC))[0]


def _counter(p: ObjectivePlan, values: str, exported: str) -> list[dict[str, str]]:
    """The SDK's request counter, and the value the sidecar exports (which the review from
    Prometheus judges slices on)."""
    return [{"series": cat.REQUESTS.name + cat.label_matchers(
        {**p.raw_labels, "outcome": cat.OUTCOMES[0]}), "values": values},
        {"series": cat.OBJECTIVE_VALUE.name + cat.label_matchers(p.labels), "values": exported}]


def _run(tmp_path: Path, tests: list[dict[str, Any]], p: ObjectivePlan | None = None) -> None:
    promtool_test_rules(tmp_path, [objective_group(p or _plan())], tests)


def test_a_healthy_deploy_start_spends_no_budget_and_an_outage_does(tmp_path: Path) -> None:
    p = _plan()
    per_min = HEALTHY * 60
    # the rate reads HEALTHY * t / STEP in the first window: under LEVEL for its first minutes
    assert HEALTHY * 1 / STEP < LEVEL < HEALTHY
    bad = f"sum(sum_over_time({p.bad_name}{p.rec_matchers}[1h])) or vector(0)"
    left = f"sum({cat.RULE_BUDGET_REMAINING}{p.rec_matchers})"
    # the Grafana-managed warning rule's query A, past its level
    expr, level = query_expr(p, next(lv for lv in p.levels if lv.severity == "warning"))
    warned = f"count(({expr}) < {level:.10g}) or vector(0)"
    grafana_a = f"count({expr})"              # never empty while the window fills: no No Data
    # the review from Prometheus (slo-agent report): a slice it counts as bad
    reviewed = f"count(({slice_values(p.spec, p)}) < {LEVEL:g}) or vector(0)"
    ramp = " ".join(f"{HEALTHY * m / STEP:g}" for m in range(STEP))   # as the sidecar reads
    paged = (f'count(ALERTS{{alertname="{p.burn_alert_name}",alertstate="firing"}}) '
             "or vector(0)")

    def at(expr: str, minute: int, value: float) -> dict[str, Any]:
        return {"expr": expr, "eval_time": f"{minute}m",
                "exp_samples": [{"labels": "{}", "value": value}]}

    start = {"interval": "1m",
             "input_series": _counter(p, f"0+{per_min:g}x20", f"{ramp} {HEALTHY:g}x16"),
             "promql_expr_test": [at(bad, m, 0) for m in (2, STEP - 1, STEP, 12)]
             + [at(paged, m, 0) for m in (2, 3, 4, STEP, 8)]
             + [at(warned, m, 0) for m in (2, STEP - 1, STEP)]
             + [at(grafana_a, m, 1) for m in (1, 2, STEP)]
             + [at(reviewed, m, 0) for m in (1, 2, STEP - 1, STEP)]
             + [at(left, 12, 1)]}
    # healthy for 10 minutes, then nothing served: every slice of the outage is bad
    outage = {"interval": "1m",
              "input_series": _counter(p, f"0+{per_min:g}x10 {10 * per_min:g}x15",
                                       f"{ramp} {HEALTHY:g}x5 0x15"),
              "promql_expr_test": [at(f"{left} < bool 1", 22, 1), at(paged, 22, 1),
                                   at(warned, 22, 1), at(reviewed, 22, 1)]}
    _run(tmp_path, [start, outage])


def test_generated_burn_tests_start_the_slices_history_when_the_window_is_covered(
        tmp_path: Path) -> None:
    """The generated promtool tests model a fresh start (alerts/burntests.py): such a rate's
    slices, and so the history its burn windows' coverage reads, begin a rate window after its
    series does. A 20m tier at 80 % whose level all-bad slices pass at 15 minutes only with the
    history begun at the first sample: the generated tests must not expect it to fire."""
    spec = copy.deepcopy(SPEC)
    spec["alerting"]["tiers"][0].update(budget_share=1.0, long="20m")
    spec["objectives"][0].update(objective="80%")
    p = plans(parse_spec(spec))[0]
    tier = p.tiers[0]
    base = 15                                  # ticks a case runs before it looks
    # history from the first covered slice (STEP minutes in) or from the first sample
    assert (base - STEP) * 60 / tier.long < p.tier_threshold(tier) < (base - 1) * 60 / tier.long
    tests = burntests.burn_tests(p)
    assert tests
    _run(tmp_path, tests, p)
