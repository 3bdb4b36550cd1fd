"""POST /v1/metrics: OTLP/HTTP with protobuf or JSON bodies (gzip or not), behind the same
bearer token as ingest, answered as the OTLP specification asks so exporters retry only what
they should: 200 with ``partial_success`` naming rejected points; 400/401/413/415 (not retried)
with a ``google.rpc.Status`` body; 429 with Retry-After when the inbox is full (retried).
Nothing a client sends is a 5xx."""

from __future__ import annotations

import asyncio
from typing import Protocol

from starlette.requests import Request
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
    """Parse a protobuf request and hand it through the door (shared with gRPC; blocking)."""
    return admit_request(engine, otlp_wire.parse(body, otlp_wire.PROTOBUF))


def admit_request(engine: OtlpInbox, req: object) -> Outcome:
    def submit(batch: payload.Batch) -> bool:
        engine.admission.check(batch)
        return engine.submit(batch)

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
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                if size > 16 * limit:       # read (and drop) the rest, bounded: see ingest
                    break
                chunks = []
                continue
            chunks.append(chunk)
        if size > limit:
            return self._status(413, f"body: more than {limit} bytes "
                                "(sidecar.limits.max_body_bytes)", as_json)
        body = b"".join(chunks)
        try:
            outcome = await asyncio.to_thread(self._admit, body, ctype, encoding, limit)
        except payload.IngestError as exc:
            return self._status(exc.status, exc.message, as_json)
        if not outcome.queued:
            self.engine.counters.inc("dropped", "inbox_full")
            return Response(otlp_wire.status(14, "the sidecar is behind; retry later",
                                             as_json), 429, headers={"Retry-After": "1"},
                            media_type=otlp_wire.JSON if as_json else otlp_wire.PROTOBUF)
        return Response(otlp_wire.response(outcome.rejected, outcome.message, as_json), 200,
                        media_type=otlp_wire.JSON if as_json else otlp_wire.PROTOBUF)

    def _admit(self, body: bytes, ctype: str, encoding: str, limit: int) -> Outcome:
        if encoding == "gzip":
            body = otlp_wire.gunzip(body, limit)
        return admit_request(self.engine, otlp_wire.parse(body, ctype))


__all__ = ["OtlpHttp", "admit", "admit_request"]
