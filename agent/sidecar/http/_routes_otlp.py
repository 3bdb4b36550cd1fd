"""POST /v1/metrics: OTLP/HTTP with protobuf or JSON bodies (gzip or not), behind the same
bearer token as ingest, answered as the OTLP specification asks so exporters retry only what
they should: 200 with ``partial_success`` naming rejected points; 400/401/413/415 (not retried)
with a ``google.rpc.Status`` body; 429 with Retry-After when the inbox is full (retried).
Nothing a client sends is a 5xx. Its bodies count in the inbox's byte bound (``Engine.reserve``)
from before they are read until their batch is applied, as the SDK door's do."""

from __future__ import annotations

import asyncio
from typing import Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from agent.sidecar.http._routes_auth import Auth
from agent.sidecar.http._routes_ingest import Inbox
from agent.sidecar.ingest import otlp_wire, payload
from agent.sidecar.ingest.otlp import OtlpDoor, Outcome

# gRPC codes the google.rpc.Status bodies carry, by HTTP status
_GRPC_CODE = {400: 3, 401: 16, 413: 8, 415: 3, 429: 14}


class OtlpInbox(Inbox, Protocol):
    otlp: OtlpDoor


def admit(engine: OtlpInbox, body: bytes) -> Outcome:
    """Parse a protobuf request and hand it through the door (gRPC; blocking). Its bytes count
    in the inbox's byte bound like every door's (see ``Engine.reserve``)."""
    if not engine.reserve(len(body)):
        engine.counters.inc("batches", "throttled")
        return Outcome(0, 0, "", False)
    held = [len(body)]
    try:
        return admit_request(engine, otlp_wire.parse(body, otlp_wire.PROTOBUF), held)
    finally:
        engine.release(held[0])


def admit_request(engine: OtlpInbox, req: object, held: list[int] | None = None) -> Outcome:
    """``held``: inbox bytes reserved for this request; a queued batch takes them over (set
    to 0), else the caller releases them."""
    def submit(batch: payload.Batch) -> bool:
        engine.admission.check(batch)
        size = held[0] if held else 0
        queued = engine.submit(batch, size)
        if queued and held:
            held[0] = 0
        return queued

    outcome = engine.otlp.admit(req, submit)  # type: ignore[arg-type]
    engine.counters.inc("batches", "accepted" if outcome.queued else "throttled")
    return outcome


class OtlpHttp:
    def __init__(self, engine: OtlpInbox, auth: Auth) -> None:
        self.engine = engine
        self.auth = auth

    def _status(self, code: int, message: str, as_json: bool,
                headers: dict[str, str] | None = None) -> Response:
        self.engine.counters.inc("batches", "unauthorized" if code == 401 else "rejected")
        return Response(otlp_wire.status(_GRPC_CODE.get(code, 3), message, as_json), code,
                        headers=headers,
                        media_type=otlp_wire.JSON if as_json else otlp_wire.PROTOBUF)

    async def post(self, request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        as_json = ctype == otlp_wire.JSON
        if not self.auth.authorized(request, session_ok=False):
            return self._status(401, "missing or invalid bearer token (Authorization: Bearer "
                                "...; OTEL_EXPORTER_OTLP_HEADERS)", as_json,
                                {"WWW-Authenticate": "Bearer"})
        if ctype not in otlp_wire.CONTENT_TYPES:
            return self._status(415, f"Content-Type: expected {otlp_wire.PROTOBUF} or "
                                f"{otlp_wire.JSON}, got {ctype!r}", as_json)
        limit = self.engine.spec.sidecar.limits.max_body_bytes
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            return self._status(415, f"Content-Encoding: expected gzip or none, got "
                                f"{encoding[:32]!r}", as_json)
        # the inbox is bounded in bytes, bodies being read included (see _routes_ingest)
        declared = request.headers.get("content-length", "")
        held = [min(int(declared), limit) if declared.isdigit() else limit]
        if not self.engine.reserve(held[0]):
            await _drop_body(request, self.engine.spec.sidecar.limits.body_timeout)
            return self._behind(as_json)
        try:
            return await self._read_and_admit(request, ctype, as_json, encoding, limit, held)
        finally:
            self.engine.release(held[0])

    async def _read_and_admit(self, request: Request, ctype: str, as_json: bool,
                              encoding: str, limit: int, held: list[int]) -> Response:
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.engine.spec.sidecar.limits.body_timeout):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        if size > 16 * limit:   # read (and drop) the rest, bounded: see ingest
                            break
                        chunks = []
                        continue
                    chunks.append(chunk)
        except (TimeoutError, ClientDisconnect):
            self.engine.counters.inc("http_closed", "body_timeout")
            return self._status(408, "body: not received in time "
                                "(sidecar.limits.body_timeout)", as_json)
        if size > limit:
            return self._status(413, f"body: more than {limit} bytes "
                                "(sidecar.limits.max_body_bytes)", as_json)
        body = b"".join(chunks)
        try:
            outcome = await asyncio.to_thread(self._admit, body, ctype, encoding, limit, held)
        except payload.IngestError as exc:
            return self._status(exc.status, exc.message, as_json)
        if not outcome.queued:
            return self._behind(as_json)
        return Response(otlp_wire.response(outcome.rejected, outcome.message, as_json), 200,
                        media_type=otlp_wire.JSON if as_json else otlp_wire.PROTOBUF)

    def _behind(self, as_json: bool) -> Response:
        self.engine.counters.inc("dropped", "inbox_full")
        return Response(otlp_wire.status(14, "the sidecar is behind; retry later", as_json),
                        429, headers={"Retry-After": "1"},
                        media_type=otlp_wire.JSON if as_json else otlp_wire.PROTOBUF)

    def _admit(self, body: bytes, ctype: str, encoding: str, limit: int,
               held: list[int]) -> Outcome:
        if encoding == "gzip":
            body = otlp_wire.gunzip(body, limit)
        return admit_request(self.engine, otlp_wire.parse(body, ctype), held)


async def _drop_body(request: Request, timeout: float) -> None:
    """Read a body and keep none of it, so the client sees the answer, not a reset."""
    try:
        async with asyncio.timeout(timeout):
            async for _ in request.stream():
                pass
    except (TimeoutError, ClientDisconnect):
        pass


__all__ = ["OtlpHttp", "admit", "admit_request"]
