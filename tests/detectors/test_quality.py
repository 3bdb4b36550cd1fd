"""Schema drift, null spikes, freshness, windows and the great-expectations contract path."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from detectors.contract import TYPE_EXPECTATION, validate_contract
from detectors.ks import ks_presorted
from detectors.quality import (
    column_type,
    frame_schema,
    freshness_lag,
    newest_event_time,
    null_check,
    null_counts,
    range_check,
    schema_diff,
)
from detectors.thresholds import Status
from detectors.windows import FeatureWindow, RingBuffer, detection_delay


def test_column_types_and_schema_diff() -> None:
    df = pd.DataFrame({"a": [1, 2], "b": [1.5, None], "c": ["x", "y"], "d": [True, False],
                       "t": pd.to_datetime(["2026-01-01", "2026-01-02"])})
    df["e"] = df["c"].astype("category")
    assert frame_schema(df) == {"a": "int", "b": "float", "c": "string", "d": "bool",
                                "t": "datetime", "e": "category"}
    diff = schema_diff({"a": "int", "b": "int", "c": "float", "gone": "int"}, frame_schema(df))
    assert diff.removed == ("gone",)
    assert set(diff.added) == {"d", "t", "e"}
    assert diff.retyped == (("c", "float", "string"),)      # int read as float is compatible
    assert diff.changes == 2
    strict = schema_diff({"a": "int"}, {"a": "int", "z": "int"}, allow_extra=False)
    assert strict.changes == 1
    assert column_type(np.dtype("uint8")) == "int"


def test_null_spike_needs_evidence_and_a_floor() -> None:
    assert null_check("a", 1, 10, baseline=0.0).status is Status.NO_DATA
    assert null_check("a", 2, 1000, baseline=0.0).status is Status.OK       # 0.2 %, below 1 %
    assert null_check("a", 20, 1000, baseline=0.0).status is Status.WARNING  # bound ~1.2 %
    assert null_check("a", 40, 1000, baseline=0.0).status is Status.CRITICAL  # bound ~2.7 %
    assert null_check("a", 300, 1000, baseline=0.0).status is Status.CRITICAL
    assert null_check("a", 40, 1000, max_ratio=0.05).status is Status.OK
    df = pd.DataFrame({"x": [1.0, None, None], "y": [1, 2, 3]})
    assert null_counts(df) == {"x": (2, 3), "y": (0, 3)}


def test_freshness_lag_takes_the_newest_of_events_and_marks() -> None:
    now = datetime(2026, 11, 24, 12, tzinfo=UTC).timestamp()
    assert freshness_lag(now, newest_event=now - 7200) == 7200
    assert freshness_lag(now, newest_event=now - 7200, last_mark=now - 60) == 60
    assert freshness_lag(now, newest_event="2026-11-24T11:00:00Z") == 3600
    assert freshness_lag(now, newest_event=datetime(2026, 11, 24, 11, 30)) == 1800
    assert freshness_lag(now) is None
    df = pd.DataFrame({"t": ["2026-11-24T10:00:00Z", "bad", None]})
    assert newest_event_time(df, "t") == now - 7200


def test_range_check() -> None:
    r = range_check("age", [10, 20, np.nan, 200], 18, 120)
    assert (r.below, r.above, r.rows) == (1, 1, 3)


def test_ring_buffer_is_bounded_and_ordered() -> None:
    ring = RingBuffer(5)
    ring.extend([1, 2, 3])
    ring.extend([4, 5, 6, 7])
    assert ring.values().tolist() == [3, 4, 5, 6, 7] and ring.total == 7
    ring.extend(range(100))
    assert ring.values().tolist() == [95, 96, 97, 98, 99]
    assert RingBuffer.from_state(ring.state()).values().tolist() == [95, 96, 97, 98, 99]


@pytest.mark.parametrize("kind", ["first_window", "rolling", "file"])
def test_feature_window_references(kind: str) -> None:
    fw = FeatureWindow(window_size=100, reference_size=200, kind=kind)  # type: ignore[arg-type]
    if kind == "file":
        fw.set_reference(np.arange(200.0))
    fw.add(np.arange(250.0))
    assert (fw.reference is None) == (kind == "rolling")   # rolling needs reference + window
    if kind == "first_window":
        assert fw.reference is not None
        assert fw.reference.tolist() == list(np.arange(200.0))
        assert fw.window.values().tolist() == list(np.arange(200.0, 250.0))
    if kind == "rolling":
        fw.add(np.arange(250.0, 300.0))
        assert fw.reference is not None
        assert fw.reference.tolist() == list(np.arange(0.0, 200.0))
        fw.add(np.arange(300.0, 310.0))
        assert fw.reference is not None
        assert fw.reference.tolist() == list(np.arange(10.0, 210.0))
    restored = FeatureWindow.from_state(fw.state())
    assert restored.window.values().tolist() == fw.window.values().tolist()


def test_detection_delay_is_reported() -> None:
    rng = np.random.default_rng(0)
    before, after = rng.normal(size=3000), rng.normal(1.0, size=2000)

    def fires(ref: np.ndarray, win: np.ndarray) -> bool:
        r = ks_presorted(ref, win)
        return r.p_value < 0.01 and r.statistic > 0.1

    delay = detection_delay(before, after, fires, window_size=500, step=25)
    assert delay is not None and 0 < delay <= 500
    assert detection_delay(before, rng.normal(size=2000), fires, 500) is None
    assert ks_2samp(before[:10], before[10:20]).statistic >= 0   # scipy sanity


def test_great_expectations_contract_reports_each_failing_expectation() -> None:
    now = datetime(2026, 11, 24, 5, tzinfo=UTC).timestamp()
    df = pd.DataFrame({
        "event_time": pd.to_datetime(["2026-11-24T00:00:00", "2026-11-24T01:00:00"] * 3),
        "amount": [1.0, None, None, 5.0, 3.0, 2.0],
        "age": [20, 30, 40, 150, 25, 30],
        "country": ["de", "fr", "de", "fr", "de", "fr"],
    })
    contract = {"columns": {"event_time": "datetime", "amount": "float", "age": "string",
                            "country": "category", "missing": "int"},
                "max_null_ratio": {"amount": 0.01}, "ranges": {"age": {"min": 18, "max": 120}},
                "freshness": {"column": "event_time", "max_lag": 3600}}
    report = validate_contract(df, contract, "tx", now=now)
    failed = {(o.expectation, o.column): o for o in report.failures}
    assert set(failed) == {
        ("expect_column_to_exist", "missing"),
        (TYPE_EXPECTATION, "age"),
        ("expect_column_values_to_not_be_null", "amount"),
        ("expect_column_values_to_be_between", "age"),
        ("expect_column_max_to_be_between", "event_time"),
    }
    assert failed[("expect_column_values_to_not_be_null", "amount")].signal == "null_ratio"
    assert failed[("expect_column_values_to_not_be_null", "amount")].unexpected_ratio \
        == pytest.approx(2 / 6)
    assert failed[("expect_column_max_to_be_between", "event_time")].signal == "freshness_lag"
    assert not report.success and report.rows == 6
    good = validate_contract(df.fillna({"amount": 1.0}), {"max_null_ratio": {"amount": 0.0},
                                                          "ranges": {"amount": {"min": 0}}})
    assert good.success


def test_null_check_catches_a_doubling_and_not_noise() -> None:
    """One judgement for every null ratio: Wilson bound, minimum rows, a baseline factor."""
    doubled = null_check("a", 1050, 5000, baseline=0.10)           # 10 % -> 21 %
    assert doubled.status is Status.WARNING and doubled.lower is not None
    assert null_check("a", 540, 5000, baseline=0.10).status is Status.OK     # 10.8 %: noise
    assert null_check("a", 1600, 5000, baseline=0.10).status is Status.CRITICAL
    tiny = null_check("a", 1, 4, baseline=0.0)                     # 1 null in 4 rows
    assert tiny.status is Status.NO_DATA and tiny.ratio == 0.25
    empty = null_check("a", 0, 0)
    assert empty.ratio is None and empty.lower is None and empty.status is Status.NO_DATA


def test_identifiers_and_allowed_values() -> None:
    from detectors.columns import allowed_values_check, identifier_like, shown_names

    assert identifier_like([f"id-{i}" for i in range(100)], "string")
    assert identifier_like(list(range(100)), "int")
    assert not identifier_like([0.1 * i for i in range(100)], "float")
    assert not identifier_like(["a", "b"] * 50, "string")
    assert not identifier_like(list(range(5)), "int")             # too few rows to tell
    check = allowed_values_check("country", ["DE", "FR", "XX", None, "XX", "y" * 300],
                                 ["DE", "FR"])
    assert (check.rows, check.bad, check.share) == (5, 3, 0.6)
    assert check.values[0] == "XX" and len(check.values[1]) == 64
    names, more = shown_names(str(i) for i in range(12))
    assert len(names) == 5 and more == 7
