"""The service dashboard is built from what the spec has. For three services unlike each other
— the SDK only, a vLLM server read through its preset (no SDK), datasets and jobs only — the
generated service dashboard, against a real Prometheus scraping the real processes (the sidecar
`slo-agent run`, an SDK process, a vLLM-shaped exposition, `slo-agent job-event`), has no panel
whose query returns nothing, and none for what the service lacks (the GPU is off in all three).
Each service is taken through one incident and back, so the Incidents row has a recovery.

The objectives are the records' own worked examples, picked by what feeds them, so a new kind
with an example joins the service that feeds it without a change here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.catalogue import RECOVERY
from agent.render.files import write
from agent.signals import ORDERED, Producer, SignalRecord
from agent.signals.examples import MODEL, objective, scrape_target
from agent.signals.presets import PRESETS
from agent.signals.record import Example
from agent.spec import parse_spec
from dashboards.queries import panel_queries, substitute
from tests.helpers import ROOT, free_port, require_binary
from tests.signal_production import ModelServer, datasets, servers

ALERTING = {"rate_window": "10s", "scrape_interval": "1s", "evaluation_interval": "1s",
            "absent_for": "1m"}
#: a week's window keeps every burn tier's short window above the 10 s rate window
COMMON = {"for": "0s", "window": "7d"}


def _examples(keep: Callable[[SignalRecord, Example], bool]) -> list[dict[str, Any]]:
    return [objective(r, ex, COMMON) for r in ORDERED for ex in r.examples if keep(r, ex)]


def _sdk_fed(r: SignalRecord, ex: Example) -> bool:
    """Fed by calls through the SDK (tests/sdk_workload.py): no dataset, job, scrape target or
    GPU, and no custom query over the team's own series."""
    custom = ex.extra.get("custom", {})
    return (not {"dataset", "job", "scrape"} & set(ex.selector) and r.fed_by is None
            and not {"bad", "good", "total", "value", "error_ratio"} & set(custom))


def _data_fed(r: SignalRecord, ex: Example) -> bool:
    return bool({"dataset", "job"} & set(ex.selector))


def sdk_spec(port: int, tmp: Path) -> dict[str, Any]:
    return {"service": "classifier", "models": [dict(MODEL)],
            "sidecar": {"listen": f"127.0.0.1:{port}", "interval": "1s",
                        "state_dir": str(tmp / "state")},
            "sdk": {"sample_rate": 1.0, "flush_interval": "0.5s"},
            "drift": {"reference_size": 200, "window_size": 200, "min_samples": 20,
                      "fleet_window": "30s"},
            "sources": {"gpu": {"mode": "off"}}, "alerting": ALERTING,
            "objectives": _examples(_sdk_fed)}


def scrape_spec(port: int, tmp: Path, url: str) -> dict[str, Any]:
    """Every kind the vLLM preset maps, on the preset's series (each record's first example's
    levels), and no SDK."""
    objectives = []
    for r in ORDERED:
        if r.kind in PRESETS["vllm"]["metrics"] and Producer.SCRAPE in r.producers:
            ex = r.examples[0]
            o = objective(r, Example({"scrape": "vllm"}, ex.warning, ex.critical,
                                     {k: v for k, v in ex.extra.items()
                                      if k not in ("objective", "sli_threshold")}), COMMON)
            objectives.append(o)
    return {"service": "llm", "models": [{"name": "llama"}],
            "sidecar": {"listen": f"127.0.0.1:{port}", "interval": "1s",
                        "state_dir": str(tmp / "state")},
            "sources": {"gpu": {"mode": "off"}, "scrape": [{
                **scrape_target("vllm"), "url": url, "interval": "1s", "model": "llama"}]},
            "alerting": ALERTING, "objectives": objectives}


def data_spec(port: int, tmp: Path) -> dict[str, Any]:
    return {"service": "scoring", "models": [dict(MODEL)],
            "sidecar": {"listen": f"127.0.0.1:{port}", "interval": "1s",
                        "state_dir": str(tmp / "state")},
            "sources": {"gpu": {"mode": "off"}, "datasets": [{
                "name": "tx", **datasets(tmp), "poll_interval": "1s", "contract": {
                    "columns": {"amount": "float", "country": "string",
                                "event_time": "datetime"},
                    "ranges": {"amount": {"min": 0, "max": 500}},
                    "allowed_values": {"country": ["DE", "FR"]},
                    "freshness": {"column": "event_time"}}}]},
            "alerting": ALERTING, "objectives": _examples(_data_fed)}


# --- the stack ----------------------------------------------------------------------------------
class Stack:
    def __init__(self, prom: str, sidecar: str, dashboard: dict[str, Any]) -> None:
        self.prom, self.sidecar, self.dashboard = prom, sidecar, dashboard

    def query_range(self, q: str, seconds: int = 120) -> list[dict[str, Any]]:
        now = time.time()
        url = f"{self.prom}/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": q, "start": now - seconds, "end": now, "step": 2})
        doc = json.loads(urllib.request.urlopen(url, timeout=10).read())
        assert doc["status"] == "success", (q, doc)
        return list(doc["data"]["result"])

    def objectives(self) -> dict[str, dict[str, Any]]:
        doc = json.loads(urllib.request.urlopen(self.sidecar + "/status", timeout=10).read())
        return {o["name"]: o for o in doc["objectives"]}

    def empty_panels(self) -> list[str]:
        empty = []
        for q in panel_queries(self.dashboard):
            series = self.query_range(substitute(q.expr, rate_interval="5s"))
            if not any(v not in ("NaN", "+Inf", "-Inf") for s in series for _, v in s["values"]):
                empty.append(f"{q.panel} · {q.ref}: {q.expr}")
        return empty


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _proc(stack: ExitStack, cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    fh = stack.enter_context(open(log, "ab"))  # noqa: SIM115 - closed by the stack
    proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    stack.callback(stop)
    return proc


@contextmanager
def stack(tmp: Path, data: dict[str, Any], targets: list[str]) -> Iterator[Stack]:
    """The sidecar for ``data`` and Prometheus scraping it and ``targets`` with the generated
    rules; yields once the sidecar is ready."""
    prometheus = require_binary("prometheus")
    spec_path = tmp / "slo.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    spec = parse_spec(data)
    write(spec, tmp / "out")
    rules = tmp / "out" / "prometheus" / "rules" / spec.service
    prom_port = free_port()
    (tmp / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules / "*.rules.yml")],
        "scrape_configs": [{"job_name": f"t{i}", "metrics_path": urllib.parse.urlparse(
            u).path, "static_configs": [{"targets": [urllib.parse.urlparse(u).netloc]}]}
            for i, u in enumerate([f"http://{spec.sidecar.listen}/metrics", *targets])]}))
    dashboard = json.loads((tmp / "out" / "grafana" / "dashboards"
                            / f"{spec.service}.json").read_text())
    with ExitStack() as procs:
        _proc(procs, [sys.executable, "-m", "agent.cli", "run", "-c", str(spec_path),
                      "--log-level", "warning"], tmp / "sidecar.log")
        _proc(procs, [prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                      f"--storage.tsdb.path={tmp / 'tsdb'}",
                      f"--web.listen-address=127.0.0.1:{prom_port}"], tmp / "prometheus.log")
        st = Stack(f"http://127.0.0.1:{prom_port}", f"http://{spec.sidecar.listen}", dashboard)
        for url in (f"{st.sidecar}/readyz", f"{st.prom}/-/ready"):
            _wait(lambda u=url: urllib.request.urlopen(u, timeout=2).status == 200, 60, url)
        yield st                 # the processes are stopped by pid when the block ends


def _recovered(st: Stack) -> bool:
    return bool(st.query_range(f"{RECOVERY.name}_count > 0", 30))


def _no_gpu_and_no_empty_panel(st: Stack, timeout: float = 90.0) -> None:
    """No GPU panel (the GPU is off); every query returns data once the windows it reads have
    filled (a fleet drift window, a rate over two scrapes): asked until then."""
    titles = {p["title"] for p in st.dashboard["panels"]}
    assert not any("GPU" in t for t in titles), sorted(titles)
    deadline = time.time() + timeout
    empty = st.empty_panels()
    while empty and time.time() < deadline:
        time.sleep(2.0)
        empty = st.empty_panels()
    print(f"\n{st.dashboard['uid']}: {sum(1 for _ in panel_queries(st.dashboard))} panel "
          f"queries, {len(empty)} empty")
    assert not empty, "panels with no data:\n" + "\n".join(empty)


def _critical_then_ok(st: Stack, name: str, start: Callable[[], None], stop: Callable[[], None],
                      timeout: float = 60) -> None:
    """One incident on ``name`` and back: a recovery for the Incidents row."""
    _wait(lambda: st.objectives()[name]["status"] != "no_data", timeout, f"{name} has data")
    start()
    _wait(lambda: st.objectives()[name]["status"] == "critical", timeout, f"{name} critical")
    stop()
    _wait(lambda: st.objectives()[name]["status"] == "ok", timeout, f"{name} ok again")
    _wait(lambda: _recovered(st), 30, "the recovery scraped")


def test_sdk_only_service(tmp_path: Path) -> None:
    port, sdk_port = free_port(), free_port()
    incident = tmp_path / "outage"
    data = sdk_spec(port, tmp_path)
    with stack(tmp_path, data, [f"http://127.0.0.1:{sdk_port}/metrics"]) as st, \
            ExitStack() as producers:
        _proc(producers, [sys.executable, "-m", "tests.sdk_workload", "--spec",
                          str(tmp_path / "slo.yaml"), "--port", str(sdk_port),
                          "--incident", str(incident)], tmp_path / "sdk.log")
        errors = next(o["name"] for o in data["objectives"] if o["signal"] == "error_rate")
        _critical_then_ok(st, errors, incident.touch, incident.unlink)
        _no_gpu_and_no_empty_panel(st)


def test_scrape_preset_only_service(tmp_path: Path) -> None:
    port = free_port()
    targets: dict[str, ModelServer] = {}
    with servers(targets) as base:
        data = scrape_spec(port, tmp_path, f"{base}/vllm/metrics")
        spec = parse_spec(data)
        target = spec.scrape_target("vllm")
        assert target is not None
        server = targets["vllm"] = ModelServer(target)
        with stack(tmp_path, data, [f"{base}/vllm/metrics"]) as st:
            latency = next(o["name"] for o in data["objectives"] if o["signal"] == "latency")

            def broken(on: bool) -> Callable[[], None]:
                return lambda: setattr(server, "broken", on)
            _critical_then_ok(st, latency, broken(True), broken(False))
            _no_gpu_and_no_empty_panel(st)


def _job_event(port: int, tmp: Path, result: str) -> None:
    subprocess.run([sys.executable, "-m", "agent.cli", "job-event", "retrain", result,
                    "--duration", "30s", "-c", str(tmp / "slo.yaml"),
                    "--spool", str(tmp / "spool.jsonl")],
                   cwd=ROOT, check=True, capture_output=True, timeout=60)


def test_datasets_and_jobs_only_service(tmp_path: Path) -> None:
    import pandas as pd

    port = free_port()
    data = data_spec(port, tmp_path)
    batch = Path(data["sources"]["datasets"][0]["path"])
    clean = pd.read_parquet(batch)
    with stack(tmp_path, data, []) as st:
        for result in ("success", "failure", "success"):
            _job_event(port, tmp_path, result)
        nulls = next(o["name"] for o in data["objectives"] if o["signal"] == "null_ratio")

        def spike() -> None:
            clean.assign(amount=None).to_parquet(batch)

        def calm() -> None:
            clean.to_parquet(batch)
        _critical_then_ok(st, nulls, spike, calm)
        _job_event(port, tmp_path, "success")
        _no_gpu_and_no_empty_panel(st)


@pytest.fixture(autouse=True)
def _logs_on_failure(tmp_path: Path) -> Iterator[None]:
    yield
    for log in sorted(tmp_path.glob("*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(f"--- {log.name}\n{text[-3000:]}")
