"""Issue 31, point 2: snapshots survive a bad disk.

A real sidecar whose file size is limited while it runs (``RLIMIT_FSIZE`` through prlimit, with
SIGXFSZ ignored, so a write fails with EFBIG as on a full disk): no temp file is left behind,
the failures and the age of the last good snapshot are on /status and /metrics, the stop log says
the final snapshot failed, and a restart restores the last good state. Then a snapshot cut short
by one byte falls back to the previous good one (the log says which, and the span lost), a stale
temp file is swept at start, and a read-only folder with a corrupt snapshot logs the truth.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from tests.helpers import free_port, wait_until
from tests.sidecar.conftest import make_spec

BODY = {"schema": 1, "service": "svc", "items": [
    {"type": "requests", "model": "clf", "version": "v1", "counts": {"ok": 9, "error": 1}}]}


def _ignore_sigxfsz() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _limit(pid: int, size: int) -> None:
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, hard))


def _wait(cond: Any, timeout: float = 20.0) -> None:
    wait_until(cond, timeout)


def _metric(text: str, name: str) -> float:
    line = next(ln for ln in text.splitlines() if ln.startswith(name + "{"))
    return float(line.rsplit(" ", 1)[1])


def _post(sc: Any, n: int) -> None:
    for _ in range(n):
        assert sc.post(BODY)[0] == 202


def test_full_disk_leaks_nothing_reports_and_restores(tmp_path: Path,
                                                      sidecar_factory: Any) -> None:
    spec = make_spec(tmp_path, free_port())
    spec["sidecar"]["interval"] = "0.25s"
    sc = sidecar_factory(spec, start=False)
    sc.preexec, sc.pipe_log = _ignore_sigxfsz, True
    sc.start()
    assert sc.proc is not None
    _post(sc, 5)
    _wait(lambda: sc.status()["sources"]["ingest"]["items"].get("requests") == 5
          and sc.status()["evaluation"]["snapshot"]["last_good_at"] is not None)
    time.sleep(0.6)                                   # a snapshot that holds all five
    _limit(sc.proc.pid, 64)                           # "the disk is full" from here on
    _post(sc, 7)
    _wait(lambda: sc.status()["evaluation"]["snapshot"]["failures"] >= 3)
    snap = sc.status()["evaluation"]["snapshot"]
    assert "File too large" in snap["last_error"], snap
    assert snap["last_good_age"] > 0.5, snap
    text = sc.get("/metrics")[1].decode()
    assert _metric(text, "slo_agent_state_snapshot_age_seconds") > 0.5
    assert float(text.split('slo_agent_state_snapshots_total{result="error",service="svc"} ')[1]
                 .split()[0]) >= 3
    # every failed write removed its temp file
    assert sorted(p.name for p in sc.state_dir.iterdir()) == ["state.json", "state.prev.json"]
    assert "snapshot failed" in sc.log() and "File too large" in sc.log()

    sc.stop(signal.SIGTERM)
    log = sc.log()
    assert "final snapshot could NOT be written" in log, log
    assert "final snapshot written" not in log, log

    # a temp file left by a writer that was killed mid-write (its pid is gone) is swept
    stale = sc.state_dir / ".state.json.999999999.tmp"
    stale.write_bytes(b"x" * 100_000)
    sc.preexec, sc.wrap = None, None
    sc.start()
    assert not stale.exists()
    assert "removed 1 stale snapshot temp file" in sc.log()
    status = sc.status()
    assert status["evaluation"]["snapshot"]["restored_from"] == "newest"
    assert status["sources"]["ingest"]["items"]["requests"] == 5     # the last good state
    _post(sc, 2)
    _wait(lambda: sc.status()["evaluation"]["snapshot"]["last_good_at"]
          > status["evaluation"]["snapshot"]["restored_saved_at"])
    time.sleep(0.6)
    sc.stop(signal.SIGKILL)

    # the newest snapshot cut short by one byte: the previous good one is used, and said so
    newest = sc.state_dir / "state.json"
    newest.write_bytes(newest.read_bytes()[:-1])
    sc.start()
    snap = sc.status()["evaluation"]["snapshot"]
    assert snap["restored_from"] == "previous", snap
    assert snap["lost_from"] is not None and snap["lost_to"] is not None, snap
    log = sc.log()
    assert "restored from the PREVIOUS snapshot" in log and "is lost" in log, log
    assert list(sc.state_dir.glob("state.json.corrupt-*"))
    sc.stop(signal.SIGTERM)


def test_read_only_folder_and_corrupt_snapshot_log_the_truth(tmp_path: Path,
                                                            sidecar_factory: Any) -> None:
    spec = make_spec(tmp_path, free_port())
    sc = sidecar_factory(spec, start=False)
    sc.state_dir.mkdir(parents=True)
    (sc.state_dir / "state.json").write_text('{"service": "svc", "state": {"versio')
    sc.pipe_log = True
    if os.geteuid() == 0:
        # root writes through permission bits: a read-only bind mount in a mount namespace
        unshare = shutil.which("unshare")
        assert unshare, "util-linux unshare is needed to make a folder read-only for root"
        sc.wrap = [unshare, "-m", "sh", "-c",
                   'mount --bind -o ro "$0" "$0" && exec "$@"', str(sc.state_dir)]
    else:
        sc.state_dir.chmod(0o555)
    try:
        sc.start()
        log = sc.log()
        assert "could NOT be moved aside" in log, log
        assert "moved aside to" not in log, log
        status = sc.status()
        assert status["evaluation"]["restored"] is False
        _wait(lambda: sc.status()["evaluation"]["snapshot"]["failures"] >= 1)
        snap = sc.status()["evaluation"]["snapshot"]
        assert snap["last_error"] and ("Read-only" in snap["last_error"]
                                       or "Permission denied" in snap["last_error"]), snap
        assert snap["problems"] and "state.json" in snap["problems"][0], snap
        sc.stop(signal.SIGTERM)
        assert "final snapshot could NOT be written" in sc.log()
        assert not list(sc.state_dir.glob("state.json.corrupt-*"))    # nothing moved
    finally:
        sc.state_dir.chmod(0o755)
