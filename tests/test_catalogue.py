"""The metric catalogue: conventions hold, promtool accepts the exposition and every PromQL."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
)
from prometheus_client.utils import floatToGoString

from agent import catalogue as cat
from agent import signals
from agent.signals import Query
from agent.sli import plans
from agent.spec import SignalKind, SLIType, load_spec, signal
from tests.helpers import EXAMPLE_SPEC, promtool_check_exprs, require_binary

UNIT_SUFFIX = {"seconds": "_seconds", "bytes": "_bytes", "celsius": "_celsius",
               "watts": "_watts", "hertz": "_hertz"}


def test_names_follow_prometheus_conventions() -> None:
    assert len(cat.ALL_METRICS) == len(cat.SDK_METRICS) + len(cat.SIDECAR_METRICS)
    for m in cat.ALL_METRICS.values():
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", m.name), m.name
        assert (m.type == "counter") == m.name.endswith("_total"), m.name
        if m.unit in UNIT_SUFFIX:
            assert UNIT_SUFFIX[m.unit] in m.name, m.name
        assert m.help.endswith("."), m.name
        assert cat.SERVICE_LABEL in m.labels, m.name


def _exposition() -> bytes:
    reg = CollectorRegistry()
    for m in cat.ALL_METRICS.values():
        labels = [label for label in m.labels if m.type != "info"]
        values = ["x"] * len(labels)
        if m.type == "counter":
            Counter(m.client_name, m.help, labels, registry=reg).labels(*values).inc()
        elif m.type == "gauge":
            Gauge(m.client_name, m.help, labels, registry=reg).labels(*values).set(1)
        elif m.type == "summary":
            Summary(m.client_name, m.help, labels, registry=reg).labels(*values).observe(0.1)
        elif m.type == "histogram":
            Histogram(m.client_name, m.help, labels, registry=reg).labels(*values).observe(0.1)
        else:
            Info(m.client_name, m.help, registry=reg).info(dict(zip(labels, values, strict=True)))
    return generate_latest(reg)


def test_dcgm_compatible_names_differ_only_by_dcgm_label_case() -> None:
    """DCGM's own label names are camelCase; that is the only lint finding, hence its own path."""
    promtool = require_binary("promtool")
    reg = CollectorRegistry()
    for name, (help_, _, _) in cat.DCGM.items():
        Gauge(name, help_, list(cat.DCGM_LABELS), registry=reg).labels(
            *["x"] * len(cat.DCGM_LABELS)).set(1)
    res = subprocess.run([promtool, "check", "metrics"], input=generate_latest(reg),
                         capture_output=True, timeout=60)
    findings = [line for line in res.stderr.decode().splitlines() if line.strip()]
    assert findings and all("label names should be written in 'snake_case'" in f
                            for f in findings), findings


def test_promtool_check_metrics_is_clean() -> None:
    promtool = require_binary("promtool")
    res = subprocess.run([promtool, "check", "metrics"], input=_exposition(),
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
    assert res.stdout.decode().strip() == "" and res.stderr.decode().strip() == ""


def test_every_signal_kind_has_promql_that_parses(tmp_path: Path) -> None:
    m = cat.label_matchers({"service": "svc", "model": 'we"ird'}, ['version=~"$version"'])
    exprs = []
    for kind in SignalKind:
        if kind is SignalKind.CUSTOM:
            continue
        exprs.append(signals.value_expr(kind, Query(m, "5m", 0.99)))
        if signal(kind).sli is SLIType.EVENTS:
            exprs.extend(signals.events_expr(kind, Query(m, "30m", threshold=0.25,
                                                         fn="increase")))
    # custom SLIs: the example's queries and SDK metrics, as the rules will use them
    customs = [p for p in plans(load_spec(EXAMPLE_SPEC)) if p.o.signal is SignalKind.CUSTOM]
    assert {p.o.custom.events for p in customs if p.o.custom} == {True, False}
    # and the objectives on a model server's own series (the vllm preset)
    scraped = [p for p in plans(load_spec(EXAMPLE_SPEC)) if p.o.selector.scrape]
    assert scraped and all("vllm:" in p.value_expr() for p in scraped)
    for p in customs + scraped:
        exprs.append(p.value_expr())
        if p.o.has_target:
            exprs.extend(p.sli_step_exprs())
    res = promtool_check_exprs(exprs, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True)
       | st.integers(min_value=-10**20, max_value=10**20).map(float))
def test_le_is_prometheus_clients_spelling_of_any_float(bound: float) -> None:
    """catalogue.le_value spells what prometheus_client's floatToGoString writes (it is not
    imported by the generators: its import alone was 60 ms of a generate)."""
    assert cat.le_value(bound) == floatToGoString(bound)


def test_le_matches_prometheus_client_formatting() -> None:
    reg = CollectorRegistry()
    Histogram("h", "h.", buckets=[0.25, 1, 2.5], registry=reg).observe(0.1)
    text = generate_latest(reg).decode()
    for bound in (0.25, 1, 2.5):
        assert f'le="{cat.le_value(bound)}"' in text


def test_events_need_a_threshold_for_latency() -> None:
    with pytest.raises(ValueError):
        signals.events_expr(SignalKind.LATENCY, Query())
    with pytest.raises(ValueError):
        signals.events_expr(SignalKind.QUEUE_DEPTH, Query())
