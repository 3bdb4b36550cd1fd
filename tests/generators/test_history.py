"""The history recording that start-up reads (issue 34): seconds since the objective's data
started, at most its longest burn window, as the sidecar counts ``now - first_seen``. The rule
extends its own last value at each evaluation; where it has none it is seeded from the samples
already stored, so history that predates the rules (backfilled) counts. promtool runs the
generated rule and its seed."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

from agent import catalogue as cat
from agent.sli import ObjectivePlan, plans
from agent.spec import parse_spec
from alerts.history import history_fine, history_probes, history_seed_expr
from alerts.rules import recording_rules
from tests.helpers import promtool_test_rules

SPEC = {"service": "svc", "models": [{"name": "m"}], "alerting": {"evaluation_interval": "1m"},
        "objectives": [{"name": "errs", "signal": "error_rate", "selector": {"model": "m"},
                        "objective": "99.9%", "window": "30d"}]}
START = 10          # minutes: the data starts off the coarse grid, so seed and rule differ


def _plan() -> ObjectivePlan:
    [p] = plans(parse_spec(SPEC))
    return p


def _run(tmp_path: Path, rules: list[dict[str, Any]], tests: list[dict[str, Any]]) -> None:
    promtool_test_rules(tmp_path, [{"name": "history", "interval": "1m", "rules": rules}], tests,
                        timeout=600)


def test_history_grows_by_each_evaluation_and_stops_at_the_longest_window(
        tmp_path: Path) -> None:
    """Exact to the evaluation from the first sample on (the coarse seed alone would be short
    by up to a grid step), never more than the longest burn window, and none before data."""
    p = _plan()
    [rule] = [r for r in recording_rules(p) if r.get("record") == p.history_name]
    longest = max(p.coverage_seconds)
    end = int(longest // 60) + 120
    assert 47 * 3600 not in history_probes(p)      # the seed alone would read 47h short
    series = f"{p.history_name}{p.rec_matchers}"
    labels = p.history_name + cat.label_matchers(p.labels)

    def at(minute: int, seconds: float | None) -> dict[str, Any]:
        got = [] if seconds is None else [{"labels": labels, "value": seconds}]
        return {"expr": series, "eval_time": f"{minute}m", "exp_samples": got}

    _run(tmp_path, [rule], [{"interval": "1m", "input_series": [
        {"series": p.coverage_selector, "values": f"_x{START} 0+1x{end}"}],
        "promql_expr_test": [
            at(START - 5, None), at(START, 0), at(START + 7, 420),
            at(START + 47 * 60, 47 * 3600), at(START + end - 1, longest)]}])


def test_the_seed_counts_history_stored_before_the_rules(tmp_path: Path) -> None:
    """The seed reads the stored samples whenever they were written: within ten evaluation
    intervals exactly; beyond it the longest probe age at which the series held a sample (a
    burn window's own length among them, so a full window reads full), at most the longest
    window."""
    p = _plan()
    probes = history_probes(p)
    assert {3600.0, 21600.0, 86400.0, 259200.0} <= set(probes) and len(probes) <= 16
    assert all(b <= a * 2 + 60 for a, b in pairwise(probes))
    seed = history_seed_expr(p)

    def case(start: int, minute: int, seconds: float) -> dict[str, Any]:
        return {"interval": "1m", "input_series": [
            {"series": p.coverage_selector, "values": f"_x{start} 0+1x{minute - start + 5}"}],
            "promql_expr_test": [{"expr": seed, "eval_time": f"{minute}m",
                                  "exp_samples": [{"labels": "{}", "value": seconds}]}]}

    def probed(start: int, minute: int) -> float:
        return max(a for a in probes if a <= (minute - start) * 60)

    _run(tmp_path, [], [
        case(START, START + 7, 7 * 60),                     # within ten intervals: exact
        case(START, 2000, probed(START, 2000)),             # short by less than one step
        case(START, START + 24 * 60 + 3, 86400),            # a full day reads a full day
        case(START, 5000, max(p.coverage_seconds))])        # at most the longest window
    assert history_fine(p) == 600 and probed(START, 2000) < (2000 - START) * 60
