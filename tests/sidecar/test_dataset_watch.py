"""A real ``slo-agent run`` watching dataset files: a rewrite is seen within one interval (the
issue saw a parquet rewrite 50-57 s late), a file renamed over with the same size and mtime is
seen by its inode, a missing file is the source's state (never ``sdk``), and the poll interval
is shown."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tests.helpers import free_port

INTERVAL = 1.0


def _csv(path: Path, rows: int, nulls: int = 0) -> None:
    """``rows`` rows whose amount is ``1.5``, the first ``nulls`` of them ``NaN`` (same width,
    so a file with nulls has exactly the size of one without)."""
    lines = ["amount,country"] + [f"{'NaN' if i < nulls else '1.5'},DE" for i in range(rows)]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _spec(tmp: Path, port: int) -> dict[str, Any]:
    return {
        "service": "files", "models": [{"name": "m"}],
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": str(tmp / "state"),
                    "interval": f"{INTERVAL:g}s"},
        "sources": {"gpu": {"mode": "off"}, "datasets": [
            {"name": "tx", "path": str(tmp / "tx.csv")},
            {"name": "slow", "path": str(tmp / "never.csv"), "poll_interval": "5s"}]},
        "objectives": [{"name": "nulls", "signal": "null_ratio",
                        "selector": {"dataset": "tx", "column": "amount"},
                        "warning": "5%", "critical": "20%", "for": "0s"}],
    }


def _dataset(sc: Any, name: str) -> dict[str, Any]:
    return next((d for d in sc.status()["sources"]["datasets"] if d["name"] == name), {})


def _wait(check: Any, timeout: float) -> float:
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout, "not seen in time"
        time.sleep(0.05)
    return time.monotonic() - t0


def test_files_are_watched_each_interval(tmp_path: Path, sidecar_factory: Any) -> None:
    _csv(tmp_path / "tx.csv", 100)
    sc = sidecar_factory(_spec(tmp_path, free_port()))
    _wait(lambda: _dataset(sc, "tx").get("rows") == 100, 30)
    tx = _dataset(sc, "tx")
    assert tx["source"] == "file" and tx["file"]["state"] == "ok"
    assert tx["file"]["poll_interval"] == INTERVAL          # default: the sidecar's interval
    slow = _dataset(sc, "slow")
    assert slow["source"] == "file" and slow["file"] == {
        "path": str(tmp_path / "never.csv"), "state": "missing", "poll_interval": 5.0}
    assert "missing" in slow["error"]

    # a rewrite: seen within one interval (stat) plus the tick that publishes it
    _csv(tmp_path / "tx.csv", 250)
    took = _wait(lambda: _dataset(sc, "tx").get("rows") == 250, 30)
    print(f"\nrewrite seen after {took:.2f}s (interval {INTERVAL:g}s)")
    assert took <= 2 * INTERVAL + 1.5, took

    # renamed over with the same size and the same mtime: only the inode tells
    old = (tmp_path / "tx.csv").stat()
    _csv(tmp_path / "next.csv", 250, nulls=100)
    os.utime(tmp_path / "next.csv", ns=(old.st_atime_ns, old.st_mtime_ns))
    assert (tmp_path / "next.csv").stat().st_size == old.st_size
    os.replace(tmp_path / "next.csv", tmp_path / "tx.csv")
    took = _wait(lambda: next(o for o in sc.status()["objectives"]
                              if o["name"] == "nulls")["value"] == 0.4, 30)
    assert took <= 2 * INTERVAL + 1.5, took

    # missing: the source says so, and says when it is back
    (tmp_path / "tx.csv").unlink()
    _wait(lambda: _dataset(sc, "tx")["file"]["state"] == "missing", 30)
    tx = _dataset(sc, "tx")
    assert tx["source"] == "file" and "is missing" in tx["error"]
    _csv(tmp_path / "tx.csv", 80)
    _wait(lambda: _dataset(sc, "tx").get("rows") == 80, 30)
    assert _dataset(sc, "tx")["file"]["state"] == "ok"
    code, page = sc.get("/")
    assert code == 200 and b"tx (file, ok, checked every 1s)" in page
    assert b"slow (file, missing, checked every 5s)" in page
