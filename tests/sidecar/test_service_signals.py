"""The signals a team sets beyond requests, through the real SDK into a real sidecar: batch jobs,
caches, degradation, circuit breakers, custom gauges and counters, dataset volume, and how long
drift takes to be detected. Every signal moves ok → warning → critical → ok together, phase by
phase; recovery times and job series reach /metrics; `slo-agent job-event` reports runs."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from agent.sdk.monitor import Monitor
from detectors.detection import detection_time, ks_critical
from tests.helpers import ROOT, free_port
from tests.sidecar.conftest import make_spec

OBJECTIVES = [
    {"name": "retrain-ok", "signal": "job_success_ratio", "selector": {"job": "retrain"},
     "warning": "90%", "critical": "70%", "for": "0s"},
    {"name": "retrain-time", "signal": "job_duration", "selector": {"job": "retrain"},
     "warning": "200ms", "critical": "500ms", "for": "0s"},
    {"name": "export-recency", "signal": "time_since_success", "selector": {"job": "export"},
     "warning": "3s", "critical": "9s", "for": "0s"},
    {"name": "emb-cache", "signal": "cache_hit_rate", "selector": {"cache": "emb"},
     "warning": "90%", "critical": "60%", "for": "0s"},
    {"name": "degraded", "signal": "degradation_level", "for": "0s"},
    {"name": "ranker-breaker", "signal": "circuit_breaker_state",
     "selector": {"breaker": "ranker"}, "for": "0s"},
    {"name": "store-age", "signal": "custom", "custom": {"gauge": "store_age_seconds",
                                                         "unit": "seconds"},
     "warning": "10s", "critical": "30s", "for": "0s"},
    {"name": "orders", "signal": "custom", "custom": {"counter": "orders", "unit": "per_second",
                                                      "higher_is_worse": False},
     "warning": "20/s", "critical": "5/s", "for": "0s"},
    {"name": "tx-volume", "signal": "row_count", "selector": {"dataset": "tx"},
     "baseline": 1000, "warning": "50% baseline", "critical": "20% baseline", "for": "0s"},
    {"name": "drift-caught", "signal": "drift_detection_time", "selector": {"objective": "drift"},
     "warning": "30s", "critical": "60s", "for": "0s"},
]


def _status(sc: Any) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in sc.status()["objectives"]}


def _until(sc: Any, want: dict[str, str], drive: Any, timeout: float = 20.0
           ) -> dict[str, dict[str, Any]]:
    """Call ``drive`` until every named objective shows its wanted status."""
    deadline = time.time() + timeout
    seen: dict[str, dict[str, Any]] = {}
    while time.time() < deadline:
        drive()
        seen = _status(sc)
        if all(seen[n]["status"] == s for n, s in want.items()):
            return seen
        time.sleep(0.25)
    wrong = {n: (seen[n]["status"], seen[n].get("value"), seen[n].get("reason"))
             for n, s in want.items() if seen.get(n, {}).get("status") != s}
    raise AssertionError(f"not reached {want}: {wrong}\n{sc.log()}")


class Service:
    """The instrumented side: what a team's code calls, per phase level."""

    def __init__(self, url: str) -> None:
        self.m = Monitor(service="svc", sidecar_url=url, flush_interval=0.2, register=False)
        self.last = time.time()

    def job(self, name: str, seconds: float, fail: bool = False) -> None:
        try:
            with self.m.job(name):
                time.sleep(seconds)
                if fail:
                    raise RuntimeError("training diverged")
        except RuntimeError:
            pass

    def level(self, phase: str) -> None:
        m = self.m
        miss = {"ok": 0, "warning": 25, "critical": 70}[phase]
        m.cache("emb").hit(100 - miss)
        m.cache("emb").miss(miss)
        m.degradation({"ok": "full", "warning": "limited", "critical": "cached"}[phase])
        m.circuit_breaker("ranker").set({"ok": "closed", "warning": "half-open",
                                         "critical": "open"}[phase])
        m.gauge("store_age_seconds").set({"ok": 1, "warning": 15, "critical": 60}[phase])
        now = time.time()     # orders at a steady rate per second, whatever the call cadence
        m.counter("orders").inc({"ok": 40, "warning": 12, "critical": 1}[phase] * (now - self.last))
        self.last = now
        rows = {"ok": 1000, "warning": 400, "critical": 100}[phase]
        m.dataset("tx").observe(pd.DataFrame({"amount": range(rows)}))
        m.flush(2)


def test_service_signals_move_through_every_state(tmp_path: Path, sidecar_factory: Any) -> None:
    spec = make_spec(tmp_path, free_port())
    spec["objectives"] += OBJECTIVES
    sc = sidecar_factory(spec)
    svc = Service(sc.url)
    names = [o["name"] for o in OBJECTIVES if o["name"] not in ("drift-caught", "retrain-ok",
                                                                  "retrain-time",
                                                                  "export-recency")]
    # ok
    for _ in range(5):
        svc.job("retrain", 0.01)
    svc.job("export", 0.0)
    st = _until(sc, {**dict.fromkeys(names, "ok"), "retrain-ok": "ok", "retrain-time": "ok",
                     "export-recency": "ok"}, lambda: svc.level("ok"))
    assert st["retrain-ok"]["value"] == 1.0 and st["retrain-ok"]["detail"]["total"] == 5
    assert st["degraded"]["value"] == 0 and st["tx-volume"]["value"] == 1000
    # warning: one failed run in six, a slow run, an export 3s late
    svc.job("retrain", 0.3, fail=True)
    st = _until(sc, {**dict.fromkeys(names, "warning"), "retrain-ok": "warning",
                     "retrain-time": "warning", "export-recency": "warning"},
                lambda: svc.level("warning"))
    assert math.isclose(st["retrain-ok"]["value"], 5 / 6)
    assert st["retrain-ok"]["detail"]["last_error"] == "RuntimeError"
    assert st["ranker-breaker"]["value"] == 1 and st["degraded"]["value"] == 1
    # critical
    for _ in range(2):
        svc.job("retrain", 0.6, fail=True)
    st = _until(sc, {**dict.fromkeys(names, "critical"), "retrain-ok": "critical",
                     "retrain-time": "critical", "export-recency": "critical"},
                lambda: svc.level("critical"))
    assert math.isclose(st["retrain-ok"]["value"], 5 / 8)
    # ok again: healthy runs, an export, the service back to full
    for _ in range(60):                 # 65 of 68 = 95.6 %: past 90 % by the 5 % hysteresis
        svc.job("retrain", 0.0)
    svc.job("export", 0.0)
    _until(sc, {**dict.fromkeys(names, "ok"), "retrain-ok": "ok", "retrain-time": "ok",
                "export-recency": "ok"}, lambda: svc.level("ok"))

    _, raw = sc.get("/metrics")
    text = raw.decode()
    assert re.search(r'slo_agent_job_runs_total\{job_name="retrain",result="failure",'
                     r'service="svc"\} 3\.0', text)
    assert re.search(r'slo_agent_job_last_success_timestamp_seconds\{job_name="export"', text)
    recovered = re.search(r'slo_agent_objective_recovery_seconds_count\{objective="degraded",'
                          r'service="svc",signal="degradation_level"\} (\S+)', text)
    assert recovered and float(recovered.group(1)) == 1.0
    jobs = {j["name"]: j for j in sc.status()["sources"]["jobs"]}
    assert jobs["retrain"]["runs"] == {"success": 65.0, "failure": 3.0}
    svc.m.close()


@pytest.mark.slow
def test_drift_detection_time_follows_sampled_traffic(tmp_path: Path,
                                                      sidecar_factory: Any) -> None:
    """No samples: no estimate, and why. Then ok → warning → critical → ok as the sampled
    traffic falls and recovers; the value is the detector's formula on the sidecar's window
    sizes and the traffic it measured."""
    spec = make_spec(tmp_path, free_port())
    spec["objectives"] += [o for o in OBJECTIVES if o["name"] == "drift-caught"]
    sc = sidecar_factory(spec)
    m = Monitor(service="svc", sidecar_url=sc.url, flush_interval=0.2, register=False)

    @m.inference(model="ranker", version="v1", features=lambda x: {"score": x})
    def rank(x: float) -> float:
        return x

    st = _status(sc)["drift-caught"]
    assert st["status"] == "no_data" and "no sampled traffic" in st["reason"]
    clock = {"last": time.time(), "owed": 0.0, "n": 0}

    def traffic(per_second: float) -> Any:
        def drive() -> None:           # a steady rate, whatever the polling cadence
            now = time.time()
            clock["owed"] += per_second * (now - clock["last"])
            clock["last"] = now
            while clock["owed"] >= 1:
                rank(float(clock["n"] % 97))
                clock["n"] += 1
                clock["owed"] -= 1
        return drive

    # the floor (0.15) is above the KS critical distance at n = m = 300, so a 0.4 shift is seen
    # once 0.15 / 0.4 of the window is new: 113 of 300 samples
    assert ks_critical(0.05, 300, 300) < 0.15
    # 3s rate window: 40/s → ~3s (ok), 3/s → ~38s (warning), 1/s → ~113s (critical); every
    # window holds samples at these rates, so the estimate never drops to "no traffic"
    for per_second, status in ((40, "ok"), (3, "warning"), (1, "critical"), (40, "ok")):
        drive = traffic(per_second)
        _until(sc, {"drift-caught": status}, drive, timeout=30)
        steady = time.time() + 3.5          # one whole rate window at this rate
        while time.time() < steady:
            drive()
            time.sleep(0.1)
        m.flush(5)
        time.sleep(0.6)
        st = _status(sc)["drift-caught"]
        assert st["status"] == status
        assert st["detail"]["samples"] == 113
        expected = detection_time(0.4, 0.15, 0.05, 1, 300, 300, 100, per_second, 0.5, 0.0)
        assert expected.seconds is not None
        # the sidecar measures the rate over its 3s rate window: close to the driven rate
        assert st["value"] == pytest.approx(expected.seconds, rel=0.6), (per_second, st)
    drift = _status(sc)["drift"]
    assert drift["detection"]["samples"] == 113 and drift["detection"]["seconds"] > 0
    m.close()


def test_job_event_cli_reports_runs(tmp_path: Path, sidecar_factory: Any) -> None:
    spec = make_spec(tmp_path, free_port())
    spec["objectives"].append({"name": "nightly", "signal": "job_success_ratio",
                               "selector": {"job": "nightly"}, "for": "0s"})
    sc = sidecar_factory(spec)
    cli = [sys.executable, "-m", "agent.cli", "job-event", "nightly"]
    res = subprocess.run([*cli, "success", "--duration", "42m", "-c", str(sc.spec_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    res = subprocess.run([*cli, "-c", str(sc.spec_path), "--", sys.executable, "-c",
                          "raise SystemExit(3)"], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert res.returncode == 3, res.stderr       # the wrapped command's own exit status
    deadline = time.time() + 10
    while time.time() < deadline:
        jobs = {j["name"]: j for j in sc.status()["sources"]["jobs"]}
        if jobs.get("nightly", {}).get("runs") == {"success": 1.0, "failure": 1.0}:
            break
        time.sleep(0.2)
    assert jobs["nightly"]["last_error"] == "exit status 3"
    st = _status(sc)["nightly"]
    assert st["value"] == 0.5 and st["status"] == "critical"       # default 99% / 90%
    res = subprocess.run([*cli, "--spool", str(tmp_path / "spool"), "finished", "--url",
                          "http://127.0.0.1:1", "--service", "svc"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    # not an event, so a command: it is run (not found: 127) although the sidecar is down
    assert res.returncode == 127 and "could not reach the sidecar" in res.stderr
