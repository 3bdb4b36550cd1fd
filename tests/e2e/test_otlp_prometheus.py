"""OTLP-fed objectives through the generated rules on a real Prometheus: the sidecar re-exports
what the OpenTelemetry SDK sent under the SDK's series names, Prometheus scrapes it and the
generated recording rules compute the objective from it, agreeing with the truth (error ratio
exact over the increase Prometheus saw; p95 within the buckets) as /status does."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from agent.render.files import write
from agent.sidecar._otlp_series import bounds as export_bounds
from agent.spec import parse_spec
from tests.e2e.test_real_servers import _start, _wait
from tests.helpers import free_port, require_binary, stop_all
from tests.sidecar.otlp_harness import (
    SEMCONV_BOUNDS,
    SERVICE,
    Truth,
    provider,
    record_genai,
)

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def _spec(tmp: Path, port: int) -> dict[str, Any]:
    return {
        "service": SERVICE,
        "models": [{"name": "gpt-4o-mini", "otlp": True}],
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": str(tmp / "state"),
                    "interval": "0.5s"},
        "alerting": {"rate_window": "1m", "evaluation_interval": "1s"},
        "sources": {"gpu": {"mode": "off"}},
        "objectives": [
            {"name": "latency", "signal": "latency", "selector": {"model": "gpt-4o-mini"},
             "quantile": "p95", "warning": "2s", "critical": "5s", "for": "0s"},
            {"name": "errors", "signal": "error_rate", "selector": {"model": "gpt-4o-mini"},
             "warning": "1%", "critical": "5%", "for": "0s"}],
    }


def _query(prom: str, q: str) -> float | None:
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    doc = json.loads(urllib.request.urlopen(url, timeout=10).read())
    res = doc["data"]["result"]
    return float(res[0]["value"][1]) if res else None


def _status(url: str) -> dict[str, Any]:
    return dict(json.loads(urllib.request.urlopen(url + "/status", timeout=10).read()))


def test_generated_rules_read_the_re_exported_otlp_series(tmp_path: Path) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    prometheus = require_binary("prometheus")
    ports = {k: free_port() for k in ("sidecar", "prom")}
    data = _spec(tmp_path, ports["sidecar"])
    spec_path = tmp_path / "slo.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    spec = parse_spec(data)
    out = tmp_path / "out"
    write(spec, out)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(out / "prometheus" / "rules" / SERVICE / "*.rules.yml")],
        "scrape_configs": [{"job_name": "slo-agent", "static_configs": [
            {"targets": [f"127.0.0.1:{ports['sidecar']}"]}]}]}))
    sidecar, prom = f"http://127.0.0.1:{ports['sidecar']}", f"http://127.0.0.1:{ports['prom']}"
    import sys

    procs = [_start([sys.executable, "-m", "agent.cli", "run", "-c", str(spec_path)],
                    tmp_path / "sidecar.log"),
             _start([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                     f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{ports['prom']}"],
                    tmp_path / "prometheus.log")]
    mp = None
    try:
        for url in (f"{sidecar}/readyz", f"{prom}/-/ready"):
            _wait(lambda u=url: urllib.request.urlopen(u, timeout=2).status == 200, 60, url)
        mp = provider(OTLPMetricExporter(endpoint=f"{sidecar}/v1/metrics"))
        rng = np.random.default_rng(21)
        first, later = Truth(), Truth()
        record_genai(mp, first, rng, 100)
        assert mp.force_flush(20_000)
        # Prometheus sees the counters before the increase it will judge
        _wait(lambda: (_query(prom, 'count_over_time(inference_requests_total'
                                    '{outcome="ok"}[1m])') or 0) >= 3, 60, "the first scrapes")
        for _ in range(3):
            record_genai(mp, later, rng, 100)
            assert mp.force_flush(20_000)
        total = first.total["errors"] + later.total["errors"]
        _wait(lambda: next(o for o in _status(sidecar)["objectives"] if o["name"] == "errors")
              .get("judgement", {}).get("total") == total, 30, "the sidecar applied it all")
        time.sleep(4)                      # two more scrapes and rule evaluations
        prom_errors = _query(prom, 'slo:objective_value{objective="errors"}')
        prom_p95 = _query(prom, 'slo:objective_value{objective="latency"}')
    finally:
        if mp is not None:
            mp.shutdown()
        stop_all(procs)
    # the increase Prometheus saw is the later rounds': their ratio, to float precision
    assert prom_errors == pytest.approx(later.bad["errors"] / later.total["errors"], rel=1e-6)
    # histogram_quantile over the re-exported buckets: within the coarser of the OTLP bucket
    # and the export bucket around the true p95
    values = later.values["latency"]
    truth = float(np.quantile(values, 0.95, method="lower"))
    edges = sorted({*SEMCONV_BOUNDS, *export_bounds(spec)})
    lo = max([0.0, *(b for b in SEMCONV_BOUNDS if b < truth)])
    hi = min(b for b in SEMCONV_BOUNDS if b >= truth)
    lo = min(lo, max([0.0, *(b for b in export_bounds(spec) if b < truth)]))
    hi = max(hi, min(b for b in export_bounds(spec) if b >= truth))
    assert prom_p95 is not None and lo <= prom_p95 <= hi, (prom_p95, lo, hi, edges)
