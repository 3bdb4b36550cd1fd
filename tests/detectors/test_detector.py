"""The detector fitted once: shifts of known size injected into chunks of a bundled dataset are
found, clean chunks stay within the stated rate, the fast null quantiles agree with the
bootstrap, time-like columns are left out, and calibration can wait off a caller's hot path.

Data: scikit-learn's bundled breast-cancer table (569 rows), resampled into a 5,000-row
reference and 2,000-row chunks; the boolean, low- and high-cardinality columns are derived from
its own columns (the diagnosis, texture quartiles, area in steps of 10)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.calibration import CalibrationCache, ks_null, numeric_cells, psi_null
from detectors.drift import DriftDetector
from detectors.ks import sorted_reference
from detectors.nulls import (
    Bridge,
    ks_with_ties,
    psi_asymptotic,
    psi_bootstrap,
    psi_is_asymptotic,
)
from detectors.thresholds import Status
from detectors.timelike import time_like_reason

ALARM = (Status.WARNING, Status.CRITICAL)
STATED_RATE = 0.01        # README: at most alpha (1 %) of clean windows raise any alarm


def _pool() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = data.data
    cols = list(data.feature_names)
    texture = x[:, cols.index("mean texture")]
    return {
        "radius": x[:, cols.index("mean radius")],
        "smoothness": x[:, cols.index("mean smoothness")],
        "malignant": data.target == 0,                                        # boolean
        "texture_band": np.array(["q1", "q2", "q3", "q4"])[
            np.searchsorted(np.quantile(texture, [0.25, 0.5, 0.75]), texture)],  # low-card
        "area_step": np.array([f"a{int(a // 10)}" for a in x[:, cols.index("mean area")]]),
    }


def _draw(pool: dict[str, np.ndarray], rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    idx = rng.integers(0, len(pool["radius"]), n)
    return {k: v[idx] for k, v in pool.items()}


def _inject(chunk: dict[str, np.ndarray], column: str, pool: dict[str, np.ndarray],
            rng: np.random.Generator) -> None:
    """A shift of a stated size: 0.3 sd for numbers, 10 points of share for the boolean and
    the low-cardinality column, 10 % of rows in categories the reference never had."""
    n = len(chunk[column])
    if column in ("radius", "smoothness"):
        chunk[column] = chunk[column] + 0.3 * float(np.std(pool[column]))
    elif column == "malignant":
        flip = np.flatnonzero(~chunk[column])[: int(0.10 * n)]
        chunk[column] = chunk[column].copy()
        chunk[column][flip] = True
    elif column == "texture_band":
        move = np.flatnonzero(chunk[column] == "q1")[: int(0.10 * n)]
        chunk[column] = chunk[column].copy()
        chunk[column][move] = "q4"
    else:
        chunk[column] = chunk[column].copy()
        chunk[column][rng.choice(n, int(0.10 * n), replace=False)] = "new-area"


def test_injected_shifts_are_found_and_clean_chunks_stay_within_the_stated_rate() -> None:
    pool = _pool()
    rng = np.random.default_rng(35)
    detector = DriftDetector(_draw(pool, rng, 5000))
    assert set(detector.numeric) == {"radius", "smoothness"}
    assert set(detector.categorical) == {"malignant", "texture_band", "area_step"}
    assert detector.categorical["malignant"].reason is None      # a bool: a category anyway
    clean_alarms = 0
    for _ in range(100):
        clean_alarms += any(r.status in ALARM for r in detector.check(_draw(pool, rng, 2000)))
    assert clean_alarms / 100 <= STATED_RATE, clean_alarms
    for column in pool:
        for _ in range(10):
            chunk = _draw(pool, rng, 2000)
            _inject(chunk, column, pool, rng)
            by = detector.check(chunk).by_feature()
            assert by[column].status in ALARM, (column, by[column])
            assert by[column].rule in ("calibrated", "floor"), by[column]
            assert {f for f, r in by.items() if r.status in ALARM} == {column}


def test_the_one_call_form_and_the_detector_give_the_same_verdicts() -> None:
    from detectors.drift import DriftInput, detect_drift

    rng = np.random.default_rng(3)
    ref = {f"x{j}": rng.normal(size=4000) for j in range(4)}
    win = {f"x{j}": rng.normal(0.1 * j, 1, size=3000) for j in range(4)}
    one = detect_drift(DriftInput(numeric_refs={k: sorted_reference(v) for k, v in ref.items()},
                                  numeric_windows=win))  # type: ignore[arg-type]
    fitted = DriftDetector(ref).check(win).columns
    assert [(r.feature, r.statistic, r.p_value, r.status, r.threshold) for r in one] == \
        [(r.feature, r.statistic, r.p_value, r.status, r.threshold) for r in fitted]


# -- properties ---------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(300, 3000), shift=st.floats(0.6, 3.0),
       ties=st.booleans())
def test_a_shifted_copy_of_its_reference_alarms(seed: int, n: int, shift: float,
                                                ties: bool) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=n)
    if ties:
        ref = np.round(ref * 4) / 4
    r = DriftDetector({"x": ref}).check({"x": ref + shift}).columns[0]
    assert r.status in ALARM and r.significant, r


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(50, 3000), kind=st.sampled_from(
    ["normal", "coded", "text", "flag"]))
def test_a_permutation_of_its_reference_never_alarms(seed: int, n: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    ref: np.ndarray = {"normal": lambda: rng.normal(size=n),
                       "coded": lambda: rng.integers(0, 7, n).astype(float),
                       "text": lambda: rng.choice(["a", "b", "c"], n),
                       "flag": lambda: rng.random(n) < 0.3}[kind]()
    r = DriftDetector({"x": ref}).check({"x": rng.permutation(ref)}).columns[0]
    assert r.status in (Status.OK, Status.NO_DATA) and not r.significant, r


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.floats(0.0, 1e6), min_size=20, max_size=400),
       start=st.floats(-1e9, 1e9), descending=st.booleans())
def test_a_monotonic_column_is_recognised_as_time_like(steps: list[float], start: float,
                                                       descending: bool) -> None:
    values = start + np.cumsum(steps) * (-1 if descending else 1)
    if np.unique(values).size < 10:
        return                      # a sorted code with few values is not a clock
    assert time_like_reason("x", values) is not None
    detector = DriftDetector({"x": values, "y": np.arange(len(values)) % 3})
    assert [s.column for s in detector.skipped] == ["x"]
    assert detector.skipped[0].offered == ("freshness", "volume")


def test_time_like_columns_by_dtype_text_and_name_and_the_override() -> None:
    import pandas as pd

    rng = np.random.default_rng(1)
    stamps = pd.date_range("2024-01-01", periods=500, freq="min")
    frame = pd.DataFrame({"when": stamps, "day": stamps.astype(str)[rng.permutation(500)],
                          "year": np.sort(rng.integers(2015, 2019, 500)),
                          "id": rng.permutation(500), "amount": rng.normal(size=500),
                          "model_year": rng.integers(1995, 2021, 500)})
    det = DriftDetector(frame)
    reasons = {s.column: s.reason for s in det.skipped}
    assert set(reasons) == {"when", "day", "year", "id"}, reasons
    assert "datetime" in reasons["when"] and "dates" in reasons["day"]
    assert "named like" in reasons["year"] and "identifier" in reasons["id"]
    # a year over rows in no order is a measurement of the row (a car's model year)
    assert set(det.numeric) == {"amount", "model_year"}
    # a list names exactly the time-like columns: the year is tested again
    assert "year" in DriftDetector(frame, time_like=["when", "day", "id"]).numeric


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), name=st.sampled_from(["year", "model_year", "birth_year",
                                                         "month", "eventDay"]),
       low=st.integers(1, 2000), span=st.integers(3, 60), n=st.integers(40, 2000))
def test_a_name_that_says_time_needs_values_that_behave_like_a_time_axis(
        seed: int, name: str, low: int, span: int, n: int) -> None:
    """The name rule for clocks and calendars holds over rows in time order or one value all
    through; the same values in no order are a measurement, tested like any other."""
    rng = np.random.default_rng(seed)
    values = rng.integers(low, low + span, n).astype(float)
    if np.unique(values).size < 3:
        return
    assert time_like_reason(name, values) is None
    assert time_like_reason(name, np.sort(values)) is not None       # monotonic, or by name
    half = n // 2                                 # a counter that wraps: two periods in order
    wrapped = np.concatenate((np.sort(values[:half]), np.sort(values[half:])))
    if min(np.unique(values[:half]).size, np.unique(values[half:]).size) >= 12:
        assert "time order" in (time_like_reason(name, wrapped) or "")
    assert "one value" in (time_like_reason(name, np.full(n, float(low))) or "")
    # an id by its name stays an id, in any order
    assert time_like_reason(f"{name}_id", values) is not None


# -- fast null quantiles against the bootstrap --------------------------------------------------

@pytest.mark.parametrize("shape", ["three values", "coarse grid", "zero-inflated"])
def test_the_bridge_matches_the_bootstrap_for_columns_with_ties(shape: str) -> None:
    rng = np.random.default_rng(5)
    values = {"three values": lambda: rng.integers(0, 3, 5000).astype(float),
              "coarse grid": lambda: np.floor(rng.normal(size=5000) * 3),
              "zero-inflated": lambda: np.where(rng.random(20_000) < 0.4, 0.0,
                                                rng.exponential(size=20_000))}[shape]()
    ref = sorted_reference(values)
    cells = numeric_cells(ref)
    distinct = int(np.count_nonzero(np.diff(ref))) + 1
    bridge = Bridge()
    for n in (500, 5000):
        for q in (0.95, 0.99):
            fast = ks_with_ties(bridge, cells, n, q, distinct)
            slow = ks_null(cells, n, q, distinct=distinct)
            assert fast == pytest.approx(slow, rel=0.12), (shape, n, q)


def test_psi_chi_square_where_categories_are_filled_and_one_bootstrap_where_not() -> None:
    filled = np.array([5000, 3000, 2000])
    sparse = np.array([3000, 2000, 50, 10, 5, 1])
    assert psi_is_asymptotic(filled, 2000) and not psi_is_asymptotic(sparse, 2000)
    for n in (1000, 5000):
        asym = psi_asymptotic(3, n, int(filled.sum()), 0.99)
        assert asym == pytest.approx(psi_null(filled, n, 0.99), rel=0.2)
    # one call for both rows; alone, a row is the per-column bootstrap draw for draw; beside
    # another it is an independent draw of the same law (1,000 draws: the 0.99 quantile is the
    # 10th largest, about 15 % Monte Carlo spread)
    both = psi_bootstrap([sparse, filled], 2000, 0.99)
    assert psi_bootstrap([sparse], 2000, 0.99)[0] == psi_null(sparse, 2000, 0.99)
    assert both[0] == pytest.approx(psi_null(sparse, 2000, 0.99), rel=0.3)
    assert both[1] == pytest.approx(psi_asymptotic(3, 2000, int(filled.sum()), 0.99), rel=0.3)


# -- calibration off the hot path ---------------------------------------------------------------

def test_a_check_without_calibration_judges_on_the_floor_and_says_so() -> None:
    rng = np.random.default_rng(8)
    ref = {"coded": rng.integers(0, 12, 5000).astype(float), "x": rng.normal(size=5000)}
    win = {"coded": rng.integers(0, 12, 3000).astype(float), "x": rng.normal(size=3000)}
    det = DriftDetector(ref, cache=CalibrationCache())
    first = det.check(win, calibrate=False)
    by = first.by_feature()
    assert first.pending == ["coded"]                  # ties: needs the bridge; x is closed form
    assert by["coded"].threshold_source == "floor"
    assert "not calibrated yet" in (by["coded"].floor_reason or "")
    assert by["x"].threshold_source == "calibrated"
    det.calibrate_columns({"coded": 3000}, family=2, quantile=0.999)
    later = det.check(win, calibrate=False)
    assert later.pending == []
    coded = later.by_feature()["coded"]
    assert coded.threshold_source == "calibrated" and coded.calibrated is not None
    # the provisional floor (distribution-free) is never below the calibrated threshold
    assert by["coded"].threshold is not None and by["coded"].threshold >= coded.calibrated


# -- numeric flags are categories ---------------------------------------------------------------

def _flag(n: int, share: float, rng: np.random.Generator, dtype: str) -> np.ndarray:
    """``n`` values, exactly ``share`` of them 1, shuffled, as 0/1 numbers of ``dtype``."""
    out = np.zeros(n, dtype=dtype)
    out[: round(share * n)] = 1
    return rng.permutation(out)


@pytest.mark.parametrize("dtype", ["float64", "int64"])
@pytest.mark.parametrize("prepared", [False, True])
def test_a_numeric_flag_whose_share_moves_5_points_alarms_by_chi_square(dtype: str,
                                                                        prepared: bool) -> None:
    """A 0/1 column's share moving from 30 % to 35 % (2,000-row window, 5,000-row reference):
    tested as a category (chi-square, PSI as the effect), it alarms on its calibrated PSI
    threshold; a window at 30 % stays quiet. The one-call path (prepared numeric windows, as
    the sidecar and dataset files pass them) judges the flag the same way."""
    from scipy.stats import chi2_contingency

    from detectors.categorical import psi_from_counts

    rng = np.random.default_rng(11)
    ref = _flag(5000, 0.30, rng, dtype)
    moved, clean = _flag(2000, 0.35, rng, dtype), _flag(2000, 0.30, rng, dtype)
    if prepared:
        det = DriftDetector()
        det.add_numeric("flag", sorted_reference(ref))
        moved_r = det.check_prepared({"flag": np.sort(moved.astype(float))}, {})
        clean_r = det.check_prepared({"flag": np.sort(clean.astype(float))}, {})
    else:
        det = DriftDetector({"flag": ref})
        moved_r, clean_r = det.check({"flag": moved}), det.check({"flag": clean})
    assert "flag" in det.categorical and "flag" not in det.numeric
    r = moved_r.by_feature()["flag"]
    assert r.test == "chi2" and "a flag" in (r.kind_reason or ""), r
    table = np.array([[3500, 1500], [1300, 700]])
    assert r.statistic == pytest.approx(chi2_contingency(table).statistic, rel=1e-12)
    assert r.effect == pytest.approx(psi_from_counts(table[0], table[1]), rel=1e-12)
    assert r.status in ALARM and r.rule == "calibrated", r
    assert r.threshold is not None and r.effect >= r.threshold
    quiet = clean_r.by_feature()["flag"]
    assert quiet.test == "chi2" and quiet.status is Status.OK and quiet.effect == 0.0


# -- the calibration is split as the p-values are corrected -------------------------------------

def test_columns_drifting_together_are_not_held_to_the_bonferroni_split() -> None:
    """Eight 0/1 columns (30 % in 20,000 reference rows); a 5,000-row window moves six of them
    to 32.6 % (p ~ 4e-4 each). Benjamini–Hochberg finds all six at alpha 1 %, and their
    calibrated thresholds take the same step (the family quantile split over 8 / 6 columns):
    they alarm. The same shift in one column alone is held to the full split over 8 columns
    (as a clean window's columns are) and stays quiet."""
    from detectors.calibration import calibration_split

    rng = np.random.default_rng(2)

    def flags(n: int, ones: int) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[:ones] = True
        return rng.permutation(out)

    det = DriftDetector({f"c{j}": flags(20_000, 6000) for j in range(8)})
    together = det.check({f"c{j}": flags(5000, 1630 if j < 6 else 1500) for j in range(8)})
    alone = det.check({f"c{j}": flags(5000, 1630 if j < 1 else 1500) for j in range(8)})
    assert together.family == pytest.approx(8 / 6) and alone.family == 8
    moved = together.by_feature()
    assert {f for f, r in moved.items() if r.status in ALARM} == {f"c{j}" for j in range(6)}
    assert all(moved[f"c{j}"].rule == "calibrated" for j in range(6))
    one = alone.by_feature()["c0"]
    assert one.significant and one.status is Status.OK and one.rule == "calibrated"
    assert one.effect == moved["c0"].effect and one.threshold > moved["c0"].threshold
    # the split follows the correction chosen for the p-values
    p = [0.001, 0.002, 0.5, math.nan]
    assert calibration_split(p, 0.01, "bh") == 3 / 2
    assert calibration_split(p, 0.01, "bonferroni") == 3
    assert calibration_split(p, 0.01, "none") == 1
    assert calibration_split([0.5, 0.6], 0.01, "bh") == 2


@settings(max_examples=100, deadline=None)
@given(p=st.lists(st.floats(0, 1) | st.just(math.nan), max_size=40),
       alpha=st.floats(1e-4, 0.5))
def test_the_calibration_split_lies_between_one_column_and_the_whole_family(
        p: list[float], alpha: float) -> None:
    from detectors.calibration import calibration_split

    k = max(1, sum(not math.isnan(x) for x in p))
    assert 1 <= calibration_split(p, alpha, "bh") <= calibration_split(p, alpha,
                                                                          "bonferroni") == k


@pytest.mark.parametrize("q", [0.995, 0.999, 0.9999, 1 - 1e-6])
def test_one_set_of_draws_serves_every_quantile_past_0_99(q: float) -> None:
    """A tied column's bridge and a sparse column's bootstrap are drawn once, at 0.99; the
    threshold at any higher quantile (a family split over a different share of its columns)
    is the same number the draws would give at that quantile, and needs no new calibration."""
    from detectors.calibration import ks_ties_at, numeric_shape, psi_drawn_at
    from detectors.verdict import DriftThresholds

    rng = np.random.default_rng(12)
    coded = np.floor(rng.normal(size=5000) * 3)
    ref = sorted_reference(coded)
    shape, bridge = numeric_shape(ref), Bridge()
    at_99 = ks_with_ties(bridge, shape.cells, 2000, 0.99, shape.distinct)
    direct = ks_with_ties(bridge, shape.cells, 2000, q, shape.distinct)
    assert ks_ties_at(at_99, q, shape, 2000, ref.size) == pytest.approx(direct, rel=1e-12)
    sparse = np.array([3000, 2000, 50, 10, 5, 1])
    drawn = psi_bootstrap([sparse], 2000, 0.99)[0]
    assert psi_drawn_at(drawn, q, sparse) == pytest.approx(
        psi_bootstrap([sparse], 2000, q)[0], rel=1e-12)
    # calibrated once (at the clean family's split), judged at another quantile without a queue
    labels = np.repeat(np.array([f"c{i}" for i in range(6)]), sparse)
    det = DriftDetector({"coded": coded, "sparse": labels}, cache=CalibrationCache())
    window = {"coded": np.floor(rng.normal(size=2000) * 3), "sparse": rng.choice(labels, 2000)}
    det.calibrate(2000)
    report = det.check(window, calibrate=False, thresholds=DriftThresholds(calibration=q))
    assert report.pending == [], report.pending
    assert {r.threshold_source for r in report} == {"calibrated"}
