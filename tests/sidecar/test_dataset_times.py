"""Event times in dataset files mean the same whichever path reads them: DuckDB on the sidecar's
files and pandas in the SDK's batches and the Great Expectations contract.

Timestamp columns (every parquet TIMESTAMP unit, with and without a time zone, DATE) are times as
they are; a number is epoch seconds, as ``freshness_lag``, SQL datasets and the SDK's event
times take it (``pandas.to_datetime`` alone would read an int64 as nanoseconds: a freshness lag of
56 years); NaN and infinities are no time, and neither are booleans or times of day."""

from __future__ import annotations

import datetime as dt
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.sidecar.collectors.stores.duckdb_files import open_file
from detectors.quality import newest_event_time

T = dt.datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=dt.UTC)
COLUMNS: dict[str, tuple[Any, float | None]] = {      # column -> (values, newest as epoch s)
    "int_s": (pa.array([1_700_000_000, 1_700_000_100, None], pa.int64()), 1_700_000_100.0),
    "int32_s": (pa.array([1_700_000_000, 5, 7], pa.int32()), 1_700_000_000.0),
    "float_s": (pa.array([1.7e9, math.nan, 1.7e9 + 0.5]), 1.7e9 + 0.5),
    "float_inf": (pa.array([1.7e9, math.inf, None]), 1.7e9),
    "ts_ms_utc": (pa.array([T, T - dt.timedelta(hours=1), None], pa.timestamp("ms", tz="UTC")),
                  T.replace(microsecond=123000).timestamp()),      # milliseconds kept
    "ts_us_naive": (pa.array([T.replace(tzinfo=None), None, T.replace(tzinfo=None)],
                             pa.timestamp("us")), T.timestamp()),     # naive: UTC
    "ts_ns_utc": (pa.array([T, None, T], pa.timestamp("ns", tz="UTC")), T.timestamp()),
    "date": (pa.array([dt.date(2026, 1, 2), None, dt.date(2025, 1, 1)], pa.date32()),
             dt.datetime(2026, 1, 2, tzinfo=dt.UTC).timestamp()),
    "text": (pa.array(["2026-11-24T10:00:00Z", "bad", None]),
             dt.datetime(2026, 11, 24, 10, tzinfo=dt.UTC).timestamp()),
    "bool": (pa.array([True, False, None]), None),
}


def write(tmp: Path) -> None:
    pq.write_table(pa.table({k: v for k, (v, _) in COLUMNS.items()}), tmp / "t.parquet")
    pd.read_parquet(tmp / "t.parquet").to_csv(tmp / "t.csv", index=False)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("column", list(COLUMNS))
def test_duckdb_and_pandas_read_the_same_newest_event(tmp_path: Path, fmt: str,
                                                      column: str) -> None:
    """Each parquet logical type (and its CSV text): the same epoch seconds from both paths,
    and the expected ones."""
    write(tmp_path)
    path = tmp_path / f"t.{fmt}"
    back = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    with open_file(path) as r:
        duck = r.stats(column).newest_event
    want = COLUMNS[column][1]
    assert duck == pytest.approx(want, abs=1e-6) if want is not None else duck is None
    assert newest_event_time(back, column) == duck


finite = st.floats(-4e9, 4e9, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(st.none(), finite, st.sampled_from([math.nan, math.inf,
                                                                     -math.inf])),
                       max_size=30),
       ints=st.booleans(), fmt=st.sampled_from(["parquet", "csv"]))
def test_any_numeric_time_column_is_epoch_seconds_in_both(tmp_path: Path, values: list[Any],
                                                          ints: bool, fmt: str) -> None:
    if ints:
        values = [None if v is None or not math.isfinite(v) else int(v) for v in values]
        col = pa.array(values, pa.int64())
    else:
        col = pa.array(values, pa.float64())
    path = tmp_path / f"n.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.table({"t": col}), path)
    else:
        pd.DataFrame({"t": col.to_pandas()}).to_csv(path, index=False)
    back = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    good = [float(v) for v in values if v is not None and math.isfinite(v)]
    with open_file(path) as r:
        duck = r.stats("t").newest_event
    if back["t"].dtype.kind not in "iuf":
        return          # a CSV of nothing but blanks and infinities reads as text
    assert duck == (max(good) if good else None)
    assert newest_event_time(back, "t") == duck


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_freshness_on_an_epoch_seconds_column_is_seconds_old(tmp_path: Path,
                                                             dtype: type) -> None:
    """A file whose "time" column (int64, or float64 as ``time.time()`` writes it) was written
    30 s ago: the poll reads a freshness lag of about 30 s (not 56 years), and the contract's
    freshness check agrees (a float64 column once failed every read: pandas handed the check a
    read-only array)."""
    from agent.sidecar.collectors.datasets import DatasetPoller
    from agent.spec.document import Dataset
    from detectors.contract import validate_contract
    from detectors.quality import freshness_lag

    now = time.time()
    frame = pd.DataFrame({"time": np.array([now - 300, now - 30], dtype=dtype),
                          "x": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "f.parquet")
    contract = {"freshness": {"column": "time", "max_lag": "5m"}}
    ds = Dataset.model_validate({"name": "f", "path": "f.parquet", "contract": contract})
    r = DatasetPoller(ds, tmp_path).poll()
    assert r is not None and r.ok, r
    lag = freshness_lag(time.time(), r.newest_event)
    assert lag is not None and 25 <= lag < 120, lag
    assert newest_event_time(frame, "time") == r.newest_event
    assert r.contract_failures == []
    stale = validate_contract(frame.assign(time=frame["time"] - 3600),
                              ds.contract.model_dump(mode="json"), "f", now=time.time())
    assert [o.signal for o in stale.failures] == ["freshness_lag"]


def test_a_restored_file_dataset_is_not_stale_before_this_run_reads_it() -> None:
    """After a restart, the newest event restored from the snapshot says nothing of now (the
    pipeline went on while the sidecar was down): freshness waits for this run's first poll
    (no_data with the reason, and no exported lag for the rules to judge) instead of judging
    the downtime as lag (issue 34). A poll that finds the file missing is a poll: the restored
    time counts again, and a file gone stale pages."""
    from types import SimpleNamespace

    from agent import catalogue as cat
    from agent.sidecar.collectors.collection import apply_dataset
    from agent.sidecar.collectors.datasets import DatasetReading
    from agent.sidecar.exposition import _data_families
    from agent.sidecar.judge.evaluate import Evaluator
    from agent.sidecar.state.agent_state import AgentState, DatasetState
    from agent.spec import parse_spec

    spec = parse_spec({
        "service": "s", "models": [{"name": "m"}],
        "sources": {"datasets": [{"name": "feed", "path": "feed.csv",
                                  "contract": {"freshness": {"column": "ts"}}}]},
        "objectives": [{"name": "fresh", "signal": "freshness_lag",
                        "selector": {"dataset": "feed"}, "warning": "5m", "critical": "1h"}]})
    o, now = spec.objectives[0], time.time()
    before = DatasetState(rows=10, newest_event=now - 7200, last_seen=now - 7200,
                          source="file", polled=True)
    assert "polled" not in before.state()            # never kept in a snapshot
    state = AgentState(slot=1.0, window_size=100, reference_size=100)
    state.datasets["feed"] = DatasetState.from_state(before.state())
    value, detail = Evaluator(spec, state).value(o, now)
    assert value is None and "not read since the sidecar started" in detail["reason"]
    exported = _data_families(SimpleNamespace(spec=spec, state=state), now)
    assert not next(f for f in exported if f.name == cat.FRESHNESS.name).samples
    apply_dataset(state, spec, DatasetReading("feed", True, rows=10, columns={"ts": "float"},
                                              nulls={"ts": 0}, newest_event=now - 1), now)
    value, _ = Evaluator(spec, state).value(o, now)
    assert value is not None and value < 5
    state.datasets["feed"] = DatasetState.from_state(before.state())
    apply_dataset(state, spec, DatasetReading("feed", False, "the file feed.csv is missing",
                                              file_state="missing"), now)
    value, _ = Evaluator(spec, state).value(o, now)
    assert value is not None and value >= 7200
