"""Exactly-once ingest: a batch the SDK sends again because its POST timed out after the sidecar
took it (a slow or CPU-starved sidecar) is answered 2xx and not applied twice.

The symptom is reproduced with a real ``slo-agent run``, the real SDK shipper, and a proxy
between them that forwards each request and holds the sidecar's answer past the shipper's
timeout; the door's guards (the id's schema, the cap, the snapshot, copies that arrive while the
first is still in the inbox) are tested on the engine itself.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from agent.batch_id import BATCH_ID_PATTERN, new_batch_id
from agent.sdk import columnar_format
from agent.sdk.transport import Shipper, encode
from agent.sidecar.engine import Engine
from agent.sidecar.http.server import create_app
from agent.sidecar.state import persistence
from agent.sidecar.state.agent_state import AgentState
from agent.sidecar.state.batch_ids import BatchIds
from agent.spec import parse_spec
from tests.sidecar.conftest import make_spec

SPEC = parse_spec(make_spec(Path("/tmp/slo-agent-batch-ids"), 9))


class HoldingProxy:
    """Forwards each request to ``port`` on its own connection and holds the first ``held``
    answers ``hold`` seconds before passing them on: the sidecar has applied the batch, the
    client (whose timeout is shorter) sees a timeout and sends the batch again."""

    def __init__(self, port: int, hold: float, held: int) -> None:
        self.port, self.hold, self.held = port, hold, held
        self.answers: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            raw = b""
            while b"\r\n\r\n" not in raw:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                raw += chunk
            head, _, body = raw.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:])
            length = int(headers.get("Content-Length", "0"))
            while len(body) < length:
                body += conn.recv(65536)
            up = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            up.request(method, path, body, {k: v for k, v in headers.items()
                                            if k.lower() in ("content-type", "authorization")})
            resp = up.getresponse()
            answer = resp.read()
            up.close()
            with self._lock:
                self.answers.append((resp.status, answer))
                hold = len(self.answers) <= self.held
            if hold:
                time.sleep(self.hold)
            try:
                conn.sendall(f"HTTP/1.1 {resp.status} {resp.reason}\r\nContent-Type: "
                             f"application/json\r\nContent-Length: {len(answer)}\r\n"
                             "Connection: close\r\n\r\n".encode() + answer)
            except OSError:
                pass                     # the client gave up waiting: the point of the proxy

    def close(self) -> None:
        self.sock.close()


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _items() -> list[dict[str, Any]]:
    now = time.time()
    return [{"type": "requests", "model": "clf", "version": "v1", "at": now,
             "counts": {"ok": 7, "error": 2}},
            {"type": "tokens", "model": "clf", "version": "v1", "token_type": "input",
             "count": 100, "at": now},
            {"type": "samples", "model": "ranker", "version": "v1", "at": now, "rows": 3,
             "columns": {"x": [1.0, 2.0, 3.0]}, "predictions": [0.1, 0.2, 0.3]},
            {"type": "job", "job": "nightly", "event": "success", "run_id": "r1", "at": now,
             "duration": 3.0}]


@pytest.mark.parametrize("columnar", [True, False])
def test_a_batch_resent_after_a_timeout_is_applied_once(sidecar_factory: Any,
                                                        columnar: bool) -> None:
    sc = sidecar_factory()
    proxy = HoldingProxy(int(sc.url.rpartition(":")[2]), hold=2.5, held=2)
    batches = [_items()]
    shipper = Shipper(proxy.url, lambda: batches.pop() if batches else [],
                      lambda items: {"schema": 1, "service": "svc", "instance": "test:1",
                                     "sdk": {"name": "test"}, "sent_at": time.time(),
                                     "items": items},
                      on_drop=lambda reason, n: None, on_shipped=lambda n: None,
                      interval=0.2, timeout=1.0, columnar=columnar)
    try:
        deadline = time.time() + 60
        while (batches or shipper.pending_items()) and time.time() < deadline:
            time.sleep(0.1)
        assert not shipper.pending_items(), shipper.last_error
        time.sleep(2.0)                  # the held answers are passed on; the worker applies
        answers = [status for status, _ in proxy.answers]
        # two timed out, the third got through (a later one too, on a machine slow enough)
        assert len(answers) >= 3, proxy.answers
        text = urllib.request.urlopen(sc.url + "/metrics", timeout=10).read().decode()
        status = sc.status()
        ingest_doc = status["sources"]["ingest"]
        # each item once, though the sidecar answered three POSTs of the batch
        assert ingest_doc["items"] == {"requests": 1, "tokens": 1, "samples": 1, "job": 1}, \
            (ingest_doc, proxy.answers)
        assert _metric(text, "slo_agent_ingest_samples_total", kind="feature_rows") == 3
        assert _metric(text, "slo_agent_ingest_batches_total", result="accepted") == 1
        dups = len(answers) - 1
        assert _metric(text, "slo_agent_ingest_batches_total", result="duplicate") == dups
        # one copy accepted, every other a duplicate: in any order, since copies may reach the
        # sidecar together when the client times out before the proxy forwards the first
        assert sorted(answers) == [200] * dups + [202], proxy.answers
        assert all(json.loads(body)["duplicate"] for status, body in proxy.answers
                   if status == 200)
        assert ingest_doc["batch_ids"]["duplicates"] == dups
        jobs = {j["name"]: j for j in status["sources"]["jobs"]}
        assert jobs["nightly"]["runs"] == {"success": 1, "failure": 0}
    finally:
        shipper.close()
        proxy.close()


# -- the door, in process (the engine's worker not started: a batch waits in the inbox) --------
def _engine(tmp_path: Path, clock: list[float] | None = None) -> tuple[Engine, TestClient]:
    eng = Engine(SPEC, state_dir=tmp_path / "state",
                 clock=(lambda: clock[0]) if clock else time.time)
    eng.ready.set()
    return eng, TestClient(create_app(eng, token=None))


def _batch(batch_id: Any = None, n: int = 1) -> dict[str, Any]:
    doc: dict[str, Any] = {"service": "svc", "items": [
        {"type": "requests", "model": "clf", "version": "v1", "counts": {"ok": 1}}] * n}
    if batch_id is not None:
        doc["batch_id"] = batch_id
    return doc


def _post(client: TestClient, doc: dict[str, Any], columnar: bool = False
          ) -> tuple[int, dict[str, Any]]:
    if columnar:
        body, ctype = columnar_format.encode(doc, dumps=encode), columnar_format.CONTENT_TYPE
    else:
        body, ctype = json.dumps(doc).encode(), "application/json"
    r = client.post("/v1/ingest", content=body, headers={"Content-Type": ctype})
    return r.status_code, r.json()


def _oks(eng: Engine) -> float:
    eng._drain()
    ms = eng.state.models.get(("clf", "v1"))
    return ms.cum["ok"] if ms else 0.0


_BAD_IDS = st.one_of(
    st.text(max_size=80).filter(lambda s: re.fullmatch(BATCH_ID_PATTERN, s) is None),
    st.integers(), st.floats(allow_nan=False), st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2), st.booleans())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.filter_too_much])
@given(good=st.from_regex(BATCH_ID_PATTERN, fullmatch=True), bad=_BAD_IDS,
       columnar=st.booleans())
def test_the_door_takes_ids_its_schema_allows_and_names_batch_id_for_others(
        good: str, bad: Any, columnar: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        eng, client = _engine(Path(tmp))
        status, body = _post(client, _batch(bad), columnar)
        assert status == 422 and body["fields"][0]["path"] == "batch_id", (bad, body)
        assert _post(client, _batch(good), columnar) == (202, {"accepted": 1})
        assert _post(client, _batch(good), not columnar) == (200, {"accepted": 0,
                                                                   "duplicate": True})
        assert _oks(eng) == 1
        # a refused id is not remembered, an accepted one is; a batch without one is new
        assert eng.state.batch_ids.report()["remembered"] == 1
        assert _post(client, _batch())[0] == _post(client, _batch())[0] == 202
        assert _oks(eng) == 3


def test_a_copy_arriving_while_the_first_waits_in_the_inbox_is_a_duplicate(
        tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    bid = new_batch_id()
    assert _post(client, _batch(bid))[0] == 202
    assert len(eng.inbox) == 1                        # not applied yet
    assert _post(client, _batch(bid), columnar=True) == (200, {"accepted": 0,
                                                               "duplicate": True})
    assert len(eng.inbox) == 1 and _oks(eng) == 1
    assert _post(client, _batch(bid))[0] == 200 and _oks(eng) == 1      # and once applied
    assert eng.counters.batches["duplicate"] == 2
    assert eng.state.batch_ids.report()["duplicates"] == 2


def test_a_batch_refused_after_its_id_was_claimed_can_be_sent_again(tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    bid = new_batch_id()
    eng.max_inbox = 0                                 # the worker is behind: 429
    assert _post(client, _batch(bid))[0] == 429
    eng.max_inbox = 10_000
    eng.admission.max_batch = 1                       # over max_batch: 413
    assert _post(client, _batch(bid, n=2))[0] == 413
    eng.admission.max_batch = 20_000
    assert _post(client, _batch(bid, n=2))[0] == 202  # neither was accepted: this one is new
    assert _oks(eng) == 2


def test_the_oldest_ids_are_forgotten_past_the_cap_and_the_ttl() -> None:
    ids = BatchIds(cap=3, ttl=100.0)
    names = [new_batch_id() for _ in range(6)]
    for i, name in enumerate(names[:5]):
        assert ids.claim(name, float(i))
        ids.applied(name, float(i))
    assert len(ids) == 3
    assert [ids.claim(n, 5.0) for n in names[:5]] == [True, True, False, False, False]
    # a resend refreshes its id: the TTL counts from the last copy seen
    ids = BatchIds(cap=10, ttl=100.0)
    for t, name in ((0.0, names[0]), (10.0, names[1])):
        ids.claim(name, t)
        ids.applied(name, t)
    assert not ids.claim(names[0], 90.0)
    ids.claim(names[2], 150.0)
    ids.applied(names[2], 150.0)                      # names[1] last seen at 10: forgotten
    assert ids.claim(names[1], 151.0)
    assert not ids.claim(names[0], 151.0)
    assert len(ids) == 2


def test_ids_round_trip_the_snapshot_and_a_bad_part_drops_alone(tmp_path: Path) -> None:
    eng, client = _engine(tmp_path)
    bid, waiting = new_batch_id(), new_batch_id()
    assert _post(client, _batch(bid))[0] == 202
    eng._drain()
    assert eng.state.batch_ids.claim(waiting, time.time())   # claimed, its batch not applied
    saved = json.loads(json.dumps(eng.state.state()))
    assert saved["batch_ids"]["ids"] == [bid]                 # the state holds only applied ones
    eng.snapshot()
    again, client = _engine(tmp_path)
    loaded = persistence.load(tmp_path / "state", "svc")
    assert loaded is not None and again.state.restore(loaded) == []
    assert _oks(again) == 1                                  # restored, with its id
    assert _post(client, _batch(bid))[0] == 200 and _oks(again) == 1
    assert _post(client, _batch(waiting))[0] == 202 and _oks(again) == 2
    broken = AgentState(slot=0.5, window_size=300, reference_size=300)
    saved["batch_ids"] = {"ids": [bid, 7], "at": [1]}
    assert broken.restore(saved) == ["batch_ids"]
    assert ("clf", "v1") in broken.models and len(broken.batch_ids) == 0


def test_a_restarted_sidecar_remembers_and_copies_at_once_apply_once(
        sidecar_factory: Any) -> None:
    sc = sidecar_factory()
    doc = _batch(new_batch_id(), n=3)
    codes: list[int] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        barrier.wait()
        codes.append(sc.post(doc)[0])

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 7 + [202], codes
    sc.stop(signal.SIGTERM)
    sc.start()
    assert sc.post(doc) == (200, {"accepted": 0, "duplicate": True})
    time.sleep(1.0)
    ingest_doc = sc.status()["sources"]["ingest"]
    assert ingest_doc["items"] == {"requests": 3}, ingest_doc
    assert ingest_doc["batch_ids"]["remembered"] == 1


def test_job_events_kept_after_a_timeout_are_sent_again_as_the_same_batch(
        sidecar_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.cli import jobs

    assert jobs.BATCH_ID_PATTERN == BATCH_ID_PATTERN
    sc = sidecar_factory()
    proxy = HoldingProxy(int(sc.url.rpartition(":")[2]), hold=3.0, held=1)
    monkeypatch.setattr(jobs, "TIMEOUT", 1.0)
    warnings: list[str] = []
    spool = jobs.Spool(tmp_path / "spool.jsonl", warnings.append)
    try:
        start = [jobs.event_item("nightly", "start", "r1")]
        assert not jobs.report(spool, proxy.url, "svc", start, None)     # timed out: kept
        kept = [json.loads(line) for line in spool.path.read_text().splitlines()]
        assert len(kept) == 1 and re.fullmatch(BATCH_ID_PATTERN, kept[0]["batch_id"])
        time.sleep(2.5)                  # the held answer: the sidecar took the event
        done = [jobs.event_item("nightly", "success", "r1", duration=1.0)]
        assert jobs.report(spool, proxy.url, "svc", done, None), warnings
        assert spool.path.read_text() == ""
        assert [code for code, _ in proxy.answers] == [202, 200, 202], proxy.answers
        time.sleep(1.0)
        status = sc.status()
        assert status["sources"]["ingest"]["items"] == {"job": 2}
        jobs_doc = {j["name"]: j for j in status["sources"]["jobs"]}
        assert jobs_doc["nightly"]["runs"] == {"success": 1, "failure": 0}
    finally:
        proxy.close()
