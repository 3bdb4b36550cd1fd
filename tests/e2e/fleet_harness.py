"""A fleet on loopback: N sidecars (`slo-agent run`), N SDK monitors, one real Prometheus.

Each replica is one sidecar process plus one in-process :class:`agent.sdk.Monitor` (its own
registry, its own /metrics port, shipping to its own sidecar): the SDK allows several monitors in
one process cleanly, and threads cost far less than eight more interpreters on two cores. One
Prometheus scrapes all 2N targets every second and evaluates the rule files that
``slo-agent generate`` writes for the service (one spec; the replicas' specs differ only in the
sidecar's port and state folder). Everything started here is stopped by pid in :meth:`stop`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from agent import catalogue as cat
from agent.render.files import write
from agent.sdk import Monitor
from agent.spec import parse_spec
from tests.helpers import ROOT, free_port, require_binary

SERVICE, MODEL, VERSION, FEATURE = "fleet", "m", "v1", "x"


@dataclass(frozen=True)
class Call:
    """One inference call of the stream: its feature, how long it takes, whether it fails."""

    x: float
    latency: float = 0.0
    error: bool = False


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after
    ``timeout`` seconds (connection errors count as not yet)."""
    start = time.time()
    last: Any = None
    while time.time() - start < timeout:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def _ok(url: str) -> bool:
    return bool(urllib.request.urlopen(url, timeout=2).status == 200)


def fleet_spec(port: int, state_dir: str, *, drift: dict[str, Any],
               absent_for: str = "6s") -> dict[str, Any]:
    """The service's spec tuned for speed: 1 s ticks, scrapes and evaluations, short windows."""
    return {
        "version": 1, "service": SERVICE,
        "models": [{"name": MODEL, "version": VERSION, "features": [FEATURE]}],
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": state_dir, "interval": "1s",
                    "role": "replica"},
        "sdk": {"sample_rate": 1.0, "flush_interval": "0.25s", "queue_size": 50_000},
        "drift": {"reference": "first_window", **drift},
        "alerting": {"rate_window": "10s", "scrape_interval": "1s", "evaluation_interval": "1s",
                     "absent_for": absent_for},
        "objectives": [
            {"name": "m-latency", "signal": "latency", "quantile": "p95",
             "selector": {"model": MODEL}, "warning": "200ms", "critical": "500ms", "for": "2s"},
            {"name": "m-errors", "signal": "error_rate", "selector": {"model": MODEL},
             "warning": "10%", "critical": "20%", "for": "2s"},
            {"name": "m-drift", "signal": "feature_drift", "selector": {"model": MODEL},
             "for": "2s"},
        ],
    }


@dataclass
class Replica:
    index: int
    sidecar_port: int
    sdk_port: int
    proc: subprocess.Popen[bytes]
    monitor: Monitor
    server: Any
    predict: Callable[[Call], None]
    alive: bool = True
    #: per call sent: (seconds inside the function, seconds around the decorated call); what
    #: the decorator times lies between the two
    timings: list[tuple[float, float]] = field(default_factory=list)
    inner: list[float] = field(default_factory=list)

    @property
    def sidecar(self) -> str:
        return f"http://127.0.0.1:{self.sidecar_port}"

    def status(self) -> dict[str, Any]:
        return dict(json.loads(urllib.request.urlopen(f"{self.sidecar}/status",
                                                      timeout=10).read()))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """The replica goes away: its sidecar by signal, its SDK exporter and shipper closed."""
        self.alive = False
        self.proc.send_signal(sig)
        self.server.shutdown()
        self.server.server_close()
        self.monitor.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _replica_predict(mon: Monitor, inner: list[float]) -> Callable[[Call], None]:
    @mon.inference(model=MODEL, version=VERSION, features=lambda call: {FEATURE: call.x})
    def predict(call: Call) -> None:
        start = time.perf_counter()
        try:
            if call.latency > 0:
                time.sleep(call.latency)
            if call.error:
                raise RuntimeError("injected failure")
        finally:
            inner.append(time.perf_counter() - start)

    return predict


@dataclass
class Fleet:
    tmp: Path
    spec: dict[str, Any]
    rules: Path
    prom: str = ""
    replicas: list[Replica] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # -- start / stop -----------------------------------------------------------------------
    @classmethod
    def start(cls, tmp: Path, n: int, drift: dict[str, Any]) -> Fleet:
        prometheus = require_binary("prometheus")
        spec = fleet_spec(9464, str(tmp / "state"), drift=drift)
        out = tmp / "out"
        write(parse_spec(spec), out)
        fleet = cls(tmp, spec, out / "prometheus" / "rules" / SERVICE)
        try:
            fleet._start(prometheus, n)
        except BaseException:
            fleet.stop()
            raise
        return fleet

    def _start(self, prometheus: str, n: int) -> None:
        from prometheus_client import CollectorRegistry

        side_ports = [free_port() for _ in range(n)]
        sdk_ports = [free_port() for _ in range(n)]
        prom_port = free_port()
        self.prom = f"http://127.0.0.1:{prom_port}"
        (self.tmp / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(self.rules / "*.rules.yml")],
            "scrape_configs": [
                {"job_name": "slo-agent", "static_configs": [
                    {"targets": [f"127.0.0.1:{p}" for p in side_ports]}]},
                {"job_name": "service", "static_configs": [
                    {"targets": [f"127.0.0.1:{p}" for p in sdk_ports]}]}]}))
        self.procs.append(self._spawn(
            [prometheus, f"--config.file={self.tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"], "prometheus"))
        procs = []
        for i, port in enumerate(side_ports):
            spec_i = fleet_spec(port, str(self.tmp / f"state-{i}"),
                                drift=dict(self.spec["drift"], reference="first_window"))
            path = self.tmp / f"slo-{i}.yaml"
            path.write_text(yaml.safe_dump(spec_i))
            procs.append((self._spawn([sys.executable, "-m", "agent.cli", "run", "-c", str(path),
                                       "--log-level", "warning"], f"sidecar-{i}"), spec_i))
        for i, (proc, spec_i) in enumerate(procs):
            mon = Monitor(spec=parse_spec(spec_i), registry=CollectorRegistry(),
                          sidecar_url=f"http://127.0.0.1:{side_ports[i]}", otel=False)
            # lossless on a loaded machine: the fleet's checks assume every value sent arrived,
            # and eight sidecars beside the rest of the suite on two cores can take longer than
            # the SDK's 2 s to answer a batch (a timeout is retried after a backoff, and batches
            # past max_pending are dropped): what that costs is the shipper's own tests' matter
            assert mon.shipper is not None
            mon.shipper.timeout, mon.shipper.max_pending = 30.0, 100_000
            server, _ = mon.serve(sdk_ports[i])
            inner: list[float] = []
            self.replicas.append(Replica(i, side_ports[i], sdk_ports[i], proc, mon, server,
                                         _replica_predict(mon, inner), inner=inner))
        for url in [f"{r.sidecar}/readyz" for r in self.replicas] + [f"{self.prom}/-/ready"]:
            wait_for(partial(_ok, url), 60, url)
        wait_for(lambda: len([s for s in self.query("up") if s["value"][1] == "1"]) == 2 * n,
                 30, f"all {2 * n} targets up")

    def _spawn(self, cmd: list[str], name: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=ROOT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for r in self.replicas:
            if r.alive:
                r.alive = False
                r.server.shutdown()
                r.server.server_close()
                r.monitor.close()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for log in sorted(self.tmp.glob("*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log.name}\n{text[-3000:]}")

    # -- traffic ------------------------------------------------------------------------------
    def alive(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive]

    def send(self, per_replica: Mapping[int, Sequence[Call]], rate: float | None = None) -> None:
        """Each replica's calls in order on its own thread (``rate``: calls per second per
        replica, else back to back), then every monitor flushed to its sidecar."""
        self.traffic(per_replica, rate)()

    def traffic(self, per_replica: Mapping[int, Sequence[Call]], rate: float | None = None
                ) -> Callable[[], None]:
        """Start :meth:`send` in the background; returns the function that waits for it."""
        def run(r: Replica, calls: Sequence[Call]) -> None:
            start = time.time()
            r.timings.clear()
            r.inner.clear()
            for k, call in enumerate(calls):
                if rate:
                    delay = start + k / rate - time.time()
                    if delay > 0:
                        time.sleep(delay)
                began = time.perf_counter()
                try:
                    r.predict(call)
                except RuntimeError:
                    pass
                r.timings.append((r.inner[-1], time.perf_counter() - began))

        threads = [threading.Thread(target=run, args=(self.replicas[i], calls), daemon=True)
                   for i, calls in per_replica.items()]
        for t in threads:
            t.start()

        def done() -> None:
            for t in threads:
                t.join()
            for i in per_replica:
                assert self.replicas[i].monitor.flush(10.0), f"replica {i}: SDK flush timed out"
        return done

    # -- Prometheus ---------------------------------------------------------------------------
    def query(self, q: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": q, **({"time": str(at)} if at is not None else {})}
        url = f"{self.prom}/api/v1/query?" + urllib.parse.urlencode(params)
        doc = json.loads(urllib.request.urlopen(url, timeout=10).read())
        assert doc["status"] == "success", (q, doc)
        return list(doc["data"]["result"])

    def scalar(self, q: str, at: float | None = None) -> float:
        res = self.query(q, at)
        assert len(res) == 1, f"{q}: expected one series, got {res}"
        return float(res[0]["value"][1])

    def dropped(self) -> float:
        """Samples any live SDK dropped (queue full, sidecar unavailable), as Prometheus has
        them after a fresh scrape: Python's checks assume every value sent arrived."""
        self.scraped(time.time())
        res = self.query(f"sum({cat.SDK_DROPPED.name})")
        return float(res[0]["value"][1]) if res else 0.0

    def rule_groups(self) -> list[dict[str, Any]]:
        """The generated rule groups, as Prometheus loaded them from the rule files."""
        return [g for path in sorted(self.rules.glob("*.rules.yml"))
                for g in yaml.safe_load(path.read_text())["groups"]]

    def firing(self, q: str = "ALERTS") -> list[dict[str, Any]]:
        return [s["metric"] for s in self.query(f'{q}{{alertstate="firing"}}'
                                                if "{" not in q else q)]

    def scraped(self, at_least: float) -> None:
        """Wait until Prometheus has scraped every live target after ``at_least`` (a wall-clock
        time), so a read after it sees what the replicas had then."""
        ports = {str(r.sidecar_port) for r in self.alive()} | {str(r.sdk_port)
                                                                for r in self.alive()}

        def done() -> bool:
            res = self.query("timestamp(up)")
            seen = {s["metric"]["instance"].rsplit(":", 1)[1]: float(s["value"][1])
                    for s in res}
            return all(seen.get(p, 0) > at_least for p in ports)
        wait_for(done, 15, "a scrape of every live target", every=0.25)
