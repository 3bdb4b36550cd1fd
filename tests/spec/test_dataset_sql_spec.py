"""The ``sources.datasets[].sql`` block at the door: any value gives a parsed source or spec
errors naming the field; a URL or password is never taken from the spec nor echoed back; a
query that writes is refused before it reaches a database."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.spec import SpecError, parse_spec

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
durations = st.one_of(st.sampled_from(["1h", "30m", "15s", "0s", "-1s", "soon", "2d"]),
                      st.integers(-5, 10_000), st.floats(allow_nan=True, allow_infinity=True))
anything = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30),
                     st.floats(allow_nan=True), st.lists(st.integers(), max_size=2))
queries = st.one_of(
    st.sampled_from(["SELECT * FROM t", "with x as (select 1 a) select a from x",
                     "SELECT a FROM t;", "select 'drop table x' as a", "DELETE FROM t",
                     "SELECT 1; DROP TABLE t", "SELECT * INTO t2 FROM t",
                     "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                     "SELECT * FROM t FOR UPDATE", "-- c\nSELECT 1 AS a", ""]),
    st.text(max_size=40))


def doc(sql: Any) -> dict[str, Any]:
    return {"service": "s", "models": [{"name": "m"}],
            "sources": {"datasets": [{"name": "features", "sql": sql}]},
            "objectives": [{"name": "o", "signal": "freshness_lag",
                            "selector": {"dataset": "features"},
                            "warning": "1h"}]}


@st.composite
def blocks(draw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, strategy in (("url_env", st.one_of(names, anything)),
                          ("table", st.one_of(names, st.just("public.features"), anything)),
                          ("query", queries), ("time_column", st.one_of(names, anything)),
                          ("window", st.one_of(durations, st.sampled_from(
                              ["since_last_poll", "all"]))),
                          ("timeout", durations), ("max_categories", anything),
                          ("ks_sample", anything), ("great_expectations", anything),
                          ("url", st.just("postgresql://u:hunter2@db/x")),
                          ("bogus", anything)):
        if draw(st.booleans()):
            out[key] = draw(strategy)
    return out


@settings(max_examples=400, deadline=None)
@given(sql=st.one_of(blocks(), anything))
def test_any_sql_block_parses_or_names_its_field(sql: Any) -> None:
    try:
        spec = parse_spec(doc(sql))
    except SpecError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.path.startswith("sources.datasets[0]"), issue
            assert "hunter2" not in str(issue)
        return
    src = spec.sources.datasets[0].sql
    if sql is None:
        assert src is None
        return
    assert src is not None and "url" not in sql
    assert (src.table is None) != (src.query is None)
    assert src.window == "all" or src.time_column is not None
    assert src.timeout > 0
    if src.query is not None:
        assert not src.query.rstrip().endswith(";")


@pytest.mark.parametrize(("sql", "field", "said"), [
    ({"url": "postgresql://u:hunter2@db/x", "url_env": "DB", "table": "t"}, "sql.url",
     "never written in the spec"),
    ({"url_env": "DB url", "table": "t"}, "sql.url_env", "environment variable name"),
    ({"url_env": "DB"}, "sql.table", "a table or a query"),
    ({"url_env": "DB", "table": "t", "query": "SELECT 1 AS a"}, "sql.table", "one of them"),
    ({"url_env": "DB", "table": "t; drop"}, "sql.table", "write a query"),
    ({"url_env": "DB", "table": "t", "window": "1h"}, "sql.time_column", "time_column"),
    ({"url_env": "DB", "query": "DELETE FROM t", "window": "all"}, "sql.query", "SELECT"),
    ({"url_env": "DB", "query": "SELECT 1; DROP TABLE t", "window": "all"}, "sql.query",
     "one statement"),
    ({"url_env": "DB", "query": "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
      "window": "all"}, "sql.query", "'DELETE'"),
    ({"url_env": "DB", "query": "SELECT * INTO t2 FROM t", "window": "all"}, "sql.query",
     "'INTO'"),
    ({"url_env": "DB", "table": "t", "time_column": "ts", "window": "soon"}, "sql.window",
     "duration"),
    ({"url_env": "DB", "table": "t", "time_column": "ts", "timeout": "0s"}, "sql.timeout",
     "longer than 0s"),
])
def test_each_bad_block_names_the_field_and_the_fix(sql: dict[str, Any], field: str,
                                                    said: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(doc(sql))
    text = str(info.value)
    assert f"sources.datasets[0].{field}" in text and said in text, text
    assert "hunter2" not in text


def test_a_file_and_a_table_at_once_is_refused() -> None:
    data = doc({"url_env": "DB", "table": "t", "window": "all"})
    data["sources"]["datasets"][0]["path"] = "f.parquet"
    with pytest.raises(SpecError, match=r"sources\.datasets\[0\]\.sql: a dataset is a file"):
        parse_spec(data)


def test_freshness_is_read_on_the_time_column() -> None:
    data = doc({"url_env": "DB", "table": "t", "time_column": "ts"})
    data["sources"]["datasets"][0]["contract"] = {"freshness": {"column": "other"}}
    with pytest.raises(SpecError, match=r"contract\.freshness\.column: a SQL dataset's "):
        parse_spec(data)
    data["sources"]["datasets"][0]["contract"] = {"freshness": {"column": "ts"}}
    assert parse_spec(data).sources.datasets[0].freshness_column == "ts"


def test_quoted_words_and_comments_are_not_mistaken_for_writes() -> None:
    spec = parse_spec(doc({"url_env": "DB", "window": "all", "query":
                           "SELECT 'delete me' AS note, \"update\" FROM t -- drop\n"}))
    assert spec.sources.datasets[0].sql is not None


def test_the_readme_example_is_a_valid_spec(tmp_path: Any) -> None:
    import re

    import yaml

    from tests.helpers import ROOT

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Data in a database"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    data = {"service": "s", "models": [{"name": "m"}], **yaml.safe_load(block.group(1))}
    spec = parse_spec(data)
    sql = spec.sources.datasets[0].sql
    assert sql is not None and sql.table == "public.features" and sql.window == 3600
