"""Transition webhooks: a bounded queue and a thread that POSTs with retries and backoff, so a slow
or dead receiver never blocks evaluation."""

from __future__ import annotations

import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from agent.redact import origin, scrub
from agent.sidecar.state.jsonsafe import dumps

log = logging.getLogger("slo_agent.sidecar")


class Webhooks:
    def __init__(self, urls: list[tuple[str, float]], on_result: Callable[[str], None],
                 retries: int = 4, max_queue: int = 1000) -> None:
        self.urls = urls
        self.retries = retries
        self._on_result = on_result
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(max_queue)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slo-agent-webhooks", daemon=True)
        if urls:
            self._thread.start()

    def send(self, event: dict[str, Any]) -> None:
        if not self.urls:
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._on_result("dropped")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                event = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            body = dumps(event, "webhook event", default=str)
            for url, timeout in self.urls:
                self._deliver(url, timeout, body)

    def _deliver(self, url: str, timeout: float, body: bytes) -> None:
        delay = 0.5
        for attempt in range(self.retries + 1):
            if self._stop.is_set():
                return
            req = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    resp.read()
                self._on_result("delivered")
                return
            except (OSError, ValueError) as exc:
                if attempt == self.retries:
                    # receivers carry their token in the path or query: only the host is logged
                    shown = origin(url)
                    log.warning("webhook %s failed after %d attempts: %s", shown, attempt + 1,
                                scrub(f"{type(exc).__name__}: {exc}", url, shown))
                    self._on_result("failed")
                    return
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
