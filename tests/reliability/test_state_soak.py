"""Issue 20: a bounded soak of the sidecar's state through the HTTP API. 10,000 SDK instances,
1,000 job names and 2,000 custom metric names arrive; the snapshot and RSS stay within the caps
the README's table documents, nothing is refused, and the process's latency and error
objectives keep their data throughout."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from agent.sdk.monitor import Monitor
from detectors.sketch import QuantileSketch
from tests.helpers import free_port
from tests.reliability.test_fuzz_ingest import _rss_mb
from tests.sidecar.conftest import make_spec

INSTANCES, JOBS, METRICS = 10_000, 1_000, 2_000
SNAPSHOT_CAP = 4_000_000      # bytes: README "caps" table, all caps full at once
RSS_GROWTH_CAP = 150.0        # MB over the idle sidecar


def _sketch() -> dict[str, Any]:
    sk = QuantileSketch()
    sk.extend([0.005, 0.01, 0.012, 0.02])
    return sk.to_dict()


def _objectives(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in doc["objectives"]}


def test_state_stays_bounded_under_high_cardinality(sidecar_factory: Any, tmp_path: Path
                                                    ) -> None:
    # an instance outlives its last report by 3 rate windows: at 60 s no instance of the soak
    # expires while the rest arrive, however slow the machine (at the shared spec's 3 s window,
    # a loaded run took longer than that and early instances freed their slots)
    spec = make_spec(tmp_path, free_port())
    spec["alerting"]["rate_window"] = "60s"
    sc = sidecar_factory(spec)
    assert sc.proc is not None
    rss_start = _rss_mb(sc.proc.pid)
    host, port = sc.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Content-Type": "application/json"}
    sketch, statuses, blind = _sketch(), {}, 0
    t0 = time.monotonic()
    for i in range(INSTANCES):
        items: list[dict[str, Any]] = [
            {"type": "requests", "model": "clf", "version": "v1", "in_flight": 1,
             "counts": {"ok": 3, "error": 0}, "latency": sketch},
            {"type": "state", "degradation": 0.0,
             "gauges": {f"team_gauge_{i % METRICS}": float(i)},
             "counters": {f"team_counter_{(i + 7) % METRICS}": 1.0}},
            {"type": "job", "job": f"job-{i % JOBS}", "event": "success", "duration": 1.0}]
        conn.request("POST", "/v1/ingest", json.dumps({
            "service": "svc", "instance": f"pod-{i}", "items": items}), headers)
        resp = conn.getresponse()
        resp.read()
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
        if i % 2500 == 2499:        # the process's own objectives never go blind meanwhile
            obj = _objectives(sc.status())
            blind += sum(obj[n]["value"] is None for n in ("latency", "errors"))
    sent_s = time.monotonic() - t0
    conn.close()
    # the SDK too: one process with 2,000 gauge names of its own (re-sent every flush) keeps
    # its requests flowing; before, the sidecar refused its every batch with a 422
    sdk = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url=sc.url,
                  sample_rate=1.0, flush_interval=0.2)
    try:
        for i in range(METRICS):
            sdk.gauge(f"sdk_gauge_{i}").set(float(i))

        @sdk.inference(model="clf", version="v1")
        def predict(x: float) -> float:
            return x

        for i in range(200):
            predict(float(i))
        assert sdk.flush(10.0)
    finally:
        sdk.close()
    assert set(statuses) <= {202, 429} and statuses.get(202, 0) >= INSTANCES * 0.99, statuses
    time.sleep(2.0)                                      # a few ticks: applied and snapshotted
    status = sc.status()
    obj = _objectives(status)
    assert blind == 0
    assert obj["latency"]["value"] is not None and obj["errors"]["value"] is not None, obj
    assert obj["errors"]["error_budget"]["coverage"] > 0
    ingest = status["sources"]["ingest"]
    assert ingest["overflow"]["instance"] >= INSTANCES - 1000 - 1, ingest
    assert ingest["overflow"]["metric"] > 0
    _, raw = sc.get("/metrics")
    assert b'slo_agent_ingest_batches_total{result="rejected"' not in raw, sc.log()
    snapshot = Path(sc.state_dir / "state.json").stat().st_size
    rss_end = _rss_mb(sc.proc.pid)
    print(f"\nstate soak: {INSTANCES} instances, {JOBS} jobs, {METRICS} metric names in "
          f"{sent_s:.1f} s ({statuses}); snapshot {snapshot / 1e6:.2f} MB "
          f"(cap {SNAPSHOT_CAP / 1e6:.1f}); RSS {rss_start:.0f} -> {rss_end:.0f} MB; "
          f"overflow {ingest['overflow']}; eval {status['evaluation']}")
    assert snapshot < SNAPSHOT_CAP
    assert rss_end - rss_start < RSS_GROWTH_CAP
