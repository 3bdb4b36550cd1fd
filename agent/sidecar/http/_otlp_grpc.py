"""OTLP/gRPC: ``MetricsService/Export`` on its own port (``sidecar.otlp.grpc``, 4317 when
``true``), through the same door, token and caps as ``POST /v1/metrics``.

The request arrives as bytes and is parsed here, so a malformed message is INVALID_ARGUMENT
(not retried) rather than grpc's own INTERNAL. A missing or wrong ``authorization: Bearer``
is UNAUTHENTICATED; a full inbox is UNAVAILABLE (retried with backoff, as OTLP asks); a message
over ``max_body_bytes`` is grpc's RESOURCE_EXHAUSTED. Rejected points come back in
``partial_success``.
"""

from __future__ import annotations

import hmac
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent.sidecar.http._routes_otlp import OtlpInbox, admit
from agent.sidecar.ingest import otlp_wire, payload

log = logging.getLogger("slo_agent.sidecar")
SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
WORKERS = 4


class OtlpGrpc:
    def __init__(self, engine: OtlpInbox, token: str | None, host: str, port: int) -> None:
        self.engine = engine
        self.token = token.encode() if token else None
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.server: Any = None
        self.port = port

    def start(self) -> None:
        """Bind and serve; raises OSError (port taken) so ``slo-agent run`` fails at start."""
        import grpc

        limit = self.engine.spec.sidecar.limits.max_body_bytes
        server = grpc.server(ThreadPoolExecutor(WORKERS, thread_name_prefix="slo-agent-otlp"),
                             options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.so_reuseport", 0)])
        handler = grpc.method_handlers_generic_handler(SERVICE, {
            "Export": grpc.unary_unary_rpc_method_handler(self.export)})
        server.add_generic_rpc_handlers((handler,))
        try:
            self.port = server.add_insecure_port(self.address)
        except RuntimeError as exc:
            raise OSError(f"OTLP/gRPC: cannot listen on {self.address}: {exc}") from None
        if not self.port:
            raise OSError(f"OTLP/gRPC: cannot listen on {self.address} (in use?)")
        server.start()
        self.server = server
        log.info("OTLP/gRPC listening on %s", self.address)

    def stop(self, grace: float = 2.0) -> None:
        if self.server is not None:
            self.server.stop(grace).wait(grace + 1)

    def _authorized(self, context: Any) -> bool:
        if self.token is None:
            return True
        header = dict(context.invocation_metadata()).get("authorization", "")
        scheme, _, given = str(header).partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                  self.token)

    def export(self, request: bytes, context: Any) -> bytes:
        import grpc

        counters = self.engine.counters
        if not self._authorized(context):
            counters.inc("batches", "unauthorized")
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "missing or invalid bearer token (authorization: Bearer ...)")
        try:
            outcome = admit(self.engine, request)
        except payload.IngestError as exc:
            counters.inc("batches", "rejected")
            code = grpc.StatusCode.RESOURCE_EXHAUSTED if exc.status == 413 else \
                grpc.StatusCode.INVALID_ARGUMENT
            context.abort(code, exc.message)
        if not outcome.queued:
            counters.inc("dropped", "inbox_full")
            context.abort(grpc.StatusCode.UNAVAILABLE, "the sidecar is behind; retry later")
        return otlp_wire.response(outcome.rejected, outcome.message, as_json=False)


def start(engine: OtlpInbox, token: str | None) -> OtlpGrpc | None:
    """The gRPC receiver when the spec enables it (started), else None."""
    sidecar = engine.spec.sidecar
    where = sidecar.otlp.grpc_listen(sidecar.host)
    if where is None:
        return None
    svc = OtlpGrpc(engine, token, *where)
    svc.start()
    return svc


__all__ = ["SERVICE", "OtlpGrpc", "start"]
