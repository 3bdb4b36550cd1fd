"""Issue 31, point 3: slow clients and floods are bounded.

A real sidecar with small caps: slow clients (a header byte every half second) are closed after
the header timeout, past the connection cap the longest-waiting one is closed for a newcomer,
and /metrics and /healthz answer within a second all along. A flood of wide batches meets 429 +
Retry-After once the inbox's bytes are held, every accepted batch is counted exactly, and the
sidecar's RSS stays under the README's bound. The SDK waits what Retry-After says.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.helpers import free_port
from tests.sidecar.conftest import make_spec

CAP = 48
HEADER_TIMEOUT = 2.0
SLOW = 120
RSS_BOUND_MB = 400          # README, "Caps": the bound stated for any ingest load


def _spec(tmp: Path) -> dict[str, Any]:
    spec = make_spec(tmp, free_port())
    spec["sidecar"]["limits"] = {"max_connections": CAP, "header_timeout": f"{HEADER_TIMEOUT}s",
                                 "max_inbox_bytes": 65536, "body_timeout": "3s"}
    return spec


def _timed_get(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=5) as resp:
        resp.read()
    return time.perf_counter() - t0


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_slow_clients_are_closed_and_reads_stay_fast(tmp_path: Path,
                                                    sidecar_factory: Any) -> None:
    sc = sidecar_factory(_spec(tmp_path))
    port = int(sc.url.rsplit(":", 1)[1])
    socks: list[socket.socket] = []
    for _ in range(SLOW):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    stop = threading.Event()
    closed: set[int] = set()

    def drip() -> None:                 # a header byte every half second on every socket
        while not stop.is_set():
            for i, s in enumerate(socks):
                if i in closed:
                    continue
                try:
                    s.sendall(b"X")
                    s.setblocking(False)
                    if s.recv(1) == b"":
                        closed.add(i)
                except BlockingIOError:
                    pass
                except OSError:
                    closed.add(i)
                finally:
                    s.setblocking(True)
            stop.wait(0.5)

    dripper = threading.Thread(target=drip)
    dripper.start()
    opened = time.time()
    try:
        worst = 0.0
        while time.time() - opened < HEADER_TIMEOUT + 3:
            worst = max(worst, _timed_get(sc.url + "/metrics"), _timed_get(sc.url + "/healthz"))
            time.sleep(0.2)
        assert worst <= 1.0, worst
        deadline = time.time() + 10
        while len(closed) < SLOW and time.time() < deadline:
            time.sleep(0.2)
        assert len(closed) == SLOW, f"{SLOW - len(closed)} slow connections still open"
    finally:
        stop.set()
        dripper.join()
        for s in socks:
            s.close()
    text = sc.get("/metrics")[1].decode()
    evicted = _metric(text, "slo_agent_http_connections_closed_total", reason="evicted")
    timed_out = _metric(text, "slo_agent_http_connections_closed_total",
                        reason="header_timeout")
    assert evicted >= SLOW - CAP, text            # the cap made room for newcomers
    assert timed_out >= 1, text
    assert evicted + timed_out >= SLOW


def _wide_body(rows: int, seq: int) -> bytes:
    features = [{f"f{j}": float(seq + i + j) for j in range(64)} for i in range(rows)]
    return json.dumps({"schema": 1, "service": "svc", "items": [
        {"type": "samples", "model": "ranker", "version": "v1", "features": features,
         "predictions": [0.5] * rows}]}).encode()


def test_a_flood_meets_429_and_every_accepted_batch_counts(tmp_path: Path,
                                                          sidecar_factory: Any) -> None:
    sc = sidecar_factory(_spec(tmp_path))
    assert sc.proc is not None
    accepted, throttled, retry_after = [0], [0], set()
    inbox_max, rss_max = [0.0], [0.0]
    stop = threading.Event()
    lock = threading.Lock()

    def flood(seq: int) -> None:
        body = _wide_body(60, seq)              # ~60 kB of JSON, 3,840 feature values
        while not stop.is_set():
            req = urllib.request.Request(sc.url + "/v1/ingest", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    resp.read()
                with lock:
                    accepted[0] += 1
            except urllib.error.HTTPError as exc:
                assert exc.code == 429, exc.read()
                with lock:
                    throttled[0] += 1
                    retry_after.add(exc.headers.get("Retry-After"))

    def watch() -> None:
        while not stop.is_set():
            text = sc.get("/metrics")[1].decode()
            inbox_max[0] = max(inbox_max[0], _metric(text, "slo_agent_ingest_inbox_bytes"))
            assert sc.proc is not None
            rss_max[0] = max(rss_max[0], _rss_mb(sc.proc.pid))
            stop.wait(0.2)

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(8)]
    threads.append(threading.Thread(target=watch))
    for t in threads:
        t.start()
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join()
    assert accepted[0] > 0 and throttled[0] > 0, (accepted, throttled)
    assert retry_after == {"1"}
    assert inbox_max[0] <= 65536 * 2, inbox_max        # one body always fits an empty inbox
    assert rss_max[0] <= RSS_BOUND_MB, rss_max
    deadline = time.time() + 30
    while time.time() < deadline:
        items = sc.status()["sources"]["ingest"]["items"]
        if items.get("samples", 0) >= accepted[0]:
            break
        time.sleep(0.2)
    assert sc.status()["sources"]["ingest"]["items"].get("samples") == accepted[0]
    print(f"\nflood: {accepted[0]} accepted, {throttled[0]} throttled, inbox max "
          f"{inbox_max[0]:.0f} B, RSS max {rss_max[0]:.0f} MB")


def test_the_sdk_waits_what_retry_after_says(tmp_path: Path, sidecar_factory: Any) -> None:
    from agent.sdk.transport import Shipper

    sc = sidecar_factory(_spec(tmp_path))
    port = int(sc.url.rsplit(":", 1)[1])
    # a client that announces a body filling the whole inbox and sends it slowly holds it
    hog = socket.create_connection(("127.0.0.1", port))
    hog.sendall(b"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 65536\r\n\r\n{")
    time.sleep(0.3)
    items = [{"type": "requests", "model": "clf", "version": "v1",
              "counts": {"ok": 1, "error": 0}}]
    sent: list[list[dict[str, Any]]] = [items]
    shipper = Shipper(sc.url, lambda: sent.pop() if sent else [],
                      lambda batch: {"schema": 1, "service": "svc", "items": batch},
                      on_drop=lambda reason, n: None, on_shipped=lambda n: None,
                      interval=3600.0)
    try:
        shipper.tick()
        assert shipper.last_error == "HTTP 429", shipper.last_error
        wait = shipper._next_try - time.monotonic()
        assert 0.8 <= wait <= 1.0, wait                # Retry-After: 1, not the 0.5 s backoff
        assert shipper.pending_items() == 1            # kept, to send again
        text = sc.get("/metrics")[1].decode()
        throttled = _metric(text, "slo_agent_ingest_batches_total", result="throttled")
        shipper.tick()                                 # too early: nothing is sent
        text = sc.get("/metrics")[1].decode()
        assert _metric(text, "slo_agent_ingest_batches_total", result="throttled") == throttled
        # the OTLP door counts in the same byte bound
        code, _ = sc.request("POST", "/v1/metrics", b'{"resourceMetrics": []}',
                             {"Content-Type": "application/json"})
        assert code == 429
    finally:
        hog.close()
        shipper.close()
    time.sleep(1.1)
    shipper.tick()
    assert shipper.pending_items() == 0, shipper.last_error
