"""Issue 31, point 1: what a process recorded leaves it before it ends.

Real SDK subprocesses against a real sidecar: a batch script that only does ``with
monitor.job(...)`` and exits (succeeding or failing) shows every run, under the job and not as
a new instance; a service SIGTERMed with nothing flushed yet ships what it recorded and is shown
as ended; a host app's own SIGTERM handler still runs (chained); with a sidecar that accepts and
never answers, the job's end and the exit each wait no longer than the configured bound.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from tests.helpers import ROOT, free_port
from tests.sidecar.conftest import make_spec

JOB = textwrap.dedent("""
    import sys, time
    from agent import Monitor
    monitor = Monitor(service="svc", flush_interval=3600, register=False)
    try:
        with monitor.job("nightly-score"):
            time.sleep(0.05)
            print(time.monotonic(), flush=True)   # the run's work is done
            if sys.argv[1] == "fail":
                raise RuntimeError("scoring failed")
    finally:
        print(time.monotonic(), flush=True)       # when the block returned
    if sys.argv[1:] == ["linger"]:
        time.sleep(60)                             # killed -9 here: no exit hook runs
""")

SERVICE = textwrap.dedent("""
    import os, signal, sys, time
    from agent import Monitor
    if sys.argv[1] == "own-handler":      # the host app's handler, installed before the SDK's
        def stop(signum, frame):
            open(sys.argv[2], "w").write("host handler ran")
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
    monitor = Monitor(service="svc", flush_interval=3600, register=False)

    @monitor.inference(model="clf", version="v1")
    def predict(x):
        return x * 2

    for i in range(25):
        predict(i)
    print("ready", flush=True)
    if sys.argv[1] != "exit":
        time.sleep(60)
""")


def _run(script: str, url: str, *args: str, env: dict[str, str] | None = None
         ) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "SLO_AGENT_URL": url, **(env or {})})


def _eventually(read: Any, want: Any, timeout: float = 10.0) -> Any:
    """/status is published once per tick: what was acknowledged shows within an interval."""
    deadline = time.time() + timeout
    got = read()
    while got != want and time.time() < deadline:
        time.sleep(0.1)
        got = read()
    return got


def test_a_job_script_that_exits_shows_every_run_under_the_job(tmp_path: Path,
                                                               sidecar_factory: Any) -> None:
    sc = sidecar_factory(make_spec(tmp_path, free_port()))
    for outcome in ("ok", "fail", "ok", "fail", "fail"):
        proc = _run(JOB, sc.url, outcome)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == (0 if outcome == "ok" else 1), err
    # no flush call in the script, and it waited for nothing: the sidecar had every run
    runs = _eventually(lambda: {j["name"]: j["runs"] for j in sc.status()["sources"]["jobs"]},
                       {"nightly-score": {"success": 2, "failure": 3}})
    assert runs == {"nightly-score": {"success": 2, "failure": 3}}, runs
    ingest = sc.status()["sources"]["ingest"]
    assert ingest["instances_live"] == 0 and ingest["instances"] == [], ingest


def test_a_jobs_end_is_shipped_before_its_block_returns(tmp_path: Path,
                                                        sidecar_factory: Any) -> None:
    """The process lingers after the block and is then killed -9 (no exit hook can run): the
    run was already at the sidecar when the block returned."""
    sc = sidecar_factory(make_spec(tmp_path, free_port()))
    proc = _run(JOB, sc.url, "linger")
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.readline()                            # the block has returned
    proc.kill()
    proc.wait(10)
    runs = _eventually(lambda: {j["name"]: j["runs"] for j in sc.status()["sources"]["jobs"]},
                       {"nightly-score": {"success": 1, "failure": 0}})
    assert runs == {"nightly-score": {"success": 1, "failure": 0}}, runs


def test_a_service_that_exits_ships_at_exit_and_shows_as_ended(tmp_path: Path,
                                                               sidecar_factory: Any) -> None:
    sc = sidecar_factory(make_spec(tmp_path, free_port()))
    proc = _run(SERVICE, sc.url, "exit")               # records 25 calls, exits normally
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    ended = _eventually(lambda: len(sc.status()["sources"]["ingest"]["instances_ended"]), 1)
    assert ended == 1
    ingest = sc.status()["sources"]["ingest"]
    assert ingest["items"].get("requests") == 1 and ingest["instances_live"] == 0, ingest


def test_sigterm_ships_what_was_recorded_and_chains_the_hosts_handler(
        tmp_path: Path, sidecar_factory: Any) -> None:
    sc = sidecar_factory(make_spec(tmp_path, free_port()))
    # no handler of the host's: the SDK flushes, then the signal's default action ends it
    proc = _run(SERVICE, sc.url, "plain")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == -signal.SIGTERM
    _eventually(lambda: sc.status()["sources"]["ingest"]["instances_ended"] != [], True)
    ingest = sc.status()["sources"]["ingest"]
    assert ingest["items"].get("requests") == 1, ingest
    assert ingest["instances_live"] == 0, ingest                 # it said it ended
    assert [i["instance"].rsplit(":", 1)[1] for i in ingest["instances_ended"]] == \
        [str(proc.pid)], ingest
    # the host's own handler, installed first, still runs after the SDK's flush
    marker = tmp_path / "host-handler"
    proc = _run(SERVICE, sc.url, "own-handler", str(marker))
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert marker.read_text() == "host handler ran"
    assert _eventually(lambda: sc.status()["sources"]["ingest"]["items"].get("requests"), 2) == 2


def test_a_sidecar_that_never_answers_costs_at_most_the_bound(tmp_path: Path) -> None:
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)                          # accepts (the kernel does) and never answers
    url = f"http://127.0.0.1:{hole.getsockname()[1]}"
    try:
        proc = _run(JOB, url, "ok", env={"SLO_AGENT_EXIT_TIMEOUT": "1"})
        out, err = proc.communicate(timeout=60)
        ended = time.monotonic()
        assert proc.returncode == 0, err
        work_done, block_returned = (float(x) for x in out.split())
        # the job's end waited at most the bound (1 s), the exit flush at most 1 s more
        assert 0.9 <= block_returned - work_done <= 1.0 + 0.5, (block_returned - work_done, err)
        assert ended - block_returned <= 1.0 + 1.5, (ended - block_returned, err)
    finally:
        hole.close()
