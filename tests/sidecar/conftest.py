"""A real sidecar process on a free loopback port, started and stopped by pid."""

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT, free_port


@dataclass
class Sidecar:
    url: str
    spec_path: Path
    state_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    env: dict[str, str] | None = None
    #: run in the child before exec (e.g. ignore SIGXFSZ); ``wrap`` prefixes the command; with
    #: ``pipe_log`` the log goes through a pipe this process copies (no file-size limit on it)
    preexec: Any = None
    wrap: list[str] | None = None
    pipe_log: bool = False

    def start(self, timeout: float = 30.0) -> None:
        assert self.log_path is not None
        log = open(self.log_path, "ab")   # noqa: SIM115 - kept open for the process lifetime
        out: Any = subprocess.PIPE if self.pipe_log else log
        self.proc = subprocess.Popen(
            [*(self.wrap or []), sys.executable, "-m", "agent.cli", "run", "-c",
             str(self.spec_path), "--log-level", "info"], stdout=out,
            stderr=subprocess.STDOUT if self.pipe_log else log, cwd=ROOT,
            preexec_fn=self.preexec,
            env={**os.environ, **(self.env or {}), "PYTHONUNBUFFERED": "1"})
        if self.pipe_log:
            import threading

            threading.Thread(target=_copy, args=(self.proc.stdout, log), daemon=True).start()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sidecar exited {self.proc.returncode}: {self.log()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"sidecar not ready: {self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return self.request("GET", path, headers=headers)

    def post(self, body: bytes | dict[str, Any], headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, raw = self.request("POST", "/v1/ingest", data,
                                   {"Content-Type": "application/json", **(headers or {})})
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, {"raw": raw.decode(errors="replace")}

    def status(self) -> dict[str, Any]:
        code, raw = self.get("/status")
        assert code == 200, raw
        doc: dict[str, Any] = json.loads(raw)
        return doc


def _copy(src: Any, dst: Any) -> None:
    for line in iter(src.readline, b""):
        dst.write(line)
        dst.flush()


def make_spec(tmp: Path, port: int, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "service": "svc",
        "models": [{"name": "clf", "version": "v1", "categorical": ["country"]},
                   {"name": "ranker", "version": "v1"}],
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": str(tmp / "state"),
                    "interval": "0.5s"},
        "sdk": {"sample_rate": 1.0},
        "drift": {"window_size": 300, "reference_size": 300, "min_samples": 100},
        # 1h objectives at a 1s rule interval: page-fast is 5s / 3s, so budgets and burn rates
        # are reported (not "not enough data yet") five seconds into a test
        "alerting": {"rate_window": "3s", "evaluation_interval": "1s"},
        "sources": {"gpu": {"mode": "off"}, "datasets": [{"name": "tx"}]},
        "objectives": [
            {"name": "latency", "signal": "latency", "selector": {"model": "clf"},
             "quantile": "p95", "warning": "25ms", "critical": "60ms", "for": "0s",
             "objective": "99%", "window": "1h", "sli_threshold": "25ms"},
            {"name": "fallbacks", "signal": "fallback_rate", "selector": {"model": "ranker"},
             "warning": "10%", "critical": "40%", "for": "0s"},
            {"name": "drift", "signal": "feature_drift", "selector": {"model": "ranker"},
             "warning": "0.15", "critical": "0.4", "for": "0s"},
            {"name": "nulls", "signal": "null_ratio",
             "selector": {"dataset": "tx", "column": "amount"},
             "warning": "2%", "critical": "10%", "for": "0s"},
            {"name": "errors", "signal": "error_rate", "selector": {"model": "clf"},
             "for": "0s", "objective": "99%", "window": "1h"},
        ],
    }
    spec.update(overrides)
    return spec


@pytest.fixture()
def sidecar_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Sidecar] = []

    def factory(spec: dict[str, Any] | None = None, start: bool = True,
                env: dict[str, str] | None = None) -> Sidecar:
        port = free_port()
        data = spec or make_spec(tmp_path, port)
        data["sidecar"]["listen"] = f"127.0.0.1:{port}" if data["sidecar"].get(
            "listen", "").startswith("127.") else data["sidecar"]["listen"]
        port = int(data["sidecar"]["listen"].rpartition(":")[2])
        path = tmp_path / f"slo-{port}.yaml"
        path.write_text(yaml.safe_dump(data))
        sc = Sidecar(f"http://127.0.0.1:{port}", path, Path(data["sidecar"]["state_dir"]),
                     log_path=tmp_path / f"sidecar-{port}.log", env=env)
        started.append(sc)
        if start:
            sc.start()
        return sc

    yield factory
    for sc in started:
        sc.stop(signal.SIGKILL if sc.proc and sc.proc.poll() is None else signal.SIGTERM)
