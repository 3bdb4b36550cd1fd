"""One verdict, two judges (issue 34): a real sidecar (``slo-agent run``) and a real Prometheus
running the generated rules watch the same service side by side through a scripted scenario, and
their states must agree.

Sources: the real SDK (``Monitor``: the decorator, its /metrics for Prometheus, its shipping to the
sidecar) for the SDK-fed kinds, and a server speaking vLLM's metrics for the scrape preset (the
sidecar scrapes it, and so does Prometheus). Scenario: a deploy starts healthy, an incident (slow
and failing calls, a broken model server), recovery, then the sidecar restarts. Every half second
the sidecar's ``/status`` state of each objective (ok, pending warning, warning, pending critical,
critical) is compared with what ``ALERTS`` says of the objective's threshold alerts. Two judges
read their inputs at different moments (a scrape, a tick, a flush apart), so a disagreement may
last at most one evaluation interval plus the objective's ``for`` plus that skew; a longer one
fails naming the kind, the objective and the moment.

Covered kinds: latency, error rate and availability from the SDK; latency, error rate and queue
depth from the vLLM preset (the rest of the kinds are judged alike by construction of their
records, but are not driven here).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.render.files import write
from agent.sli import plans
from agent.spec import parse_spec
from tests.e2e.notify_harness import prometheus_config, query, start, stop, wait
from tests.helpers import free_port, require_binary
from tests.sidecar.test_presets import VLLM

SERVICE, MODEL = "judges", "clf"
EVAL, FOR, SCRAPE, TICK, FLUSH, SAMPLE = 1.0, 2.0, 1.0, 0.5, 0.25, 0.5
#: how long the two may disagree: one evaluation interval plus `for`, plus the skew of reading
#: the same traffic at different moments (a scrape, a sidecar tick, an SDK flush, our sampling)
TOLERANCE = EVAL + FOR + SCRAPE + TICK + FLUSH + SAMPLE
RATE_WINDOW = 15.0         # several times the tolerance: a judge on another window shows
PHASES = (("deploy start", 10.0), ("incident", 22.0), ("recovery", 22.0), ("restart", 12.0))
pytestmark = [pytest.mark.servers, pytest.mark.slow]
RANK = {"ok": 0, "pending_warning": 1, "warning": 2, "pending_critical": 3, "critical": 4}


def spec_data(port: int, state: Path, vllm: str) -> dict[str, Any]:
    for_ = f"{FOR:g}s"
    return {
        "service": SERVICE,
        "models": [{"name": MODEL, "version": "v1"}],
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": str(state),
                    "interval": f"{TICK:g}s"},
        "sdk": {"sample_rate": 1.0, "flush_interval": f"{FLUSH:g}s"},
        "sources": {"gpu": {"mode": "off"}, "scrape": [
            {"name": "vllm", "url": vllm, "interval": f"{SCRAPE:g}s", "preset": "vllm",
             "model": "llama"}]},
        "alerting": {"rate_window": f"{RATE_WINDOW:g}s", "scrape_interval": f"{SCRAPE:g}s",
                     "evaluation_interval": f"{EVAL:g}s", "absent_for": "60s"},
        "objectives": [
            {"name": "sdk-latency", "signal": "latency", "quantile": "p95",
             "selector": {"model": MODEL}, "warning": "100ms", "critical": "250ms",
             "for": for_},
            {"name": "sdk-errors", "signal": "error_rate", "selector": {"model": MODEL},
             "warning": "5%", "critical": "20%", "for": for_},
            {"name": "sdk-availability", "signal": "availability",
             "selector": {"model": MODEL}, "warning": "95%", "critical": "80%", "for": for_},
            {"name": "llm-latency", "signal": "latency", "quantile": "p95",
             "selector": {"scrape": "vllm"}, "warning": "1s", "critical": "2.5s", "for": for_},
            {"name": "llm-errors", "signal": "error_rate", "selector": {"scrape": "vllm"},
             "warning": "5%", "critical": "20%", "for": for_},
            {"name": "llm-queue", "signal": "queue_depth", "selector": {"scrape": "vllm"},
             "warning": "10", "critical": "50", "for": for_},
        ]}


@dataclass
class Judges:
    sidecar: str
    prom: str
    spec_path: Path
    tmp: Path
    vllm: VLLM
    predict: Any
    procs: list[subprocess.Popen[bytes]]
    incident: bool = False
    kinds: dict[str, str] = field(default_factory=dict)        # objective -> kind
    bases: dict[str, str] = field(default_factory=dict)        # objective -> alert base

    def restart_sidecar(self) -> None:
        side = self.procs[0]
        side.terminate()
        side.wait(30)
        self.procs[0] = start([sys.executable, "-m", "agent.cli", "run", "-c",
                               str(self.spec_path), "--log-level", "warning"],
                              self.tmp / "sidecar.log")
        wait(lambda: urllib.request.urlopen(f"{self.sidecar}/readyz", timeout=2).status == 200,
             60, "the restarted sidecar")

    def states(self) -> tuple[dict[str, str], dict[str, str]] | None:
        """(sidecar, Prometheus) state per objective now; None while the sidecar is away."""
        try:
            doc = json.loads(urllib.request.urlopen(f"{self.sidecar}/status", timeout=2).read())
        except OSError:
            return None
        side = {o["name"]: ("ok" if o["status"] == "no_data" else o["status"])
                for o in doc["objectives"]}
        prom = {name: "ok" for name in side}
        for a in query(self.prom, f'ALERTS{{service="{SERVICE}"}}'):
            m = a["metric"]
            name = m.get("objective")
            level = m["alertname"].removeprefix(self.bases.get(name or "", "")).lower()
            if name not in prom or level not in ("warning", "critical"):
                continue
            state = level if m["alertstate"] == "firing" else f"pending_{level}"
            if RANK[state] > RANK[prom[name]]:
                prom[name] = state
        return side, prom


@pytest.fixture(scope="module")
def judges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Judges]:
    from prometheus_client import CollectorRegistry

    from agent.sdk.monitor import Monitor

    prometheus = require_binary("prometheus")
    tmp = tmp_path_factory.mktemp("judges")
    server_state = VLLM()
    server_state.mode["llama"] = "healthy"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = server_state.text()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    vllm = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=vllm.serve_forever, daemon=True).start()
    threading.Thread(target=server_state.run, daemon=True).start()
    side_port, sdk_port, prom_port = free_port(), free_port(), free_port()
    data = spec_data(side_port, tmp / "state",
                     f"http://127.0.0.1:{vllm.server_address[1]}/metrics")
    spec_path = tmp / "slo.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    spec = parse_spec(data)
    write(spec, tmp / "out")
    prometheus_config(tmp / "prometheus.yml", tmp / "out" / "prometheus" / "rules" / SERVICE,
                      free_port(), {"service": sdk_port, "slo-agent": side_port,
                                    "vllm": vllm.server_address[1]})
    procs = [start([sys.executable, "-m", "agent.cli", "run", "-c", str(spec_path),
                    "--log-level", "warning"], tmp / "sidecar.log"),
             start([prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}"], tmp / "prometheus.log")]
    mon = Monitor(spec=spec, registry=CollectorRegistry(),
                  sidecar_url=f"http://127.0.0.1:{side_port}", otel=False)
    server, _ = mon.serve(sdk_port)
    j = Judges(f"http://127.0.0.1:{side_port}", f"http://127.0.0.1:{prom_port}", spec_path,
               tmp, server_state, None, procs)

    @mon.inference(model=MODEL, version="v1")
    def predict() -> None:
        if j.incident:
            time.sleep(0.3)
            if time.monotonic() % 1.0 < 0.4:            # 40 % of calls fail
                raise RuntimeError("injected failure")
        else:
            time.sleep(0.005)

    j.predict = predict
    j.kinds = {p.o.name: p.o.signal.value + (" (vllm preset)" if p.o.selector.scrape else "")
               for p in plans(spec)}
    j.bases = {p.o.name: p.alert_base for p in plans(spec)}
    try:
        wait(lambda: urllib.request.urlopen(f"{j.sidecar}/readyz", timeout=2).status == 200,
             60, "the sidecar")
        wait(lambda: len(query(j.prom, "up == 1")) == 3, 60, "three targets up")
        yield j
    finally:
        mon.close()
        server.shutdown()
        server_state.stop.set()
        vllm.shutdown()
        stop(procs)
        for log in sorted(tmp.glob("*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log.name}\n{text[-3000:]}")


def _traffic(j: Judges, stop_at: threading.Event) -> None:
    """About 50 calls a second on 16 workers, whatever the calls' latency."""
    def call() -> None:
        try:
            j.predict()
        except RuntimeError:
            pass

    with ThreadPoolExecutor(16) as pool:
        while not stop_at.is_set():
            for _ in range(5):
                pool.submit(call)
            time.sleep(0.1)


def test_sidecar_and_rules_agree_through_a_scripted_scenario(judges: Judges) -> None:
    j = judges
    done = threading.Event()
    threading.Thread(target=_traffic, args=(j, done), daemon=True).start()
    samples: list[tuple[float, str, dict[str, str], dict[str, str]]] = []
    t0 = time.time()
    try:
        for phase, seconds in PHASES:
            if phase == "incident":
                j.incident, j.vllm.mode["llama"] = True, "broken"
            elif phase == "recovery":
                j.incident, j.vllm.mode["llama"] = False, "healthy"
            elif phase == "restart":
                j.restart_sidecar()
            end = time.time() + seconds
            while time.time() < end:
                got = j.states()
                if got is not None:
                    samples.append((time.time() - t0, phase, *got))
                time.sleep(SAMPLE)
    finally:
        done.set()
    failures: list[str] = []
    seen: dict[str, tuple[set[str], set[str]]] = {name: (set(), set()) for name in j.kinds}
    for name, kind in j.kinds.items():
        since: tuple[float, str, str, str] | None = None
        for t, phase, side, prom in samples:
            seen[name][0].add(side[name])
            seen[name][1].add(prom[name])
            if side[name] != prom[name]:
                if since is None:
                    since = (t, phase, side[name], prom[name])
                elif t - since[0] > TOLERANCE:
                    failures.append(f"{kind} ({name}): from {since[0]:.1f}s ({since[1]}) the "
                                    f"sidecar says {since[2]}, Prometheus {since[3]}, for more "
                                    f"than {TOLERANCE:g}s")
                    since = None
            else:
                since = None
    print(f"\n{len(samples)} samples over {samples[-1][0]:.0f}s; states seen: "
          + "; ".join(f"{n}: sidecar {sorted(a)}, rules {sorted(b)}"
                      for n, (a, b) in seen.items()))
    assert not failures, "\n".join(failures)
    # the incident was seen by both, so agreement is not agreement on nothing
    for name in ("sdk-latency", "sdk-errors", "sdk-availability", "llm-latency", "llm-errors"):
        assert all("critical" in s for s in seen[name]), (name, seen[name])
