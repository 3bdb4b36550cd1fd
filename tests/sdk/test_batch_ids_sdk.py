"""The shipper's ``batch_id``: the same on every resend of a batch (a timed-out POST may have been
taken, the sidecar then applies it once), a new one for each part of a batch split after a 413
or salvaged after a 4xx (nothing of it was applied), and the exit mark on a batch never sent."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agent.batch_id import BATCH_ID_PATTERN
from agent.sdk import columnar_format
from agent.sdk.transport import Shipper


class Scripted(BaseHTTPRequestHandler):
    """Answers POSTs as ``plan`` says, in turn (then 202): a status, a status and a JSON body,
    or ``("slow", s)``: 202 after ``s`` seconds. Records each request's head."""

    plan: list[Any] = []
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        ctype = self.headers.get("Content-Type")
        if ctype == columnar_format.CONTENT_TYPE:
            _, _, n = columnar_format.HEADER.unpack_from(body)
            doc = json.loads(body[columnar_format.HEADER.size:columnar_format.HEADER.size + n])
        else:
            doc = json.loads(body)
        type(self).seen.append({"id": doc.get("batch_id"), "items": len(doc["items"]),
                                "ctype": ctype, "exit": doc.get("sdk", {}).get("lifecycle")})
        step = type(self).plan.pop(0) if type(self).plan else 202
        status, answer = 202, b'{"accepted":1}'
        if isinstance(step, tuple) and step[0] == "slow":
            time.sleep(step[1])
        elif isinstance(step, tuple):
            status, answer = step[0], json.dumps(step[1]).encode()
        else:
            status = step
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def scripted() -> Iterator[tuple[str, type[Scripted]]]:
    handler = type("H", (Scripted,), {"plan": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def _shipper(url: str, items: list[dict[str, Any]], columnar: bool = False) -> Shipper:
    batches = [items]
    return Shipper(url, lambda: batches.pop() if batches else [],
                   lambda its: {"schema": 1, "service": "svc", "instance": "t:1",
                                "sdk": {"name": "test"}, "items": its},
                   on_drop=lambda reason, n: None, on_shipped=lambda n: None,
                   interval=3600, timeout=0.3, columnar=columnar)


def _items(n: int) -> list[dict[str, Any]]:
    return [{"type": "cost", "model": "clf", "usd": float(i)} for i in range(n)]


def _ids(seen: list[dict[str, Any]]) -> list[str]:
    ids = [s["id"] for s in seen]
    assert all(isinstance(i, str) and re.fullmatch(BATCH_ID_PATTERN, i) for i in ids), ids
    return ids


def test_a_resend_after_a_timeout_or_a_415_keeps_the_id(
        scripted: tuple[str, type[Scripted]]) -> None:
    url, h = scripted
    h.plan = [("slow", 1.0), 415, 202]
    sh = _shipper(url, _items(3), columnar=True)
    try:
        sh.tick(force=True)               # times out: kept, backing off
        assert sh.pending_items() == 3
        sh.tick(force=True)               # 415: sent again as JSON at once, then 202
        assert sh.pending_items() == 0
    finally:
        sh.close()
    ids = _ids(h.seen)
    assert len(ids) == 3 and len(set(ids)) == 1, h.seen
    assert [s["items"] for s in h.seen] == [3, 3, 3]
    assert h.seen[-1]["ctype"] == "application/json"


def test_parts_of_a_split_or_salvaged_batch_get_new_ids(
        scripted: tuple[str, type[Scripted]]) -> None:
    url, h = scripted
    h.plan = [413, (422, {"error": "bad", "fields": [{"path": "items[0]", "message": "x"}]}),
              202, 202]
    sh = _shipper(url, _items(4))
    try:
        sh.tick(force=True)
        assert sh.pending_items() == 0
    finally:
        sh.close()
    assert [s["items"] for s in h.seen] == [4, 2, 1, 2], h.seen
    ids = _ids(h.seen)
    assert len(set(ids)) == 4, h.seen     # whole, first half, its salvaged rest, second half


def test_the_exit_mark_goes_on_a_batch_never_sent(
        scripted: tuple[str, type[Scripted]]) -> None:
    url, h = scripted
    h.plan = [("slow", 1.0)]
    sh = _shipper(url, _items(2))
    try:
        sh.tick(force=True)               # sent, no answer in time: the sidecar may hold it
        assert sh.flush(timeout=5.0, final=True)
    finally:
        sh.close()
    first, again, last = h.seen
    assert (first["id"], first["exit"]) == (again["id"], None) and again["items"] == 2, h.seen
    # a copy of a batch the sidecar may hold is a duplicate: the mark would be lost with it
    assert last["exit"] == "exit" and last["items"] == 0 and last["id"] != first["id"], h.seen
