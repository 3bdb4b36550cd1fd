"""The sidecar's HTTP API on a real ASGI server (uvicorn): /metrics, /metrics/dcgm, /healthz,
/readyz, /status, POST /v1/ingest, POST /v1/metrics (OTLP; gRPC beside it: :mod:`._otlp_grpc`),
/openapi.json, and the status page (/, /objectives/NAME, /history/NAME).

Every input is validated; a malformed or oversized request gets a 4xx whose message names the
field; a fault of the sidecar itself is a 500, logged once with its traceback. Off loopback,
ingest, status and the page need the bearer token (constant-time compare); a browser gives it
once at /login (rate-limited per client) and gets an HttpOnly, SameSite=Strict cookie holding a
random session value, never the token. Ingest takes the bearer token only, not the cookie.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent.sidecar.engine import Engine
from agent.sidecar.http._connections import guarded_protocol
from agent.sidecar.http._routes_auth import Auth
from agent.sidecar.http._routes_common import error
from agent.sidecar.http._routes_ingest import Ingest
from agent.sidecar.http._routes_otlp import OtlpHttp
from agent.sidecar.http._routes_read import Reads
from agent.sidecar.http._routes_report import Report
from agent.spec.document import Spec

log = logging.getLogger("slo_agent.sidecar")


class InsecureBind(RuntimeError):
    """Refusing to listen off loopback without a token."""


def resolve_token(spec: Spec) -> str | None:
    """The bearer token, or None on loopback without one; raises InsecureBind when required."""
    env = spec.sidecar.token_env
    token = os.environ.get(env) if env else None
    if not spec.sidecar.loopback and not token:
        where = f"the environment variable {env}" if env else "sidecar.token_env"
        raise InsecureBind(
            f"refusing to listen on {spec.sidecar.listen}: off loopback the ingest and status "
            f"endpoints need a bearer token; set {where} (and sidecar.token_env in the spec)")
    return token or None


def create_app(engine: Engine, token: str | None) -> Starlette:
    """The routes (one module per side: :mod:`._routes_read`, :mod:`._routes_ingest`,
    :mod:`._routes_auth`) and the error handlers."""
    auth = Auth(engine.spec, token, engine.counters)
    reads = Reads(engine, auth)
    ingest = Ingest(engine, auth)
    otlp = OtlpHttp(engine, auth)
    report = Report(engine, auth)
    return Starlette(routes=[
        Route("/metrics", reads.metrics), Route("/metrics/dcgm", reads.metrics_dcgm),
        Route("/healthz", reads.healthz), Route("/readyz", reads.readyz),
        Route("/status", reads.status), Route("/openapi.json", reads.openapi_json),
        Route("/", reads.index), Route("/objectives/{name}", reads.objective_page),
        Route("/history/{name}", reads.history),
        Route("/report", report.page), Route("/report.json", report.json),
        Route("/report.css", report.css),
        Route("/login", auth.login, methods=["GET", "POST"]),
        Route("/ui/{name}", reads.asset),
        Route("/v1/ingest", ingest.post, methods=["POST"]),
        Route("/v1/metrics", otlp.post, methods=["POST"]),
    ], exception_handlers={HTTPException: on_http_error, Exception: ServerFault().handle})


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    allowed = (exc.headers or {}).get("Allow")
    hint = f"; allowed: {allowed}" if allowed else ""
    return error(exc.status_code, f"{request.method} {request.url.path}: "
                 f"{exc.detail}{hint}", headers=dict(exc.headers or {}))


class ServerFault:
    """Bad input is answered 4xx where it is parsed; reaching here is the sidecar's fault: a
    500, with the traceback logged the first time per endpoint and error type."""

    def __init__(self) -> None:
        self.logged: set[tuple[str, str]] = set()

    async def handle(self, request: Request, exc: Exception) -> Response:
        key = (request.url.path, type(exc).__name__)
        if key not in self.logged and len(self.logged) < 256:   # capped: paths from clients
            self.logged.add(key)
            log.error("internal error serving %s %s", request.method, request.url.path,
                      exc_info=exc)
        else:
            log.warning("internal error serving %s %s again: %s", request.method,
                        request.url.path, type(exc).__name__)
        return error(500, f"internal error: {type(exc).__name__} (logged by the sidecar)")


def run(spec: Spec, engine: Engine | None = None, log_level: str = "warning") -> None:
    """Serve until SIGTERM/SIGINT, then drain what was accepted and write a final snapshot.

    uvicorn re-raises the signal it caught once it has closed the listener; with SIGTERM's
    default action that would kill the process before the engine drains. A handler of ours is
    in place while it serves, so the re-raised SIGTERM only notes the request and the process
    exits 0 after the final snapshot (a rolling restart loses nothing accepted)."""
    import uvicorn

    from agent.sidecar.http import _otlp_grpc as otlp_grpc

    token = resolve_token(spec)
    engine = engine or Engine(spec)
    grpc_server = otlp_grpc.start(engine, token)     # a taken port fails here, before serving
    engine.start()
    app = create_app(engine, token)
    limits = spec.sidecar.limits
    protocol = guarded_protocol(
        connection_cap(limits.max_connections), limits.header_timeout,
        lambda reason: engine.counters.inc("http_closed", reason),
        lambda n: setattr(engine, "http_connections", n))
    # proxy headers only from the addresses the spec lists (uvicorn's default trusts loopback,
    # so anything on the host could pick the client address the login limit is keyed on)
    proxies = list(spec.sidecar.trusted_proxies)
    config = uvicorn.Config(app, host=spec.sidecar.host, port=spec.sidecar.port,
                            log_level=log_level, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=5, http=protocol,
                            proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)
    server = uvicorn.Server(config)
    previous = _hold_sigterm()
    try:
        server.run()
    finally:
        if grpc_server is not None:
            grpc_server.stop()
        if engine.stop():
            log.info("stopped: inbox drained, final snapshot written to %s", engine.state_dir)
        else:
            health = engine.snapshots
            log.error("stopped: inbox drained, but the final snapshot could NOT be written "
                      "to %s (%s); the last good snapshot is %s, and what was recorded since "
                      "is lost", engine.state_dir, health.last_error,
                      health.age_text(engine.clock()))
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def connection_cap(wanted: int) -> int:
    """The connection cap, lowered (and said) to what the open-file limit leaves room for."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = soft - 64 if soft != resource.RLIM_INFINITY else wanted
    if room < wanted:
        log.warning("sidecar.limits.max_connections %d lowered to %d: the open-file limit is %d "
                    "(raise it with ulimit -n)", wanted, max(8, room), soft)
    return max(8, min(wanted, room))


def _hold_sigterm() -> Any:
    """Install a no-op SIGTERM handler (main thread only); returns the one it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda sig, frame: log.info("SIGTERM: stopping"))
