"""``slo-agent demo``: sidecar + instrumented service + traffic + incidents, with a live view.

Everything runs on loopback: the sidecar (``slo-agent run``) and the demo service are subprocesses,
traffic comes from this process over HTTP, and incidents are injected one after another after a
warm-up. The summary gives, per incident, when it was injected, when the sidecar detected it, the
detection delay and whether it resolved.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.console import Output
from agent.demo.incidents import Incident, incidents


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port(preferred: int) -> int:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return _free_port()


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def _post_json(url: str, body: dict[str, Any], timeout: float = 5.0) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")


def _wait(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not become ready at {url}")


class Traffic:
    """Requests at a steady rate from one keep-alive connection; drift and feedback knobs."""

    def __init__(self, port: int, seed: int, rate: float = 60.0, host: str = "127.0.0.1"
                 ) -> None:
        import numpy as np

        from agent.demo.fraud_model import sample_features

        self.port = port
        self.host = host
        self.rate = rate
        self.shift = 0.0
        self.negative_share = 0.1
        self.sent = 0
        self.failed = 0
        self._rng = np.random.default_rng(seed)
        self._random = random.Random(seed)
        self._sample = sample_features
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def _call(self, conn: http.client.HTTPConnection, path: str, body: bytes) -> Any:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return json.loads(data) if resp.getheader("Content-Type", "").startswith(
            "application/json") else data

    def _run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        period = 1.0 / self.rate
        next_at = time.perf_counter()
        while not self._stop.is_set():
            try:
                features = self._sample(self._rng, self.shift)
                if self._random.random() < 0.005:
                    features["amount"] = -1.0          # a malformed request: a counted error
                out = self._call(conn, "/predict", json.dumps({"features": features}).encode())
                self.sent += 1
                if self._random.random() < 0.5 and isinstance(out, dict):
                    positive = self._random.random() >= self.negative_share
                    self._call(conn, "/feedback", json.dumps(
                        {"request_id": out.get("request_id"), "positive": positive}).encode())
                if self.sent % 5 == 0:
                    self._call(conn, "/generate", b"is this transaction fraud?")
            except (OSError, http.client.HTTPException, ValueError):
                self.failed += 1
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                self._stop.wait(0.2)
            next_at += period
            delay = next_at - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.perf_counter()
        conn.close()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)


@dataclass
class Demo:
    duration: float = 150.0
    seed: int = 0
    tty: bool = True
    out_dir: Path = Path("out")
    sidecar_port: int = 9464
    service_port: int = 8000
    workdir: Path | None = None
    incidents: list[Incident] = field(default_factory=incidents)
    status: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0
    log: list[str] = field(default_factory=list)

    def run(self, output: Output) -> int:
        from agent.demo.spec import demo_spec
        from agent.render.files import write
        from agent.spec import parse_spec

        own_tmp = self.workdir is None
        work = self.workdir or Path(tempfile.mkdtemp(prefix="slo-agent-demo-"))
        sidecar_port, service_port = _port(self.sidecar_port), _port(self.service_port)
        spec_data = demo_spec(sidecar_port, str(work / "state"))
        spec_path = work / "slo.yaml"
        spec_path.write_text(yaml.safe_dump(spec_data, sort_keys=False))
        spec = parse_spec(spec_data)
        written = write(spec, self.out_dir)
        output.info(f"wrote {len(written)} generated files (rules, rule tests, dashboards, "
                    f"alerting) to {self.out_dir}/")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "SLO_AGENT_SERVICE": spec.service}
        logs = open(work / "processes.log", "ab")  # noqa: SIM115 - lives as long as they do
        sidecar = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "-c",
                                    str(spec_path), "--log-level", "warning"],
                                   stdout=logs, stderr=logs, env=env)
        service = subprocess.Popen([sys.executable, "-m", "agent.demo.inference_service", "--spec",
                                    str(spec_path), "--port", str(service_port),
                                    "--seed", str(self.seed)], stdout=logs, stderr=logs, env=env)
        sidecar_url = f"http://127.0.0.1:{sidecar_port}"
        service_url = f"http://127.0.0.1:{service_port}"
        traffic = Traffic(service_port, self.seed)
        try:
            _wait(sidecar_url + "/readyz", sidecar, "the sidecar")
            _wait(service_url + "/healthz", service, "the demo service")
            output.info(f"status page     {sidecar_url}/   (open it in a browser)")
            output.info(f"sidecar  status  {sidecar_url}/status")
            output.info(f"sidecar  metrics {sidecar_url}/metrics")
            output.info(f"service  metrics {service_url}/metrics")
            traffic.start()
            self.started = time.time()
            self._loop(output, sidecar_url, service_url, traffic)
        finally:
            traffic.stop()
            for proc in (service, sidecar):
                proc.terminate()
            for proc in (service, sidecar):
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            logs.close()
            if own_tmp:
                shutil.rmtree(work, ignore_errors=True)
        self._summary(output, traffic)
        return 0 if all(i.detected_at and i.resolved_at for i in self.incidents) else 1

    # -- schedule ----------------------------------------------------------------------------------
    def _loop(self, output: Output, sidecar_url: str, service_url: str, traffic: Traffic) -> None:
        warmup = max(25.0, 0.15 * self.duration)
        slot = (self.duration - warmup) / len(self.incidents)
        active = 0.42 * slot
        plan: list[tuple[float, Incident, bool]] = []
        for k, inc in enumerate(self.incidents):
            start = warmup + k * slot
            plan += [(start, inc, True), (start + active, inc, False)]
        plan.sort(key=lambda p: p[0])
        view = _View(self, output) if self.tty else None
        if view:
            view.start()
        try:
            while True:
                now = time.time() - self.started
                while plan and plan[0][0] <= now:
                    _, inc, on = plan.pop(0)
                    self._toggle(inc, on, service_url, traffic)
                self._poll(sidecar_url, output if view is None else None)
                if view:
                    view.update()
                pending = [i for i in self.incidents if i.detected_at and not i.resolved_at]
                if now >= self.duration and (not pending or now >= self.duration + 12):
                    break
                time.sleep(0.5)
        finally:
            if view:
                view.stop()

    def _toggle(self, inc: Incident, on: bool, service_url: str, traffic: Traffic) -> None:
        now = time.time()
        if inc.admin:
            _post_json(service_url + "/admin/incident", {"name": inc.admin, "active": on})
        elif inc.key == "drift":
            traffic.shift = 1.0 if on else 0.0
        elif inc.key == "feedback":
            traffic.negative_share = 0.8 if on else 0.1
        if on:
            inc.injected_at = now
            for o in self.status.get("objectives", []):
                if o["name"] == inc.objective and o.get("detection"):
                    inc.expected = o["detection"].get("seconds")
        else:
            inc.stopped_at = now
        self._note(f"{'inject' if on else 'stop  '} {inc.label}")

    def _note(self, text: str) -> None:
        self.log.append(f"t+{time.time() - self.started:5.1f}s  {text}")
        if not self.tty:
            print(self.log[-1], flush=True)

    def _poll(self, sidecar_url: str, plain: Output | None) -> None:
        try:
            doc = _get_json(sidecar_url + "/status")
        except (OSError, ValueError):
            return
        previous = {o["name"]: o["status"] for o in self.status.get("objectives", [])}
        self.status = doc
        now = time.time()
        for o in doc.get("objectives", []):
            before = previous.get(o["name"])
            if before is not None and before != o["status"]:
                self._note(f"{o['name']}: {before} -> {o['status']} ({o['value_text']})")
            for inc in self.incidents:
                if inc.objective != o["name"] or inc.injected_at is None:
                    continue
                if o["status"] in ("warning", "critical"):
                    if inc.detected_at is None:
                        inc.detected_at = now
                    if o["status"] == "critical":
                        inc.worst = "critical"
                    elif inc.worst == "ok":
                        inc.worst = "warning"
                elif o["status"] == "ok" and inc.detected_at is not None \
                        and inc.stopped_at is not None and inc.resolved_at is None:
                    inc.resolved_at = now

    def _summary(self, output: Output, traffic: Traffic) -> None:
        def rel(t: float | None) -> str:
            return "-" if t is None else f"t+{t - self.started:.1f}s"

        rows = []
        for inc in self.incidents:
            delay = "-" if inc.detected_at is None or inc.injected_at is None \
                else f"{inc.detected_at - inc.injected_at:.1f}s"
            expected = "-" if inc.expected is None else f"{inc.expected:.1f}s"
            rows.append([inc.label, inc.objective, rel(inc.injected_at), rel(inc.detected_at),
                         delay, expected, inc.worst,
                         rel(inc.resolved_at) if inc.resolved_at else "no"])
        output.table(f"incidents ({traffic.sent} requests sent, {traffic.failed} failed)",
                     ["incident", "objective", "injected", "detected", "delay", "predicted",
                      "worst", "resolved"], rows)
        output.info("predicted: the sidecar's drift detection time for a shift of the "
                    "objective's critical size at the traffic then sampled; a larger shift "
                    "is caught sooner")


class _View:
    """Live table of objectives (rich), refreshed twice a second."""

    COLOURS = {"ok": "green", "warning": "yellow", "critical": "red", "no_data": "dim",
               "pending_warning": "yellow dim", "pending_critical": "red dim"}

    def __init__(self, demo: Demo, output: Output) -> None:
        from rich.live import Live

        self.demo = demo
        self.live = Live(self._render(), console=output.console, refresh_per_second=4,
                         transient=False)

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        elapsed = time.time() - (self.demo.started or time.time())
        t = Table(title=f"slo-agent demo · t+{elapsed:.0f}s of {self.demo.duration:.0f}s",
                  title_justify="left")
        for col in ("objective", "signal", "value", "warning", "critical", "status", "since"):
            t.add_column(col)
        for o in self.demo.status.get("objectives", []):
            colour = self.COLOURS.get(o["status"], "white")
            since = "" if not o.get("since") else f"{time.time() - o['since']:.0f}s"
            t.add_row(o["name"], o["signal"], o["value_text"], _fmt(o.get("warning"), o),
                      _fmt(o.get("critical"), o), Text(o["status"], style=colour), since)
        events = Text("\n".join(self.demo.log[-8:]))
        return Group(t, events)

    def start(self) -> None:
        self.live.start()

    def update(self) -> None:
        self.live.update(self._render())

    def stop(self) -> None:
        self.live.update(self._render())
        self.live.stop()


def _fmt(level: float | None, o: dict[str, Any]) -> str:
    from agent.units import Unit, format_value

    if level is None:
        return "-"
    return format_value(level, Unit(o["unit"]))
