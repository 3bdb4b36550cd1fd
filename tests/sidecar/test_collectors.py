"""Collectors: GPU through a fake NVML at the module seam (with pynvml's real exceptions), scrape
targets, dataset files; and the evaluator's for/hysteresis/baseline rules."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from agent.sidecar.collectors.datasets import DatasetPoller
from agent.sidecar.collectors.gpu import GPUCollector
from agent.sidecar.collectors.scrape import Scraper
from agent.sidecar.engine import Engine
from agent.sidecar.exposition import dcgm_families, gpu_families
from agent.spec import parse_spec
from agent.spec.document import Dataset, ScrapeTarget
from detectors.thresholds import Status
from tests.helpers import free_port, require_binary


class FakeNVML:
    """Two H100-like devices; ECC is not supported on the second (NVMLError_NotSupported)."""

    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
    NVML_CLOCK_MEM = pynvml.NVML_CLOCK_MEM
    NVML_MEMORY_ERROR_TYPE_CORRECTED = pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    NVML_VOLATILE_ECC = pynvml.NVML_VOLATILE_ECC

    def __init__(self, temps: tuple[float, float] = (61.0, 84.0)) -> None:
        self.temps = list(temps)
        self.inits = 0

    def nvmlInit(self) -> None:
        self.inits += 1

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return f"GPU-0000-{h}"

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        return SimpleNamespace(gpu=[35, 97][h], memory=[20, 60][h])

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        total = 80 * 2**30
        used = [10, 70][h] * 2**30
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> float:
        return self.temps[h]

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return [150_000, 690_000][h]

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return 700_000

    def nvmlDeviceGetClockInfo(self, h: int, kind: int) -> int:
        return 1980 if kind == pynvml.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h: int) -> int:
        return [0x1, 0x4 | 0x20][h]

    def nvmlDeviceGetTotalEccErrors(self, h: int, kind: int, counter: int) -> int:
        if h == 1:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return 0

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[Any]:
        return [SimpleNamespace(pid=4242, usedGpuMemory=[5, 60][h] * 2**30)]


def test_fake_nvml_readings_and_exposition() -> None:
    nv = FakeNVML()
    gpu = GPUCollector("auto", nvml=nv)
    gpu.start()
    readings = gpu.collect()
    assert gpu.status == "ok" and nv.inits == 1 and len(readings) == 2
    r0, r1 = readings
    assert r0.utilization == pytest.approx(0.35) and r1.temperature == 84.0
    assert r1.power == pytest.approx(690.0) and r1.sm_clock == pytest.approx(1.98e9)
    assert r1.ecc_corrected is None and any("ecc" in e for e in r1.errors)   # tolerated
    assert r0.ecc_corrected == 0 and r0.processes[0][0] == 4242
    assert gpu.signal_values()["gpu_memory_ratio"]["1"] == pytest.approx(70 / 80)
    reg = CollectorRegistry()

    class C:
        def collect(self) -> Any:
            return gpu_families(parse_spec({"service": "s", "models": [{"name": "m"}]}),
                                readings)

    reg.register(C())  # type: ignore[arg-type]
    text = generate_latest(reg).decode()
    assert 'slo_agent_gpu_temperature_celsius{gpu="1",model_name="NVIDIA H100 80GB HBM3",' \
           'service="s",uuid="GPU-0000-1"} 84.0' in text
    assert 'reason="sw_thermal_slowdown",service="s",uuid="GPU-0000-1"} 1.0' in text
    assert "slo_agent_gpu_process_memory_used_bytes" in text
    promtool = require_binary("promtool")
    res = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    dcgm = CollectorRegistry()

    class D:
        def collect(self) -> Any:
            return dcgm_families(readings, "host-a")

    dcgm.register(D())  # type: ignore[arg-type]
    dtext = generate_latest(dcgm).decode()
    assert 'DCGM_FI_DEV_GPU_UTIL{Hostname="host-a",UUID="GPU-0000-1",device="nvidia1",gpu="1",' \
           'modelName="NVIDIA H100 80GB HBM3"} 97.0' in dtext
    assert 'DCGM_FI_DEV_FB_USED{' in dtext and "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS" in dtext


def test_device_filter_and_no_gpu_states() -> None:
    only = GPUCollector("on", devices=["GPU-0000-1"], nvml=FakeNVML())
    only.start()
    assert [r.index for r in only.collect()] == [1]

    class NoLibrary(FakeNVML):
        def nvmlInit(self) -> None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    class NoDevice(FakeNVML):
        def nvmlDeviceGetCount(self) -> int:
            return 0

    for fake, state in ((NoLibrary(), "no_driver"), (NoDevice(), "no_gpu")):
        g = GPUCollector("auto", nvml=fake)
        g.start()
        assert g.status == state and g.collect() == []
    off = GPUCollector("off", nvml=FakeNVML())
    off.start()
    assert off.status == "off"


def _spec(**extra: Any) -> Any:
    data = {"service": "s", "models": [{"name": "m"}],
            "sidecar": {"interval": "1s"},
            "objectives": [{"name": "hot", "signal": "gpu_temperature", "warning": 80,
                            "critical": 90, "for": "2s", "hysteresis": "5%"}]}
    data.update(extra)
    return parse_spec(data)


def test_engine_evaluates_gpu_with_for_and_hysteresis(tmp_path: Path) -> None:
    nv = FakeNVML(temps=(60.0, 60.0))
    eng = Engine(_spec(), state_dir=tmp_path, nvml=nv)
    eng.gpu.start()
    t = 1000.0

    def step(temp: float) -> str:
        nonlocal t
        nv.temps = [60.0, temp]
        eng.gpu.collect()
        t += 1.0
        eng.tick(t)
        return eng.results[0].status.value

    assert step(60) == "ok"
    assert [step(85), step(85), step(85)] == ["ok", "ok", "warning"]    # for: 2s
    assert step(79) == "warning"          # within 5 % hysteresis of 80: no flap
    assert step(75) == "ok"
    assert [step(95), step(95), step(95)][-1] == "critical"
    assert step(60) == "ok"               # de-escalation is immediate
    assert eng.status_doc["sources"]["gpu"]["status"] == "ok"


def test_learned_baseline_freezes_during_incident(tmp_path: Path) -> None:
    spec = parse_spec({"service": "s", "models": [{"name": "m"}], "sidecar": {"interval": "1s"},
                       "alerting": {"rate_window": "5s"},
                       "objectives": [{"name": "q", "signal": "queue_depth",
                                       "warning": "2x baseline", "critical": "5x baseline",
                                       "for": "0s"}]})
    eng = Engine(spec, state_dir=tmp_path, baseline_warmup=5)
    t = 0.0
    for depth in [10] * 8 + [30] * 5 + [60] * 3 + [10] * 2:
        t += 1
        eng.state.queues["requests"] = (float(depth), t)
        eng.tick(t)
    trail = [s for s in eng.transitions]
    assert ("q", "warning") in trail and ("q", "critical") in trail
    assert eng.results[0].status is Status.OK
    assert eng.results[0].baseline == pytest.approx(10.0, rel=0.05)   # not dragged to 30/60


class Exposition(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def target() -> Iterator[tuple[str, type[Exposition]]]:
    handler = type("E", (Exposition,), {"body": b""})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics", handler
    server.shutdown()
    server.server_close()


def _triton(pending: int, requests: int, buckets: dict[str, int]) -> bytes:
    lines = ["# TYPE nv_inference_pending_request_count gauge",
             f'nv_inference_pending_request_count{{model="a"}} {pending}',
             f'nv_inference_pending_request_count{{model="b"}} {pending}',
             "# TYPE nv_inference_request_success counter",
             f"nv_inference_request_success_total {requests}",
             "# TYPE req_duration_seconds histogram"]
    lines += [f'req_duration_seconds_bucket{{le="{le}"}} {c}' for le, c in buckets.items()]
    lines += [f"req_duration_seconds_count {max(buckets.values())}",
              "req_duration_seconds_sum 1"]
    return ("\n".join(lines) + "\n").encode()


def test_scrape_maps_existing_metrics_onto_signals(target: tuple[str, Any]) -> None:
    url, handler = target
    st = ScrapeTarget(name="triton", url=url, interval=1, timeout=2, metrics={
        "queue_depth": "nv_inference_pending_request_count",
        "throughput": "nv_inference_request_success", "latency": "req_duration_seconds"})
    s = Scraper(st, quantile=0.5)
    young = Scraper(st, quantile=0.5, window=60.0)
    handler.body = _triton(3, 10_000, {"0.1": 0, "0.5": 0, "+Inf": 0})
    first = s.scrape(now=0.0)
    assert first.up and first.values["queue_depth"] == 6     # summed over series
    handler.body = _triton(4, 10_200, {"0.1": 50, "0.5": 100, "+Inf": 100})
    second = s.scrape(now=10.0)
    # a series older than the sidecar's first scrape: its rate over the scrapes seen
    assert second.values["throughput"] == pytest.approx(20.0)
    assert second.values["latency"] == pytest.approx(0.1)     # median at the 0.1 bound
    # a series whose counter started inside the window (a deploy): as the rules' rate(), the
    # time before it counts as no traffic (200 requests over a 60s window)
    handler.body = _triton(4, 0, {"+Inf": 0})
    young.scrape(now=0.0)
    handler.body = _triton(4, 200, {"+Inf": 0})
    assert young.scrape(now=10.0).values["throughput"] == pytest.approx(200 / 60)
    handler.body = b"\x00garbage{{{"
    assert s.scrape(now=20.0).up is False
    down = Scraper(ScrapeTarget(name="x", url=f"http://127.0.0.1:{free_port()}/", timeout=1))
    res = down.scrape()
    assert not res.up and res.error


def test_dataset_file_poll_with_contract(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "tx.csv"
    pd.DataFrame({"amount": [1.0, None, 3.0, 4.0], "age": [20, 30, 200, 40],
                  "event_time": ["2026-11-24T00:00:00Z"] * 4}).to_csv(path, index=False)
    ds = Dataset.model_validate({"name": "tx", "path": "tx.csv", "contract": {
        "columns": {"amount": "float", "age": "int", "event_time": "datetime"},
        "max_null_ratio": {"amount": "1%"}, "ranges": {"age": {"min": 18, "max": 120}},
        "freshness": {"column": "event_time", "max_lag": "1h"}}})
    poller = DatasetPoller(ds, tmp_path)
    r = poller.poll()
    assert r is not None and r.ok and r.rows == 4 and r.nulls == {"amount": 1, "age": 0,
                                                                   "event_time": 0}
    assert r.newest_event is not None
    failed = {(f["expectation"], f["column"]) for f in r.contract_failures or []}
    assert ("expect_column_values_to_not_be_null", "amount") in failed
    assert ("expect_column_values_to_be_between", "age") in failed
    assert poller.poll() is None                  # unchanged file: no work
    time.sleep(0.01)
    path.write_text("not,a\ncsv")
    import os

    os.utime(path, (time.time() + 5, time.time() + 5))
    changed = poller.poll()
    assert changed is not None and changed.columns == {"not": "string", "a": "float"}
    gone = DatasetPoller(Dataset(name="g", path="missing.parquet"), tmp_path).poll()
    assert gone is not None and not gone.ok and "is missing" in (gone.error or "")
    assert gone.file_state == "missing"


def test_dataset_drift_against_the_reference_file(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    from prometheus_client import generate_latest

    rng = np.random.default_rng(5)
    n = 2000
    pd.DataFrame({"amount": rng.normal(100, 10, n), "age": rng.normal(40, 5, n),
                  "country": rng.choice(["de", "fr"], n)}).to_parquet(tmp_path / "ref.parquet")
    pd.DataFrame({"amount": rng.normal(115, 10, n), "age": rng.normal(40, 5, n),
                  "country": rng.choice(["de", "fr", "xx"], n, p=[0.2, 0.2, 0.6])}
                 ).to_parquet(tmp_path / "cur.parquet")
    spec = parse_spec({"service": "s", "models": [{"name": "m"}],
                       "sources": {"gpu": {"mode": "off"}, "datasets": [
                           {"name": "tx", "path": "cur.parquet", "reference": "ref.parquet"}]},
                       "drift": {"min_samples": 100}})
    eng = Engine(spec, state_dir=tmp_path / "state", base_dir=tmp_path)
    reading = eng.pollers[0].poll()
    assert reading is not None and reading.drift is not None
    by = {r["column"]: r for r in reading.drift}
    assert by["amount"]["status"] == "critical" and by["amount"]["score"] > 0.5
    assert by["age"]["score"] == 0.0 and by["age"]["status"] == "ok"
    assert by["country"]["test"] == "chi2" and by["country"]["status"] == "critical"
    eng._apply_dataset(reading, 1000.0)
    eng.tick(1000.0)
    reg = CollectorRegistry(auto_describe=False)

    class P:
        def collect(self) -> Any:
            return eng.published

    reg.register(P())  # type: ignore[arg-type]
    text = generate_latest(reg).decode()
    assert 'slo_agent_dataset_drift_score{column="amount",dataset="tx",service="s",test="ks"}' \
        in text
    status = eng.status_doc["sources"]["datasets"][0]
    assert {r["column"] for r in status["drift"]} == {"amount", "age", "country"}
    assert "115" not in json.dumps(status["drift"])        # statistics, never raw values
