"""DuckDB reads a dataset file as the pandas path did: for any file pandas reads, the aggregates
DuckDB computes (rows, schema, nulls, the newest event, categories, numeric values, allowed
values) equal the ones computed from ``pandas.read_parquet`` / ``read_csv``, and so do
the drift rows and objective values built on them."""

from __future__ import annotations

import math
import string
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.sidecar.collectors._dataset_drift import file_drift, load_reference
from agent.sidecar.collectors._windows import read_file_window
from agent.sidecar.collectors.stores.aggregates import Aggregates
from agent.sidecar.collectors.stores.duckdb_files import open_file
from agent.spec import parse_spec
from detectors.columns import allowed_values_check, category_labels
from detectors.quality import column_type, frame_schema, newest_event_time, null_counts
from tests.sidecar.test_dataset_properties import frames


def pandas_window(frame: pd.DataFrame, ds: Any, ref: Any) -> Aggregates:
    """The aggregates as the pandas path computed them (the code before DuckDB)."""
    fresh = ds.contract.freshness
    agg = Aggregates(len(frame), frame_schema(frame),
                     {c: n for c, (n, _) in null_counts(frame).items()},
                     newest_event_time(frame, fresh.column) if fresh and fresh.column else None)
    for col in frame.columns:
        name, series = str(col), frame[col]
        kind = column_type(series.dtype)
        if ref is not None and name in ref.categorical:
            agg.categories[name] = Counter(category_labels(series.dropna().tolist()))
        elif ref is not None and name in ref.numeric and kind in ("int", "float"):
            arr = series.to_numpy(dtype=float, na_value=math.nan)
            agg.numeric[name] = np.sort(arr[~np.isnan(arr)])
    for col, values in ds.contract.allowed_values.items():
        if col not in frame.columns:
            continue
        c = allowed_values_check(col, frame[col].tolist(), values)
        agg.allowed[col] = {"rows": c.rows, "bad": c.bad, "share": c.share,
                            "values": c.values, "more": c.more}
        if c.share is None:
            agg.allowed[col]["reason"] = "no non-null values"
    return agg


def dataset(fmt: str, **extra: Any) -> Any:
    return parse_spec({
        "service": "p", "models": [{"name": "m"}],
        "sources": {"datasets": [{"name": "d", "path": f"d.{fmt}", "reference": "r.parquet",
                                  **extra}]},
        "drift": {"min_samples": 5}}).sources.datasets[0]


def same(a: Aggregates, b: Aggregates) -> None:
    assert (a.rows, a.columns, a.nulls) == (b.rows, b.columns, b.nulls)
    assert a.newest_event == b.newest_event or (a.newest_event is not None and b.newest_event
                                                is not None and abs(a.newest_event
                                                                    - b.newest_event) < 1e-6)
    assert a.categories == b.categories
    assert a.numeric.keys() == b.numeric.keys()
    for k in a.numeric:
        np.testing.assert_array_equal(a.numeric[k], b.numeric[k])
    # the shown disallowed values: the most frequent first; ties are ordered by text in
    # DuckDB and by first appearance in pandas, so a cut through a tie may name others
    assert a.allowed.keys() == b.allowed.keys()
    for col, x in a.allowed.items():
        y = b.allowed[col]
        assert {k: v for k, v in x.items() if k != "values"} == \
            {k: v for k, v in y.items() if k != "values"}
        assert len(x["values"]) == len(y["values"])
        if not x["more"]:
            assert sorted(x["values"]) == sorted(y["values"])


def _write(frame: pd.DataFrame, path: Path) -> bool:
    try:
        frame.to_parquet(path) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    except (TypeError, ValueError, OverflowError, ArithmeticError) as exc:
        if path.suffix == ".parquet" and "pyarrow" in type(exc).__module__ + repr(exc):
            return False          # pandas cannot write it as parquet: no such file exists
        if path.suffix == ".parquet":
            return False
        raise
    return True


def _frame(**cols: list[Any]) -> pd.DataFrame:
    """A frame as :func:`frames` draws it: the four columns, unnamed ones all None."""
    n = len(next(iter(cols.values())))
    return pd.DataFrame({c: cols.get(c, [None] * n) for c in ("num", "cat", "mixed", "empty")})


# an object column of None, floats and bools is stored as double: pandas reads floats back
_OBJECT_FLOATS = _frame(mixed=[None, None, None, None, 0.0, False])
# -0.0 is its own category and its own disallowed value (str tells it from 0.0; DuckDB does not)
_ZERO_CATEGORIES = _frame(num=[1.0, 2.0], mixed=[0.0, -0.0])
_ZERO_REFERENCE = _frame(num=[1.0, 2.0], mixed=["x", "y"])
_ZERO_SHOWN = _frame(cat=[0.0, -0.0, -0.0])                          # both shown
_ZERO_MORE = _frame(num=[0.0, -0.0, 3.0, 4.0, 5.0, 6.0])           # one more than shown
# a flag's new value -0.0/0.0 is named 0.0, whichever an unstable sort of the values put first
_ZERO_FLAG = _frame(mixed=[None] * 7 + [0.0, None, -0.0])
_ZERO_FLAG_REFERENCE = _frame(mixed=[1.0])


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(current=frames(), reference=frames(), fmt=st.sampled_from(["parquet", "csv"]))
@example(current=_OBJECT_FLOATS, reference=_OBJECT_FLOATS, fmt="parquet")
@example(current=_ZERO_CATEGORIES, reference=_ZERO_REFERENCE, fmt="parquet")
@example(current=_ZERO_CATEGORIES, reference=_ZERO_REFERENCE, fmt="csv")
@example(current=_ZERO_SHOWN, reference=_ZERO_SHOWN, fmt="parquet")
@example(current=_ZERO_MORE, reference=_ZERO_MORE, fmt="csv")
@example(current=_ZERO_FLAG, reference=_ZERO_FLAG_REFERENCE, fmt="parquet")
def test_duckdb_reads_any_file_as_pandas_did(tmp_path: Path, current: pd.DataFrame,
                                             reference: pd.DataFrame, fmt: str) -> None:
    path = tmp_path / f"d.{fmt}"
    if not _write(current, path) or not _write(reference, tmp_path / "r.parquet"):
        return
    ds = dataset(fmt, contract={"allowed_values": {"cat": ["a", "b"], "num": [1, "2", 1.5]}})
    ref = load_reference(pd.read_parquet(tmp_path / "r.parquet"), ds)
    back = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    duck = read_file_window(path, ds, ref)
    oracle = pandas_window(back, ds, ref)
    # DuckDB asks only the drift-tested columns' values and counts
    oracle.categories = {k: v for k, v in oracle.categories.items() if k in duck.categories}
    oracle.numeric = {k: v for k, v in oracle.numeric.items() if k in duck.numeric}
    same(duck, oracle)
    settings_ = parse_spec({"service": "p", "models": [{"name": "m"}],
                            "drift": {"min_samples": 5}}).drift
    assert file_drift(duck, ref, ds, settings_) == file_drift(oracle, ref, ds, settings_)


COUNTRIES = ["DE", "FR", "GB", "NL", "US"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_dataset_files_tests_frames_give_the_same_values(tmp_path: Path, fmt: str) -> None:
    """The messy frames of test_dataset_files (ids, unique text, nulls, new codes, a
    high-cardinality column, bools, an empty column, event times): the same aggregates, drift
    rows and allowed-value shares as pandas."""
    from tests.sidecar.test_dataset_files import frame

    ref_frame = frame(5000, 1)
    ref_frame.to_parquet(tmp_path / "r.parquet")
    for i, cur in enumerate([frame(4, 2, nulls=1.0), frame(5000, 3, nulls=0.10),
                             frame(5000, 4, nulls=0.21, new_country=0.01, merchants=10_000),
                             frame(20_000, 5, shift=0.2)]):
        cur["event_time"] = pd.Timestamp("2026-11-24T00:00:00Z") + pd.to_timedelta(
            np.arange(len(cur)), unit="s")
        path = tmp_path / f"d{i}.{fmt}"
        cur.to_parquet(path) if fmt == "parquet" else cur.to_csv(path, index=False)
        ds = dataset(fmt, contract={"allowed_values": {"country": COUNTRIES},
                                    "freshness": {"column": "event_time"}},
                     drift={"exclude": ["empty"]})
        ref = load_reference(pd.read_parquet(tmp_path / "r.parquet"), ds)
        back = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
        duck = read_file_window(path, ds, ref)
        oracle = pandas_window(back, ds, ref)
        oracle.categories = {k: v for k, v in oracle.categories.items() if k in duck.categories}
        oracle.numeric = {k: v for k, v in oracle.numeric.items() if k in duck.numeric}
        same(duck, oracle)
        assert duck.newest_event == pd.Timestamp("2026-11-24T00:00:00Z").timestamp() + \
            len(cur) - 1
        drift = parse_spec({"service": "p", "models": [{"name": "m"}],
                            "drift": {"min_samples": 200}}).drift
        assert file_drift(duck, ref, ds, drift) == file_drift(oracle, ref, ds, drift)


def test_sampled_values_and_capped_categories_past_the_limits(tmp_path: Path,
                                                              monkeypatch: Any) -> None:
    """Past MAX_VALUES rows KS runs on a reservoir sample (rows said on the drift row); past
    the category cap the rest are counted, not named."""
    import agent.sidecar.collectors.stores.duckdb_files as files

    rng = np.random.default_rng(3)
    n = 30_000
    pd.DataFrame({"x": rng.normal(0, 1, n),
                  "c": [f"k{i}" for i in rng.integers(0, 50, n)]}).to_parquet(tmp_path / "d.pq")
    monkeypatch.setattr(files, "MAX_VALUES", 5000)
    with open_file(tmp_path / "d.pq") as r:
        r.stats(None)
        values, sampled = r.values(["x"], files.MAX_VALUES)
        cats, rest = r.categories(["c"], 10)
    assert values["x"].size == 5000 and sampled == {"x": n}
    assert len(cats["c"]) == 10 and sum(cats["c"].values()) + rest["c"] == n


def test_a_file_pandas_cannot_parse_is_an_error_reading(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1" + bytes(string.ascii_letters, "ascii"))
    from agent.sidecar.collectors.datasets import DatasetPoller

    r = DatasetPoller(dataset("parquet"), tmp_path).poll()
    assert r is not None and not r.ok and r.error


def test_types_are_the_ones_pandas_reads(tmp_path: Path) -> None:
    """pyarrow's rules without pandas metadata (an int or bool column with nulls reads as
    float or object; dates and decimals are objects) and pandas' CSV inference (an empty column
    is float, ints with blanks are floats, no date parsing)."""
    import datetime as dt
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"i": [1, None, 3], "j": [1, 2, 3], "b": [True, None, False],
                      "d": [dt.date(2026, 1, 1)] * 3, "m": [decimal.Decimal("1.50")] * 3,
                      "t": pa.array([dt.datetime(2026, 1, 1)] * 3, pa.timestamp("us")),
                      "n": pa.nulls(3)})
    pq.write_table(table, tmp_path / "a.parquet")          # no pandas metadata
    (tmp_path / "a.csv").write_text("i,j,b,e,t\n1,1,True,,2026-01-01T00:00:00Z\n"
                                    ",2,False,,2026-01-02T00:00:00Z\n")
    for name in ("a.parquet", "a.csv"):
        path = tmp_path / name
        with open_file(path) as r:
            got = r.stats(None).columns
        back = pd.read_parquet(path) if name.endswith("parquet") else pd.read_csv(path)
        assert got == {str(c): column_type(t) for c, t in back.dtypes.items()}, name


def test_object_columns_read_as_pyarrow_converts_them(tmp_path: Path) -> None:
    """pandas' metadata says ``object`` for any object column, but pyarrow converts it by the
    type it was stored as (doubles to floats, ints with nulls to floats, bools with nulls to
    objects, bools to bools, all-null to objects): the schema is the one pandas reads back."""
    columns = {"floats": [None, 0.0, False], "halves": [None, 1, 1.5], "ints": [None, 1, 2],
               "whole": [1, 2, 3], "flags": [None, True, False], "bools": [True, False, True],
               "nones": [None, None, None], "nans": [math.nan, None, None],
               "text": ["a", None, "b"]}
    pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in columns.items()}).to_parquet(
        tmp_path / "o.parquet")
    back = pd.read_parquet(tmp_path / "o.parquet")
    with open_file(tmp_path / "o.parquet") as r:
        assert r.stats(None).columns == frame_schema(back) == {
            "floats": "float", "halves": "float", "ints": "float", "whole": "int",
            "flags": "string", "bools": "bool", "nones": "string", "nans": "string",
            "text": "string"}


ZERO_ALLOWED = [["0.0"], ["-0.0"], ["0.0", "-0.0"], [0, 1.5], ["-0.0", 2.5], ["1.5"], []]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_zero_is_allowed_by_its_text(tmp_path: Path, fmt: str) -> None:
    """Allowed values compare as text: ``-0.0`` is not ``0.0`` (nor ``0``), though DuckDB holds
    them equal; the counts and shown values (most frequent first, no ties) are the ones
    pandas' values give. One column per allowed list, of floats and of ints with a null."""
    path = tmp_path / f"z.{fmt}"
    x = [2.5] * 4 + [-0.0] * 3 + [0.0] * 2 + [1.5, None]
    n = [0] * 4 + [1] * 3 + [2] * 2 + [-1, None]
    frame = pd.DataFrame({f"{c}{i}": v for i in range(len(ZERO_ALLOWED))
                          for c, v in (("x", x), ("n", n))})
    frame.to_parquet(path) if fmt == "parquet" else frame.to_csv(path, index=False)
    back = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    allowed = {f"{c}{i}": a for i, a in enumerate(ZERO_ALLOWED) for c in "xn"}
    with open_file(path) as r:
        r.stats(None)
        got = r.allowed(allowed)
    for col, values in allowed.items():
        c = allowed_values_check(col, back[col].tolist(), values)
        assert got[col] == {"rows": c.rows, "bad": c.bad, "share": c.share, "values": c.values,
                            "more": c.more}, (col, values)


def same_reference(a: Any, b: Any) -> None:
    assert (a.rows, a.time_like) == (b.rows, b.time_like)
    assert a.categorical == b.categorical
    assert a.numeric.keys() == b.numeric.keys()
    for k in a.numeric:
        np.testing.assert_array_equal(a.numeric[k], b.numeric[k])


@settings(max_examples=80, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(reference=frames(), fmt=st.sampled_from(["parquet", "csv"]))
def test_a_reference_read_by_duckdb_is_the_one_pandas_read(tmp_path: Path,
                                                           reference: pd.DataFrame,
                                                           fmt: str) -> None:
    """For any reference file: the numeric values, category counts, time-like columns and row
    count of the reference DuckDB reads equal those of ``pandas.read_parquet`` / ``read_csv``."""
    from agent.sidecar.collectors.stores.duckdb_files import read_reference

    path = tmp_path / f"r.{fmt}"
    if not _write(reference, path):
        return
    ds = dataset(fmt)
    back = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    same_reference(load_reference(read_reference(path), ds), load_reference(back, ds))


def test_a_reference_keeps_what_pandas_metadata_says(tmp_path: Path) -> None:
    """A file pandas wrote with a named index and categorical columns: the index stays an index
    (not a column to test or to count) and categories stay categories, as ``read_parquet`` has
    it, in the reference and in a window alike."""
    from agent.sidecar.collectors.stores.duckdb_files import read_reference

    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"user": [f"u{i}" for i in range(400)], "x": rng.normal(0, 1, 400),
                          "c": pd.Categorical(rng.choice(["a", "b"], 400))})
    frame[frame.x > -1].set_index("user").to_parquet(tmp_path / "r.parquet")
    duck = read_reference(tmp_path / "r.parquet")
    back = pd.read_parquet(tmp_path / "r.parquet")
    assert list(duck.columns) == ["x", "c"] and duck.index.name == "user"
    assert duck.dtypes.to_dict() == back.dtypes.to_dict()
    same_reference(load_reference(duck, dataset("parquet")),
                   load_reference(back, dataset("parquet")))
    with open_file(tmp_path / "r.parquet") as r:                  # a window of that file
        assert r.stats(None).columns == frame_schema(back) == {"x": "float", "c": "category"}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_big_reference_is_a_uniform_sample_in_file_order(tmp_path: Path, fmt: str) -> None:
    """Past the cap, the reference is a sample of the cap's size: rows of the file, in the
    file's order (a sequence or a clock is still told time-like), drawn uniformly (its values
    are distributed as the whole file's); through the poller, the drift rows say so."""
    from scipy.stats import ks_2samp

    import agent.sidecar.collectors.stores.duckdb_files as files
    from agent.sidecar.collectors.datasets import DatasetPoller

    rng = np.random.default_rng(11)
    n, cap = 300_000, 20_000
    full = pd.DataFrame({"seq": np.arange(n) * 3, "amount": rng.lognormal(3, 1, n),
                         "country": rng.choice(COUNTRIES, n, p=[0.5, 0.2, 0.15, 0.1, 0.05])})
    path = tmp_path / f"r.{fmt}"
    full.to_parquet(path) if fmt == "parquet" else full.to_csv(path, index=False)
    sample = files.read_reference(path, max_rows=cap)
    assert len(sample) == cap and list(sample.columns) == list(full.columns)
    assert (np.diff(sample["seq"].to_numpy()) > 0).all()          # file order, no repeats
    rows = full.set_index("seq").loc[sample["seq"]]                  # rows of the file
    np.testing.assert_array_equal(rows["amount"].to_numpy(), sample["amount"].to_numpy())
    assert ks_2samp(sample["amount"], full["amount"]).statistic < 0.02
    shares = sample["country"].value_counts(normalize=True)
    assert abs(shares["DE"] - 0.5) < 0.02 and abs(shares["US"] - 0.05) < 0.01
    ref = load_reference(sample, dataset(fmt))
    assert ref.rows == cap and "seq" in ref.time_like
    pd.DataFrame({"amount": rng.lognormal(3, 1, 5000), "seq": np.arange(5000),
                  "country": rng.choice(COUNTRIES, 5000)}).to_parquet(tmp_path / "d.parquet")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(files, "REFERENCE_ROWS", cap)
        ds = parse_spec({"service": "p", "models": [{"name": "m"}], "sources": {"datasets": [
            {"name": "d", "path": "d.parquet", "reference": f"r.{fmt}"}]}}).sources.datasets[0]
        r = DatasetPoller(ds, tmp_path).poll()
    assert r is not None and r.ok and r.drift
    assert {row["column"]: row["n_reference"] for row in r.drift} == {"amount": cap,
                                                                       "country": cap}
