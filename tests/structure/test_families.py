"""One metric-family factory for SDK and sidecar: every catalogue metric comes out under its
catalogue name and type, and the factory is light enough for the base SDK install."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from agent import catalogue as cat
from agent.families import family
from agent.sdk import collector as sdk_collector
from agent.sidecar import exposition


class _One(Collector):
    def __init__(self, fam: object) -> None:
        self.fam = fam

    def collect(self):  # type: ignore[no-untyped-def]
        yield self.fam


@pytest.mark.parametrize("m", list(cat.ALL_METRICS.values()), ids=lambda m: m.name)
def test_every_catalogue_metric_is_exposed_under_its_name(m: cat.Metric) -> None:
    fam = family(m)
    labels = ["x"] * len(m.labels)
    if m.type == "histogram":
        fam.add_metric(labels, [("1.0", 1.0), ("+Inf", 2.0)], 3.0)
    elif m.type == "summary":
        fam.add_metric(labels, 2.0, 3.0)
    elif m.type == "info":
        fam.add_metric(labels, {"version": "1"})
    else:
        fam.add_metric(labels, 1.0)
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_One(fam))
    text = generate_latest(reg).decode()
    # the text format has no info type: an info family is a gauge named ..._info
    assert f"# TYPE {m.name} {'gauge' if m.type == 'info' else m.type}" in text, text
    assert m.name in text


def test_sdk_and_sidecar_share_the_factory() -> None:
    assert exposition._fam is family
    assert sdk_collector._family is family


def test_the_factory_needs_no_numpy() -> None:
    code = "import sys, agent.families; assert 'numpy' not in sys.modules, 'numpy loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)
