"""Drift thresholds calibrated on the reference: detection where a fixed floor missed real shifts,
silence where a huge window makes a negligible shift significant, and a bounded false-alarm rate
on clean windows. All data here is synthetic and seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kstwo

from detectors.calibration import (
    CalibrationCache,
    column_quantile,
    ks_threshold,
    numeric_cells,
    psi_threshold,
    window_key,
)
from detectors.drift import DriftInput, DriftThresholds, detect_drift, psi_from_counts
from detectors.ks import sorted_reference
from detectors.thresholds import Status

CATS = ["a", "b", "c", "d", "e", "f"]
P_REF = np.array([0.30, 0.25, 0.18, 0.12, 0.10, 0.05])
ALARM = (Status.WARNING, Status.CRITICAL)
FAMILY_WISE = 0.01   # the rate the README states: at most alpha, 1 % of clean windows alarm


def _shifted(strength: float) -> np.ndarray:
    """Category shares moved towards the tail by ``strength``."""
    p = P_REF * np.exp(strength * np.linspace(-1, 1, P_REF.size))
    return p / p.sum()


def _counts(rng: np.random.Generator, n: int, p: np.ndarray) -> dict[str, int]:
    return dict(zip(CATS, (int(x) for x in rng.multinomial(n, p)), strict=True))


def _alarms(results: list) -> set[str]:  # type: ignore[type-arg]
    return {r.feature for r in results if r.status in ALARM}


# -- the calibration itself ---------------------------------------------------------------------

def test_continuous_threshold_matches_the_kolmogorov_quantile() -> None:
    """For a continuous column the null of D is distribution-free: the bootstrap must land on
    the two-sample Kolmogorov quantile (within Monte Carlo noise) for any distribution."""
    rng = np.random.default_rng(1)
    for m, n in ((5_000, 5_000), (50_000, 1_000), (100_000, 100_000)):
        exact = kstwo.ppf(0.99, round(m * n / (m + n)))
        for values in (rng.normal(size=m), rng.exponential(size=m)):
            got = ks_threshold(sorted_reference(values), n, 0.99)
            assert got == pytest.approx(exact, rel=0.08), (m, n)


def test_tail_quantiles_follow_the_null_past_what_the_draws_resolve() -> None:
    """Per-column quantiles such as 1 - 0.001/10 lie beyond 1,000 draws: the 0.99 quantile is
    scaled by the null's tail shape, and must still land on the exact Kolmogorov quantile."""
    rng = np.random.default_rng(11)
    ref = sorted_reference(rng.normal(size=50_000))
    for n in (1000, 5000):
        exact = kstwo.ppf(0.9999, round(50_000 * n / (50_000 + n)))
        assert ks_threshold(ref, n, 0.9999) == pytest.approx(exact, rel=0.08)
    assert column_quantile(0.999, 10) == pytest.approx(0.9999)
    assert column_quantile(0.999, 0) == 0.999
    low, high = psi_threshold([500, 300, 200], 2000, 0.99), psi_threshold([500, 300, 200],
                                                                           2000, 0.9999)
    assert high > low


def test_ties_lower_the_threshold_and_psi_follows_chi_square() -> None:
    rng = np.random.default_rng(2)
    continuous = ks_threshold(sorted_reference(rng.normal(size=5000)), 5000, 0.99)
    coded = ks_threshold(sorted_reference(rng.integers(0, 3, 5000)), 5000, 0.99)
    assert coded < 0.9 * continuous          # three values: D moves less than for a continuum
    # small-deviation PSI is the chi-square divergence: PSI ~ chi2_{K-1} / n_eff
    from scipy.stats import chi2

    for n in (1000, 5000, 50_000):
        expected = chi2.ppf(0.99, P_REF.size - 1) * (1 / window_key(n) + 1 / 50_000)
        assert psi_threshold((P_REF * 50_000).round(), n, 0.99) == pytest.approx(expected,
                                                                                  rel=0.3)


def test_calibration_is_deterministic_cached_and_bounded() -> None:
    rng = np.random.default_rng(3)
    a, b = (sorted_reference(rng.normal(size=4000)) for _ in range(2))
    cache = CalibrationCache(cap=2)
    first = ks_threshold(a, 3000, 0.99, cache)
    assert ks_threshold(a, 3000, 0.99) == first            # seeded: no cache needed for that
    assert ks_threshold(b, 3000, 0.99, cache) == first     # continuous, same sizes: one entry
    assert (cache.stats.hits, cache.stats.misses, len(cache)) == (1, 1, 1)
    assert ks_threshold(a, 3010, 0.99, cache) == first     # a filling window: same size step
    ks_threshold(a, 1000, 0.99, cache)
    ks_threshold(a, 500, 0.99, cache)
    assert len(cache) == 2 and cache.stats.evicted == 1
    assert window_key(3000) == window_key(3010) <= 3000


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 10_000_000))
def test_a_window_key_is_its_own_key(n: int) -> None:
    """Calibrations are stored under the key and looked up again from it: rounding a key again
    must not move it (it did: a 3,892-row chunk was calibrated and then not found)."""
    k = window_key(n)
    assert window_key(k) == k and k <= n and k >= 0.9 * n - 1


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.one_of(st.integers(-3, 3), st.floats(-1e6, 1e6)), min_size=1,
                       max_size=300),
       n=st.integers(1, 100_000), q=st.floats(0.5, 0.999))
def test_any_numeric_reference_gives_a_finite_threshold(values: list[float], n: int,
                                                        q: float) -> None:
    ref = sorted_reference(values)
    cells = numeric_cells(ref)
    assert cells.sum() == ref.size and (cells > 0).all()
    t = ks_threshold(ref, n, q)
    assert math.isfinite(t) and 0.0 <= t <= 1.0 + 1e-9


@settings(max_examples=150, deadline=None)
@given(row=st.lists(st.integers(0, 10_000), min_size=0, max_size=60),
       n=st.integers(1, 100_000), q=st.floats(0.5, 0.999))
def test_any_category_counts_give_a_finite_threshold(row: list[int], n: int, q: float) -> None:
    t = psi_threshold(row, n, q)
    assert math.isfinite(t) and t >= 0.0


# -- the proof: detection ---------------------------------------------------------------

def _mixture(rng: np.random.Generator, n: int, numeric_shifts: list[float],
             categorical_shifts: list[float], m: int = 50_000) -> DriftInput:
    data = DriftInput()
    for j, s in enumerate(numeric_shifts):
        data.numeric_refs[f"x{j}"] = sorted_reference(rng.normal(size=m))
        data.numeric_windows[f"x{j}"] = rng.normal(s, 1.0, size=n)
    for j, s in enumerate(categorical_shifts):
        data.categorical_refs[f"c{j}"] = _counts(rng, m, P_REF)
        data.categorical_windows[f"c{j}"] = _counts(rng, n, _shifted(s))   # type: ignore[assignment]
    return data


def test_moderate_shifts_at_5000_rows_alarm_where_the_fixed_floor_missed_them() -> None:
    rng = np.random.default_rng(4)
    data = _mixture(rng, 5000, [0.16, 0.18, 0.20], [0.36, 0.40, 0.44])
    results = detect_drift(data)
    by = {r.feature: r for r in results}
    for j in range(3):
        r = by[f"x{j}"]
        assert 0.06 <= r.effect <= 0.09 and r.p_value < 1e-10, r
        r = by[f"c{j}"]
        assert 0.05 <= r.effect <= 0.09 and r.p_value < 1e-10, r
    assert _alarms(results) == set(by)
    assert all(r.threshold is not None and r.effect >= r.threshold for r in results)
    # the old fixed floors (0.1) stay silent on every one of them
    fixed = detect_drift(data, DriftThresholds(calibration=None))
    assert _alarms(fixed) == set()


def test_only_the_three_shifted_columns_of_ten_alarm() -> None:
    rng = np.random.default_rng(5)
    data = _mixture(rng, 5000, [0.0, 0.2, 0.0, 0.0, 0.22, 0.0, 0.0], [0.0, 0.42, 0.0])
    assert _alarms(detect_drift(data)) == {"x1", "x4", "c1"}


def test_huge_windows_alarm_on_a_real_shift_but_not_on_a_negligible_one() -> None:
    """100,000 rows, 18 columns: a 0.03-sd shift is significant everywhere and alarms nowhere
    (the absolute floor); a 0.2-sd shift alarms everywhere."""
    rng = np.random.default_rng(6)
    n = 100_000
    refs = [sorted_reference(rng.normal(size=n)) for _ in range(18)]
    cache = CalibrationCache()
    for shift, expect_all in ((0.03, False), (0.2, True)):
        data = DriftInput(numeric_refs={f"x{j}": r for j, r in enumerate(refs)},
                          numeric_windows={f"x{j}": rng.normal(shift, 1.0, size=n)
                                           for j in range(18)})
        results = detect_drift(data, cache=cache)
        assert all(r.significant for r in results)
        alarms = _alarms(results)
        assert alarms == ({r.feature for r in results} if expect_all else set()), shift
        # at this size the reference's noise is below the resolution floor: the floor decides
        assert {r.threshold_source for r in results} == {"floor"}
        assert {r.rule for r in results} == {"floor"}
        # continuous columns of one size share one closed-form threshold (nothing to draw)
        assert len({r.threshold for r in results}) == 1
    assert cache.stats.misses == 0


def test_sources_say_where_each_threshold_came_from() -> None:
    """Small windows: the reference's noise is above the floors (calibrated); large ones: the
    floor derived from the sizes decides; explicit floors win; pinned levels (calibration off)
    are the fixed 0.1 as before."""
    rng = np.random.default_rng(7)
    small = {r.feature: r for r in detect_drift(_mixture(rng, 1000, [0.0], [0.0], m=5000))}
    for r in small.values():
        assert r.threshold_source == "calibrated" and r.threshold == r.calibrated, r
    large = {r.feature: r for r in detect_drift(_mixture(rng, 50_000, [0.0], [0.0]))}
    # 50,000 against 50,000 rows: 25,000 effective, past the 10,000 resolution: the floor is
    # the column's own threshold at 10,000 effective rows (KS ~ 1/sqrt(size), PSI ~ 1/size)
    x0, c0 = large["x0"], large["c0"]
    assert x0.calibrated is not None and c0.calibrated is not None
    assert x0.threshold == pytest.approx(x0.calibrated * math.sqrt(2.5))
    assert c0.threshold == pytest.approx(c0.calibrated * 2.5)
    assert {r.threshold_source for r in large.values()} == {"floor"}
    assert all("10,000 effective rows" in (r.floor_reason or "") for r in large.values())
    for r in small.values():      # small windows state their floor too: below the threshold
        assert r.floor is not None and r.floor < r.threshold
    explicit = {r.feature: r for r in detect_drift(
        _mixture(rng, 50_000, [0.0], [0.0]), DriftThresholds(min_ks_effect=0.025, min_psi=0.01))}
    assert (explicit["x0"].threshold, explicit["c0"].threshold) == (0.025, 0.01)
    assert "set explicitly" in (explicit["x0"].floor_reason or "")
    pinned = {r.feature: r for r in detect_drift(_mixture(rng, 1000, [0.0], [0.0], m=5000),
                                                DriftThresholds(calibration=None))}
    assert pinned["x0"].threshold == 0.1 and pinned["x0"].threshold_source == "fixed"


# -- the proof: no false alarms ---------------------------------------------------------

@pytest.mark.parametrize("n", [1_000, 5_000, 50_000])
def test_clean_windows_stay_within_the_stated_family_wise_rate(n: int) -> None:
    """200 windows drawn from the reference's own distribution, 10 columns each (a coded integer
    column and three categorical ones among them): at most 1 % have any alarm."""
    rng = np.random.default_rng(100 + n)
    m = 50_000
    numeric = {f"x{j}": rng.normal(size=m) for j in range(6)}
    numeric["code"] = rng.integers(0, 6, m).astype(float)
    refs = {k: sorted_reference(v) for k, v in numeric.items()}
    cat_refs = {f"c{j}": _counts(rng, m, P_REF) for j in range(3)}
    cache = CalibrationCache()
    windows_with_alarm = 0
    for _ in range(200):
        idx = rng.integers(0, m, size=n)           # fresh draws from each reference
        wins = {k: v[idx] for k, v in numeric.items()}
        cat_wins = {k: _counts(rng, n, P_REF) for k in cat_refs}
        data = DriftInput(numeric_refs=refs, numeric_windows=wins,   # type: ignore[arg-type]
                          categorical_refs=cat_refs,
                          categorical_windows=cat_wins)  # type: ignore[arg-type]
        windows_with_alarm += bool(_alarms(detect_drift(data, cache=cache)))
    assert windows_with_alarm / 200 <= FAMILY_WISE


def test_psi_of_the_synthetic_categorical_shifts() -> None:
    """The shapes the tests above rely on: shares moved by 0.36–0.44 give PSI 0.05–0.09."""
    for s in (0.36, 0.40, 0.44):
        assert 0.045 <= psi_from_counts(P_REF, _shifted(s)) <= 0.09
