"""What the database computes equals what the sidecar would compute from the rows themselves:
for any rows (hypothesis, in a real PostgreSQL, and in SQLite and DuckDB for "any dialect"), the
pushed-down rows, null counts (a NaN is a null, as pandas counts it), newest event, categories,
counts per reference bin and allowed-value counts equal the same statistics computed in Python on
the same rows; only aggregates come back."""

from __future__ import annotations

import math
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.sidecar.collectors.stores.sql_tables import SqlStore
from agent.spec import parse_spec
from detectors.bins import cumulative_counts, levels, quantile_edges
from detectors.columns import allowed_values_check
from tests.postgres import Postgres, serve

EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
ALLOWED = ["a", "b"]


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    for server in serve():
        server.sql("CREATE TABLE t (x float8, k int, c text, b bool, ts timestamptz)")
        yield server


rows_st = st.lists(st.tuples(
    st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan)),
    st.one_of(st.none(), st.integers(-3, 3)),
    st.one_of(st.none(), st.sampled_from(["a", "b", "c", "", "é"])),
    st.one_of(st.none(), st.booleans()),
    st.one_of(st.none(), st.integers(0, 10_000))), max_size=60)


def source(table: str = "t", **extra: Any) -> Any:
    return parse_spec({"service": "s", "models": [{"name": "m"}], "sources": {"datasets": [
        {"name": "d", "sql": {"url_env": "PUSH_DB", "table": table, "time_column": "ts",
                              "window": "all", **extra}}]}}).sources.datasets[0].sql


def missing(v: Any) -> bool:
    """Null as pandas counts it: None, or NaN."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def expected(rows: list[tuple[Any, ...]], edges: np.ndarray) -> dict[str, Any]:
    cols = ["x", "k", "c", "b", "ts"]
    nulls = {c: sum(missing(r[i]) for r in rows) for i, c in enumerate(cols)}
    stamps = [r[4] for r in rows if r[4] is not None]
    c_values = [r[2] for r in rows]
    check = allowed_values_check("c", c_values, ALLOWED)
    return {
        "rows": len(rows), "nulls": nulls,
        "newest": (EPOCH + timedelta(seconds=max(stamps))).timestamp() if stamps else None,
        "c": Counter(str(v) for v in c_values if v is not None),
        "b": Counter(str(r[3]) for r in rows if r[3] is not None),
        "bins": cumulative_counts([r[0] for r in rows if not missing(r[0])], edges),
        "x": Counter(str(r[0]) for r in rows if not missing(r[0])),
        "allowed": (check.rows, check.bad, check.share),
    }


def read_all(store: SqlStore, edges: np.ndarray) -> dict[str, Any]:
    with store.open() as r:
        agg = r.stats(time.time())
        cats, rest = r.categories(["c", "b", "x"], 1000)
        bins = r.bins({"x": edges})
        allowed = r.allowed({"c": ALLOWED})["c"]
    assert not rest
    return {"rows": agg.rows, "nulls": agg.nulls, "newest": agg.newest_event, "c": cats["c"],
            "b": cats["b"], "x": cats["x"], "bins": bins["x"],
            "allowed": (allowed["rows"], allowed["bad"], allowed["share"])}


EDGES = quantile_edges(np.sort(np.random.default_rng(0).normal(0, 1e5, 500)), levels(10))


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=rows_st)
def test_postgres_computes_what_python_would(pg: Postgres, monkeypatch: pytest.MonkeyPatch,
                                             rows: list[tuple[Any, ...]]) -> None:
    with pg.admin() as con, con.cursor() as cur:
        cur.execute("TRUNCATE t")
        cur.executemany("INSERT INTO t VALUES (%s, %s, %s, %s, %s)", [
            (x, k, c, b, None if s is None else EPOCH + timedelta(seconds=s))
            for x, k, c, b, s in rows])
    monkeypatch.setenv("PUSH_DB", pg.url())
    got = read_all(SqlStore(source(), 60), EDGES)
    want = expected(rows, EDGES)
    np.testing.assert_array_equal(got.pop("bins"), want.pop("bins"))
    assert got == want


def test_any_dialect_gives_the_plain_statistics(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite through SQLAlchemy: the same aggregates (no server-side timeout there: the
    poller's watchdog covers it), and a window on epoch seconds."""
    rng = np.random.default_rng(4)
    now = time.time()
    rows = [(float(rng.normal()) if i % 7 else None, int(rng.integers(0, 3)),
             str(rng.choice(["a", "b", "z"])), bool(i % 2), now - 7200 + i * 10)
            for i in range(500)]
    path = tmp_path / "d.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (x REAL, k INTEGER, c TEXT, b BOOLEAN, ts REAL)")
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
    monkeypatch.setenv("PUSH_DB", f"sqlite:///{path}")
    edges = quantile_edges(np.sort(rng.normal(0, 1, 300)), levels(10))
    got = read_all(SqlStore(source(), 60), edges)
    want = expected([(x, k, c, b, None) for x, k, c, b, _ in rows], edges)
    want["newest"], want["nulls"]["ts"] = rows[-1][4], 0
    np.testing.assert_array_equal(got.pop("bins"), want.pop("bins"))
    assert got == want
    hour = SqlStore(source(window="1h"), 60)
    with hour.open() as r:
        agg = r.stats(now)
    assert agg.rows == sum(1 for row in rows if row[4] > now - 3600)


@settings(max_examples=25, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=rows_st)
def test_nan_is_a_null_in_a_dialect_without_special_handling(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[tuple[Any, ...]]) -> None:
    """DuckDB through SQLAlchemy (duckdb_engine; a query, as its catalogue is not PostgreSQL's)
    holds NaN and, like PostgreSQL, takes NaN = NaN: the generic path still counts a NaN as a
    null and leaves it out of categories, bins and allowed values."""
    import duckdb

    rows = [(0.5, 1, "a", True, 0), *rows]      # every column typed by its first value
    path = tmp_path / f"d{abs(hash(tuple(map(str, rows))))}.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x DOUBLE, k INTEGER, c VARCHAR, b BOOLEAN, ts TIMESTAMP)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [
        (x, k, c, b, None if s is None else (EPOCH + timedelta(seconds=s)).replace(tzinfo=None))
        for x, k, c, b, s in rows])
    con.close()
    monkeypatch.setenv("PUSH_DB", f"duckdb:///{path}")
    store = SqlStore(parse_spec({"service": "s", "models": [{"name": "m"}], "sources": {
        "datasets": [{"name": "d", "sql": {"url_env": "PUSH_DB", "query": "SELECT * FROM t",
                                           "time_column": "ts", "window": "all"}}]}}
    ).sources.datasets[0].sql, 60)
    got = read_all(store, EDGES)
    want = expected(rows, EDGES)
    np.testing.assert_array_equal(got.pop("bins"), want.pop("bins"))
    assert got == want
