"""Shared test helpers: real binaries (skip locally when absent, fail under CI), free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SPEC = ROOT / "examples" / "slo.yaml"


def require_binary(name: str) -> str:
    """Path of a real binary; a missing one skips a local run and fails a CI run."""
    path = shutil.which(name)
    if path:
        return path
    missing_part(f"{name} is not installed (apt-get install -y prometheus "
                 "prometheus-alertmanager)")


def missing_part(message: str) -> NoReturn:
    """A real part the test needs is missing: a local run skips, a CI run fails."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


#: every port :func:`free_port` handed out in this process
_GIVEN: set[int] = set()


def free_port() -> int:
    """A port free now that this process was not given before. The kernel can hand a port it
    gave out a moment ago out again while the first taker has not bound it yet (about one in
    200 sets of 17 here): a fleet's SDK server then took a sidecar's port, and the sidecar's
    /readyz answered 404 for a minute."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload,no-any-return]


def promtool_check_exprs(exprs: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    """Parse PromQL expressions with the real promtool by wrapping each in a recording rule."""
    import yaml

    promtool = require_binary("promtool")
    rules = [{"record": f"check:expr_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp / "exprs.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "exprs", "rules": rules}]}))
    return run([promtool, "check", "rules", str(path)])


def wait_until(cond: Callable[[], Any], timeout: float = 15.0) -> None:
    """Poll ``cond`` every 0.1 s until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def stop_all(procs: list[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    """SIGTERM every process, then wait for each and SIGKILL the ones still running after
    ``grace`` seconds (all are signalled first, so their shutdowns overlap)."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()


def promtool_test_rules(tmp: Path, groups: list[dict[str, Any]], tests: list[dict[str, Any]],
                        timeout: float = 300) -> None:
    """promtool's unit ``tests`` (evaluated each minute) on rule ``groups``, written to ``tmp``;
    a failing case fails the test with promtool's own report."""
    import yaml

    (tmp / "rules.yml").write_text(yaml.safe_dump({"groups": groups}, width=10**6))
    (tmp / "t.yml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests},
        width=10**6))
    done = subprocess.run([require_binary("promtool"), "test", "rules", "t.yml"],
                          cwd=tmp, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
