"""Property tests for the spec fields issue 21 added (exact percentages, custom.error_ratio,
alert_name, annotations, tier labels and ``for``, page_min_events) and for the PromQL parser
that rewrites counter queries: valid values load, anything else is a SpecError naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import promql_parser
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agent.spec import SpecError, parse_spec
from agent.spec.promql_syntax import CounterQueryError, counter_rate
from agent.units import Unit, parse_quantity

metric = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
matcher = st.builds(lambda k, op, v: f'{k}{op}"{v}"',
                    st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
                    st.sampled_from(["=", "!=", "=~", "!~"]),
                    st.from_regex(r"[a-z0-9]{0,6}", fullmatch=True))
selector = st.builds(lambda m, ms: m + ("{" + ",".join(ms) + "}" if ms else ""), metric,
                     st.lists(matcher, max_size=3))


@st.composite
def counter_query(draw: st.DrawFn) -> tuple[str, int]:
    sel = draw(selector)
    wrap = draw(st.sampled_from(["{}", "sum({})", "sum by (code) ({})", "({})",
                                 "sum({}) - sum({})", "max without (pod) ({})"]))
    n = wrap.count("{}")
    query = wrap.format(*([sel] * n))
    try:    # a name that is a PromQL keyword (on, bool, ignoring, ...) is no counter query
        promql_parser.parse(query)
    except (ValueError, RuntimeError):
        assume(False)
    return query, n


@given(counter_query())
@settings(max_examples=60, deadline=None)
def test_counter_queries_become_rates_that_parse(case: tuple[str, int]) -> None:
    query, selectors = case
    out = counter_rate(query)
    assert promql_parser.parse(out.replace("{{.window}}", "5m")) is not None
    assert out.count("rate(") == selectors and out.count("[{{.window}}]") == selectors


@pytest.mark.parametrize("query", ["sum(rate(x[5m]))", "x offset 5m", "x[5m:1m]",
                                   "sum(rate(x[{{.window}}]))", "sum(x"])
def test_counter_rewrite_refuses_what_is_no_counter(query: str) -> None:
    with pytest.raises(CounterQueryError):
        counter_rate(query)


@given(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("99.999"), places=3))
def test_percent_targets_are_exact_decimals(value: Decimal) -> None:
    assert parse_quantity(f"{value}%", Unit.RATIO) == float(value / 100)


def _objective(**extra: Any) -> dict[str, Any]:
    return {"service": "svc", "models": [{"name": "m"}], "objectives": [{
        "name": "o", "signal": "custom", "objective": "99.9%",
        "custom": {"error_ratio": "sum(rate(e[{{.window}}])) / sum(rate(t[{{.window}}]))"},
        **extra}]}


value = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
                  st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4),
                                                                       st.text(max_size=4)))


@given(st.sampled_from(["alert_name", "annotations", "no_data_alert", "tiers"]), value)
@settings(max_examples=80, deadline=None)
def test_new_objective_fields_load_or_name_the_field(field: str, v: Any) -> None:
    try:
        parse_spec(_objective(**{field: v}))
    except SpecError as exc:
        assert any(i.path.startswith(f"objectives[0].{field}") for i in exc.issues), exc.issues


@given(st.sampled_from(["labels", "annotations", "for"]), value)
@settings(max_examples=60, deadline=None)
def test_tier_fields_load_or_name_the_field(field: str, v: Any) -> None:
    try:
        parse_spec(_objective(tiers=[{"name": "page-fast", field: v}]))
    except SpecError as exc:
        assert any(i.path.startswith("objectives[0].tiers") for i in exc.issues), exc.issues


@given(value)
@settings(max_examples=40, deadline=None)
def test_page_min_events_loads_or_names_the_field(v: Any) -> None:
    data = _objective()
    data["alerting"] = {"page_min_events": v}
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        assert any(i.path.startswith("alerting.page_min_events") for i in exc.issues)
    else:
        assert spec.alerting.page_min_events >= 0


@given(st.text(max_size=40))
@settings(max_examples=60, deadline=None)
def test_error_ratio_queries_parse_or_are_refused_by_field(query: str) -> None:
    data = _objective()
    data["objectives"][0]["custom"] = {"error_ratio": query}
    try:
        o = parse_spec(data).objectives[0]
    except SpecError as exc:
        assert any(i.path.startswith("objectives[0].custom") for i in exc.issues), exc.issues
    else:
        assert o.custom is not None and o.custom.events
