"""Who really produces what the rules and panels read: a sidecar engine fed one synthetic reading
per source (a GPU through NVML's module seam, a polled dataset file and its reference, a model
server's exposition built from the scrape target's own mappings) and a real SDK process making
calls through every handle; both /metrics scraped over HTTP. Every metric name a kind's rules
and panels query is then found on a scrape, recorded by the rules themselves, or a series the
team or a model server owns (named in the spec); anything else is a missing producer, named by
kind and metric. Generic over the records: a new kind needs nothing here."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import promql_parser as pp
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from prometheus_client.parser import text_string_to_metric_families

from agent import catalogue as cat
from agent.feeds import feeds
from agent.signals import ORDERED, SignalKind, record
from agent.signals.examples import every_kind_spec
from agent.sli import ObjectivePlan, custom_metric_series, plans
from agent.spec import parse_spec
from agent.spec.document import Spec
from agent.units import Unit
from alerts.rules import objective_group
from dashboards.detail import detail_dashboard
from dashboards.queries import panel_queries, substitute
from dashboards.service_dashboard import record_panel
from tests.helpers import ROOT, free_port

#: Prometheus's own series, which rules may read
PROMETHEUS = {"ALERTS", "ALERTS_FOR_STATE"}
Missing = dict[SignalKind, list[str]]


# --- the names a kind's rules and panels read --------------------------------------------------
def metric_names(expr: str) -> set[str]:
    """Every metric name a PromQL expression selects (``{__name__=~"a|b"}`` included)."""
    out: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, pp.VectorSelector):
            if node.name:
                out.add(node.name)
            out.update(v for m in node.matchers.matchers if m.name == "__name__"
                       for v in m.value.split("|"))
            return
        for attr in ("expr", "lhs", "rhs", "param", "vector_selector"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (str, int, float)):
                walk(child)
        for arg in getattr(node, "args", None) or []:
            walk(arg)

    walk(pp.parse(substitute(expr, "5m")))
    return out


def _dashboard_exprs(builder: Any) -> list[str]:
    doc = json.loads(JSONEncoder().encode(builder.build()))
    return [q.expr for q in panel_queries(doc if "panels" in doc else {"panels": [doc]})]


def reads(spec: Spec) -> dict[SignalKind, dict[str, str]]:
    """Per kind: metric name → where it is read (its objectives' rules and detail panels,
    the kind's service-dashboard panel)."""
    ps, fed = plans(spec), feeds(spec)
    out: dict[SignalKind, dict[str, str]] = {r.kind: {} for r in ORDERED}
    for p in ps:
        got = out[p.o.signal]
        for rule in objective_group(p)["rules"]:
            got.update(dict.fromkeys(metric_names(rule["expr"]) - got.keys(),
                                     f"rules of {p.o.name}"))
        for expr in _dashboard_exprs(detail_dashboard(p)):
            got.update(dict.fromkeys(metric_names(expr) - got.keys(), f"detail of {p.o.name}"))
    for r in ORDERED:
        if r.panel is None:
            continue
        where = f"panel {r.panel.title!r}"
        panel = record_panel(spec, ps, r, fed[r.kind])
        for expr in [] if panel is None else _dashboard_exprs(panel):
            out[r.kind].update(dict.fromkeys(metric_names(expr) - out[r.kind].keys(), where))
    return out


def owned_elsewhere(spec: Spec, ps: list[ObjectivePlan]) -> set[str]:
    """Series the project does not produce: a scrape target's own (its mappings) and the
    team's own queries of custom objectives."""
    out: set[str] = set(PROMETHEUS)
    for t in spec.sources.scrape:
        for m in t.mappings().values():
            for name in (m.metric, m.bad, m.good, m.total, m.sum, m.count):
                if name:
                    out.update({name, name + "_bucket", name + "_count", name + "_sum"})
    for p in ps:
        c = p.o.custom
        if c is not None:
            for q in (c.value, c.bad, c.good, c.total, c.error_ratio):
                if q:
                    out.update(metric_names(q.replace("{{.window}}", "5m")))
    return out


def ours(spec: Spec, ps: list[ObjectivePlan]) -> set[str]:
    """Sample names our catalogue (and the spec's custom SDK metrics) lets us produce."""
    out = set()
    for m in cat.ALL_METRICS.values():
        out.update({m.name, m.name + "_bucket", m.name + "_count", m.name + "_sum"})
    for p in ps:
        c = p.o.custom
        if c is not None and (c.counter or c.gauge):
            out.add(custom_metric_series(c))
    return out


def missing(spec: Spec, scraped: set[str]) -> Missing:
    """Per kind, what its rules and panels read that nothing produced (or that names no
    metric of ours), each as ``metric (where)``."""
    ps = plans(spec)
    elsewhere, catalogue = owned_elsewhere(spec, ps), ours(spec, ps)
    out: Missing = {}
    for kind, names in reads(spec).items():
        gaps = []
        for name, where in sorted(names.items()):
            if name.startswith(cat.RECORD_PREFIX + ":") or name in elsewhere:
                continue
            if name not in catalogue:
                gaps.append(f"{name} ({where}): not a metric of the catalogue")
            elif name not in scraped:
                gaps.append(f"{name} ({where})")
        if gaps:
            out[kind] = gaps
    return out


# --- the sources, fed -------------------------------------------------------------------------
class ModelServer:
    """A model server's /metrics for a scrape target, written from the target's own mappings
    (a preset's or explicit): gauges on two engines (0.3 and 0.4), counters and histograms
    advancing by ``step``. While ``broken``, new requests take 7 s and half of them fail."""

    BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf)

    def __init__(self, target: Any) -> None:
        self.mappings = target.mappings()
        self.lock = threading.Lock()
        self.n = self.slow = self.bad = 0.0
        self.broken = False

    def step(self, requests: float = 10.0) -> None:
        with self.lock:
            self.n += requests
            if self.broken:
                self.slow += requests
                self.bad += requests / 2

    def text(self) -> str:
        with self.lock:
            n, slow, bad = self.n, self.slow, self.bad
        families: dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]] = {}

        def add(name: str, kind: str, *samples: tuple[str, dict[str, str], float]) -> None:
            families.setdefault(name, (kind, []))[1].extend(samples)

        for kind, m in self.mappings.items():
            r = record(kind)
            if m.metric is not None and r.quantile:
                add(m.metric, "histogram", *[
                    (m.metric + "_bucket", {**m.labels, "le": "+Inf" if math.isinf(b) else str(b)},
                     (n - slow) * (b >= 0.08) + slow * (b >= 7.0)) for b in self.BOUNDS],
                    (m.metric + "_count", m.labels, n),
                    (m.metric + "_sum", m.labels, (n - slow) * 0.08 + slow * 7.0))
            elif m.metric is not None and r.unit is Unit.PER_SECOND:
                add(m.metric, "counter", (m.metric, m.labels, 5 * n))
            elif m.metric is not None:
                add(m.metric, "gauge", *[(m.metric, {**m.labels, "engine": str(i)}, 0.3 + i / 10)
                                         for i in range(2)])
            elif m.sum is not None and m.count is not None:
                add(m.sum, "counter", (m.sum, m.labels, n * 0.02 / m.scale))
                add(m.count, "counter", (m.count, m.labels, n))
            else:
                if m.bad is not None:
                    add(m.bad, "counter", (m.bad, {**m.labels, **m.bad_labels}, bad))
                if m.total is not None and m.total == m.bad:    # one counter by a label
                    others = {k: "ok" for k in m.bad_labels}
                    add(m.total, "counter", (m.total, {**m.labels, **others}, n - bad))
                elif m.total is not None:
                    add(m.total, "counter", (m.total, m.labels, n))
                if m.good is not None:
                    add(m.good, "counter", (m.good, m.labels, n - bad))
        lines = []
        for name, (kind, samples) in families.items():
            lines.append(f"# TYPE {name} {kind}")
            seen = set()
            for sample, labels, value in samples:
                key = (sample, tuple(sorted(labels.items())))
                if key not in seen:
                    seen.add(key)
                    lines.append(f"{sample}{cat.label_matchers(labels)} {value}")
        return "\n".join(lines) + "\n"


@contextmanager
def servers(targets: dict[str, ModelServer]) -> Iterator[str]:
    """One loopback server answering ``/<target>/metrics`` for each model server, which
    advance ten requests every 0.1 s."""
    stop = threading.Event()

    def advance() -> None:
        while not stop.wait(0.1):
            for s in list(targets.values()):
                s.step()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server = targets.get(self.path.strip("/").split("/")[0])
            if server is None:
                self.send_error(404)
                return
            body = server.text().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threads = [threading.Thread(target=httpd.serve_forever, daemon=True),
               threading.Thread(target=advance, daemon=True)]
    for t in threads:
        t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()


def datasets(tmp: Path) -> dict[str, str]:
    """A batch file and its reference: a contract with allowed values and an event time."""
    import pandas as pd

    now = pd.Timestamp.now(tz="UTC")
    ref = pd.DataFrame({"amount": [float(i) for i in range(200)],
                        "country": ["DE", "FR"] * 100, "event_time": [now] * 200})
    batch = ref.assign(amount=ref["amount"] * 3, country=["DE", "XX"] * 100)
    batch.loc[0, "amount"] = None
    paths = {"path": str(tmp / "tx.parquet"), "reference": str(tmp / "tx-ref.parquet")}
    batch.to_parquet(paths["path"])
    ref.to_parquet(paths["reference"])
    return paths


def production_spec(tmp: Path, port: int, scrape_url: str) -> dict[str, Any]:
    """The every-kind spec with every source real: this sidecar, a GPU, the dataset files,
    a vLLM-shaped target besides the examples' own targets, small drift windows."""
    data = every_kind_spec()
    data["sidecar"] = {"listen": f"127.0.0.1:{port}", "interval": "0.5s",
                       "state_dir": str(tmp / "state")}
    data["drift"] = {"reference_size": 200, "window_size": 200, "min_samples": 20}
    sources = data.setdefault("sources", {})
    sources["gpu"] = {"mode": "on", "interval": "0.5s"}
    sources["datasets"] = [{
        "name": d["name"], **datasets(tmp), "poll_interval": "1s", "contract": {
            "columns": {"amount": "float", "country": "string", "event_time": "datetime"},
            "allowed_values": {"country": ["DE", "FR"]},
            "freshness": {"column": "event_time"}}} for d in sources.get("datasets", [])]
    targets = {t["name"]: t for t in sources.get("scrape", [])}
    targets.setdefault("vllm", {"name": "vllm", "preset": "vllm"})
    sources["scrape"] = [{**t, "url": f"{scrape_url}/{name}/metrics", "interval": "0.5s"}
                         for name, t in sorted(targets.items())]
    return data


def sample_names(url: str) -> set[str]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def produce(tmp: Path, until: Callable[[Missing], bool], timeout: float = 90.0,
            nvml: Any = None) -> Missing:
    """Run the sources, the engine (its HTTP app on loopback) and the SDK process; scrape both
    until ``until(missing)`` holds or ``timeout`` passes; return what is still missing."""
    import uvicorn

    from agent.sidecar.engine import Engine
    from agent.sidecar.http.server import create_app
    from tests.sidecar.test_collectors import FakeNVML

    port, sdk_port = free_port(), free_port()
    targets: dict[str, ModelServer] = {}
    with servers(targets) as scrape_url:
        data = production_spec(tmp, port, scrape_url)
        spec = parse_spec(data)
        targets.update({t.name: ModelServer(t) for t in spec.sources.scrape})
        (tmp / "slo.yaml").write_text(yaml.safe_dump(data))
        engine = Engine(spec, state_dir=tmp / "state", nvml=nvml or FakeNVML(), base_dir=tmp)
        engine.start()
        server = uvicorn.Server(uvicorn.Config(create_app(engine, None), host="127.0.0.1",
                                               port=port, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        sdk = subprocess.Popen([sys.executable, "-m", "tests.sdk_workload", "--spec",
                                str(tmp / "slo.yaml"), "--port", str(sdk_port)], cwd=ROOT)
        try:
            deadline, gaps = time.time() + timeout, missing(spec, set())
            while time.time() < deadline:
                time.sleep(1.0)
                try:
                    names = sample_names(f"http://127.0.0.1:{port}/metrics") | \
                        sample_names(f"http://127.0.0.1:{sdk_port}/metrics")
                except OSError:
                    continue
                gaps = missing(spec, names)
                if until(gaps):
                    break
            return gaps
        finally:
            sdk.terminate()
            sdk.wait(15)
            server.should_exit = True
            thread.join(10)
            engine.stop()
