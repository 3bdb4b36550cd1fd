"""What goes wrong with a SQL dataset is said in words, on the reading (/status) and at
``slo-agent validate`` when the database is reachable, and never shows the password: no URL, a
bad URL, a wrong password, a missing table or column, a permission, a query of the wrong shape,
a statement timeout, a write in a read-only session. A slow database never stalls a poll."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.sidecar.collectors.sql_datasets import SqlPoller
from agent.spec import parse_spec
from tests.helpers import ROOT
from tests.postgres import Postgres, serve

PW = "r0-Pass-w0rd"


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    for server in serve():
        server.sql(f"CREATE ROLE reader LOGIN PASSWORD '{PW}'", "CREATE DATABASE shop")
        server.sql("CREATE TABLE features (id int, event_time timestamptz, amount float8)",
                   "INSERT INTO features SELECT i, now(), i FROM generate_series(1, 50) i",
                   "CREATE TABLE payroll (salary int)", "CREATE SEQUENCE ids",
                   "GRANT SELECT ON features TO reader", "GRANT USAGE ON SEQUENCE ids TO reader",
                   db="shop")
        yield server


def spec_data(sql: dict[str, Any]) -> dict[str, Any]:
    return {"service": "s", "models": [{"name": "m"}],
            "sources": {"gpu": {"mode": "off"}, "datasets": [{"name": "features", "sql": {
                "url_env": "DB_URL", "time_column": "event_time", "window": "1h", **sql}}]}}


def read(sql: dict[str, Any], monkeypatch: pytest.MonkeyPatch, url: str | None) -> Any:
    if url is None:
        monkeypatch.delenv("DB_URL", raising=False)
    else:
        monkeypatch.setenv("DB_URL", url)
    ds = parse_spec(spec_data(sql)).sources.datasets[0]
    return SqlPoller(ds, Path(".")).read(time.time())


CASES = [
    ({"table": "features"}, None, "environment variable DB_URL is not set"),
    ({"table": "features"}, "not a url", "does not hold a SQLAlchemy URL"),
    ({"table": "features"}, "nosuch+driver://h/db", "no SQLAlchemy dialect"),
    ({"table": "features"}, "WRONG_PW", "refused the login"),
    ({"table": "missing"}, "", "table 'missing' does not exist"),
    ({"table": "features", "time_column": "ts"}, "", "time_column 'ts' is not a column"),
    ({"table": "payroll", "time_column": None, "window": "all"}, "",
     "may not read this: permission denied for table payroll"),
    ({"query": "SELECT id, id FROM features"}, "", "distinct column names; repeated: id"),
    ({"query": "SELECT id, 'soon' AS event_time FROM features"}, "",
     "time_column 'event_time' is string; expected a timestamp"),
    ({"query": "SELECT id, event_time, pg_sleep(0.2) AS s FROM features", "timeout": "1s"}, "",
     "statement timeout (1s)"),
    ({"query": "SELECT nextval('ids') AS id, now() AS event_time"}, "",
     "read-only transaction"),
]


@pytest.mark.parametrize(("sql", "url", "said"), CASES, ids=[c[2][:30] for c in CASES])
def test_each_failure_is_said_without_the_password(pg: Postgres, monkeypatch: pytest.MonkeyPatch,
                                                   sql: dict[str, Any], url: str | None,
                                                   said: str) -> None:
    if url == "":
        url = pg.url("reader", PW, "shop")
    elif url == "WRONG_PW":
        url = pg.url("reader", "Not-The-Pw-77", "shop")
    if "payroll" in str(sql) and "nextval" not in str(sql):
        pg.sql("GRANT SELECT ON features TO reader", db="shop")
    r = read(sql, monkeypatch, url)
    assert not r.ok and said in (r.error or ""), r.error
    for secret in (PW, "Not-The-Pw-77"):
        assert secret not in (r.error or "") and secret not in (r.where or "")


ODD_PW = "p@ss/W0rd-x9"          # written %-encoded in a URL; a driver echoes it decoded


def test_a_password_the_driver_echoes_is_scrubbed(pg: Postgres,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The database's own message repeats what it was given: a database name holding the
    password comes back decoded (``p@ss/...``), not as the URL spells it (``p%40ss%2F...``).
    Neither the error nor the URL shown (``where``) holds the password in any spelling; and a
    password with a bare '@' (half of it would be taken for the host) is refused unsent."""
    from urllib.parse import quote

    pg.sql(f"CREATE ROLE odd LOGIN PASSWORD '{ODD_PW}'")
    pg.sql("GRANT SELECT ON features TO odd", db="shop")
    enc = quote(ODD_PW, safe="")
    spellings = (ODD_PW, enc, "W0rd-x9")
    good = read({"table": "features"}, monkeypatch,
                f"postgresql+psycopg://odd:{enc}@127.0.0.1:{pg.port}/shop")
    assert good.ok and good.rows == 50, good.error          # the encoded password logs in
    r = read({"table": "features"}, monkeypatch,
             f"postgresql+psycopg://odd:{enc}@127.0.0.1:{pg.port}/db-{enc}")
    assert not r.ok and 'database "db-***" does not exist' in (r.error or ""), r.error
    assert r.where == f"postgresql+psycopg://odd:***@127.0.0.1:{pg.port}/db-*** features"
    for text in (r.error or "", r.where or ""):
        assert not any(s in text for s in spellings), text
    bare = read({"table": "features"}, monkeypatch,
                f"postgresql+psycopg://odd:hunter2@k9zq@127.0.0.1:{pg.port}/shop")
    assert not bare.ok and "percent-encode" in (bare.error or ""), bare.error
    for text in (bare.error or "", bare.where or ""):
        assert "hunter2" not in text and "k9zq" not in text, text


def test_reads_are_read_only_and_a_slow_one_never_blocks_a_poll(
        pg: Postgres, monkeypatch: pytest.MonkeyPatch) -> None:
    """The role may write, the session may not; a 3 s query leaves start() returning at once and
    its end is picked up by finished()."""
    pg.sql("GRANT INSERT, UPDATE ON features TO reader", db="shop")
    monkeypatch.setenv("DB_URL", pg.url("reader", PW, "shop"))
    ds = parse_spec(spec_data({"query": "SELECT id, event_time, pg_sleep(0.06) AS s "
                                        "FROM features", "timeout": "10s"})).sources.datasets[0]
    poller = SqlPoller(ds, Path("."))
    started = time.perf_counter()
    assert poller.start() is None and poller.start() is None    # one read at a time
    assert time.perf_counter() - started < 0.5
    deadline = time.time() + 30
    done = None
    while done is None and time.time() < deadline:
        done = poller.finished()
        time.sleep(0.1)
    assert done is not None and done.ok and done.rows == 50, done
    with pytest.raises(Exception, match="read-only transaction"):
        from agent.sidecar.collectors.stores.sql_tables import SqlStore

        assert ds.sql is not None
        with SqlStore(ds.sql, 60).open() as r:
            import sqlalchemy as sa

            r.conn.execute(sa.text("UPDATE features SET amount = 0"))
    pg.sql("REVOKE INSERT, UPDATE ON features FROM reader", db="shop")


def _validate(tmp: Path, data: dict[str, Any], url: str | None) -> subprocess.CompletedProcess[str]:
    path = tmp / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    if url is not None:
        env["DB_URL"] = url
    return subprocess.run([sys.executable, "-m", "agent.cli", "validate", str(path)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_validate_reads_the_database_when_it_is_reachable(pg: Postgres, tmp_path: Path) -> None:
    good = _validate(tmp_path, spec_data({"table": "features"}), pg.url("reader", PW, "shop"))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "dataset features: 50 rows in the window" in good.stdout + good.stderr
    missing = _validate(tmp_path, spec_data({"table": "features", "time_column": "ts"}),
                        pg.url("reader", PW, "shop"))
    assert missing.returncode == 2
    assert "sources.datasets[features].sql: time_column 'ts' is not a column" in \
        missing.stdout + missing.stderr
    assert PW not in missing.stdout + missing.stderr
    unset = _validate(tmp_path, spec_data({"table": "features"}), None)
    assert unset.returncode == 0 and "not checked: environment variable DB_URL" in \
        unset.stdout + unset.stderr
    down = _validate(tmp_path, spec_data({"table": "features"}),
                     "postgresql+psycopg://reader:" + PW + "@127.0.0.1:1/shop")
    assert down.returncode == 0 and "not checked: cannot connect" in down.stdout + down.stderr
    assert PW not in down.stdout + down.stderr
