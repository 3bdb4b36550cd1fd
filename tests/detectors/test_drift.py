"""Categorical tests, multiple testing and the significance-AND-effect-size rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, false_discovery_control

from detectors.drift import (
    DriftInput,
    DriftThresholds,
    adjust_p_values,
    chi_square,
    detect_drift,
    psi_from_counts,
)
from detectors.ks import sorted_reference
from detectors.thresholds import Status

cats = st.lists(st.sampled_from(["a", "b", "c", "d", None]), max_size=80)


@settings(max_examples=200, deadline=None)
@given(ref=cats, win=cats)
def test_chi_square_matches_scipy_and_handles_unseen_categories(ref: list, win: list) -> None:
    res = chi_square(ref, win)
    r = [x for x in ref if x is not None]
    w = [x for x in win if x is not None]
    if not r or not w:
        assert math.isnan(res.p_value)
        return
    assert set(res.unseen) == set(w) - set(r)
    assert res.new_share == pytest.approx(sum(x not in r for x in w) / len(w))
    # the oracle: scipy on the table whose window-only categories share one column
    seen = list(dict.fromkeys(r))
    columns = [[r.count(k), w.count(k)] for k in seen]
    new = sum(x not in r for x in w)
    singletons = sum(1 for k in seen if r.count(k) == 1) if new else 0   # Good-Turing mass
    columns.append([singletons, new])
    columns = [c for c in columns if sum(c) > 0]
    if len(columns) < 2:
        assert res.p_value == 1.0
        return
    table = np.array(columns, dtype=float).T
    expected = chi2_contingency(table)
    assert res.statistic == pytest.approx(expected.statistic, rel=1e-12, abs=1e-12)
    assert res.p_value == pytest.approx(expected.pvalue, abs=1e-12)
    js = jensenshannon(table[0] / table[0].sum(), table[1] / table[1].sum(), base=2)
    assert res.js_distance == pytest.approx(js, abs=1e-12)


def test_high_cardinality_column_with_disjoint_support_is_drift() -> None:
    """Every window value new (1,500 merchants, another 1,500 now): one-count cells hid it
    (p = 0.5); one unseen bin shows it. A fresh sample of the same long tail also meets values
    the reference never had, and that is not drift."""
    rng = np.random.default_rng(3)
    ref = [f"m-{x}" for x in rng.integers(0, 1500, 5000)]
    win = [f"m-{x}" for x in rng.integers(1500, 3000, 5000)]
    res = chi_square(ref, win)
    assert res.p_value < 1e-12 and res.new_share == 1.0 and res.psi > 1
    again = chi_square(ref, [f"m-{x}" for x in rng.integers(0, 1500, 5000)])
    assert again.p_value > 0.01 and 0 < again.new_share < 0.1
    same = chi_square(ref, ref)           # same sample: nothing to see
    assert same.p_value > 0.5 and same.new_share == 0.0
    # 1 % of rows in a new category at 5,000 rows
    base = list(rng.choice(["a", "b", "c"], 5000))
    shifted = base[:4950] + ["zz"] * 50
    assert chi_square(base, shifted).new_share == pytest.approx(0.01)


@pytest.mark.parametrize("zeros", [[0.0, -0.0], [-0.0, 0.0], [-0.0, -0.0]])
def test_a_numbers_zero_is_one_category_named_0(zeros: list[float]) -> None:
    """-0.0 and 0.0 are one category (a flag's value) named ``0.0``, whichever came first
    (an unstable sort decides that), in the window and in the reference."""
    res = chi_square([1.0, 2.0], zeros + [1.0])
    assert res.unseen == (0.0,) and str(res.unseen[0]) == "0.0"
    assert chi_square({-0.0: 2, 1.0: 1}, zeros).unseen == ()
    assert [str(c) for c in chi_square({-0.0: 2}, [0.0, 3.0]).unseen] == ["3.0"]


def test_psi_known_value_and_no_infinity() -> None:
    assert psi_from_counts([50, 50], [50, 50]) == 0.0
    expected = (0.6 - 0.5) * math.log(0.6 / 0.5) + (0.4 - 0.5) * math.log(0.4 / 0.5)
    assert psi_from_counts([50, 50], [60, 40]) == pytest.approx(expected)
    assert math.isfinite(psi_from_counts([100, 0], [0, 100]))


def test_bh_and_bonferroni() -> None:
    p = [0.001, 0.02, math.nan, 0.04, 0.5]
    bh = adjust_p_values(p, "bh")
    expected = false_discovery_control([0.001, 0.02, 0.04, 0.5], method="bh")
    assert [bh[i] for i in (0, 1, 3, 4)] == pytest.approx(list(expected))
    assert math.isnan(bh[2])
    assert adjust_p_values(p, "bonferroni")[1] == pytest.approx(0.08)


def _input(shift: float, n: int, features: int, seed: int = 0) -> DriftInput:
    rng = np.random.default_rng(seed)
    data = DriftInput()
    for j in range(features):
        data.numeric_refs[f"f{j}"] = sorted_reference(rng.normal(size=n))
        data.numeric_windows[f"f{j}"] = rng.normal(shift, size=n)
    return data


def test_tiny_shift_on_huge_windows_is_significant_but_never_alarms() -> None:
    """At n=100k a 0.03-sd shift is 'significant' everywhere; the effect floor keeps it quiet."""
    results = detect_drift(_input(0.03, 100_000, 6))
    assert all(r.significant for r in results)
    assert all((r.status is Status.OK and r.score == 0) or r.status is Status.OK for r in results)
    assert all(r.effect < 0.1 for r in results)


def test_real_shift_alarms_with_warning_and_critical_floors() -> None:
    warn = detect_drift(_input(0.4, 2000, 3), DriftThresholds(0.1, 0.25))
    assert {r.status for r in warn} == {Status.WARNING}
    crit = detect_drift(_input(1.0, 2000, 3), DriftThresholds(0.1, 0.25))
    assert {r.status for r in crit} == {Status.CRITICAL}
    assert all(r.score == r.effect > 0.25 for r in crit)


def test_categorical_and_small_sample_features() -> None:
    data = _input(0.0, 500, 1)
    data.categorical_refs["country"] = {"de": 500, "fr": 500}
    data.categorical_windows["country"] = ["de"] * 100 + ["fr"] * 300 + ["xx"] * 600
    data.numeric_refs["tiny"] = sorted_reference([1.0, 2.0])
    data.numeric_windows["tiny"] = [5.0, 6.0]
    by = {r.feature: r for r in detect_drift(data)}
    assert by["country"].status is Status.CRITICAL and by["country"].unseen == ("xx",)
    assert by["tiny"].status is Status.NO_DATA
    assert by["f0"].status is Status.OK


@settings(max_examples=200, deadline=None)
@given(ref=st.lists(st.integers(-5, 5) | st.floats(-10, 10), min_size=1, max_size=60),
       win=st.lists(st.integers(-5, 5) | st.floats(-10, 10) | st.just(math.nan), max_size=60))
def test_numeric_psi_from_a_sorted_window_is_the_same(ref: list[float], win: list[float]) -> None:
    """detect_drift sorts each window once for KS and PSI; values on the edges (ties) must land
    in the same bins as when each value is placed on its own."""
    from detectors.drift import numeric_psi
    from detectors.ks import sorted_window

    r = sorted_reference(ref)
    a, b = numeric_psi(r, win), numeric_psi(r, sorted_window(win), window_sorted=True)
    assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-15)
