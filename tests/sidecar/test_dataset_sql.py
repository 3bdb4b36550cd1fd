"""Datasets in a real PostgreSQL (Debian's), watched by a real ``slo-agent run``: freshness,
volume, nulls, schema changes and drift go ok -> critical -> ok as rows are inserted, altered and
deleted; the sidecar reads as a read-only role whose password never shows in /status, /metrics
or the log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.helpers import free_port
from tests.postgres import Postgres, serve

MONITOR_PW = "m0n-Secr3t-pw"
COUNTRIES = ["DE", "FR", "US"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    for server in serve():
        server.sql(f"CREATE ROLE monitor LOGIN PASSWORD '{MONITOR_PW}'", "CREATE DATABASE shop")
        server.sql("CREATE TABLE features (id serial PRIMARY KEY, event_time timestamptz, "
                   "amount float8, country text)",
                   "GRANT SELECT ON features TO monitor", db="shop")
        yield server


def monitor_url(pg: Postgres) -> str:
    return pg.url("monitor", MONITOR_PW, "shop")


def fill(pg: Postgres, n: int = 1000, *, shift: float = 0.0, seed: int = 1) -> None:
    """Replace the table's rows with ``n`` others, the newest just now, the rest over the
    last 5 minutes."""
    rng = np.random.default_rng(seed)
    rows = [(float(0 if i == 0 else rng.uniform(0, 300)),
             float(rng.normal(100 + 20 * shift, 20)), str(rng.choice(COUNTRIES)))
            for i in range(n)]
    with pg.admin("shop") as con, con.cursor() as cur:
        cur.execute("DELETE FROM features")
        cur.executemany("INSERT INTO features (event_time, amount, country) VALUES "
                        "(now() - make_interval(secs => %s), %s, %s)", rows)


def reference(tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp / "ref.parquet"
    pd.DataFrame({"amount": rng.normal(100, 20, 5000),
                  "country": rng.choice(COUNTRIES, 5000)}).to_parquet(path)
    return path


def spec(tmp: Path, port: int) -> dict[str, Any]:
    return {
        "service": "tables", "models": [{"name": "m"}],
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": str(tmp / "state"),
                    "interval": "0.3s"},
        "sources": {"gpu": {"mode": "off"}, "datasets": [{
            "name": "features", "poll_interval": "0.5s", "reference": str(reference(tmp)),
            "sql": {"url_env": "FEATURES_DB_URL", "table": "features",
                    "time_column": "event_time", "window": "1h", "timeout": "5s"},
            "contract": {"columns": {"id": "int", "event_time": "datetime", "amount": "float",
                                     "country": "string"}, "allow_extra_columns": False}}]},
        "drift": {"min_samples": 100},
        "objectives": [
            {"name": "fresh", "signal": "freshness_lag", "selector": {"dataset": "features"},
             "warning": "12s", "critical": "20s", "for": "0s"},
            {"name": "volume", "signal": "row_count", "selector": {"dataset": "features"},
             "warning": "500", "critical": "100", "for": "0s"},
            {"name": "nulls", "signal": "null_ratio",
             "selector": {"dataset": "features", "column": "amount"},
             "warning": "10%", "critical": "30%", "for": "0s"},
            {"name": "schema", "signal": "schema_drift", "selector": {"dataset": "features"},
             "for": "0s"},
            {"name": "drift", "signal": "feature_drift",
             "selector": {"dataset": "features", "column": "amount"},
             "warning": "0.1", "critical": "0.25", "calibration": None, "for": "0s"},
        ],
    }


def statuses(sc: Any) -> dict[str, str]:
    return {o["name"]: o["status"] for o in sc.status()["objectives"]}


def wait_for(sc: Any, want: dict[str, str], timeout: float = 40.0) -> dict[str, Any]:
    """/status once every named objective has the wanted status (and kept it 1 s)."""
    deadline = time.time() + timeout
    since = None
    got: dict[str, str] = {}
    while time.time() < deadline:
        got = statuses(sc)
        if all(got.get(k) == v for k, v in want.items()):
            since = since or time.time()
            if time.time() - since > 1.0:
                return sc.status()
        else:
            since = None
        time.sleep(0.2)
    raise AssertionError(f"wanted {want}, got {got}: {sc.status()['sources']['datasets']} "
                         f"{sc.log()}")


OK = {"fresh": "ok", "volume": "ok", "nulls": "ok", "schema": "ok", "drift": "ok"}


def test_objectives_on_a_table_go_critical_and_back(pg: Postgres, tmp_path: Path,
                                                    sidecar_factory: Any) -> None:
    pg.sql("DELETE FROM features", db="shop")
    sc = sidecar_factory(spec(tmp_path, free_port()), env={"FEATURES_DB_URL": monitor_url(pg)})
    fill(pg)               # once it runs: a slow start on a loaded machine ages no row
    status = wait_for(sc, OK)
    ds = next(d for d in status["sources"]["datasets"] if d["name"] == "features")
    assert ds["source"] == "sql" and ds["rows"] == 1000 and ds["error"] is None
    assert ds["where"] == f"postgresql+psycopg://monitor:***@127.0.0.1:{pg.port}/shop features"
    amount = next(r for r in ds["drift"] if r["column"] == "amount")
    assert amount["bins"] == 10 and amount["test"] == "chi2"      # counts per reference bin

    # freshness: no new rows for 20 s
    status = wait_for(sc, {"fresh": "critical", "volume": "ok", "nulls": "ok", "drift": "ok"})
    lag = next(o for o in status["objectives"] if o["name"] == "fresh")["value"]
    assert 20 <= lag < 120, lag
    fill(pg, seed=2)
    wait_for(sc, OK)

    # nulls: half the amounts null
    pg.sql("UPDATE features SET amount = NULL WHERE id % 2 = 0", db="shop")
    wait_for(sc, {"nulls": "critical", "volume": "ok", "drift": "ok"})
    fill(pg, seed=3)
    wait_for(sc, OK)

    # volume: every row deleted, then rows again
    pg.sql("DELETE FROM features", db="shop")
    status = wait_for(sc, {"volume": "critical"})
    assert next(o for o in status["objectives"] if o["name"] == "volume")["value"] == 0
    fill(pg, seed=4)
    wait_for(sc, OK)

    # schema: two columns added (extra columns are banned), then dropped again
    pg.sql("ALTER TABLE features ADD COLUMN extra1 int, ADD COLUMN extra2 text", db="shop")
    wait_for(sc, {"schema": "critical", "volume": "ok", "nulls": "ok"})
    pg.sql("ALTER TABLE features DROP COLUMN extra1, DROP COLUMN extra2", db="shop")
    fill(pg, seed=5)
    wait_for(sc, OK)

    # drift: the amounts move by 1.5 standard deviations, then back
    fill(pg, shift=1.5, seed=6)
    wait_for(sc, {**OK, "drift": "critical"})
    fill(pg, seed=7)
    status = wait_for(sc, OK)

    # the password never shows: not in /status, /metrics, the page or the log
    _, metrics = sc.get("/metrics")
    _, page = sc.get("/")
    for text in (json.dumps(status), metrics.decode(), page.decode(), sc.log()):
        assert MONITOR_PW not in text
    assert 'dataset="features"' in metrics.decode()


def test_a_failing_database_is_a_reported_state(pg: Postgres, tmp_path: Path,
                                                sidecar_factory: Any) -> None:
    """The database stops answering (wrong password): /status says why, the tick goes on, and
    the password is nowhere."""
    fill(pg)
    data = spec(tmp_path, free_port())
    sc = sidecar_factory(data, env={"FEATURES_DB_URL": pg.url("monitor", "wrong-pw-123",
                                                              "shop")})
    deadline = time.time() + 30
    ds: dict[str, Any] = {}
    while time.time() < deadline:
        doc = sc.status()
        ds = next((d for d in doc["sources"]["datasets"] if d["name"] == "features"), {})
        if ds.get("error"):
            break
        time.sleep(0.2)
    assert "refused the login" in ds["error"] and "wrong-pw-123" not in json.dumps(doc)
    assert "***" in ds["where"]
    before = sc.status()["time"]
    time.sleep(1.0)
    assert sc.status()["time"] > before             # the tick goes on
    assert "wrong-pw-123" not in sc.log()


def test_great_expectations_runs_the_contract_on_the_database(
        pg: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``great_expectations: true``: GX's SQL datasource over the poll's window, as the
    read-only role; its failures are the reading's contract failures."""
    from agent.sidecar.collectors.sql_datasets import SqlPoller
    from agent.spec import parse_spec

    fill(pg, n=200)
    pg.sql("UPDATE features SET amount = NULL WHERE id % 4 = 0",
           "UPDATE features SET amount = 1000 WHERE id % 10 = 1", db="shop")
    monkeypatch.setenv("FEATURES_DB_URL", monitor_url(pg))
    ds = parse_spec({"service": "s", "models": [{"name": "m"}], "sources": {"datasets": [{
        "name": "features", "sql": {"url_env": "FEATURES_DB_URL", "table": "features",
                                    "time_column": "event_time", "window": "1h",
                                    "great_expectations": True},
        "contract": {"max_null_ratio": {"amount": "5%"}, "ranges": {"amount": {"max": 500}},
                     "allowed_values": {"country": COUNTRIES}}}]}}).sources.datasets[0]
    r = SqlPoller(ds, tmp_path).read(time.time())
    assert r.ok, r.error
    failed = {(f["expectation"], f["column"]): f for f in r.contract_failures or []}
    assert set(failed) == {("expect_column_values_to_not_be_null", "amount"),
                           ("expect_column_values_to_be_between", "amount")}, failed
    assert failed[("expect_column_values_to_not_be_null", "amount")]["unexpected_ratio"] == \
        pytest.approx(0.25, abs=0.01)
