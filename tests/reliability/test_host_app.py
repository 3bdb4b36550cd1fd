"""The host app is never hurt: with the sidecar absent, hanging, slow, failing or answering
garbage, decorated calls keep working, nothing reaches user code, memory stays bounded and drops
are counted. Latency per mode is printed beside the sidecar-up case (no timed assertions)."""

from __future__ import annotations

import socket
import statistics
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agent.sdk import Monitor
from tests.helpers import free_port

MODES = ("up", "absent", "hanging", "slow", "http500", "garbage")
RESULTS: dict[str, tuple[float, float, float]] = {}


class Handler(BaseHTTPRequestHandler):
    mode = "up"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "slow":
            time.sleep(1.0)
        if self.mode == "garbage":
            self.wfile.write(b"\x00\xff\xfenot http at all\r\n\r\n")
            return
        self.send_response(500 if self.mode == "http500" else 202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def fake_sidecar(mode: str) -> Iterator[str]:
    if mode == "absent":
        yield f"http://127.0.0.1:{free_port()}"
        return
    if mode == "hanging":
        # accepts connections (the kernel completes the handshake) and never answers
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            sock.close()
        return
    handler = type("H", (Handler,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("mode", MODES)
def test_calls_unaffected_by_the_sidecar(mode: str) -> None:
    with fake_sidecar(mode) as url:
        mon = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url=url,
                      sample_rate=1.0, flush_interval=0.05)
        assert mon.shipper is not None
        mon.shipper.timeout = 0.5
        mon.shipper.max_pending = 4

        @mon.inference(model="m", version="v1", features=lambda x: {"x": x, "y": "cat"},
                       prediction=lambda out: out)
        def predict(x: int) -> int:
            return x * 2

        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        durations = []
        end = time.time() + 2.5
        n = 0
        while time.time() < end:
            for _ in range(200):
                t = time.perf_counter()
                assert predict(n) == n * 2
                durations.append(time.perf_counter() - t)
                n += 1
            time.sleep(0.002)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        mon.flush(timeout=0.5)
        drops = sum(c.value for c in mon.dropped.values())
        errors = sum(c.value for c in mon.errors.values())
        mon.shipper.close(0.1)
    durations.sort()
    p50 = statistics.median(durations)
    p99 = durations[int(len(durations) * 0.99)]
    RESULTS[mode] = (p50, p99, drops)
    up = RESULTS.get("up")
    versus = f" (sidecar up: p50 {up[0] * 1e6:.2f} us, p99 {up[1] * 1e6:.2f} us)" if up else ""
    print(f"\n{mode:>8}: {n} calls, p50 {p50 * 1e6:.2f} us, p99 {p99 * 1e6:.2f} us, "
          f"dropped {drops:.0f}, memory +{(current - base) / 1e6:.1f} MB "
          f"(peak +{(peak - base) / 1e6:.1f} MB){versus}")
    assert errors == 0                                  # no SDK failure at all
    assert (current - base) < 64e6                      # the backlog is bounded
    if mode in ("absent", "hanging", "http500", "garbage"):
        assert drops > 0, "a sidecar that cannot take the data must show up as counted drops"
    if mode == "up":
        assert drops == 0
