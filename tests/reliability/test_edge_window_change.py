"""Issue 31, point 6: a compliance window changed across a restart (1h -> 30d) is judged on the
events kept, never an empty budget beside a judgement of 1,000 events, and the budget's reason
says what it rests on."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import free_port, wait_until
from tests.sidecar.conftest import make_spec


def _errors(sc: Any) -> dict[str, Any]:
    return next(o for o in sc.status()["objectives"] if o["name"] == "errors")




def test_a_changed_window_keeps_the_events_and_says_so(tmp_path: Path,
                                                       sidecar_factory: Any) -> None:
    spec = make_spec(tmp_path, free_port())
    spec["alerting"]["rate_window"] = "5m"   # the judgement beside the budget sees the events
    sc = sidecar_factory(spec)
    for _ in range(10):                      # 1,000 events, 100 bad
        code, _ = sc.post({"schema": 1, "service": "svc", "items": [
            {"type": "requests", "model": "clf", "version": "v1",
             "counts": {"ok": 90, "error": 10}}]})
        assert code == 202
    wait_until(lambda: _errors(sc)["error_budget"].get("events") == 1000)
    before = _errors(sc)["error_budget"]
    assert "1,000 events (100 bad)" in before["basis"], before
    sc.stop(signal.SIGTERM)

    errors = next(o for o in spec["objectives"] if o["name"] == "errors")
    errors["window"] = "30d"
    sc.spec_path.write_text(yaml.safe_dump(spec))
    sc.start()
    entry = _errors(sc)
    budget = entry["error_budget"]
    assert budget["window"] == "30d", budget
    assert budget["events"] == 1000, budget                # judged on the events kept
    assert "no events" not in budget.get("reason", ""), budget
    assert "1,000 events (100 bad)" in budget["basis"], budget
    assert "1h window and kept" in budget["basis"], budget
    if entry["error_budget_remaining"] is None:            # 30d needs its first tier covered
        assert budget["reason"].startswith("not enough data yet: 1,000 events"), budget
    assert entry["value"] is not None and abs(entry["value"] - 0.1) < 1e-9, entry
    assert entry["judgement"], entry
