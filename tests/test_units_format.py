"""Numbers a reader does not decode: durations rounded to what matters, shares without exponents
or float noise, never a rounded-up 100 %. Properties over the whole range, plus the issue's own
examples."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from agent.units import Unit, format_percent, format_span, format_value, parse_duration

SPAN = re.compile(r"^(\d+(d|h|m|s)){1,2}$|^\d+(\.\d)?s$|^\d+(\.\d+)?(ms|µs)$|^0s$")


def test_the_issues_examples() -> None:
    assert format_span(464.994) == "7m45s"              # not 7m44s994ms
    assert format_percent(2.17e-17) == "0%"              # not 2.17e-17%
    assert format_percent(-4.88) == "-488%"
    assert format_value(2.17e-17, Unit.RATIO) == "0%"
    assert format_span(7980) == "2h13m" and format_span(3 * 86400 + 4.5 * 3600) == "3d5h"
    assert format_percent(0.9995) == "99.95%" and format_percent(0.99999) == "99.999%"


@given(st.floats(min_value=0, max_value=400 * 86400, allow_nan=False))
def test_a_span_has_at_most_two_units_and_is_close(seconds: float) -> None:
    text = format_span(seconds)
    assert SPAN.match(text), text
    if seconds >= 1 and "ms" not in text and "µs" not in text:
        back = parse_duration(text)
        # rounded to the smaller unit shown: within half of it (a minute at most below 1h ...)
        unit = {"d": 86400, "h": 3600, "m": 60, "s": 1}[re.findall(r"[dhms]", text)[-1]]
        assert abs(back - seconds) <= max(unit / 2, 0.05) + 1e-9, (seconds, text)


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_a_percentage_never_has_an_exponent_or_noise(ratio: float) -> None:
    text = format_percent(ratio)
    assert "e" not in text.lower() and text.endswith("%"), text
    if abs(ratio) < 5e-6:
        assert text == "0%"


@given(st.floats(min_value=0.99, max_value=1.0, exclude_max=True))
def test_near_100_percent_is_never_rounded_up_to_it(ratio: float) -> None:
    text = format_percent(ratio)
    if ratio * 100 < 100 - 1e-9:
        assert text != "100%", ratio
        assert float(text[:-1]) <= ratio * 100 + 1e-9


@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(list(Unit)))
def test_no_value_text_has_an_exponent(value: float, unit: Unit) -> None:
    text = format_value(value, unit)
    assert not re.search(r"\de[+-]?\d", text), text


def test_no_data_and_non_finite() -> None:
    assert format_value(None, Unit.SECONDS) == "no data"
    assert format_value(math.inf, Unit.RATIO) == "no data"
    assert format_span(None) == "—"
