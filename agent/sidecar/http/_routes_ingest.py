"""POST /v1/ingest: bearer token only, JSON or columnar, body size capped while it streams and
its time capped (408), parsed and admitted whole (a 2xx means every item was queued), 429 with
Retry-After when the worker is behind: the inbox is bounded in bytes (bodies being read count
too), so memory stays bounded whatever the clients send. A batch whose ``batch_id`` was accepted
already (the SDK resends one whose answer it did not get) is a 200 duplicate, not applied twice
(:mod:`agent.sidecar.state.batch_ids`)."""

from __future__ import annotations

import asyncio
from typing import Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from agent.sidecar.http._routes_auth import Auth
from agent.sidecar.http._routes_common import error
from agent.sidecar.ingest import columnar, payload
from agent.sidecar.ingest.apply import Admission
from agent.sidecar.state import roles
from agent.sidecar.view import Counters
from agent.spec.document import Spec


class Inbox(Protocol):
    spec: Spec
    counters: Counters
    admission: Admission

    def claim(self, batch: payload.Batch) -> bool: ...
    def unclaim(self, batch: payload.Batch) -> None: ...
    def submit(self, batch: payload.Batch, size: int = 0) -> bool: ...
    def reserve(self, size: int) -> bool: ...
    def release(self, size: int) -> None: ...


class Ingest:
    def __init__(self, engine: Inbox, auth: Auth) -> None:
        self.engine = engine
        self.auth = auth

    async def post(self, request: Request) -> Response:
        engine, spec = self.engine, self.engine.spec
        limits = spec.sidecar.limits
        if not self.auth.authorized(request, session_ok=False):
            return self.auth.unauthorized()
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
        parse = columnar.parse if ctype == columnar.CONTENT_TYPE else payload.parse
        if ctype not in ("application/json", "", columnar.CONTENT_TYPE):
            engine.counters.inc("batches", "rejected")
            return error(415, f"Content-Type: expected application/json or "
                         f"{columnar.CONTENT_TYPE}, got {ctype!r}",
                         [{"path": "<header>.content-type", "message": "unsupported"}])
        # the inbox is bounded in bytes: hold room for this body before reading it
        declared = request.headers.get("content-length", "")
        reserved = min(int(declared), limits.max_body_bytes) if declared.isdigit() \
            else limits.max_body_bytes
        if not engine.reserve(reserved):
            # read and drop the body (nothing is kept), so the client sees the 429 and its
            # Retry-After rather than a reset while it is still sending
            try:
                await asyncio.wait_for(self._read(request, 0), limits.body_timeout)
            except (TimeoutError, ClientDisconnect):
                pass
            return self._throttled(0)
        try:
            try:
                body = await asyncio.wait_for(self._read(request, limits.max_body_bytes),
                                              limits.body_timeout)
            except ClientDisconnect:
                engine.counters.inc("batches", "rejected")
                return error(400, "body: the client went away before sending all of it")
            except TimeoutError:
                engine.counters.inc("http_closed", "body_timeout")
                engine.counters.inc("batches", "rejected")
                return error(408, f"body: not received within {limits.body_timeout:g}s "
                             "(sidecar.limits.body_timeout)",
                             [{"path": "<body>", "message": "too slow"}],
                             headers={"Connection": "close"})
            if body is None:
                engine.counters.inc("batches", "rejected")
                return error(413, f"body: more than {limits.max_body_bytes} bytes "
                             "(sidecar.limits.max_body_bytes)",
                             [{"path": "<body>", "message": "too large"}])
            size = len(body)
            try:
                # a large JSON body parses off the loop; a columnar one costs per column, not
                # per value (numpy views of the body), less than the hand-off to a thread
                batch = await asyncio.to_thread(parse, body) if size > 65536 and \
                    parse is payload.parse else parse(body)
                del body
                if batch.service != spec.service:
                    raise payload.IngestError(
                        422, f"invalid field service: this sidecar serves {spec.service!r}, "
                        f"got {batch.service!r}",
                        [{"path": "service", "message": "wrong service"}])
                refuse_shared(spec.sidecar.role, batch)
            except payload.IngestError as exc:
                engine.counters.inc("batches", "rejected")
                return JSONResponse(exc.body(), status_code=exc.status)
            # claimed, checked and queued with no await between: of two copies in flight at
            # once, one is queued and the other is a duplicate
            if not engine.claim(batch):
                engine.counters.inc("batches", "duplicate")
                return JSONResponse({"accepted": 0, "duplicate": True}, status_code=200)
            try:
                engine.admission.check(batch)
            except payload.IngestError as exc:
                engine.unclaim(batch)
                engine.counters.inc("batches", "rejected")
                return JSONResponse(exc.body(), status_code=exc.status)
            held = min(size, reserved)
            if not engine.submit(batch, held):
                engine.unclaim(batch)
                return self._throttled(len(batch.items))
            reserved -= held                 # now held by the queued batch until applied
        finally:
            engine.release(reserved)
        engine.counters.inc("batches", "accepted")
        return JSONResponse({"accepted": len(batch.items)}, status_code=202)

    @staticmethod
    async def _read(request: Request, cap: int) -> bytes | None:
        """The body, or None past ``cap`` bytes (the rest is read and dropped, bounded, so the
        client sees the 413 rather than a reset while it is still sending)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                if size > 16 * max(cap, 1 << 20):
                    break
                chunks = []
                continue
            chunks.append(chunk)
        return None if size > cap else b"".join(chunks)

    def _throttled(self, items: int) -> Response:
        counters = self.engine.counters
        counters.inc("batches", "throttled")
        if items:
            counters.inc("dropped", "inbox_full", items)
        return error(429, "the sidecar is behind; retry later", headers={"Retry-After": "1"})


def refuse_shared(role: str, batch: payload.Batch) -> None:
    """A replica takes no job events (the checker does): the whole batch is refused with 409,
    naming every job item (``items[3]``), so nothing of it is half-applied and the SDK resends
    the rest without them."""
    if roles.takes_job_events(role):
        return
    jobs = [i for i, item in enumerate(batch.items) if item.type == "job"]
    if jobs:
        raise payload.IngestError(409, roles.refusal(role, jobs[0]), [
            {"path": f"items[{i}]", "message": "job events go to the checker sidecar"}
            for i in jobs])
