"""No silent guess in a spec: a bare number on a duration signal is refused with both readings,
a spec-wide ``defaults:`` block sets ``for``, ``window`` and ``tiers`` once, and a message that
can name its fix does (the line to add)."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.signals import RECORDS
from agent.spec import SpecError, parse_spec
from agent.units import Unit
from tests.helpers import ROOT

BASE: dict[str, Any] = {
    "service": "svc", "models": [{"name": "fraud", "version": "v3"}],
    "sources": {"datasets": [{"name": "tx"}], "scrape": []},
    "objectives": [],
}
#: a selector each kind can be given, for the walk over every duration kind
SELECTORS = {"model": "fraud", "dataset": "tx", "job": "retrain", "queue": "requests",
             "objective": "drift", "gpu": "0", "cache": "c", "breaker": "b"}
SECONDS_KINDS = sorted(k.value for k, r in RECORDS.items() if r.unit is Unit.SECONDS)


def spec_with(*objectives: dict[str, Any], **top: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["objectives"] = list(objectives)
    data.update(top)
    return data


def issues(data: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return {i.path: i.message for i in info.value.issues}


def _objective(kind: str, **levels: Any) -> dict[str, Any]:
    record = RECORDS[next(k for k in RECORDS if k.value == kind)]
    keys = record.required or record.selectors[:1]
    return {"name": "o", "signal": kind, "selector": {k: SELECTORS[k] for k in keys}, **levels}


def test_the_issue_case_critical_800_on_a_latency_is_refused_with_both_readings() -> None:
    found = issues(spec_with(_objective("latency", warning="250ms", critical=800)))
    message = found["objectives[0].critical"]
    assert "800ms or 800s" in message and "13m20s" in message


@pytest.mark.parametrize("kind", SECONDS_KINDS)
@pytest.mark.parametrize("field", ["warning", "critical"])
def test_every_duration_kind_refuses_a_bare_level(kind: str, field: str) -> None:
    other = "warning" if field == "critical" else "critical"
    levels = {field: 30, other: "30s"} if field == "warning" else {other: "1s", field: "30"}
    found = issues(spec_with(_objective(kind, **levels)))
    assert "bare number is ambiguous" in found[f"objectives[0].{field}"], found


def test_zero_and_levels_with_units_are_accepted() -> None:
    spec = parse_spec(spec_with(_objective("freshness_lag", warning="0", critical="2h"),
                                _objective("latency", warning="250ms", critical="1.5s")
                                | {"name": "p"}))
    assert spec.objectives[0].warning_threshold.value == 0.0   # type: ignore[union-attr]
    assert spec.objectives[1].critical_threshold.value == 1.5  # type: ignore[union-attr]


def test_sli_threshold_and_baseline_need_a_unit_too() -> None:
    found = issues(spec_with(_objective("latency", warning="2x baseline", baseline=0.2,
                                        objective="99%", sli_threshold=0.3)))
    assert "ambiguous" in found["objectives[0].baseline"]
    assert "ambiguous" in found["objectives[0].sli_threshold"]


@settings(max_examples=150, deadline=None)
@given(number=st.one_of(st.integers(min_value=-10**9, max_value=10**9),
                        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12,
                                  max_value=1e12)),
       as_text=st.booleans(), kind=st.sampled_from(SECONDS_KINDS))
def test_any_bare_nonzero_number_on_a_duration_kind_is_refused(number: float, as_text: bool,
                                                               kind: str) -> None:
    value: Any = repr(number) if as_text else number
    data = spec_with(_objective(kind, warning=value, critical="100y"))
    try:
        parse_spec(data)
    except SpecError as exc:
        messages = {i.path: i.message for i in exc.issues}
        if number != 0:
            assert "ambiguous" in messages.get("objectives[0].warning", ""), messages
        return
    assert number == 0 or math.isclose(number, 0.0)


def test_other_units_keep_their_bare_numbers() -> None:
    spec = parse_spec(spec_with(_objective("queue_depth", warning=1000, critical=10000),
                                _objective("error_rate", warning=0.01, critical="5%")
                                | {"name": "e"}))
    assert spec.objectives[0].critical_threshold.value == 10000  # type: ignore[union-attr]


# -- defaults ----------------------------------------------------------------------------------
def test_defaults_set_for_window_and_tiers_once() -> None:
    spec = parse_spec(spec_with(
        _objective("error_rate", objective="99%"),
        _objective("error_rate", objective="99%", window="30d", **{"for": "1m"}) | {"name": "own"},
        defaults={"for": "10m", "window": "7d", "tiers": ["page-fast", "ticket-slow"]}))
    inherits, own = spec.objectives
    assert (inherits.for_, inherits.window) == (600.0, 7 * 86400.0)
    assert [t.name for t in spec.tiers_for(inherits)] == ["page-fast", "ticket-slow"]
    assert (own.for_, own.window) == (60.0, 30 * 86400.0)      # an objective's own value wins


def test_without_defaults_the_built_in_ones_hold() -> None:
    spec = parse_spec(spec_with(_objective("error_rate", objective="99%")))
    assert (spec.objectives[0].for_, spec.objectives[0].window) == (300.0, 30 * 86400.0)
    assert len(spec.tiers_for(spec.objectives[0])) == 4


def test_a_bad_default_is_reported_at_its_own_path() -> None:
    found = issues(spec_with(_objective("error_rate", objective="99%"),
                             defaults={"window": "30m", "for": "soon"}))
    assert "shorter than 1h" in found["defaults.window"]
    assert "defaults.for" in found
    assert not any(p.startswith("objectives") for p in found)


def test_default_tiers_are_checked_against_each_objective() -> None:
    found = issues(spec_with(_objective("error_rate", objective="99%"),
                             defaults={"tiers": ["no-such-tier"]}))
    assert any("no-such-tier" in m for m in found.values()), found


# -- messages that name their fix -----------------------------------------------------------------
def test_the_readme_case_a_freshness_column_says_the_line_to_add() -> None:
    data = spec_with(sources={"datasets": [{"name": "tx", "contract": {
        "columns": {"amount": "float"}, "freshness": {"column": "event_time"}}}]})
    found = issues(data)
    msg = found["sources.datasets[0].contract.freshness.column"]
    assert "add `event_time: datetime` under contract.columns" in msg


def test_a_contract_check_on_an_undeclared_column_names_the_types() -> None:
    data = spec_with(sources={"datasets": [{"name": "tx", "contract": {
        "columns": {"amount": "float"}, "max_null_ratio": {"country": "1%"}}}]})
    msg = issues(data)["sources.datasets[0].contract.max_null_ratio.country"]
    assert "add `country: <int|float|string|bool|datetime|category>` under contract.columns" \
        in msg


def test_str_is_not_a_column_type_and_the_message_lists_string() -> None:
    data = spec_with(sources={"datasets": [{"name": "tx", "contract": {
        "columns": {"country": "str"}}}]})
    msg = issues(data)["sources.datasets[0].contract.columns.country"]
    assert "string" in msg


def test_an_undeclared_model_says_how_to_declare_it() -> None:
    found = issues(spec_with(_objective("error_rate") | {"selector": {"model": "ghost"}}))
    assert "add `- name: ghost` under models" in found["objectives[0].selector.model"]


# -- the demo says what it runs -------------------------------------------------------------------
def test_demo_help_counts_the_incidents_the_demo_runs() -> None:
    from agent.demo.incidents import _WORDS, incidents

    done = subprocess.run([sys.executable, "-m", "agent.cli", "demo", "--help"], text=True,
                          capture_output=True, timeout=60, cwd=ROOT)
    text = " ".join(done.stdout.split())
    n = len(incidents())
    assert f"injects {_WORDS[n]} incidents" in text and f"then {_WORDS[n]} incidents" in text
    for inc in incidents():
        assert inc.short in text, inc.short
    assert "six incidents" not in text
    assert Path(ROOT / "agent" / "demo" / "runner.py").read_text().count("Incident(") == 0
