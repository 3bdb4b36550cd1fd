"""Sidecar roles in a fleet: eight real ``slo-agent run`` processes on one spec (one checker by
``--role``, seven replicas by ``SLO_AGENT_ROLE``). The dataset file is read by the checker only
(a poll always leaves a trace: the dataset's rows, or its error, in /status and /metrics), job
events go to the checker and a replica refuses them with 409, every role takes SDK traffic, and
a replica reports objectives on shared sources as evaluated by the checker, never as its own
missing data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import catalogue as cat
from agent.cli import main
from agent.sidecar.state.roles import CHECKER_REASON, ROLES
from tests.helpers import ROOT, free_port

REPLICAS = 7
ROWS = 40


def fleet_spec(tmp: Path) -> dict[str, Any]:
    return {
        "service": "fleet", "models": [{"name": "clf", "version": "v1"}],
        "sidecar": {"listen": "127.0.0.1:9464", "state_dir": str(tmp / "unused"),
                    "interval": "0.3s"},
        "sources": {"gpu": {"mode": "off"}, "datasets": [
            {"name": "tx", "path": str(tmp / "tx.csv"), "poll_interval": "0.3s"}]},
        "objectives": [
            {"name": "nulls", "signal": "null_ratio",
             "selector": {"dataset": "tx", "column": "amount"}, "warning": "2%",
             "critical": "10%", "for": "0s"},
            {"name": "retrain", "signal": "job_success_ratio", "selector": {"job": "retrain"},
             "for": "0s"},
            {"name": "errors", "signal": "error_rate", "selector": {"model": "clf"},
             "for": "0s"},
        ],
    }


class Proc:
    def __init__(self, spec: Path, tmp: Path, role_args: list[str], env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"sidecar-{self.port}.log"
        log = open(self.log_path, "ab")   # noqa: SIM115 - kept open for the process lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "-c", str(spec), "--listen",
             f"127.0.0.1:{self.port}", "--state-dir", str(tmp / f"state-{self.port}"),
             "--log-level", "warning", *role_args],
            stdout=log, stderr=log, cwd=ROOT, env={**os.environ, **env})

    def request(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"sidecar exited: {self.log_path.read_text()[-3000:]}")
        try:
            return self.request("/readyz")[0] == 200
        except OSError:
            return False

    def status(self) -> dict[str, Any]:
        code, raw = self.request("/status")
        assert code == 200, raw
        doc: dict[str, Any] = json.loads(raw)
        return doc

    def metrics(self) -> str:
        code, raw = self.request("/metrics")
        assert code == 200
        return raw.decode()


@pytest.fixture()
def fleet(tmp_path: Path) -> Iterator[tuple[Proc, list[Proc]]]:
    rows = ["amount,country"] + [f"{'' if i % 10 == 0 else i},DE" for i in range(ROWS)]
    (tmp_path / "tx.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "slo.yaml"
    spec.write_text(yaml.safe_dump(fleet_spec(tmp_path)))
    procs = [Proc(spec, tmp_path, ["--role", "checker"], {})]
    procs += [Proc(spec, tmp_path, [], {"SLO_AGENT_ROLE": "replica"}) for _ in range(REPLICAS)]
    try:
        deadline = time.time() + 60
        waiting = list(procs)
        while waiting and time.time() < deadline:
            waiting = [p for p in waiting if not p.ready()]
            time.sleep(0.1)
        assert not waiting, [p.log_path.read_text()[-2000:] for p in waiting]
        yield procs[0], procs[1:]
    finally:
        for p in procs:
            if p.proc.poll() is None:
                p.proc.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.proc.wait(15)
            except subprocess.TimeoutExpired:
                p.proc.kill()
                p.proc.wait(5)


def _batch(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": 1, "service": "fleet", "instance": "test", "sent_at": time.time(),
            "sdk": {"name": "test", "version": "0"}, "items": items}


def _until(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.time() + timeout
    while True:
        value = check()
        if value or time.time() > deadline:
            return value
        time.sleep(0.2)


def _series(text: str, name: str, **labels: str) -> list[str]:
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return [line for line in text.splitlines()
            if line.startswith(name + "{") and all(w in line for w in want)]


def test_one_checker_reads_the_files_and_takes_the_jobs(
        fleet: tuple[Proc, list[Proc]]) -> None:
    checker, replicas = fleet
    job = {"type": "job", "job": "retrain", "event": "success", "run_id": "r1",
           "at": time.time(), "duration": 60.0}
    requests = {"type": "requests", "model": "clf", "version": "v1", "counts": {"ok": 20}}
    # job events: the checker takes them, a replica refuses the whole batch and says where
    code, raw = checker.request("/v1/ingest", _batch([job]))
    assert code == 202, raw
    for r in replicas:
        code, raw = r.request("/v1/ingest", _batch([requests, job]))
        body = json.loads(raw)
        assert code == 409 and "checker" in body["error"], body
        assert body["fields"][0]["path"] == "items[1]"
        code, raw = r.request("/v1/ingest", _batch([requests]))   # SDK traffic: every role
        assert code == 202, raw
    # the checker reads the file and judges the objectives on it
    done = _until(lambda: [d for d in checker.status()["sources"]["datasets"]
                           if d["name"] == "tx" and d["rows"] == ROWS])
    assert done, checker.status()["sources"]
    status = checker.status()
    assert status["sources"]["role"] == "checker"
    objectives = {o["name"]: o for o in status["objectives"]}
    assert objectives["nulls"]["value"] == pytest.approx(0.1)
    assert _until(lambda: {o["name"]: o for o in checker.status()["objectives"]}
                  ["retrain"]["value"] == 1.0)
    text = checker.metrics()
    assert _series(text, cat.DATASET_ROWS.name, dataset="tx")
    assert _series(text, cat.JOB_RUNS.name, job_name="retrain", result="success")
    assert _series(text, cat.OBJECTIVE_STATE.name, objective="nulls")
    # the replicas started with the checker; give them a few more poll intervals (0.3 s) to
    # read the file if they were going to: none may have
    time.sleep(1.0)
    readers = 1
    for r in replicas:
        status = r.status()
        assert status["sources"]["role"] == "replica"
        assert status["sources"]["datasets"] == [] and status["sources"]["jobs"] == []
        objectives = {o["name"]: o for o in status["objectives"]}
        for name in ("nulls", "retrain"):
            assert objectives[name]["value"] is None
            assert objectives[name]["reason"] == CHECKER_REASON
        assert objectives["errors"].get("reason") != CHECKER_REASON   # its own traffic
        text = r.metrics()
        readers += bool(_series(text, cat.DATASET_ROWS.name, dataset="tx")
                        or _series(text, cat.SOURCE_UP.name, source="tx"))
        assert not _series(text, cat.JOB_RUNS.name)
        assert not _series(text, cat.OBJECTIVE_STATE.name, objective="nulls")
        assert _series(text, cat.OBJECTIVE_STATE.name, objective="errors")
        page = r.request("/")[1].decode()
        assert "Role: replica" in page
    assert readers == 1


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=20).filter(lambda s: s not in ROLES and "\x00" not in s))
def test_a_bad_role_is_refused_naming_the_allowed_ones(role: str) -> None:
    res = CliRunner().invoke(main, ["run", "-c", "nowhere.yaml", "--role", role])
    assert res.exit_code == 2, res.output
    assert "all, replica, checker" in res.output and "SLO_AGENT_ROLE" in res.output


def test_the_role_comes_from_the_environment_too() -> None:
    res = CliRunner().invoke(main, ["run", "-c", "nowhere.yaml"],
                             env={"SLO_AGENT_ROLE": "leader"})
    assert res.exit_code == 2 and "'leader' is not a role" in res.output
    help_text = CliRunner().invoke(main, ["run", "--help"]).output
    assert "--role" in help_text and "SLO_AGENT_ROLE" in help_text


_ITEMS = {
    "requests": {"type": "requests", "model": "clf", "version": "v1", "counts": {"ok": 1}},
    "job": {"type": "job", "job": "retrain", "event": "start", "run_id": "r"},
}


@settings(max_examples=80, deadline=None)
@given(role=st.sampled_from(ROLES),
       kinds=st.lists(st.sampled_from(sorted(_ITEMS)), min_size=1, max_size=12))
def test_the_door_refuses_job_events_on_a_replica_only(role: str, kinds: list[str]) -> None:
    """Whatever mix of items: a replica refuses the whole batch iff it holds a job event,
    naming every one; the other roles admit it (the door's 202 is theirs to give)."""
    from agent.sidecar.http._routes_ingest import refuse_shared
    from agent.sidecar.ingest import payload as ingest

    body = {"schema": 1, "service": "fleet", "items": [_ITEMS[k] for k in kinds]}
    batch = ingest.parse(json.dumps(body).encode())
    if role == "replica" and "job" in kinds:
        with pytest.raises(ingest.IngestError) as err:
            refuse_shared(role, batch)
        assert err.value.status == 409 and "checker" in err.value.message
        assert [f["path"] for f in err.value.fields] == [
            f"items[{i}]" for i, k in enumerate(kinds) if k == "job"]
    else:
        refuse_shared(role, batch)


def test_the_sdk_resends_what_a_replica_refused_without_the_job_events() -> None:
    """The 409 names each job item the way the SDK's salvage reads paths, so an inference
    process pointed at a replica loses its job events (counted) but never its requests."""
    from agent.sdk.transport import Shipper
    from agent.sidecar.http._routes_ingest import refuse_shared
    from agent.sidecar.ingest import payload as ingest

    kinds = ["requests", "job", "requests", "job"]
    items = [dict(_ITEMS[k]) for k in kinds]
    batch = ingest.parse(json.dumps({"schema": 1, "service": "fleet", "items": items}).encode())
    with pytest.raises(ingest.IngestError) as err:
        refuse_shared("replica", batch)
    rest = Shipper._salvage(Shipper.__new__(Shipper), items,
                            [f["path"] for f in err.value.fields])
    assert [i["type"] for i in rest] == ["requests", "requests"]
