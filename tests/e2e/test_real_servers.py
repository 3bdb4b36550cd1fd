"""The whole product against real Debian Prometheus and Alertmanager on loopback.

Starts the sidecar, the instrumented demo service, Prometheus (1 s scrapes, the generated rules)
and Alertmanager (the generated config), drives traffic, then checks: both exporters are up and
promtool-clean; every PromQL query of every generated dashboard panel returns data (budget
history, tier factor lines, the objectives table included); an injected latency regression and an
injected drift each reach Alertmanager with the right labels and resolve when the incident stops,
after which the alert annotations of the dashboards show them; and the sidecar's /status agrees
with what Prometheus computes, the budget-history panel's last value included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.catalogue import RECOVERY
from agent.demo.runner import Traffic
from agent.demo.spec import demo_spec
from agent.render.files import write
from agent.spec import parse_spec
from agent.spec.fields import as_duration
from dashboards.queries import annotation_queries, panel_queries, substitute
from tests.helpers import ROOT, free_port, require_binary, stop_all

pytestmark = pytest.mark.slow

# Panels allowed to stay empty here, each with the reason a user would accept.
EXEMPT = {
    "GPU utilisation": "no GPU on the test machine",
    "GPU memory used": "no GPU on the test machine",
    "GPU temperature": "no GPU on the test machine",
    "GPU power": "no GPU on the test machine",
    "GPU memory per process": "no GPU on the test machine",
    "gpu-hot": "no GPU on the test machine",
    "GPU temperature: gpu-hot": "no GPU on the test machine",
}

# Annotations that may stay empty, with the reason.
EXEMPT_ANNOTATIONS = {
    "Pending to fire (sidecar)": "the demo's `for` is 1-2 s: a pending mark lives for one or "
                                 "two scrapes and may fall between them",
}
BUDGET_TOLERANCE = 0.05     # of the spent budget, plus an edge term (see the test)

# The SLI step (alerting.rate_window) of this stack, pinned here whatever the demo's spec says:
# the budget-history test needs 20 steps of data behind the sidecar's budget (see there): 80 s at
# 4 s, which the other tests of this file already take; at 10 s it waited about two minutes more.
# Rates over 4 s still hold four 1 s scrapes.
STEP = "4s"

ALERT_BOUND = 90.0      # seconds an injected incident may take to reach Alertmanager
RESOLVE_BOUND = 90.0


@dataclass
class Stack:
    prom: str
    am: str
    sidecar: str
    service: str
    out: Path
    traffic: Traffic
    procs: list[subprocess.Popen[bytes]]

    def query(self, q: str) -> list[dict[str, Any]]:
        url = f"{self.prom}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        doc = json.loads(urllib.request.urlopen(url, timeout=10).read())
        assert doc["status"] == "success", doc
        return list(doc["data"]["result"])

    def query_range(self, q: str, seconds: int = 60) -> list[dict[str, Any]]:
        now = time.time()
        url = f"{self.prom}/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": q, "start": now - seconds, "end": now, "step": 2})
        doc = json.loads(urllib.request.urlopen(url, timeout=10).read())
        assert doc["status"] == "success", (q, doc)
        return list(doc["data"]["result"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(json.loads(urllib.request.urlopen(f"{self.am}/api/v2/alerts",
                                                      timeout=10).read()))

    def status(self) -> dict[str, Any]:
        return dict(json.loads(urllib.request.urlopen(f"{self.sidecar}/status",
                                                      timeout=10).read()))

    def incident(self, name: str, on: bool) -> None:
        req = urllib.request.Request(f"{self.service}/admin/incident", method="POST",
                                     data=json.dumps({"name": name, "active": on}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()


def _wait(check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.time()
    while time.time() - start < timeout:
        try:
            if check():
                return time.time() - start
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _start(cmd: list[str], log: Path, env: dict[str, str] | None = None
           ) -> subprocess.Popen[bytes]:
    fh = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, stdout=fh, stderr=fh, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus = require_binary("prometheus")
    alertmanager = require_binary("prometheus-alertmanager")
    tmp = tmp_path_factory.mktemp("e2e")
    ports = {k: free_port() for k in ("sidecar", "service", "prom", "am")}
    data = demo_spec(ports["sidecar"], str(tmp / "state"))
    data["alerting"]["rate_window"] = STEP
    spec_path = tmp / "slo.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    spec = parse_spec(data)
    out = tmp / "out"
    write(spec, out)
    rules = out / "prometheus" / "rules" / spec.service
    (tmp / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules / "*.rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{ports['am']}"]}]}]},
        "scrape_configs": [
            {"job_name": "service", "static_configs": [
                {"targets": [f"127.0.0.1:{ports['service']}"]}]},
            {"job_name": "slo-agent", "static_configs": [
                {"targets": [f"127.0.0.1:{ports['sidecar']}"]}]},
        ]}))
    procs = [
        _start([sys.executable, "-m", "agent.cli", "run", "-c", str(spec_path),
                "--log-level", "warning"], tmp / "sidecar.log"),
        _start([sys.executable, "-m", "agent.demo.inference_service", "--spec", str(spec_path),
                "--port", str(ports["service"])], tmp / "service.log"),
        _start([alertmanager, f"--config.file={out / 'alertmanager' / 'alertmanager.yml'}",
                f"--storage.path={tmp / 'am'}",
                f"--web.listen-address=127.0.0.1:{ports['am']}",
                "--cluster.listen-address="], tmp / "alertmanager.log"),
        _start([prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{ports['prom']}"], tmp / "prometheus.log"),
    ]
    st = Stack(f"http://127.0.0.1:{ports['prom']}", f"http://127.0.0.1:{ports['am']}",
               f"http://127.0.0.1:{ports['sidecar']}", f"http://127.0.0.1:{ports['service']}",
               out, Traffic(ports["service"], seed=3), procs)
    try:
        for url in (f"{st.sidecar}/readyz", f"{st.service}/healthz", f"{st.prom}/-/ready",
                    f"{st.am}/-/ready"):
            _wait(lambda u=url: urllib.request.urlopen(u, timeout=2).status == 200, 60, url)
        st.traffic.start()
        # warm-up: baselines learned (20 ticks), drift references filled, rules evaluated
        _wait(lambda: all(o["status"] != "no_data" for o in st.status()["objectives"]
                          if not o["signal"].startswith("gpu")), 90, "every objective has data")
        _wait(lambda: all(o["baseline"] is not None for o in st.status()["objectives"]
                          if o["name"] == "fraud-latency-p95"), 90, "the learned baseline")
        time.sleep(5)
        yield st
    finally:
        st.traffic.stop()
        stop_all(procs)
        for log in sorted(tmp.glob("*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log.name}\n{text[-3000:]}")


def test_both_exporters_are_up_and_promtool_clean(stack: Stack) -> None:
    promtool = require_binary("promtool")
    # both targets up at one scrape; a 1 s scrape timeout on 2 shared cores may miss one, so
    # a few scrapes are allowed, and lastError says why when they all fail
    deadline, up, errors = time.monotonic() + 15, {}, {}
    while time.monotonic() < deadline:
        up = {r["metric"]["job"]: r["value"][1] for r in stack.query("up")}
        if up == {"service": "1", "slo-agent": "1"}:
            break
        targets = json.loads(urllib.request.urlopen(stack.prom + "/api/v1/targets",
                                                    timeout=10).read())["data"]["activeTargets"]
        errors = {t["labels"]["job"]: t.get("lastError") for t in targets}
        time.sleep(1)
    assert up == {"service": "1", "slo-agent": "1"}, errors
    for url in (stack.service, stack.sidecar):
        body = urllib.request.urlopen(url + "/metrics", timeout=10).read()
        res = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                             timeout=60)
        assert res.returncode == 0, (url, res.stderr.decode())


def _recover_from_a_failed_retraining(stack: Stack) -> None:
    """A retraining incident that goes critical and recovers: recovery-time panels need one."""
    def status(name: str) -> str:
        return str(next(o for o in stack.status()["objectives"] if o["name"] == name)["status"])

    stack.incident("retrain_failure", True)
    try:
        _wait(lambda: status("retrain-recency") == "critical", 30, "retrain-recency critical")
    finally:
        stack.incident("retrain_failure", False)
    _wait(lambda: status("retrain-recency") == "ok", 30, "retrain-recency ok again")
    _wait(lambda: bool(stack.query(f"{RECOVERY.name}_count")), 15, "recovery time scraped")


def test_every_dashboard_panel_returns_data(stack: Stack) -> None:
    _recover_from_a_failed_retraining(stack)
    empty, checked, exempted = [], 0, []
    for path in sorted((stack.out / "grafana" / "dashboards").glob("*.json")):
        dash = json.loads(path.read_text())
        for q in panel_queries(dash):
            if q.panel in EXEMPT:
                exempted.append(q.panel)
                continue
            checked += 1
            series = stack.query_range(substitute(q.expr, rate_interval="5s"))
            values = [v for s in series for _, v in s["values"] if v not in ("NaN", "+Inf",
                                                                            "-Inf")]
            if not values:
                empty.append(f"{path.name} · {q.panel} · {q.ref}: {q.expr}")
    print(f"\n{checked} panel queries returned data; {len(exempted)} exempt "
          f"({', '.join(sorted(set(exempted)))})")
    assert not empty, "panels with no data:\n" + "\n".join(empty)


def _has_data(stack: Stack, expr: str, seconds: int = 60) -> bool:
    series = stack.query_range(substitute(expr, rate_interval="5s"), seconds)
    return any(v not in ("NaN", "+Inf", "-Inf") for s in series for _, v in s["values"])


def _firing(stack: Stack, base: str) -> list[dict[str, Any]]:
    """The objective's threshold alerts in Alertmanager (burn-rate alerts keep their own, longer
    windows): active, or suppressed by the objective's burn page or critical alert, as the
    generated inhibition rules intend (one notification per incident)."""
    names = {f"{base}Warning", f"{base}Critical"}
    return [a for a in stack.alerts() if a["labels"]["alertname"] in names
            and a["status"]["state"] in ("active", "suppressed")]


@pytest.mark.parametrize("incident,alert,objective", [
    ("latency", "FraudLatencyP95", "fraud-latency-p95"),
    ("drift", "FraudInputDrift", "fraud-input-drift"),
])
def test_injected_incident_reaches_alertmanager_and_resolves(stack: Stack, incident: str,
                                                             alert: str, objective: str
                                                             ) -> None:
    assert not _firing(stack, alert), "alert already active before the incident"
    if incident == "drift":
        stack.traffic.shift = 1.0
    else:
        stack.incident(incident, True)
    try:
        fired = _wait(lambda: bool(_firing(stack, alert)), ALERT_BOUND,
                      f"{alert}* in Alertmanager")
        labels = _firing(stack, alert)[0]["labels"]
        assert labels["service"] == "fraud-demo" and labels["objective"] == objective
        assert labels["severity"] in ("warning", "critical")
        assert labels["signal"] in ("latency", "feature_drift")
    finally:
        if incident == "drift":
            stack.traffic.shift = 0.0
        else:
            stack.incident(incident, False)
    resolved = _wait(lambda: not _firing(stack, alert), RESOLVE_BOUND, f"{alert}* to resolve")
    print(f"\n{incident}: alert in Alertmanager after {fired:.1f}s (bound {ALERT_BOUND:.0f}s), "
          f"resolved {resolved:.1f}s after the incident stopped (bound {RESOLVE_BOUND:.0f}s)")


def test_sidecar_status_agrees_with_prometheus(stack: Stack) -> None:
    def prom_value(objective: str) -> float | None:
        # a scrape missed on a loaded machine leaves the series out for a moment (seen once:
        # None for amount-nulls); wait for it a few seconds, then compare
        q = f'slo:objective_value{{objective="{objective}"}}'
        _wait(lambda: bool(stack.query(q)), 10, f"{q} in Prometheus")
        res = stack.query(q)
        return float(res[0]["value"][1]) if res else None

    def sidecar_value(objective: str) -> Any:
        return next(o for o in stack.status()["objectives"] if o["name"] == objective)

    nulls_prom, nulls_side = prom_value("amount-nulls"), sidecar_value("amount-nulls")
    assert nulls_prom == pytest.approx(nulls_side["value"], abs=0.005)
    err_prom, err_side = prom_value("fraud-errors"), sidecar_value("fraud-errors")
    assert err_prom is not None and err_side["value"] is not None
    assert err_prom == pytest.approx(err_side["value"], abs=0.01)
    states = {r["metric"]["objective"]: int(float(r["value"][1]))
              for r in stack.query("slo_agent_objective_state")}
    ranks = {"no_data": -1, "ok": 0, "warning": 1, "critical": 2}
    side = {o["name"]: ranks[o["status"]] for o in stack.status()["objectives"]}
    agree = sum(states.get(k) == v for k, v in side.items())
    assert agree >= len(side) - 1, (states, side)    # one may change between the two reads
    print(f"\nnull ratio: prometheus {nulls_prom:.4f} / sidecar {nulls_side['value']:.4f}; "
          f"error rate: prometheus {err_prom:.4f} / sidecar {err_side['value']:.4f}")


def test_alert_annotations_show_the_incidents(stack: Stack) -> None:
    """After the incidents above: the firing-alert and transition annotations of the service
    dashboard and of each incident's detail dashboard return events from Prometheus."""
    dashboards = stack.out / "grafana" / "dashboards"
    empty, checked = [], 0
    for name in ("fraud-demo", "fraud-demo--fraud-latency-p95", "fraud-demo--fraud-input-drift"):
        dash = json.loads((dashboards / f"{name}.json").read_text())
        for q in annotation_queries(dash):
            if q.ref in EXEMPT_ANNOTATIONS:
                continue
            checked += 1
            if not _has_data(stack, q.expr, seconds=900):
                empty.append(f"{name} · {q.ref}: {q.expr}")
    print(f"\n{checked} annotation queries returned events")
    assert checked >= 6 and not empty, "annotations with no events:\n" + "\n".join(empty)


def test_budget_history_panel_ends_at_the_sidecars_budget(stack: Stack) -> None:
    """The detail dashboard's budget-history panel, queried as Grafana would, ends at the error
    budget remaining that the sidecar's /status reports.

    Tolerance, as a share of the budget already spent (at least 1): BUDGET_TOLERANCE, plus twice
    the SLI step over the seconds of data so far. The recorded ratio sums overlapping step
    increases, so events within a step of either end of the data weigh less than the rest: an
    edge effect of step / span, large a minute after start, nil over a real 30-day window.
    fraud-errors only: after the latency incident the latency objective's budget differs by about
    0.6 of the budget (the sidecar counts latency events from sketch bins per tick, Prometheus
    from the exact bucket at the threshold), a sidecar matter rather than a panel's.
    """
    objective = "fraud-errors"
    dash = json.loads((stack.out / "grafana" / "dashboards" /
                       f"fraud-demo--{objective}.json").read_text())
    panel = next(p for p in dash["panels"] if p["title"].startswith("Error budget remaining over"))
    expr = substitute(panel["targets"][0]["expr"])
    step = as_duration(STEP)                                  # the stack's SLI step

    def sidecar() -> dict[str, Any]:
        return next(o for o in stack.status()["objectives"] if o["name"] == objective)

    def span() -> float:
        side = sidecar()
        return float(side["error_budget"]["coverage"] * as_duration(side["window"]))

    # enough data that the edge term stays under 10 % (20 steps)
    _wait(lambda: sidecar()["error_budget_remaining"] is not None and span() >= 20 * step, 300,
          f"20 SLI steps of data behind the sidecar's budget of {objective}")

    def reading() -> tuple[float, float, float]:
        last = float(stack.query_range(expr, 10)[0]["values"][-1][1])
        side = sidecar()
        spent = max(1.0, abs(1.0 - side["error_budget_remaining"]))
        return last, float(side["error_budget_remaining"]), \
            (BUDGET_TOLERANCE + 2 * step / span()) * spent

    prom, side, tol = reading()
    for _ in range(5):              # both move with traffic: compare readings taken together
        if abs(prom - side) <= tol:
            break
        time.sleep(1)
        prom, side, tol = reading()
    print(f"\nbudget remaining of {objective}: panel {prom:.4f} / sidecar {side:.4f} "
          f"(tolerance {tol:.3f})")
    assert prom == pytest.approx(side, abs=tol)
