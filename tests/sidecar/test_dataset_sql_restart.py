"""``window: since_last_poll`` across a restart of a real ``slo-agent run`` on a real PostgreSQL:
the position (the newest time the last applied read saw) is kept in the state snapshot, so the
first read after the restart counts exactly the rows that arrived while the sidecar was down.
A row that arrives late, with a time older than the position, is not counted (README: "Data in a
database"); a position saved for another table is not resumed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.sidecar.collectors.stores import sql_position
from agent.spec import parse_spec
from tests.helpers import free_port
from tests.postgres import Postgres, serve

PW = "rst-Pw-5521"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    for server in serve():
        server.sql(f"CREATE ROLE monitor LOGIN PASSWORD '{PW}'", "CREATE DATABASE shop")
        server.sql("CREATE TABLE events (id serial, event_time timestamptz, amount float8)",
                   "GRANT SELECT ON events TO monitor", db="shop")
        yield server


def insert(pg: Postgres, base: str, offsets: list[float]) -> None:
    """Rows at ``base`` plus each offset in seconds (``base`` a SQL timestamptz expression)."""
    with pg.admin("shop") as con, con.cursor() as cur:
        cur.executemany(f"INSERT INTO events (event_time, amount) VALUES "
                        f"({base} + make_interval(secs => %s), 1.0)", [(o,) for o in offsets])


def rows_read(sc: Any, want: int, timeout: float = 40.0) -> dict[str, Any]:
    deadline = time.time() + timeout
    ds: dict[str, Any] = {}
    while time.time() < deadline:
        ds = next((d for d in sc.status()["sources"]["datasets"] if d["name"] == "events"), {})
        if ds.get("rows") == want:
            return ds
        time.sleep(0.2)
    raise AssertionError(f"wanted {want} rows, got {ds}: {sc.log()}")


def test_since_last_poll_goes_on_where_it_was_after_a_restart(
        pg: Postgres, tmp_path: Path, sidecar_factory: Any) -> None:
    pg.sql("TRUNCATE events", "DROP TABLE IF EXISTS anchor",
           "CREATE TABLE anchor AS SELECT now() - interval '100 seconds' AS t0", db="shop")
    t0 = "(SELECT t0 FROM anchor)"
    insert(pg, t0, [-1.0, 0.0])                    # before the first start: T0-1 s, T0
    port = free_port()
    spec = {
        "service": "restart", "models": [{"name": "m"}],
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": str(tmp_path / "state"),
                    "interval": "0.3s"},
        "sources": {"gpu": {"mode": "off"}, "datasets": [{
            "name": "events", "poll_interval": "60s",         # one read per start
            "sql": {"url_env": "EVENTS_DB_URL", "table": "events",
                    "time_column": "event_time", "window": "since_last_poll"}}]},
        "objectives": [{"name": "volume", "signal": "row_count",
                        "selector": {"dataset": "events"}, "warning": "1", "critical": "0",
                        "for": "0s"}]}
    sc = sidecar_factory(spec, env={"EVENTS_DB_URL": pg.url("monitor", PW, "shop")})
    # a first start looks back one poll interval from the newest row: both rows
    rows_read(sc, 2)
    sc.stop()                                          # SIGTERM: the final snapshot
    saved = json.loads((tmp_path / "state" / "state.json").read_text())
    position = saved["state"]["datasets"]["events"]["position"]
    assert position["type"] == "datetime" and PW not in json.dumps(saved)

    # while it is down: 13 rows after T0, and one late row older than T0
    insert(pg, t0, [float(i) for i in range(1, 14)])
    insert(pg, t0, [-5.0])
    sc.start()
    # exactly the 13 (without the position: every row within 60 s of the newest, 16)
    ds = rows_read(sc, 13)
    assert ds["error"] is None
    time.sleep(1.0)
    assert rows_read(sc, 13)                           # no second read before 60 s


def test_a_position_resumes_only_on_its_own_source() -> None:
    """Each column type round-trips through JSON; another table's or time column's position,
    or an unreadable one, is not resumed (the first read then looks back one interval)."""
    def source(**sql: Any) -> Any:
        return parse_spec({"service": "s", "models": [{"name": "m"}], "sources": {
            "datasets": [{"name": "d", "sql": {"url_env": "X", "time_column": "t",
                                               "window": "since_last_poll", **sql}}]}}
        ).sources.datasets[0].sql

    events = source(table="events")
    for value in (datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=UTC),
                  datetime(2026, 11, 24, 1, 2, 3, 456789), datetime(2026, 1, 2).date(),
                  1_700_000_123, 1.7e9 + 0.25, Decimal("1700000000.123456")):
        saved = json.loads(json.dumps(sql_position.dump(events, value)))
        back = sql_position.load(events, saved)
        assert back == value and type(back) is type(value)
    saved = sql_position.dump(events, 5)
    assert sql_position.load(source(table="other"), saved) is None
    assert sql_position.load(source(table="events", time_column="u"), saved) is None
    assert sql_position.load(source(query="SELECT * FROM events"), saved) is None
    assert sql_position.load(events, {**(saved or {}), "value": "x"}) is None
    assert sql_position.load(events, "garbage") is None
    assert sql_position.dump(events, float("nan")) is None
