"""Sketch accuracy and merging, baseline learning, ratio guards, threshold hysteresis."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.baseline import BaselineLearner
from detectors.rates import ratio_status, wilson_interval
from detectors.sketch import MAX_VALUE, QuantileSketch, WindowedSketch, key_range
from detectors.thresholds import Status, classify


@settings(max_examples=100, deadline=None)
@given(data=st.lists(st.floats(1e-6, 1e4), min_size=1, max_size=400),
       q=st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]))
def test_sketch_relative_error_within_one_percent(data: list[float], q: float) -> None:
    sk = QuantileSketch(0.01)
    sk.extend(data)
    truth = float(np.quantile(np.asarray(data), q, method="lower"))
    assert abs(sk.quantile(q) - truth) <= 0.01 * truth + 1e-12


def test_sketch_beats_default_histogram_buckets_on_lognormal() -> None:
    rng = np.random.default_rng(0)
    lat = rng.lognormal(mean=math.log(0.12), sigma=0.6, size=50_000)
    sk = QuantileSketch()
    sk.extend(lat)
    true_p95 = float(np.quantile(lat, 0.95, method="lower"))
    assert abs(sk.quantile(0.95) / true_p95 - 1) <= 0.01
    # prometheus_client default buckets + histogram_quantile's linear interpolation
    bounds = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
    counts = np.searchsorted(np.sort(lat), bounds, side="right")
    rank = 0.95 * lat.size
    i = int(np.searchsorted(counts, rank))
    lo, hi = (bounds[i - 1] if i else 0.0), bounds[i]
    c_lo = counts[i - 1] if i else 0
    interp = lo + (hi - lo) * (rank - c_lo) / (counts[i] - c_lo)
    assert abs(interp / true_p95 - 1) > 0.05   # the error the sketch exists to avoid


def test_sketch_merge_equals_union_and_round_trips() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.exponential(0.1, 3000), rng.exponential(0.3, 2000)
    sa, sb, su = QuantileSketch(), QuantileSketch(), QuantileSketch()
    sa.extend(a)
    sb.extend(b)
    su.extend(np.concatenate([a, b]))
    sa.merge(sb)
    assert sa.bins == su.bins and sa.count == su.count
    again = QuantileSketch.from_dict(sa.to_dict())
    assert again.quantiles([0.5, 0.99]) == sa.quantiles([0.5, 0.99])
    with pytest.raises(ValueError):
        QuantileSketch.from_dict({"keys": [1, 2], "counts": [1]})


@pytest.mark.parametrize("accuracy", [0.0001, 0.01, 0.05, 0.5])
def test_a_sketch_of_the_extreme_keys_its_door_allows_is_read(accuracy: float) -> None:
    """The door allows keys in ``key_range``; the top one's bucket straddles MAX_VALUE, so a
    sketch without min/max there must still be read (it was refused after a 2xx)."""
    lo, hi = key_range(accuracy)
    sk = QuantileSketch.from_dict({"accuracy": accuracy, "keys": [lo, hi], "counts": [1, 1]})
    assert sk.count == 2 and 0.0 <= sk.min <= sk.max <= MAX_VALUE


def test_sketch_ignores_bad_values_and_handles_zero() -> None:
    sk = QuantileSketch()
    for v in (math.nan, -1.0, math.inf, 0.0, 0.0, 1.0):
        sk.add(v)
    assert sk.count == 3 and sk.quantile(0.0) == 0.0
    assert math.isnan(QuantileSketch().quantile(0.5))


def test_windowed_sketch_forgets_old_slots() -> None:
    ws = WindowedSketch(slots=3, slot_seconds=10)
    for t, v in [(0, 1.0), (10, 2.0), (20, 3.0), (30, 4.0)]:
        s = QuantileSketch()
        s.add(v)
        ws.add_sketch(s, now=t)
    merged = ws.merged(now=30)
    assert merged.count == 3 and merged.quantile(0.0) == pytest.approx(2.0, rel=0.01)
    assert WindowedSketch.from_state(ws.state()).merged(now=30).count == 3


def test_baseline_warms_up_then_freezes_during_an_incident() -> None:
    b = BaselineLearner(warmup=5, alpha=0.1, freeze_factor=1.5)
    for _ in range(5):
        b.observe(0.1)
    assert b.value == pytest.approx(0.1)
    for _ in range(50):
        b.observe(0.5)          # incident: 5x baseline
    assert b.value == pytest.approx(0.1) and b.frozen
    b.observe(0.12)
    assert not b.frozen and b.value == pytest.approx(0.102)
    assert b.ratio(0.2) == pytest.approx(0.2 / 0.102)
    assert BaselineLearner.from_state(b.state()).value == b.value


def test_wilson_bound_guards_small_samples() -> None:
    lo, hi = wilson_interval(3, 4)
    assert 0 < lo < 0.75 < hi <= 1
    night = ratio_status(3, 4, warning=0.01, critical=0.05, min_count=20)
    assert night.status is Status.NO_DATA and night.value == 0.75
    small = ratio_status(3, 40, warning=0.01, critical=0.05, min_count=20)
    assert small.status is Status.WARNING        # lower bound ~1.6 %: confident > 1 %
    big = ratio_status(300, 1000, warning=0.01, critical=0.05)
    assert big.status is Status.CRITICAL
    fine = ratio_status(5, 10_000, warning=0.01, critical=0.05)
    assert fine.status is Status.OK


def test_classify_direction_and_hysteresis() -> None:
    assert classify(0.02, 0.01, 0.05) is Status.WARNING
    assert classify(0.01, 0.01, 0.05) is Status.OK          # "> 1 %" is strict
    assert classify(3.0, 5.0, 1.0, higher_is_worse=False) is Status.WARNING
    assert classify(0.5, 5.0, 1.0, higher_is_worse=False) is Status.CRITICAL
    assert classify(None, 1, 2) is Status.NO_DATA and classify(math.nan, 1, 2) is Status.NO_DATA
    # hovering just under the level keeps the state when hysteresis is set
    assert classify(0.0099, 0.01, 0.05, previous=Status.WARNING, hysteresis=0.05) \
        is Status.WARNING
    assert classify(0.0094, 0.01, 0.05, previous=Status.WARNING, hysteresis=0.05) is Status.OK
    assert classify(0.0099, 0.01, 0.05, previous=Status.OK, hysteresis=0.05) is Status.OK
