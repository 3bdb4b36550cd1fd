"""KS against scipy.stats.ks_2samp: statistic to 1e-12, p-value to 1e-9, ties/NaN/empty included."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import ks_2samp

from detectors.ks import (
    ks_many,
    ks_presorted,
    sorted_reference,
    sorted_window,
    sorted_windows,
)

values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([0.0, 1.0, 2.0, -1.0, math.nan]),   # heavy ties and NaNs
)
samples = arrays(np.float64, st.integers(0, 60), elements=values)


def _scipy(a: np.ndarray, b: np.ndarray, method: str = "auto") -> tuple[float, float]:
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = ks_2samp(a, b, method=method)
    return float(res.statistic), float(res.pvalue)


@settings(max_examples=400, deadline=None)
@given(a=samples, b=samples, method=st.sampled_from(["auto", "asymp", "exact"]))
def test_matches_scipy_on_random_tied_nan_and_empty_inputs(a: np.ndarray, b: np.ndarray,
                                                           method: str) -> None:
    ours = ks_presorted(sorted_reference(a), b, method=method)
    na, nb = int((~np.isnan(a)).sum()), int((~np.isnan(b)).sum())
    if na == 0 or nb == 0:
        assert ours.method == "empty" and math.isnan(ours.p_value)
        return
    stat, p = _scipy(a, b, method)
    assert ours.statistic == stat           # bit for bit: the same counts, divided the same way
    assert ours.p_value == pytest.approx(p, abs=1e-9, nan_ok=True)
    assert (ours.n_reference, ours.n_window) == (na, nb)


@pytest.mark.parametrize("n1,n2", [(10_000, 10_000), (3_000, 7_000), (12_000, 15_000),
                                   (500, 20_000), (1, 1), (1, 5000)])
def test_matches_scipy_at_sizes_around_the_exact_threshold(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 + n2)
    a, b = rng.normal(size=n1), rng.normal(0.05, 1.1, size=n2)
    ours = ks_presorted(sorted_reference(a), b)
    stat, p = _scipy(a, b)
    assert ours.statistic == stat
    assert ours.p_value == pytest.approx(p, abs=1e-9, nan_ok=True)
    assert ours.method == ("exact" if max(n1, n2) <= 10_000 else "asymp")


def test_constant_inputs() -> None:
    for a, b in [(np.ones(50), np.ones(40)), (np.zeros(30), np.ones(30))]:
        ours = ks_presorted(sorted_reference(a), b)
        stat, p = _scipy(a, b)
        assert (ours.statistic, ours.p_value) == pytest.approx((stat, p), abs=1e-12)


def test_many_features_with_different_window_sizes_match_per_feature() -> None:
    rng = np.random.default_rng(7)
    refs = [rng.normal(size=n) for n in (100, 2000, 15_000)]
    wins = [rng.normal(0.1, size=n) for n in (80, 3000, 11_000)]
    wins[1][::7] = np.nan
    results = ks_many([sorted_reference(r) for r in refs], wins)
    for r, a, b in zip(results, refs, wins, strict=True):
        stat, p = _scipy(a, b)
        assert r.statistic == pytest.approx(stat, abs=1e-12)
        assert r.p_value == pytest.approx(p, abs=1e-9)


def test_two_dimensional_window_with_nans_per_column() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(500, 4))
    win = rng.normal(0.2, size=(400, 4))
    win[rng.random((400, 4)) < 0.1] = np.nan
    results = ks_many([sorted_reference(ref[:, j]) for j in range(4)], win)
    for j, r in enumerate(results):
        stat, p = _scipy(ref[:, j], win[:, j])
        assert r.statistic == pytest.approx(stat, abs=1e-12)
        assert r.p_value == pytest.approx(p, abs=1e-9)


def test_kstwo_sf_matches_scipy_in_every_regime() -> None:
    """The vectorised exact Smirnov sum (scipy's slow branch for large n) and every other branch
    agree with scipy.stats.kstwo.sf."""
    from scipy.stats import kstwo

    from detectors.ks import kstwo_sf

    for n in (50, 150, 5_000, 50_000):
        xs = np.concatenate([np.linspace(1e-4, 0.6, 40), [1.0 / n, 0.5, 0.99]])
        ours = kstwo_sf(xs, np.full(xs.shape, float(n)))
        theirs = np.clip(kstwo.sf(xs, n), 0, 1)
        assert np.max(np.abs(ours - theirs)) < 1e-12, n
        nz = theirs > 1e-300
        assert np.max(np.abs(ours[nz] - theirs[nz]) / theirs[nz]) < 1e-8, n


def _drawn(kind: str, n: int, shift: float, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return rng.normal(shift, 1.0 + abs(shift), size=n)
    if kind == "rounded":                       # ties within and across the samples
        return np.round(rng.normal(shift, 1.0, size=n), 1)
    if kind == "few values":
        return rng.integers(0, 6, size=n).astype(np.float64) + (shift > 0)
    return rng.standard_cauchy(size=n) * (1 + abs(shift))   # wide tails: sparse blocks


@settings(max_examples=150, deadline=None)
@given(n1=st.integers(1, 4000), n2=st.integers(120, 4000),
       kind=st.sampled_from(["normal", "rounded", "few values", "cauchy"]),
       shift=st.floats(-0.5, 0.5), seed=st.integers(0, 2**32 - 1))
def test_windows_long_enough_to_skip_blocks_match_scipy_bit_for_bit(
        n1: int, n2: int, kind: str, shift: float, seed: int) -> None:
    """From 128 window points on, only the blocks of points that can hold a maximum gap are
    placed in the reference (detectors/ks.py): the statistic is still scipy's, bit for bit."""
    rng = np.random.default_rng(seed)
    a, b = _drawn(kind, n1, 0.0, rng), _drawn(kind, n2, shift, rng)
    ours = ks_presorted(sorted_reference(a), b)
    stat, p = _scipy(a, b)
    assert ours.statistic == stat
    assert ours.p_value == pytest.approx(p, abs=1e-9, nan_ok=True)


@pytest.mark.parametrize("n", [100_000, 60_000])
def test_large_windows_match_scipy_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    a, b = np.round(rng.normal(size=n), 2), np.round(rng.normal(0.01, 1, size=n - 7), 2)
    ours = ks_presorted(sorted_reference(a), b)
    stat, p = _scipy(a, b)
    assert ours.statistic == stat and ours.p_value == pytest.approx(p, abs=1e-9)


def test_sorted_windows_match_sorted_window_per_column() -> None:
    rng = np.random.default_rng(5)
    block = rng.normal(size=(300, 4))
    block[::7, 1] = np.nan
    block[:, 3] = np.nan
    before = block.copy()
    same = [block[:, j] for j in range(4)]                  # one length: sorted as a block
    mixed = [*same, rng.normal(size=11)]                    # lengths differ: one by one
    for cols in (same, mixed, same[:1]):
        got, want = sorted_windows(cols), [sorted_window(c) for c in cols]
        assert [g.tolist() for g in got] == [w.tolist() for w in want]
    np.testing.assert_array_equal(block, before)           # the caller's columns untouched
