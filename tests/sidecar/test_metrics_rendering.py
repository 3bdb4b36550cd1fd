"""/metrics sends the text each tick rendered (agent/sidecar/_rendering.py), not a render per
scrape: byte for byte what prometheus_client's generate_latest writes for the same families
(random families and label values with everything that needs escaping; a real engine's
publication), served as the tick left it until the next tick."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    SummaryMetricFamily,
)

from agent.sidecar._rendering import Renderer
from agent.sidecar.engine import Engine
from agent.sidecar.ingest import payload as ingest
from agent.sidecar.served import Live, Published, scrape
from agent.spec import parse_spec
from tests.sidecar.conftest import make_spec

_TEXT = st.text(st.sampled_from(list('ab z"\\\n\t:{}=,é😀') + ["\x00"]), max_size=12)
_VALUE = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**18, 10**18)


@st.composite
def families(draw: st.DrawFn) -> list[Any]:
    out: list[Any] = []
    for i in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["gauge", "counter", "summary", "info"]))
        names = ["service", "objective"][: draw(st.integers(0, 2))]
        doc = draw(_TEXT)
        fam: Any = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily,
                    "summary": SummaryMetricFamily, "info": InfoMetricFamily}[kind](
            f"m{i}_x", doc, labels=names)
        for _ in range(draw(st.integers(0, 4))):
            labels = [draw(_TEXT) for _ in names]
            if kind == "summary":
                fam.add_metric(labels, count_value=draw(st.integers(0, 100)),
                               sum_value=draw(_VALUE))
            elif kind == "info":
                fam.add_metric(labels, {"version": draw(_TEXT)})
            elif kind == "counter":
                fam.add_metric(labels, draw(_VALUE), created=draw(st.none() | _VALUE))
            else:
                fam.add_metric(labels, draw(_VALUE), timestamp=draw(st.none() | st.floats(
                    0, 2e9)))
        out.append(fam)
    return out


class _Static:
    def __init__(self, fams: list[Any]) -> None:
        self.fams = fams

    def collect(self) -> Any:
        return iter(self.fams)


@settings(max_examples=300)
@given(families(), families())
def test_the_renderer_writes_what_generate_latest_writes(a: list[Any], b: list[Any]) -> None:
    r = Renderer()
    for fams in (a, b, a):            # label strings remembered from one render to the next
        assert r.render(fams) == generate_latest(_Static(fams))  # type: ignore[arg-type]


def test_a_tick_renders_once_and_a_scrape_sends_it(tmp_path: Path) -> None:
    spec = parse_spec(make_spec(tmp_path, 9))
    eng = Engine(spec, state_dir=tmp_path / "state")
    eng.ready.set()
    batch = ingest.parse(json.dumps({"service": "svc", "items": [
        {"type": "requests", "model": "clf", "version": "v1", "counts": {"ok": 90, "error": 3},
         "in_flight": 2}]}).encode())
    eng.admission.check(batch)
    assert eng.submit(batch)
    eng._drain()
    eng.tick(time.time())
    assert eng.published and eng.published_text
    live = CollectorRegistry(auto_describe=False)
    live.register(Live(eng))
    everything = CollectorRegistry(auto_describe=False)
    everything.register(Published(eng))
    body = scrape(eng, live)
    text = generate_latest(everything)
    # the live ages (publication, snapshot) move with the clock: compare the tick's part
    # whole, and the live part line by line but those
    assert body.startswith(eng.published_text) and text.startswith(eng.published_text)
    ages = ("slo_agent_publication_age_seconds{", "slo_agent_state_snapshot_age_seconds{")
    strip = [line for line in body.decode().splitlines() if not line.startswith(ages)]
    assert strip == [line for line in text.decode().splitlines() if not line.startswith(ages)]
    assert 'slo_agent_objective_state{objective="latency"' in body.decode()
    # a scrape renders nothing of the tick's: the same bytes object until the next tick
    before = eng.published_text
    scrape(eng, live)
    assert eng.published_text is before
