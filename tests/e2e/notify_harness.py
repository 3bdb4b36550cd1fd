"""Real Prometheus and Alertmanager for the notification tests: an exporter whose counters follow
traffic the test sets (rates per model, error shares, a queue gauge), history written before the
start with ``promtool tsdb create-blocks-from openmetrics``, and a webhook that records every
notification Alertmanager sends. Servers run on loopback and stop by pid."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from agent import catalogue as cat
from tests.helpers import ROOT, free_port

OK, ERROR = cat.OUTCOMES[0], cat.OUTCOMES[1]
#: errors long before the test: a counter that starts at 0 inside a window is not extrapolated
#: past its zero point, which would bias an early error ratio low
PAST_ERRORS = 5000.0


@dataclass
class Flow:
    """One model's traffic: requests per second and the share that fail."""

    rate: float
    errors: float = 0.0


@dataclass
class Exporter:
    """Counters integrated from piecewise-constant flows: what an instrumented service would
    expose, at any moment, exactly."""

    service: str
    flows: dict[str, Flow]
    queue: float = 5.0
    start: float = field(default_factory=time.time)
    up: bool = True
    _ok: dict[str, float] = field(default_factory=dict)
    _bad: dict[str, float] = field(default_factory=dict)
    _at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: (time, model, flow from then on, ok and bad counters then)
    _breaks: list[tuple[float, str, Flow, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._at = self.start
        for m, f in self.flows.items():
            self._ok.setdefault(m, 0.0)
            self._bad.setdefault(m, PAST_ERRORS)
            self._breaks.append((self.start, m, f, self._ok[m], self._bad[m]))

    def _advance(self, now: float) -> None:
        dt = max(0.0, now - self._at)
        for m, f in self.flows.items():
            self._ok[m] += f.rate * (1 - f.errors) * dt
            self._bad[m] += f.rate * f.errors * dt
        self._at = max(self._at, now)

    def set(self, model: str, flow: Flow, now: float | None = None) -> None:
        with self._lock:
            now = time.time() if now is None else now
            self._advance(now)
            self.flows[model] = flow
            self._ok.setdefault(model, 0.0)
            self._bad.setdefault(model, PAST_ERRORS)
            self._breaks.append((now, model, flow, self._ok[model], self._bad[model]))

    def counts(self, model: str, at: float) -> tuple[float, float]:
        """(bad, total) of ``model`` at any past moment since its last change before it."""
        with self._lock:              # before the first change: the backfilled flow
            mine = sorted((b for b in self._breaks if b[1] == model), key=lambda b: b[0])
            t, _, flow, ok, bad = next((b for b in reversed(mine) if b[0] <= at), mine[0])
        dt = at - t
        bad += flow.rate * flow.errors * dt
        return bad, bad + ok + flow.rate * (1 - flow.errors) * dt

    def samples(self, now: float) -> list[tuple[str, dict[str, str], float]]:
        with self._lock:
            self._advance(now)
            out = []
            for m in sorted(self.flows):
                base = {cat.SERVICE_LABEL: self.service, "model": m}
                out.append((cat.REQUESTS.name, {**base, "outcome": OK}, self._ok[m]))
                out.append((cat.REQUESTS.name, {**base, "outcome": ERROR}, self._bad[m]))
            out.append((cat.QUEUE_DEPTH.name, {cat.SERVICE_LABEL: self.service, "queue": "main"},
                        self.queue))
            return out

    def text(self, now: float) -> str:
        lines = [f"# TYPE {cat.REQUESTS.name} counter", f"# TYPE {cat.QUEUE_DEPTH.name} gauge"]
        for name, labels, value in self.samples(now):
            lines.append(f"{name}{cat.label_matchers(labels)} {value:.6f}")
        return "\n".join(lines) + "\n"

    def backfill(self, seconds: float, step: float, path: Path,
                 target: dict[str, str] | None = None) -> None:
        """OpenMetrics history of the flows as they are now, ending at ``self.start``: the
        counters start ``seconds`` earlier (then shifted so the live part continues them).
        ``target``: the job and instance labels the scrape will add, so history and live
        samples are one series."""
        extra = dict(target or {})
        t0 = self.start - seconds
        times = [t0 + i * step for i in range(int(seconds / step))]
        with self._lock:         # the live counters continue the history, never below zero
            for m, f in self.flows.items():
                self._ok[m] += f.rate * (1 - f.errors) * seconds
                self._bad[m] += f.rate * f.errors * seconds
            self._breaks = [(t, m, f, self._ok[m], self._bad[m])
                            for t, m, f, _, _ in self._breaks]
        live = {m: (self._ok[m], self._bad[m]) for m in self.flows}
        series: dict[tuple[str, str], list[str]] = {}
        kinds = {cat.REQUESTS.name: "counter", cat.QUEUE_DEPTH.name: "gauge"}
        for t in times:
            back = self.start - t
            for m, f in self.flows.items():
                base = {**extra, cat.SERVICE_LABEL: self.service, "model": m}
                ok = live[m][0] - f.rate * (1 - f.errors) * back
                bad = live[m][1] - f.rate * f.errors * back
                for outcome, v in ((OK, ok), (ERROR, bad)):
                    key = (cat.REQUESTS.name, cat.label_matchers({**base, "outcome": outcome}))
                    series.setdefault(key, []).append(f"{key[0]}{key[1]} {v:.6f} {t:.3f}")
            key = (cat.QUEUE_DEPTH.name,
                   cat.label_matchers({**extra, cat.SERVICE_LABEL: self.service,
                                       "queue": "main"}))
            series.setdefault(key, []).append(f"{key[0]}{key[1]} {self.queue} {t:.3f}")
        out = []
        for name, kind in kinds.items():
            family = name.removesuffix("_total") if kind == "counter" else name
            out.append(f"# TYPE {family} {kind}")
            for (n, _), lines in sorted(series.items()):
                if n == name:
                    out.extend(lines)
        path.write_text("\n".join(out) + "\n# EOF\n")


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        exporter: Exporter = self.server.exporter
        if not exporter.up:
            self.send_response(503)
            self.end_headers()
            return
        body = exporter.text(time.time()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        doc = json.loads(self.rfile.read(length) or b"{}")
        self.server.received.append((time.time(), self.path, doc))
        self.send_response(200)
        self.end_headers()


def serve(exporter: Exporter | None = None) -> tuple[ThreadingHTTPServer, int]:
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    httpd.exporter = exporter              # type: ignore[attr-defined]
    httpd.received = []                    # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, port


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    fh = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, stdout=fh, stderr=fh, cwd=ROOT, env=dict(os.environ))


def prometheus_config(path: Path, rules: Path, am_port: int, targets: dict[str, int],
                      interval: str = "1s") -> None:
    path.write_text(yaml.safe_dump({
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules / "*.rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": job, "static_configs": [
            {"targets": [f"127.0.0.1:{port}"]}]} for job, port in targets.items()]}))


def wait(check: Callable[[], bool], timeout: float, what: str, every: float = 0.5) -> float:
    begin = time.time()
    while time.time() - begin < timeout:
        try:
            if check():
                return time.time() - begin
        except OSError:
            pass
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def query(prom: str, q: str, at: float | None = None) -> list[dict[str, Any]]:
    args = {"query": q} | ({"time": f"{at:.3f}"} if at is not None else {})
    doc = json.loads(urllib.request.urlopen(
        f"{prom}/api/v1/query?" + urllib.parse.urlencode(args), timeout=10).read())
    assert doc["status"] == "success", doc
    return list(doc["data"]["result"])
