"""Property tests: parsing never crashes; only the spec's own errors ever come out."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.spec import SpecError, parse_spec
from agent.units import QuantityError, Unit, parse_duration, parse_threshold

texts = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\s*[-+]?[0-9_.eE]{0,12}\s*(ms|s|m|h|d|%|x|k|/s|C|usd|\$)?\s*"
                  r"(baseline|budget)?\s*", fullmatch=True),
)
scalars = st.one_of(texts, st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.booleans(), st.none(), st.lists(st.integers(), max_size=2))


@settings(max_examples=400, deadline=None)
@given(value=scalars, unit=st.sampled_from(list(Unit)))
def test_threshold_parsing_raises_only_quantity_errors(value: Any, unit: Unit) -> None:
    try:
        t = parse_threshold(value, unit)
    except QuantityError:
        return
    assert t.value == t.value  # never NaN
    if t.base is None and unit is Unit.RATIO:
        assert 0.0 <= t.value <= 1.0


@settings(max_examples=200, deadline=None)
@given(value=scalars)
def test_duration_parsing_raises_only_quantity_errors(value: Any) -> None:
    try:
        assert parse_duration(value) >= 0
    except QuantityError:
        pass


@settings(max_examples=300, deadline=None)
@given(warning=scalars, critical=scalars, signal=st.sampled_from(
    ["latency", "error_rate", "queue_depth", "daily_spend", "throughput", "gpu_temperature",
     "availability", "cost_per_1k", "nope"]), window=scalars, for_=scalars)
def test_spec_loader_raises_only_spec_errors(warning: Any, critical: Any, signal: str,
                                             window: Any, for_: Any) -> None:
    data = {"service": "svc", "models": [{"name": "m"}], "objectives": [
        {"name": "o", "signal": signal, "warning": warning, "critical": critical,
         "window": window, "for": for_, "objective": "99%", "sli_threshold": "1s"}]}
    try:
        parse_spec(data)
    except SpecError as exc:
        assert exc.issues and all(i.path or i.message for i in exc.issues)


@settings(max_examples=150, deadline=None)
@given(data=st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(
                                ["service", "models", "objectives", "sidecar", "sources",
                                 "name", "signal", "warning", "x"]), inner, max_size=4)),
    max_leaves=20))
def test_arbitrary_documents_raise_only_spec_errors(data: Any) -> None:
    try:
        parse_spec(data)
    except SpecError:
        pass
