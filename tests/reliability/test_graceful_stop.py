"""SIGTERM drains what was accepted and snapshots before exit (status 0): a rolling restart
loses no acknowledged batch, even when the last snapshot was long ago."""

from __future__ import annotations

import http.client
import signal
import threading
from pathlib import Path
from typing import Any

from tests.helpers import free_port
from tests.sidecar.conftest import make_spec


def test_sigterm_drains_and_snapshots_every_accepted_batch(tmp_path: Path,
                                                          sidecar_factory: Any) -> None:
    spec = make_spec(tmp_path, free_port())
    spec["sidecar"]["interval"] = "1h"       # no periodic snapshot: only the final one counts
    sc = sidecar_factory(spec)
    body = {"schema": 1, "service": "svc", "items": [
        {"type": "requests", "model": "clf", "version": "v1", "counts": {"ok": 9, "error": 1}}]}
    acked = 0
    for restart in range(2):
        stop = threading.Event()
        acks: list[int] = []

        def send(stop: threading.Event = stop, acks: list[int] = acks) -> None:
            while not stop.is_set():
                try:
                    code, _ = sc.post(body)
                except (OSError, http.client.HTTPException):   # the listener has closed
                    return
                if code == 202:
                    acks.append(1)

        senders = [threading.Thread(target=send) for _ in range(3)]
        for t in senders:
            t.start()
        while len(acks) < 150:
            threading.Event().wait(0.01)
        assert sc.proc is not None
        sc.proc.send_signal(signal.SIGTERM)
        assert sc.proc.wait(20) == 0, sc.log()
        stop.set()
        for t in senders:
            t.join()
        acked += len(acks)
        assert "final snapshot" in sc.log(), sc.log()
        sc.start()
        status = sc.status()
        assert status["evaluation"]["restored"] is True, sc.log()
        assert status["sources"]["ingest"]["items"]["requests"] == acked, (restart, sc.log())
