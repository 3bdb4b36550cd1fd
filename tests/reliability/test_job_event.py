"""``job-event -- CMD`` always runs CMD and exits with its status, whatever the sidecar does
(down, wrong token, gone mid-run); what it could not tell is said on stderr and kept in a
bounded spool that the next job-event sends first."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.cli.jobs import Spool
from tests.helpers import ROOT, free_port
from tests.sidecar.conftest import make_spec

TOKEN = "job-token-" + "y" * 20


def _cli(*args: str, spool: Path, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    import os
    return subprocess.run([sys.executable, "-m", "agent.cli", "job-event", "--spool", str(spool),
                           *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, env={**os.environ, **(env or {})})


def _runs(sc: Any) -> dict[str, float]:
    deadline = time.time() + 10
    runs: dict[str, float] = {}
    while time.time() < deadline:
        code, raw = sc.get("/status", {"Authorization": f"Bearer {TOKEN}"})
        assert code == 200, raw
        jobs = {j["name"]: j for j in json.loads(raw)["sources"]["jobs"]}
        runs = jobs.get("nightly", {}).get("runs", {})
        if sum(runs.values()) >= 4:
            return runs
        time.sleep(0.2)
    return runs


def test_cmd_always_runs_and_events_are_kept_for_later(tmp_path: Path,
                                                       sidecar_factory: Any) -> None:
    spool = tmp_path / "spool" / "events.jsonl"
    marker = tmp_path / "ran"
    cmd = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x'); raise SystemExit(3)"]
    spec = make_spec(tmp_path, free_port())
    spec["sidecar"]["token_env"] = "SLO_JOB_TOKEN"
    sc = sidecar_factory(spec, start=False, env={"SLO_JOB_TOKEN": TOKEN})
    # 1. the sidecar is down: CMD runs, its status is the exit status, both events are kept
    res = _cli("nightly", "-c", str(sc.spec_path), "--", *cmd, spool=spool)
    assert res.returncode == 3 and marker.read_text() == "x", res.stderr
    assert "could not reach the sidecar" in res.stderr and str(spool) in res.stderr
    assert len(spool.read_text().splitlines()) == 2

    # 2. a wrong token: CMD runs; the events join the spool (the token may be fixed)
    sc.start()
    auth = {"SLO_AGENT_TOKEN": "wrong"}
    ok_cmd = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('y')"]
    res = _cli("nightly", "-c", str(sc.spec_path), "--", *ok_cmd, spool=spool, env=auth)
    assert res.returncode == 0 and marker.read_text() == "xy", res.stderr
    assert "401" in res.stderr and len(spool.read_text().splitlines()) == 4

    # 3. the sidecar goes away while CMD runs (stopped; it snapshots what it accepted):
    # CMD's success is still exit 0
    assert sc.proc is not None
    kill = [sys.executable, "-c", f"import os, signal, time; os.kill({sc.proc.pid}, "
            "signal.SIGTERM); time.sleep(3)"]
    good = {"SLO_AGENT_TOKEN": TOKEN}
    res = _cli("nightly", "-c", str(sc.spec_path), "--", *kill, spool=spool, env=good)
    assert res.returncode == 0, res.stderr
    assert "could not reach the sidecar" in res.stderr

    # 4. next time, with the sidecar back and the right token, everything kept is sent
    sc.proc.wait(10)
    sc.start()
    res = _cli("nightly", "success", "-c", str(sc.spec_path), spool=spool, env=good)
    assert res.returncode == 0 and "sent" in res.stderr, res.stderr
    assert spool.read_text() == ""
    runs = _runs(sc)
    # down: failure(3); wrong token: success; killed mid-run: success; the last: success
    assert runs == {"success": 3.0, "failure": 1.0}, runs


def test_spool_is_bounded(tmp_path: Path) -> None:
    said: list[str] = []
    spool = Spool(tmp_path / "s.jsonl", said.append, cap=50)
    for i in range(200):
        spool.keep("http://x", "svc", [{"type": "job", "job": "j", "event": "start",
                                        "run_id": str(i), "at": 1.0}])
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert len(lines) == 50 and json.loads(lines[-1])["item"]["run_id"] == "199"
    assert any("dropped" in s for s in said)


@settings(max_examples=100, deadline=None)
@given(junk=st.lists(st.one_of(st.text(max_size=60), st.builds(
    lambda d: json.dumps(d), st.dictionaries(st.sampled_from(["url", "service", "item"]),
                                             st.one_of(st.text(max_size=10), st.none(),
                                                       st.dictionaries(st.text(max_size=5),
                                                                       st.integers()))))),
    max_size=20))
def test_spool_reads_any_file(tmp_path_factory: Any, junk: list[str]) -> None:
    """Whatever the spool file holds (it is ours, but disks and people edit files), keeping an
    event never raises and leaves only well-formed records behind, the new one last."""
    path = tmp_path_factory.mktemp("spool") / "s.jsonl"
    path.write_text("\n".join(j.replace("\n", " ") for j in junk) + "\n")
    said: list[str] = []
    Spool(path, said.append).keep("http://x", "svc", [{"type": "job", "run_id": "new"}])
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(isinstance(r.get("item"), dict) for r in records)
    assert records[-1]["item"]["run_id"] == "new"
