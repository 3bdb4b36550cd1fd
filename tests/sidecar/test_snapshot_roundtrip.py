"""Issue 20: any state reachable through the ingest API round-trips snapshot -> restore, with no
part dropped. Batches are drawn from the OpenAPI document /openapi.json serves."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.sidecar.engine import Engine
from agent.sidecar.ingest import payload as ingest
from agent.sidecar.state import persistence
from agent.spec import parse_spec
from tests.sidecar.conftest import make_spec
from tests.sidecar.test_ingest_door import BATCHES, NOW, SKETCH_BATCHES

SPEC = parse_spec(make_spec(Path("/tmp/slo-agent-roundtrip"), 9))


def _plain(state: dict[str, Any]) -> Any:
    return json.loads(json.dumps(state, allow_nan=False))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases=st.lists(st.one_of(BATCHES, SKETCH_BATCHES), min_size=1, max_size=4),
       step=st.floats(0.0, 120.0))
def test_reachable_state_round_trips(cases: list[Any], step: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = [NOW]
        eng = Engine(SPEC, state_dir=Path(tmp), clock=lambda: clock[0])
        for case in cases:
            doc = case.body
            if isinstance(doc, dict):
                doc["service"] = "svc"
            try:
                batch = ingest.parse(json.dumps(doc).encode())
            except ingest.IngestError:
                continue
            eng.admission.check(batch)
            if eng.submit(batch):
                eng._drain()
            clock[0] += step
            eng.tick(clock[0])
        assert eng.counters.dropped["apply_error"] == 0
        eng.snapshot()
        saved = persistence.load(Path(tmp), "svc")
        assert saved is not None
        again = Engine(SPEC, state_dir=Path(tmp), clock=lambda: clock[0])
        assert again.state.restore(saved) == []          # no part dropped
        assert _plain(again.state.state()) == _plain(eng.state.state())


# Issue 26: windows small enough that drawn batches reach a reference, so the fleet drift
# counts (numeric edges and bins, category ranks) are part of the reachable state
SMALL = parse_spec(make_spec(Path("/tmp/slo-agent-roundtrip"), 9,
                             drift={"window_size": 10, "reference_size": 10, "min_samples": 5,
                                    "fleet_bins": 4, "fleet_categories": 2}))
_ROW = st.fixed_dictionaries({}, optional={
    "amount": st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
    "country": st.sampled_from(["de", "fr", "it", "es", None]),
    "flag": st.booleans()})
SAMPLES = st.lists(st.fixed_dictionaries({
    "type": st.just("samples"), "model": st.sampled_from(["clf", "ranker"]),
    "version": st.just("v1"), "features": st.lists(_ROW, max_size=25),
    "predictions": st.lists(st.one_of(st.none(), st.floats(-1e3, 1e3)), max_size=25)}),
    min_size=1, max_size=3)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches=st.lists(SAMPLES, min_size=1, max_size=5))
def test_fleet_counts_round_trip(batches: list[list[dict[str, Any]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        eng = Engine(SMALL, state_dir=Path(tmp), clock=lambda: NOW)
        for items in batches:
            batch = ingest.parse(json.dumps({"schema": 1, "service": "svc",
                                             "items": items}).encode())
            eng.admission.check(batch)
            if eng.submit(batch):
                eng._drain()
        assert eng.counters.dropped["apply_error"] == 0
        eng.snapshot()
        saved = persistence.load(Path(tmp), "svc")
        assert saved is not None
        again = Engine(SMALL, state_dir=Path(tmp), clock=lambda: NOW)
        assert again.state.restore(saved) == []
        assert _plain(again.state.state()) == _plain(eng.state.state())
        fleet = [ms.fleet.state() for ms in again.state.models.values()]
        assert _plain(fleet) == _plain([ms.fleet.state() for ms in eng.state.models.values()])
