"""The sidecar as users run it: real uvicorn on a free loopback port, fed by the real SDK."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agent.sdk import Monitor
from tests.helpers import ROOT, free_port, require_binary
from tests.sidecar.conftest import make_spec


def _drive(sc: Any, phases: list[dict[str, float]], seconds: float) -> list[dict[str, str]]:
    """Run the SDK through phases (latency, fallback share, drift shift, null share) and record
    every /status seen meanwhile."""
    import pandas as pd

    mon = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url=sc.url,
                  sample_rate=1.0, flush_interval=0.2)
    phase: dict[str, float] = dict(phases[0])
    rng = random.Random(7)

    @mon.inference(model="clf", version="v1", prediction=lambda o: o)
    def predict(x: float) -> float:
        time.sleep(phase["latency"])
        return x

    # drift and fallbacks ride on a fast model: hundreds of calls per window, robust ratios
    @mon.inference(model="ranker", version="v1", features=lambda x: {"amount": x},
                   fallback=lambda o: o[1])
    def rank(x: float) -> tuple[float, bool]:
        return x, rng.random() < phase["fallback"]

    seen: list[dict[str, str]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                seen.append({o["name"]: o["status"] for o in sc.status()["objectives"]})
            except (OSError, AssertionError):
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    for p in phases:
        phase.update(p)
        end = time.time() + seconds
        while time.time() < end:
            for _ in range(10):
                predict(0.0)
            for _ in range(150):
                rank(rng.gauss(phase["shift"], 1.0))
            n = 200
            nulls = int(n * phase["nulls"])
            amounts = [None] * nulls + [1.0] * (n - nulls)
            mon.dataset("tx").observe(pd.DataFrame({"amount": amounts}))
    time.sleep(1.5)
    stop.set()
    watcher.join()
    mon.close()
    return seen


def _in_order(states: list[str], wanted: list[str]) -> bool:
    i = 0
    for s in states:
        if i < len(wanted) and s == wanted[i]:
            i += 1
    return i == len(wanted)


@pytest.mark.slow
def test_objectives_move_ok_warning_critical_ok(sidecar_factory: Any) -> None:
    sc = sidecar_factory()
    calm = {"latency": 0.002, "fallback": 0.0, "shift": 0.0, "nulls": 0.0}
    phases = [calm,
              {"latency": 0.035, "fallback": 0.2, "shift": 0.45, "nulls": 0.05},
              {"latency": 0.09, "fallback": 0.7, "shift": 2.0, "nulls": 0.3},
              calm]
    seen = _drive(sc, phases, seconds=5.0)
    for name in ("latency", "fallbacks", "drift", "nulls"):
        states = [s[name] for s in seen if name in s]
        assert _in_order(states, ["ok", "warning", "critical", "ok"]), (name, states, sc.log())
    status = sc.status()
    lat = next(o for o in status["objectives"] if o["name"] == "latency")
    assert lat["error_budget_remaining"] is not None and lat["burn_rates"]
    # the same tier table as the generated rules: 1h at a 1s rule interval -> 5s/3s page-fast
    assert [(t["name"], t["factor"]) for t in lat["tiers"]] == [
        ("page-fast", 14.4), ("page-slow", 6), ("ticket-fast", 3), ("ticket-slow", 1)]
    assert lat["tiers"][0]["long"]["window"] == "5s" and lat["tiers"][0]["short"]["window"] == "3s"
    assert lat["tiers"][0]["long"]["coverage"] == 1.0
    assert lat["error_budget"]["partial"] is True and 0 < lat["error_budget"]["coverage"] < 0.02
    drift = next(o for o in status["objectives"] if o["name"] == "drift")
    assert "amount" in drift["features"]


def test_metrics_pass_promtool_and_name_catalogue_series(sidecar_factory: Any) -> None:
    promtool = require_binary("promtool")
    sc = sidecar_factory()
    mon = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url=sc.url,
                  flush_interval=0.2)

    @mon.inference(model="clf", version="v1", features=lambda x: {"amount": x, "country": "de"})
    def f(x: float) -> float:
        return x

    for i in range(400):
        f(float(i % 7))
    mon.flush()
    time.sleep(1.5)
    mon.flush()
    time.sleep(1.0)
    code, body = sc.get("/metrics")
    assert code == 200
    res = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    text = body.decode()
    for name in ("slo_agent_objective_state", "slo_agent_objective_warning_threshold",
                 "slo_agent_error_budget_remaining_ratio", "slo_agent_burn_rate",
                 "slo_agent_latency_sketch_seconds", "slo_agent_drift_score",
                 "slo_agent_evaluation_duration_seconds", "slo_agent_ingest_batches_total",
                 "slo_agent_build_info"):
        assert name in text, name
    mon.close()


def test_openapi_health_and_ready(sidecar_factory: Any) -> None:
    sc = sidecar_factory()
    code, raw = sc.get("/openapi.json")
    doc = json.loads(raw)
    assert code == 200 and doc["openapi"].startswith("3.")
    assert "/v1/ingest" in doc["paths"] and "Batch" in doc["components"]["schemas"]
    assert sc.get("/healthz")[0] == 200
    ready = json.loads(sc.get("/readyz")[1])
    assert ready["ready"] and ready["collectors_started"]


def _batch(**item: Any) -> dict[str, Any]:
    return {"schema": 1, "service": "svc", "items": [item]}


def test_malformed_and_oversized_requests_get_4xx_naming_the_field(sidecar_factory: Any
                                                                   ) -> None:
    sc = sidecar_factory()
    cases = [
        (b"{not json", 400, "JSON"),
        (b"\xff\xfe\x00garbage", 400, "JSON"),
        (_batch(type="requests", model="clf", counts={"ok": "many"}), 422,
         "items[0].counts.ok"),
        (_batch(type="teleport", model="clf"), 422, "items[0]"),
        (_batch(type="queue", queue="q", depth=-1), 422, "items[0].depth"),
        (b'{"schema":1,"service":"svc","items":[{"type":"queue","queue":"q","depth":NaN}]}',
         422, "items[0]"),
        ({"schema": 1, "service": "other", "items": []}, 422, "service"),
        ({"service": "svc"}, 422, "items"),
        (b"x" * (4 * 1024 * 1024 + 10), 413, "body"),
    ]
    for body, want, field in cases:
        code, resp = sc.post(body)
        assert code == want, (body[:80] if isinstance(body, bytes) else body, code, resp)
        assert field in json.dumps(resp), (field, resp)
    code, resp = sc.post(b"{}", {"Content-Type": "text/plain"})
    assert code == 415
    status, _ = sc.post(_batch(type="queue", queue="requests", depth=3))
    assert status == 202


def test_caps_on_label_values_and_features(tmp_path: Path, sidecar_factory: Any) -> None:
    spec = make_spec(tmp_path, free_port())
    spec["sidecar"]["limits"] = {"max_label_values": 3, "max_features_per_model": 2,
                                 "max_batch": 5}
    sc = sidecar_factory(spec)
    # issue 20, 5: past a cap, new names fold into __overflow__ and the batch still applies
    code, resp = sc.post({"schema": 1, "service": "svc", "items": [
        {"type": "tokens", "model": f"m{i}", "token_type": "input", "count": 1}
        for i in range(4)] + [{"type": "requests", "model": "clf", "version": "v1",
                               "counts": {"ok": 5}}]})
    assert code == 202, resp                                     # clf, ranker, m0 admitted
    code, resp = sc.post(_batch(type="samples", model="clf", features=[{"a": 1, "b": 2, "c": 3}]))
    assert code == 202, resp
    gauges = {f"g{i}": float(i) for i in range(5)}
    code, resp = sc.post(_batch(type="state", gauges=gauges, counters={"c1": 1, "c2": 2,
                                                                      "c3": 3, "c4": 4}))
    assert code == 202, resp
    deadline = time.time() + 10
    while True:
        ingest = sc.status()["sources"]["ingest"]
        if "__overflow__" in ingest["models"] or time.time() > deadline:
            break
        time.sleep(0.2)
    # (model, version) pairs are capped too: clf with no version is the fourth pair
    assert ingest["overflow"] == {"model": 3, "version": 1, "feature": 1, "metric": 6}, ingest
    assert "clf:v1" in ingest["models"] and "__overflow__" in ingest["models"]
    assert ingest["unknown_models"] == {"m0": 1, "m1": 1, "m2": 1, "m3": 1}
    _, raw = sc.get("/metrics")
    assert b'slo_agent_cardinality_overflow_total{kind="metric",service="svc"} 6.0' in raw, raw
    code, resp = sc.post({"schema": 1, "service": "svc", "items": [
        {"type": "queue", "queue": "q", "depth": 1}] * 6})
    assert code == 413 and "max_batch" in resp["error"]


def test_kill_minus_nine_and_restart_keeps_state(sidecar_factory: Any) -> None:
    sc = sidecar_factory()
    for _ in range(5):
        code, _ = sc.post(_batch(type="requests", model="clf", version="v1",
                                 counts={"ok": 90, "error": 10}))
        assert code == 202
    deadline = time.time() + 15        # page-fast's 5s long window covered: a budget is known
    while True:
        time.sleep(0.5)
        before = sc.status()
        err_before = next(o for o in before["objectives"] if o["name"] == "errors")
        if err_before["error_budget_remaining"] is not None or time.time() > deadline:
            break
    assert err_before["error_budget_remaining"] is not None, err_before
    time.sleep(1.5)                                     # a few ticks: snapshots written
    before = sc.status()
    err_before = next(o for o in before["objectives"] if o["name"] == "errors")
    sc.stop(signal.SIGKILL)
    sc.start()
    after = sc.status()
    assert after["evaluation"]["restored"] is True
    err_after = next(o for o in after["objectives"] if o["name"] == "errors")
    assert err_after["error_budget_remaining"] == pytest.approx(
        err_before["error_budget_remaining"], abs=1e-9)
    assert after["sources"]["ingest"]["items"]["requests"] == 5


def test_corrupt_snapshot_is_moved_aside(sidecar_factory: Any) -> None:
    sc = sidecar_factory(start=False)
    sc.state_dir.mkdir(parents=True, exist_ok=True)
    (sc.state_dir / "state.json").write_text('{"service": "svc", "state": {"versio')
    sc.start()
    assert sc.status()["evaluation"]["restored"] is False
    assert list(sc.state_dir.glob("state.json.corrupt-*"))
    assert "moved aside" in sc.log()


def test_token_required_off_loopback(tmp_path: Path, sidecar_factory: Any) -> None:
    port = free_port()
    spec = make_spec(tmp_path, port)
    spec["sidecar"]["listen"] = f"0.0.0.0:{port}"
    spec["sidecar"]["token_env"] = "SLO_TEST_TOKEN"
    path = tmp_path / "insecure.yaml"
    import yaml

    path.write_text(yaml.safe_dump(spec))
    res = subprocess.run([sys.executable, "-m", "agent.cli", "run", "-c", str(path)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 2 and "bearer token" in res.stderr
    sc = sidecar_factory(spec, env={"SLO_TEST_TOKEN": "s3cret-token"})
    code, resp = sc.post(_batch(type="queue", queue="q", depth=1))
    assert code == 401 and "bearer" in resp["error"]
    assert sc.get("/status")[0] == 401
    code, _ = sc.post(_batch(type="queue", queue="q", depth=1),
                      {"Authorization": "Bearer s3cret-token"})
    assert code == 202
    code, raw = sc.get("/status", {"Authorization": "Bearer s3cret-token"})
    assert code == 200 and b"s3cret" not in raw
    assert b"s3cret" not in sc.get("/metrics")[1]
