"""Issue 20, the sidecar's state: publication that cannot freeze, restore part by part, every
cardinality bounded, no raw data values on /metrics, judgements that explain themselves."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from agent.sidecar.engine import SNAPSHOT_BYTES_PER_S, SNAPSHOT_FREE_BYTES, Engine
from agent.sidecar.exposition import OTHER_CATEGORY, Published
from agent.sidecar.http import _page as page
from agent.sidecar.ingest import payload as ingest
from agent.sidecar.ingest.apply import MAX_INSTANCES, OVERFLOW, apply
from agent.sidecar.state import persistence
from agent.sidecar.state.service_state import MAX_TOTAL_RUNS, ServiceSignals
from agent.spec import parse_spec
from detectors.sketch import QuantileSketch
from tests.sidecar.conftest import make_spec

NOW = time.time()


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _engine(tmp_path: Path, **overrides: Any) -> tuple[Engine, Clock]:
    clock = Clock()
    spec = parse_spec(make_spec(tmp_path, 9, **overrides))
    eng = Engine(spec, state_dir=tmp_path / "state", clock=clock)
    eng.ready.set()
    return eng, clock


def _send(eng: Engine, *items: dict[str, Any], instance: str = "") -> None:
    batch = ingest.parse(json.dumps({"service": "svc", "instance": instance,
                                     "items": list(items)}).encode())
    eng.admission.check(batch)
    assert eng.submit(batch)
    eng._drain()


def _metrics(eng: Engine) -> str:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(Published(eng))
    return generate_latest(reg).decode()


def _requests(ok: int, error: int = 0, **extra: Any) -> dict[str, Any]:
    return {"type": "requests", "model": "clf", "version": "v1",
            "counts": {"ok": ok, "error": error}, **extra}


def test_one_bad_series_never_freezes_publication(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """3: a sketch gamma cannot decode (as a pre-fix snapshot could hold) fails its own series;
    the objectives, /status and the publication age stay live."""
    eng, clock = _engine(tmp_path)
    _send(eng, _requests(100, 0))
    bad = QuantileSketch()
    bad.bins[100_000], bad.count, bad.min, bad.max = 1, 1, 1.0, 1.0
    eng.state.models[("clf", "v1")].latency.add_sketch(bad, clock.t)
    with caplog.at_level(logging.ERROR, "slo_agent.sidecar"):
        eng.tick(clock.t)
        _send(eng, _requests(0, 100))
        clock.t += 2
        eng.tick(clock.t)
    errors = next(o for o in eng.status_doc["objectives"] if o["name"] == "errors")
    assert errors["status"] == "critical", errors          # the later status is published
    assert eng.status_doc["time"] == clock.t
    text = _metrics(eng)
    assert 'slo_agent_objective_state{objective="errors",service="svc",signal="error_rate"} 2.0' \
        in text
    assert "slo_agent_publication_age_seconds" in text
    assert 'slo_agent_publication_errors_total{part="slo_agent_latency_sketch_seconds' in text
    assert eng.counters.publish_errors and sum(eng.counters.publish_errors.values()) == 2
    logged = [r for r in caplog.records if "could not publish" in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in logged]     # logged once, not per tick
    clock.t += 5
    assert 'slo_agent_publication_age_seconds{service="svc"} 5.0' in _metrics(eng)


def test_restore_drops_only_the_unreadable_part(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """2: a snapshot whose latency sum is null (what an overflowed sum was written as) keeps
    every budget, baseline and job; only that sketch is dropped, by name."""
    eng, clock = _engine(tmp_path)
    _send(eng, _requests(90, 10, latency=QuantileSketch().to_dict() | {
        "keys": [10], "counts": [100], "count": 100, "sum": 1.0, "min": 0.01, "max": 0.02}),
        {"type": "job", "job": "retrain", "event": "success", "at": clock.t - 10})
    for _ in range(3):
        clock.t += 1
        eng.tick(clock.t)
    eng.snapshot()
    path = tmp_path / "state" / persistence.SNAPSHOT
    doc = json.loads(path.read_text())
    doc.pop("sha256")          # as an older version wrote it: a checksum would (rightly) refuse it
    model = doc["state"]["models"][0]["state"]
    next(iter(model["latency"]["ring"].values()))["sum"] = None
    model["latency"]["ring"][next(iter(model["latency"]["ring"]))]["keys"] = [10**6]
    path.write_text(json.dumps(doc))
    again, _ = _engine(tmp_path)
    with caplog.at_level(logging.ERROR, "slo_agent.sidecar"):
        again.start()
    again.stop()
    assert again.restored and again.restore_dropped == ["models[clf:v1].latency"]
    assert any("models[clf:v1].latency" in r.getMessage() for r in caplog.records)
    assert again.state.service.jobs["retrain"].success == 1
    assert again.state.models[("clf", "v1")].cum["error"] == 10
    assert again.state.objectives["errors"].first_seen is not None    # the budget survived
    assert not list((tmp_path / "state").glob("*.corrupt-*"))         # nothing moved aside


def test_instances_expire_and_are_capped(tmp_path: Path) -> None:
    """6: per-instance in_flight and degradation expire when unseen and stop at a cap."""
    eng, clock = _engine(tmp_path)
    for i in range(MAX_INSTANCES + 200):
        _send(eng, _requests(1, in_flight=2), {"type": "state", "degradation": 1.0},
              instance=f"pod-{i}")
    ms = eng.state.models[("clf", "v1")]
    assert len(ms.in_flight) == MAX_INSTANCES + 1          # the cap plus __overflow__
    assert OVERFLOW in ms.in_flight and eng.admission.overflow["instance"] == 200
    clock.t += eng.admission.instance_ttl + 1
    _send(eng, _requests(1, in_flight=1), instance="fresh")
    eng.tick(clock.t)
    assert set(ms.in_flight) == {"fresh"} and not eng.state.service.degradation


def test_job_history_is_bounded_over_all_jobs() -> None:
    """6: 1,000 jobs with many runs each stay within MAX_TOTAL_RUNS, and the snapshot small."""
    sv = ServiceSignals(1.0)
    for run in range(120):
        for j in range(1000):
            sv.job_event(f"job-{j}", "success", NOW - 3600 + run, "", 1.0, None)
    total = sum(len(j.runs) for j in sv.jobs.values())
    assert total <= MAX_TOTAL_RUNS and sv.total_runs == total
    assert min(len(j.runs) for j in sv.jobs.values()) >= 40      # a fair share each
    size = len(json.dumps(sv.state()))
    assert size < 3_000_000, size
    assert sv.jobs["job-7"].success == 120                        # counters are not trimmed


def test_snapshot_cost_is_bounded_and_timed(tmp_path: Path) -> None:
    """6: a large state is written less often, and the write is inside the tick duration."""
    eng, clock = _engine(tmp_path)
    eng.state.service.gauges.update({f"g{i}": (1.0, clock.t) for i in range(20_000)})
    eng.tick(clock.t)
    written = eng.counters.snapshots["ok"]
    assert eng.snapshot_bytes > 500_000
    wait = (eng.snapshot_bytes - SNAPSHOT_FREE_BYTES) / SNAPSHOT_BYTES_PER_S
    start = clock.t
    while clock.t + eng.interval < start + wait:
        clock.t += eng.interval
        eng.tick(clock.t)
    assert clock.t > start                                    # at least one interval skipped
    assert eng.counters.snapshots["ok"] == written            # not rewritten every interval
    clock.t = start + wait + 0.01
    eng.tick(clock.t)
    assert eng.counters.snapshots["ok"] == written + 1
    eng.snapshot()                                            # stop(): always written
    assert eng.counters.snapshots["ok"] == written + 2
    assert next(iter(eng.tick_durations.families()))[2] > 0


def test_new_category_names_stay_off_open_metrics(tmp_path: Path) -> None:
    """7: raw category values are counted under one label; named only if the spec names them."""
    datasets = [{"name": "tx", "contract": {"allowed_values": {"country": ["DE", "FR"]}}}]
    eng, clock = _engine(tmp_path, sources={"gpu": {"mode": "off"}, "datasets": datasets})
    d = eng.state.dataset("tx")
    d.rows = 10
    d.drift = [{"column": "country", "test": "chi2", "status": "ok", "new_category_share": 0.3,
                "new_categories": ["FR", "alice@example.com", "4111-1111"],
                "new_categories_more": 2}]
    eng.tick(clock.t)
    text = _metrics(eng)
    assert "alice@example.com" not in text and "4111" not in text
    assert f'category="{OTHER_CATEGORY}",column="country",dataset="tx",service="svc"}} 4.0' \
        in text, text
    assert 'category="FR"' in text
    ds = next(x for x in eng.status_doc["sources"]["datasets"] if x["name"] == "tx")
    assert "alice@example.com" in ds["drift"][0]["new_categories"]     # /status may show it


def test_judgements_say_what_number_and_why(tmp_path: Path) -> None:
    """10: "6.25 %, warning 5 %, ok" explains itself with the Wilson bound it was judged on."""
    eng, clock = _engine(tmp_path, objectives=[
        {"name": "errors", "signal": "error_rate", "selector": {"model": "clf"},
         "warning": "5%", "critical": "20%", "for": "0s"},
        {"name": "latency", "signal": "latency", "selector": {"model": "clf"}, "quantile": "p95",
         "warning": "25ms", "critical": "60ms", "for": "0s"}])
    _send(eng, _requests(30, 2))
    eng.tick(clock.t)
    errors = next(o for o in eng.status_doc["objectives"] if o["name"] == "errors")
    assert errors["value"] == pytest.approx(0.0625) and errors["status"] == "ok"
    j = errors["judgement"]
    assert j["basis"] == "Wilson 99 % lower bound" and 0 < j["on"] < 0.05
    assert "Wilson" in j["reason"] and "warning 5%" in j["reason"] and j["reason"].endswith("ok")
    latency = next(o for o in eng.status_doc["objectives"] if o["name"] == "latency")
    assert latency["judgement"]["reason"] == "no value to judge"
    # the status page shows the same explanation, on the list and on the detail view
    assert j["reason"] in page.index(eng.spec, eng.status_doc, eng.interval)
    shown = page.detail(eng.spec, eng.status_doc, "errors", eng.history.doc("errors"),
                        eng.interval)
    assert shown is not None and "Judged on" in shown and j["reason"] in shown


def test_unknown_models_are_counted_and_logged_once(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """10: samples for a model the spec does not name are reported, not silently taken."""
    eng, clock = _engine(tmp_path)
    with caplog.at_level(logging.WARNING, "slo_agent.sidecar"):
        for _ in range(3):
            _send(eng, {"type": "samples", "model": "clff", "features": [{"x": 1.0}]})
    eng.tick(clock.t)
    assert eng.status_doc["sources"]["ingest"]["unknown_models"] == {"clff": 3}
    assert sum("'clff'" in r.getMessage() for r in caplog.records) == 1


def test_unjoined_feedback_is_counted_in_status(tmp_path: Path) -> None:
    """10: feedback the SDK could not join to a served request id is reported, not silent."""
    eng, clock = _engine(tmp_path)
    fb = {"type": "feedback", "model": "clf", "sentiment": "negative", "request_id": "nope"}
    _send(eng, {**fb, "joined": False})
    _send(eng, {**fb, "joined": True})
    _send(eng, fb)
    eng.tick(clock.t)
    assert eng.status_doc["sources"]["ingest"]["unjoined_feedback"] == 1


def test_apply_counts_no_bad_sketch_for_door_checked_input(tmp_path: Path) -> None:
    eng, clock = _engine(tmp_path)
    batch = ingest.parse(json.dumps({"service": "svc", "items": [
        _requests(1, latency={"keys": [5], "counts": [1]})]}).encode())
    apply(eng.state, eng.spec, batch, clock.t)
    assert eng.state.ingested["bad_sketch"] == 0


def test_transition_counters_start_at_zero(tmp_path: Path) -> None:
    """Each (objective, state) is exported at 0 before its first transition, so Prometheus's
    increase() sees that first transition (a series born at 1 shows no increase)."""
    eng, clock = _engine(tmp_path)
    eng.tick(clock.t)
    text = _metrics(eng)
    for o in eng.spec.objectives:
        for state in ("ok", "warning", "critical", "no_data"):
            line = next(ln for ln in text.splitlines()
                        if ln.startswith("slo_agent_objective_transitions_total{")
                        and f'objective="{o.name}"' in ln and f'to="{state}"' in ln)
            assert line.endswith((" 0.0", " 1.0")), line
