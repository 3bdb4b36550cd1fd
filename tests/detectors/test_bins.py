"""``detectors.bins`` against direct computations: the binned KS distance and PSI the fleet
drift rules compute in PromQL, and the guards they are judged against."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from detectors import bins
from detectors.categorical import psi_from_counts
from detectors.levels import level_values

# quarter steps give ties (repeated edges), floats give the continuous case
SAMPLE = st.lists(st.one_of(st.integers(-8, 8).map(lambda k: k / 4),
                            st.floats(-1e3, 1e3, allow_nan=False)), min_size=1, max_size=200)


def test_levels_and_labels() -> None:
    assert bins.levels(10).tolist() == pytest.approx([0.1 * k for k in range(1, 10)])
    assert [bins.level_label(q) for q in bins.levels(3)] == ["0.333333", "0.666667"]
    assert bins.level_label(0.1) == "0.1" and bins.level_label(math.inf) == "+Inf"
    with pytest.raises(ValueError):
        bins.levels(1)
    with pytest.raises(ValueError):
        bins.quantile_edges(np.array([]), [0.5])


@given(b=st.integers(2, 100_000))
def test_plain_python_levels_are_numpys_bit_for_bit(b: int) -> None:
    """The generator's numpy-free levels (detectors/levels.py) print the very ``le`` labels the
    sidecars export from numpy's: the same float64 bits, not merely close."""
    plain = level_values(b)
    assert [q.hex() for q in plain] == [float(q).hex() for q in np.round(np.arange(1, b) / b, 6)]
    assert bins.levels(b).tolist() == plain


@settings(max_examples=200, deadline=None)
@given(ref=SAMPLE, window=SAMPLE, b=st.integers(2, 50))
def test_edges_counts_and_distances_match_direct_computations(ref: list[float],
                                                              window: list[float],
                                                              b: int) -> None:
    r, w = np.sort(np.array(ref)), np.array(window)
    qs = bins.levels(b)
    edges = bins.quantile_edges(r, qs)
    # inverted CDF: an observed value with at least q of the reference at or below it and
    # less than q strictly below it
    assert set(edges.tolist()) <= set(r.tolist())
    for q, e in zip(qs, edges, strict=True):
        assert np.mean(r <= e) >= q - 1e-12 and np.mean(r < e) < q + 1e-12
    with_nan = np.append(w, np.nan)
    wc = bins.cumulative_counts(with_nan, edges)
    assert wc.tolist() == [int(np.sum(w <= e)) for e in edges] + [w.size]
    rc = bins.reference_cumulative(r, edges)
    assert rc.tolist() == pytest.approx([float(np.mean(r <= e)) for e in edges] + [1.0])
    d = bins.ks_from_cumulative(wc, rc)
    assert d == pytest.approx(max(abs(np.mean(w <= e) - np.mean(r <= e)) for e in edges)
                              if edges.size else 0.0)
    assert d <= stats.ks_2samp(w, r).statistic + 1e-12       # a lower bound of the full D
    # PSI over the bins is the categorical PSI of the per-bin counts
    ref_counts = np.diff(np.concatenate(([0], np.searchsorted(r, edges, "right"), [r.size])))
    assert bins.psi_from_cumulative(wc, rc) == pytest.approx(
        psi_from_counts(ref_counts, np.diff(np.concatenate(([0], wc)))), rel=1e-9, abs=1e-12)
    assert bins.shares(rc).sum() == pytest.approx(1.0)


def test_empty_window_has_no_distance() -> None:
    assert math.isnan(bins.ks_from_cumulative([0, 0, 0], [0.3, 0.6, 1.0]))
    assert math.isnan(bins.psi_from_cumulative([0, 0, 0], [0.3, 0.6, 1.0]))
    assert bins.ks_critical(0, 10, 0.05) == math.inf
    assert bins.psi_critical(10, 0, 10, 0.05) == math.inf


@pytest.mark.parametrize("dof", [3, 5, 9, 20, 49, 199])
@pytest.mark.parametrize("p", [0.5, 0.9, 0.95, 0.99, 0.999, 0.9999])
def test_chi2_quantile_within_its_documented_error(dof: int, p: float) -> None:
    exact = stats.chi2.ppf(p, dof)
    got = bins.chi2_quantile(p, dof)
    assert abs(got / exact - 1) <= (0.013 if dof >= 9 else 0.035)
    if p >= 0.99:
        assert got >= exact          # conservative at the alarm levels


@pytest.mark.parametrize(("n", "m", "alpha"), [(200, 500, 0.05), (1000, 1000, 0.01)])
def test_guards_false_alarm_rates_near_alpha(n: int, m: int, alpha: float) -> None:
    """Clean windows against clean references (fixed seed, 2,000 trials): the continuous KS D
    passes ks_critical about alpha of the time, the binned D (a lower bound) no more often, and
    the binned PSI passes psi_critical about alpha of the time."""
    rng = np.random.default_rng(26)
    trials, b = 2000, 10
    x, y = rng.normal(size=(trials, n)), rng.normal(size=(trials, m))
    full = stats.ks_2samp(x, y, axis=1).statistic
    crit, pcrit = bins.ks_critical(n, m, alpha), bins.psi_critical(n, m, b, alpha)
    ks_binned = psi = 0
    for i in range(trials):
        ref = np.sort(y[i])
        edges = bins.quantile_edges(ref, bins.levels(b))
        wc, rc = bins.cumulative_counts(x[i], edges), bins.reference_cumulative(ref, edges)
        ks_binned += bins.ks_from_cumulative(wc, rc) > crit
        psi += bins.psi_from_cumulative(wc, rc) > pcrit
    ks_rate = float(np.mean(full > crit))
    assert 0.5 * alpha <= ks_rate <= 1.5 * alpha
    assert ks_binned / trials <= ks_rate
    assert 0.5 * alpha <= psi / trials <= 1.5 * alpha
