"""Transition webhooks: retried with backoff, counted, and never blocking evaluation."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from agent.sidecar.engine import Engine
from agent.spec import parse_spec
from tests.helpers import free_port


class Flaky(BaseHTTPRequestHandler):
    """Fails the first two deliveries, then accepts; records what it accepted."""

    attempts = 0
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).attempts += 1
        if type(self).attempts <= 2:
            self.send_response(503)
        else:
            type(self).received.append(json.loads(body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_transition_is_posted_with_retries_without_blocking(tmp_path: Path) -> None:
    handler = type("F", (Flaky,), {"attempts": 0, "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dead = f"http://127.0.0.1:{free_port()}/hook"        # nothing listens: retried, then failed
    spec = parse_spec({
        "service": "s", "models": [{"name": "m"}], "sources": {"gpu": {"mode": "off"}},
        "sidecar": {"interval": "1s", "webhooks": [
            {"url": f"http://127.0.0.1:{server.server_address[1]}/hook", "timeout": "1s"},
            {"url": dead, "timeout": "1s"}]},
        "objectives": [{"name": "q", "signal": "queue_depth", "warning": 10, "critical": 20,
                        "for": "0s"}]})
    engine = Engine(spec, state_dir=tmp_path)
    engine.webhooks.retries = 2
    t0 = time.perf_counter()
    for t, depth in enumerate((1.0, 50.0)):
        engine.state.queues["requests"] = (depth, 100.0 + t)
        engine.tick(100.0 + t)
    assert time.perf_counter() - t0 < 1.0          # evaluation did not wait for delivery
    deadline = time.time() + 20
    while time.time() < deadline and (not handler.received
                                      or engine.counters.webhooks.get("failed", 0) < 2):
        time.sleep(0.1)
    engine.webhooks.close()
    server.shutdown()
    server.server_close()
    events = [(e["objective"], e["from"], e["to"]) for e in handler.received]
    assert ("q", "ok", "critical") in events
    assert handler.attempts >= 3                   # two failures, then delivered
    assert engine.counters.webhooks["delivered"] >= 1
    assert engine.counters.webhooks["failed"] >= 1  # the dead receiver gave up, counted
