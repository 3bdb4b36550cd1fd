"""Scrape presets against a vLLM-shaped exposition on loopback, with no SDK in any process: the
sidecar reads one model's latency histogram and finished-request counters through the ``vllm``
preset (the other model's series are filtered out by its label), drives a latency and an error
objective to critical, and the generated rules compute the same values from the same series in a
real Prometheus."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.render.files import render
from agent.spec import parse_spec
from tests.helpers import free_port, require_binary
from tests.sidecar.conftest import make_spec

BOUNDS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class VLLM:
    """Counters and a histogram per model, advanced by a thread: vLLM's metric names, labels
    and types as its /metrics documents them (prometheus_client exposition)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.models = {m: {"buckets": [0] * (len(BOUNDS) + 1), "sum": 0.0,
                           "reasons": {"stop": 0, "length": 0, "abort": 0}}
                       for m in ("llama", "mistral")}
        self.mode = {"llama": "healthy", "mistral": "broken"}   # mistral is always bad
        self.rng = random.Random(0)
        self.stop = threading.Event()

    def step(self) -> None:
        with self.lock:
            for name, m in self.models.items():
                broken = self.mode[name] == "broken"
                for _ in range(20):
                    latency = self.rng.uniform(3.0, 6.0) if broken else self.rng.uniform(0.05, 0.3)
                    k = next((i for i, b in enumerate(BOUNDS) if latency <= b), len(BOUNDS))
                    m["buckets"][k] += 1
                    m["sum"] += latency
                    reason = "abort" if broken and self.rng.random() < 0.3 else "stop"
                    m["reasons"][reason] += 1

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.step()

    def text(self) -> bytes:
        lines = ["# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
                 "# TYPE vllm:num_requests_waiting gauge"]
        with self.lock:
            for name in self.models:
                lines.append(f'vllm:num_requests_waiting{{model_name="{name}"}} 3.0')
            lines += ["# HELP vllm:e2e_request_latency_seconds Histogram of end to end request "
                      "latency in seconds.", "# TYPE vllm:e2e_request_latency_seconds histogram"]
            for name, m in self.models.items():
                acc = 0
                for b, c in zip([*BOUNDS, float("inf")], m["buckets"], strict=True):
                    acc += c
                    le = "+Inf" if b == float("inf") else repr(b)
                    lines.append(f'vllm:e2e_request_latency_seconds_bucket{{le="{le}",'
                                 f'model_name="{name}"}} {acc}.0')
                lines.append(f'vllm:e2e_request_latency_seconds_count{{model_name="{name}"}} '
                             f"{acc}.0")
                lines.append(f'vllm:e2e_request_latency_seconds_sum{{model_name="{name}"}} '
                             f'{m["sum"]}')
            lines += ["# HELP vllm:request_success_total Count of successfully processed "
                      "requests.", "# TYPE vllm:request_success_total counter"]
            for name, m in self.models.items():
                for reason, n in m["reasons"].items():
                    lines.append(f'vllm:request_success_total{{finished_reason="{reason}",'
                                 f'model_name="{name}"}} {n}.0')
        return ("\n".join(lines) + "\n").encode()


@pytest.fixture()
def vllm() -> Iterator[tuple[str, VLLM]]:
    server_state = VLLM()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = server_state.text()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=server_state.run, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics", server_state
    server_state.stop.set()
    server.shutdown()
    server.server_close()


def _spec(tmp_path: Path, url: str) -> dict[str, Any]:
    spec = make_spec(tmp_path, free_port())
    spec["sources"]["scrape"] = [{"name": "vllm", "url": url, "interval": "0.5s",
                                  "preset": "vllm", "model": "llama"}]
    spec["objectives"] = [
        {"name": "llama-latency", "signal": "latency", "quantile": "p95",
         "selector": {"scrape": "vllm"}, "warning": "1s", "critical": "2.5s", "for": "0s",
         "objective": "99%", "window": "1h", "sli_threshold": "1s"},
        {"name": "llama-errors", "signal": "error_rate", "selector": {"scrape": "vllm"},
         "warning": "1%", "critical": "5%", "for": "0s", "objective": "99%", "window": "1h"},
        {"name": "llama-queue", "signal": "queue_depth", "selector": {"scrape": "vllm"},
         "warning": "10", "critical": "50", "for": "0s"},
    ]
    return spec


def _until(sc: Any, want: dict[str, str], timeout: float = 20) -> dict[str, Any]:
    deadline = time.time() + timeout
    seen: dict[str, Any] = {}
    while time.time() < deadline:
        seen = {o["name"]: o for o in sc.status()["objectives"]}
        if all(seen[n]["status"] == s for n, s in want.items()):
            return seen
        time.sleep(0.25)
    raise AssertionError(f"not reached {want}: "
                         f"{ {n: (seen[n]['status'], seen[n]['value']) for n in want} }")


def test_vllm_preset_drives_objectives_without_an_sdk(tmp_path: Path, sidecar_factory: Any,
                                                      vllm: tuple[str, VLLM]) -> None:
    url, server = vllm
    sc = sidecar_factory(_spec(tmp_path, url))
    # mistral is broken throughout: the model filter keeps it out of llama's objectives
    st = _until(sc, {"llama-latency": "ok", "llama-errors": "ok", "llama-queue": "ok"})
    assert st["llama-latency"]["value"] < 0.5 and st["llama-errors"]["value"] == 0.0
    assert st["llama-queue"]["value"] == 3.0                  # one model's gauge, not both
    server.mode["llama"] = "broken"
    st = _until(sc, {"llama-latency": "critical", "llama-errors": "critical"})
    assert 2.5 < st["llama-latency"]["value"] <= 10.0
    assert 0.05 < st["llama-errors"]["value"] < 0.6
    server.mode["llama"] = "healthy"
    _until(sc, {"llama-latency": "ok", "llama-errors": "ok"})
    scrape = sc.status()["sources"]["scrape"][0]
    assert scrape["name"] == "vllm" and scrape["up"] is True


def test_generated_rules_read_the_servers_own_series(tmp_path: Path,
                                                     vllm: tuple[str, VLLM]) -> None:
    """The rules for preset objectives query vllm:* series directly: promtool lints them, and a
    real Prometheus scraping the fixture computes llama's values (not mistral's)."""
    prometheus = require_binary("prometheus")
    promtool = require_binary("promtool")
    url, _ = vllm
    spec = parse_spec(_spec(tmp_path, url))
    rules = tmp_path / "rules"
    rules.mkdir()
    for path, (_, text) in render(spec).items():
        if path.endswith(".rules.yml"):
            (rules / Path(path).name).write_text(text)
            assert "vllm:" in text and "inference_" not in text
    res = subprocess.run([promtool, "check", "rules", "--lint=all", *map(str, rules.iterdir())],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    target = urllib.parse.urlparse(url)
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules / "*.rules.yml")],
        "scrape_configs": [{"job_name": "vllm", "static_configs": [
            {"targets": [target.netloc]}]}]}))
    proc = subprocess.Popen([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        values: dict[str, float] = {}
        deadline = time.time() + 60
        while time.time() < deadline and len(values) < 3:
            try:
                q = urllib.parse.urlencode({"query": "slo:objective_value"})
                doc = json.loads(urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/query?{q}", timeout=5).read())
                values = {r["metric"]["objective"]: float(r["value"][1])
                          for r in doc["data"]["result"] if r["value"][1] != "NaN"}
            except OSError:
                pass
            time.sleep(1)
        assert set(values) == {"llama-latency", "llama-errors", "llama-queue"}, values
        assert values["llama-latency"] < 0.5                 # llama's, not broken mistral's
        assert values["llama-errors"] == 0.0 and values["llama-queue"] == 3.0
    finally:
        proc.terminate()
        proc.wait(10)


# Exposition text in each server's documented format (names, types, labels), written for these
# tests; ``{n}`` advances counters between the two scrapes.
FIXTURES = {
    "tgi": """# TYPE tgi_queue_size gauge
tgi_queue_size 4
# TYPE tgi_batch_current_size gauge
tgi_batch_current_size 8
# TYPE tgi_request_count counter
tgi_request_count {total}
# TYPE tgi_request_success counter
tgi_request_success {good}
# TYPE tgi_request_duration histogram
tgi_request_duration_bucket{{le="0.5"}} {fast}
tgi_request_duration_bucket{{le="1.0"}} {total}
tgi_request_duration_bucket{{le="+Inf"}} {total}
tgi_request_duration_sum 10
tgi_request_duration_count {total}
""",
    "triton": """# HELP nv_inference_request_success Number of successful inference requests
# TYPE nv_inference_request_success counter
nv_inference_request_success{{model="resnet",version="1"}} {good}
nv_inference_request_success{{model="bert",version="1"}} 999999
# TYPE nv_inference_request_failure counter
nv_inference_request_failure{{model="resnet",version="1"}} {bad}
nv_inference_request_failure{{model="bert",version="1"}} 999999
# TYPE nv_inference_request_duration_us counter
nv_inference_request_duration_us{{model="resnet",version="1"}} {duration_us}
# TYPE nv_inference_queue_duration_us counter
nv_inference_queue_duration_us{{model="resnet",version="1"}} {queue_us}
# TYPE nv_inference_pending_request_count gauge
nv_inference_pending_request_count{{model="resnet",version="1"}} 2
nv_inference_pending_request_count{{model="bert",version="1"}} 50
""",
    "torchserve": """# HELP ts_inference_requests_total Total number of inference requests.
# TYPE ts_inference_requests_total counter
ts_inference_requests_total{{model_name="densenet",model_version="1.0"}} {total}
# TYPE ts_inference_latency_microseconds counter
ts_inference_latency_microseconds{{model_name="densenet",model_version="1.0"}} {duration_us}
# TYPE ts_queue_latency_microseconds counter
ts_queue_latency_microseconds{{model_name="densenet",model_version="1.0"}} {queue_us}
# TYPE Requests2XX counter
Requests2XX{{Level="Host",Hostname="h"}} {good}
# TYPE Requests5XX counter
Requests5XX{{Level="Host",Hostname="h"}} {bad}
""",
}


@pytest.mark.parametrize(("preset", "model", "expect"), [
    # 100 requests between scrapes, 90 good, 10 bad; 80 under 0.5s; 20ms each; 5ms queued
    # p90 of 100 requests, 80 under 0.5s and 20 in (0.5, 1]: 0.5 + 0.5 * 10/20
    ("tgi", None, {"error_rate": 0.1, "queue_depth": 4, "in_flight": 8, "latency": 0.75}),
    # Triton's cumulative microseconds over its successful requests (90 of the 100)
    ("triton", "resnet", {"error_rate": 10 / 100, "latency": 2.0 / 90, "queue_wait": 0.5 / 90,
                          "queue_depth": 2}),
    ("torchserve", "densenet", {"error_rate": 0.1, "latency": 0.02, "queue_wait": 0.005,
                                "throughput": 10.0}),
])
def test_each_preset_maps_its_servers_metrics(preset: str, model: str | None,
                                              expect: dict[str, float]) -> None:
    from agent.sidecar.collectors.scrape import Scraper
    from agent.spec.document import ScrapeTarget

    target = ScrapeTarget(name=preset, url="http://127.0.0.1:1/metrics", preset=preset,
                          model=model)
    scraper = Scraper(target, quantile=0.9)
    texts = [FIXTURES[preset].format(total=t, good=g, bad=t - g, fast=f, duration_us=d,
                                     queue_us=q)
             # long-running servers: counters far older than the window (a counter that
             # started inside it is a young series, its rate taken over the whole window)
             for t, g, f, d, q in ((100_000, 95_000, 90_000, 2_000_000_000, 500_000_000),
                                   (100_100, 95_090, 90_080, 2_002_000_000, 500_500_000))]
    results = []
    for i, text in enumerate(texts):
        scraper.fetch = lambda text=text: text      # type: ignore[method-assign]
        results.append(scraper.scrape(now=10.0 * i))
    values = {k.value: v for k, v in results[1].values.items()}
    for kind, want in expect.items():
        assert values[kind] == pytest.approx(want, rel=1e-6), (kind, values)
    if "error_rate" in expect:
        assert results[1].counts[next(k for k in results[1].counts)] == (10.0, 100.0)


def test_a_scraped_quantile_is_taken_over_the_rules_window() -> None:
    """The sidecar's p95 of a scraped histogram is the rules' histogram_quantile over
    rate(…[alerting.rate_window]): a minute after a latency fault ends it is still the fault's,
    as in Prometheus; once the window has passed it is the healthy one. Counter restarts count
    from zero, and the objective's own quantile is used."""
    from agent.sidecar.collectors.scrape import Scraper
    from agent.spec.document import ScrapeTarget
    from agent.spec.signals import SignalKind

    target = ScrapeTarget(name="vllm", url="http://127.0.0.1:1/metrics", preset="vllm")
    scraper = Scraper(target, window=300.0, quantiles={SignalKind.LATENCY: 0.99})
    name = "vllm:e2e_request_latency_seconds"
    slow = fast = 0.0
    p99: list[float | None] = []

    def exposition() -> str:
        lines = [f"# TYPE {name} histogram"]
        for le, count in (("0.5", fast), ("10.0", fast + slow), ("+Inf", fast + slow)):
            lines.append(f'{name}_bucket{{le="{le}"}} {count}')
        lines += [f"{name}_count {fast + slow}", f"{name}_sum 0"]
        return "\n".join(lines) + "\n"

    for i in range(60):                                  # 15s scrapes, 15 minutes
        if i < 20:
            slow += 10                                   # the fault: every request ~10s
        else:
            fast += 10
        if i == 40:                                      # the server restarts: counters reset
            slow, fast = 0.0, 10.0
        scraper.fetch = lambda text=exposition(): text  # type: ignore[method-assign]
        p99.append(scraper.scrape(now=15.0 * i).values.get(SignalKind.LATENCY))
    assert p99[0] is None                                # one scrape: no increase yet
    assert p99[19] is not None and p99[19] > 0.5         # during the fault
    assert p99[24] is not None and p99[24] > 0.5         # a minute after it: still in the window
    assert p99[45] is not None and p99[45] <= 0.5        # 5 minutes after: healthy
    assert p99[59] is not None and p99[59] <= 0.5        # a restart did not read as a burst
