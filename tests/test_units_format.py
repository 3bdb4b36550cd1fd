"""Numbers a reader does not decode: durations rounded to what matters, shares without exponents
or float noise, never a rounded-up 100 %. Properties over the whole range, plus the issue's own
examples."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agent.units import Unit, format_percent, format_span, format_value, parse_duration
from tests.helpers import ROOT

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
    if abs(ratio) < 1e-9:
        assert text == "0%"
    elif abs(ratio) >= 1e-8:
        assert text != "0%", ratio          # a small share someone measured is not zero


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


def test_the_tiers_table_reads_without_decoding(tmp_path: Path) -> None:
    """`slo-agent tiers` for a 99.9999 % target over 28 days: the error ratio that pages is a
    plain percentage and how long the budget lasts is rounded (the JSON keeps exact figures)."""
    spec = tmp_path / "slo.yaml"
    spec.write_text("service: s\nmodels: [{name: m}]\nobjectives:\n"
                    "  - {name: e, signal: error_rate, selector: {model: m}, objective: 99.9999%,"
                    " window: 28d, tiers: [page-fast, {name: mine, budget_share: 20%,"
                    " window_fraction: 1/11, severity: warning}]}\n")
    done = subprocess.run([sys.executable, "-m", "agent.cli", "tiers", str(spec)], text=True,
                          capture_output=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[4]: line for line in done.stdout.splitlines()[2:]}
    assert "0.00144%" in rows["page-fast"] and "0.00022%" in rows["mine"]
    assert "e-0" not in done.stdout
    assert re.search(r"\s12d17h\s*$", rows["mine"]), rows["mine"]   # not 12d17h27m16s...
