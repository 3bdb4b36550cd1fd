"""POST /v1/ingest: bearer token only, JSON only, body size capped while it streams, parsed
and admitted whole (a 2xx means every item was queued), 429 when the worker is behind."""

from __future__ import annotations

import asyncio
from typing import Protocol

from starlette.requests import Request
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

    def submit(self, batch: payload.Batch) -> bool: ...


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
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                # read (and drop) the rest, bounded, so the client sees the 413 rather than
                # a connection reset while it is still sending
                if size > 16 * limits.max_body_bytes:
                    break
                chunks = []
                continue
            chunks.append(chunk)
        if size > limits.max_body_bytes:
            engine.counters.inc("batches", "rejected")
            return error(413, f"body: more than {limits.max_body_bytes} bytes "
                         "(sidecar.limits.max_body_bytes)",
                         [{"path": "<body>", "message": "too large"}])
        body = b"".join(chunks)
        try:
            # a large JSON body parses off the loop; a columnar one costs per column, not per
            # value (numpy views of the body), less than the hand-off to a thread
            batch = await asyncio.to_thread(parse, body) if size > 65536 and \
                parse is payload.parse else parse(body)
            if batch.service != spec.service:
                raise payload.IngestError(
                    422, f"invalid field service: this sidecar serves {spec.service!r}, "
                    f"got {batch.service!r}", [{"path": "service", "message": "wrong service"}])
            refuse_shared(spec.sidecar.role, batch)
            engine.admission.check(batch)
        except payload.IngestError as exc:
            engine.counters.inc("batches", "rejected")
            return JSONResponse(exc.body(), status_code=exc.status)
        if not engine.submit(batch):
            engine.counters.inc("batches", "throttled")
            engine.counters.inc("dropped", "inbox_full", len(batch.items))
            return error(429, "the sidecar is behind; retry later", headers={"Retry-After": "1"})
        engine.counters.inc("batches", "accepted")
        return JSONResponse({"accepted": len(batch.items)}, status_code=202)


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
