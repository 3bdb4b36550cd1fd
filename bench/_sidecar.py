"""Shared by the benchmarks: a real sidecar subprocess on a free loopback port, and its RSS."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_sidecar(spec: dict[str, Any], one_core: bool = False
                  ) -> tuple[subprocess.Popen[bytes], str, int]:
    """Write ``spec`` (listen/state_dir filled in), start ``slo-agent run``, wait for /readyz."""
    tmp = Path(tempfile.mkdtemp(prefix="slo-bench-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)     # its spec and state, at exit
    port = free_port()
    spec = {**spec, "sidecar": {**spec.get("sidecar", {}), "listen": f"127.0.0.1:{port}",
                                "state_dir": str(tmp / "state")}}
    (tmp / "slo.yaml").write_text(yaml.safe_dump(spec))
    cmd = [sys.executable, "-m", "agent.cli", "run", "-c", str(tmp / "slo.yaml"),
           "--log-level", "warning"]
    pin = (lambda: os.sched_setaffinity(0, {0})) if one_core else None
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=pin)
    url = f"http://127.0.0.1:{port}"
    # a loaded machine may take tens of seconds to start one with thousands of objectives
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"slo-agent run exited with {proc.returncode} before /readyz")
        try:
            urllib.request.urlopen(url + "/readyz", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError("slo-agent run not ready within 180 s") from None
            time.sleep(0.1)
    return proc, url, port


def stop_process(proc: subprocess.Popen[bytes], grace: float = 120) -> None:
    """SIGTERM, then wait for its last snapshot (slow on a loaded machine), else SIGKILL: a
    benchmark's numbers never hang on how long the sidecar takes to leave."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
