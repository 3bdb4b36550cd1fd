"""Shipping to the sidecar on a background thread: batched, bounded, backing off, never blocking.

Every ``flush_interval`` the thread asks the monitor for what changed (counts, merged sketches,
samples, feedback, dataset batches) and POSTs one batch to ``/v1/ingest``: columnar (schema 2,
``agent/sdk/columnar_format.py``: features as float columns) by default, JSON (schema 1) once a
sidecar answers 415 to a columnar body (an older sidecar), or with ``SLO_AGENT_WIRE=json``. When
the sidecar is slow or gone, batches wait in a bounded list with exponential backoff; past the bound
the oldest is dropped and its items are counted. A 4xx is final for what it names: when the
answer's ``fields`` name items (``items[3]``) or keys of an item (``items[3].gauges.pool_7``),
only those are dropped and the rest of the batch is sent again at once, so one bad item never
blinds later batches; a 4xx that names nothing drops the batch (counted as rejected); a 413 halves
the batch and sends both; a 429 or 503 keeps it and waits what its ``Retry-After`` says.

Each batch has a random ``batch_id``, the same on every resend: a POST that timed out may have
been taken by a slow sidecar, which then answers the resend as a duplicate and applies the batch
once. A batch split or salvaged after a 413 or 4xx (nothing of it was applied) is a new batch.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Any

from agent.batch_id import new_batch_id
from agent.sdk import columnar_format

log = logging.getLogger("slo_agent.sdk")

INGEST_PATH = "/v1/ingest"
SCHEMA_VERSION = 1
_FIELD = re.compile(r"^items\[(\d+)\](?:\.(gauges|counters|breakers)\.(.+))?")


class Batch(list[dict[str, Any]]):
    """The items of one request and its ``id``, kept across resends of exactly these items."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.id = new_batch_id()
        self.sent = False        # posted at least once: the sidecar may hold it already


def _json_default(value: Any) -> Any:
    try:
        if hasattr(value, "item"):
            return value.item()
        if hasattr(value, "isoformat"):
            return value.isoformat()
    except (TypeError, ValueError):
        pass
    return str(value)


def encode(payload: dict[str, Any]) -> bytes:
    """Strict JSON: NaN/Inf become null (JSON has no NaN), numpy scalars become numbers."""
    def clean(v: Any) -> Any:
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(payload), default=_json_default, allow_nan=False,
                      separators=(",", ":")).encode()


class Shipper:
    _final = False          # the batch being sent ends the process (``sdk.lifecycle: exit``)

    def __init__(self, url: str, collect: Callable[[], list[dict[str, Any]]],
                 envelope: Callable[[list[dict[str, Any]]], dict[str, Any]],
                 on_drop: Callable[[str, int], None], on_shipped: Callable[[int], None],
                 interval: float = 1.0, timeout: float = 2.0, max_pending: int = 16,
                 batch_items: int = 500, token: str | None = None,
                 on_refused: Callable[[str, str], None] | None = None,
                 columnar: bool = True) -> None:
        self.url = url.rstrip("/") + INGEST_PATH
        self.columnar = columnar
        self._collect = collect
        self._envelope = envelope
        self._on_drop = on_drop
        self._on_shipped = on_shipped
        self._on_refused = on_refused
        self._refused_fields: list[str] = []
        self.interval = interval
        self.timeout = timeout
        self.batch_items = batch_items
        self.token = token
        self._pending: deque[Batch] = deque()
        self.max_pending = max_pending
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._backoff = 0.0
        self._next_try = 0.0
        self._retry_after: float | None = None     # what the sidecar's last 429/503 asked for
        self._deadline: float | None = None        # a bounded flush's end (monotonic)
        self._sent_any = False
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="slo-agent-shipper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.tick()
            except Exception:   # the thread must survive anything
                log.exception("slo-agent shipper tick failed")

    def tick(self, force: bool = False) -> None:
        with self._lock:
            self._tick(force)

    def _tick(self, force: bool, final: bool = False) -> None:
        """Collect and send what is pending; with ``final`` the last batch says the process
        is ending (``sdk.lifecycle: exit``), an empty one when nothing else is left to send."""
        items = self._collect()
        for i in range(0, len(items), self.batch_items):
            self._pending.append(Batch(items[i:i + self.batch_items]))
        while len(self._pending) > self.max_pending:
            self._on_drop("sidecar_unavailable", len(self._pending.popleft()))
        now = time.monotonic()
        if not force and now < self._next_try:
            return
        # the exit mark goes on a batch never sent: a copy of one sent may be a duplicate
        if final and (self._pending[-1].sent if self._pending else self._sent_any):
            self._pending.append(Batch())
        while self._pending:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return
            batch = self._pending[0]
            self._final = final and len(self._pending) == 1
            status = self._post(batch)
            if status == "json":       # the sidecar reads JSON only: resend as JSON
                continue
            if status == "ok":
                self._pending.popleft()
                self._on_shipped(len(batch))
                self._backoff = 0.0
                self._sent_any = True
            elif status == "too_large" and len(batch) > 1:
                # the sidecar's batch or body cap is below ours: halve it, send both
                self._pending.popleft()
                half = len(batch) // 2
                self._pending.appendleft(Batch(batch[half:]))
                self._pending.appendleft(Batch(batch[:half]))
            elif status in ("rejected", "too_large"):
                self._pending.popleft()
                rest = self._salvage(batch, self._refused_fields)
                self._on_drop("rejected", len(batch) - len(rest))
                if rest:
                    self._pending.appendleft(Batch(rest))
            else:
                self._backoff = min(30.0, max(0.5, self._backoff * 2))
                wait = self._backoff if self._retry_after is None else self._retry_after
                self._next_try = time.monotonic() + wait
                return

    def _post(self, batch: list[dict[str, Any]]) -> str:
        try:
            body, ctype = self.body(batch)
        except (TypeError, ValueError) as exc:
            self.last_error = f"encode: {exc}"
            return "rejected"
        headers = {"Content-Type": ctype}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        timeout = self.timeout
        if self._deadline is not None:
            timeout = min(timeout, self._deadline - time.monotonic())
            if timeout <= 0.01:
                return "retry"
        if isinstance(batch, Batch):
            batch.sent = True
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                resp.read()
            self.last_error = None
            return "ok"
        except urllib.error.HTTPError as exc:
            self.last_error = f"HTTP {exc.code}"
            if exc.code == 415 and self.columnar:
                self.columnar = False
                log.warning("slo-agent: the sidecar at %s does not read the columnar format; "
                            "sending JSON from now on (said once)", self.url)
                return "json"
            if exc.code == 413:
                return "too_large"
            final = 400 <= exc.code < 500 and exc.code not in (408, 429)
            self._refused_fields = _field_paths(exc) if final else []
            self._retry_after = _retry_after(exc)
            return "rejected" if final else "retry"
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # refused, reset, timeout, bad URL, a peer that answers garbage
            self.last_error = str(exc) or type(exc).__name__
            self._retry_after = None
            return "retry"

    def body(self, batch: list[dict[str, Any]]) -> tuple[bytes, str]:
        """The request body and its Content-Type for one batch."""
        env = self._envelope(batch)
        if isinstance(batch, Batch):
            env["batch_id"] = batch.id
        if self._final:
            env["sdk"] = {**env.get("sdk", {}), "lifecycle": "exit"}
        if self.columnar:
            return columnar_format.encode(env, dumps=encode), columnar_format.CONTENT_TYPE
        env["items"] = [columnar_format.rows_of(i)
                        if i.get("type") == "samples" and "columns" in i else i
                        for i in env["items"]]
        return encode(env), "application/json"

    def _salvage(self, batch: list[dict[str, Any]], paths: list[str]
                 ) -> list[dict[str, Any]]:
        """What is left of ``batch`` once the refused items and keys are taken out; empty when
        the answer named nothing (then nothing is known to be good) or nothing is left."""
        drop_items: set[int] = set()
        drop_keys: dict[int, list[tuple[str, str]]] = {}
        for path in paths:
            m = _FIELD.match(path)
            if m is None:
                return []
            i = int(m.group(1))
            if m.group(2):
                drop_keys.setdefault(i, []).append((m.group(2), m.group(3)))
            else:
                drop_items.add(i)
        rest: list[dict[str, Any]] = []
        for i, item in enumerate(batch):
            if i in drop_items:
                continue
            if i in drop_keys:
                item = dict(item)
                for table, name in drop_keys[i]:
                    sub = {k: v for k, v in (item.get(table) or {}).items() if k != name}
                    item[table] = sub
                    if self._on_refused is not None:
                        self._on_refused(table, name)
            rest.append(item)
        return rest if len(rest) < len(batch) or drop_keys else []

    def pending_items(self) -> int:
        return sum(len(b) for b in self._pending)

    def flush(self, timeout: float = 5.0, final: bool = False) -> bool:
        """Ship now, within ``timeout`` seconds all told (waiting for the shipper thread's
        own send included: it never hangs, even on a sidecar that accepts and never answers);
        True when nothing is left pending. ``final``: the process is ending (see ``_tick``)."""
        deadline = time.monotonic() + max(0.0, timeout)
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            return False
        try:
            self._deadline = deadline
            self._tick(force=True, final=final)
        finally:
            self._deadline, self._final = None, False
            self._lock.release()
        return not self._pending

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    """Seconds a 429 or 503 asks the client to wait (``Retry-After``, capped at a minute)."""
    if exc.code not in (429, 503):
        return None
    try:
        return min(60.0, max(0.0, float(exc.headers.get("Retry-After", ""))))
    except (TypeError, ValueError):
        return None


def _field_paths(exc: urllib.error.HTTPError) -> list[str]:
    """The field paths a 4xx answer names (``{"fields": [{"path": ...}]}``), if any."""
    try:
        doc = json.loads(exc.read(65536) or b"{}")
        fields = doc.get("fields") if isinstance(doc, dict) else None
        return [str(f["path"]) for f in fields or [] if isinstance(f, dict) and "path" in f]
    except (ValueError, OSError, TypeError):
        return []
