"""Issue 20: any state reachable through the ingest API round-trips snapshot -> restore, with no
part dropped. Batches are drawn from the OpenAPI document /openapi.json serves."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.sidecar import ingest, persistence
from agent.sidecar.engine import Engine
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
