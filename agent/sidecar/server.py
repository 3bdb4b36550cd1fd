"""The sidecar's HTTP API on a real ASGI server (uvicorn): /metrics, /metrics/dcgm, /healthz,
/readyz, /status, POST /v1/ingest, /openapi.json, and the status page (/, /objectives/NAME,
/history/NAME).

Every input is validated; a malformed or oversized request gets a 4xx whose message names the
field; a fault of the sidecar itself is a 500, logged once with its traceback. Off loopback,
ingest, status and the page need the bearer token (constant-time compare); a browser gives it
once at /login (rate-limited per client) and gets an HttpOnly, SameSite=Strict cookie holding a
random session value, never the token. Ingest takes the bearer token only, not the cookie.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import signal
import threading
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from agent.sidecar import ingest, page, wire
from agent.sidecar.engine import Engine
from agent.sidecar.exposition import DCGMPublished, Published
from agent.sidecar.jsonsafe import dumps
from agent.sidecar.sessions import LoginLimiter, Sessions
from agent.spec.model import Spec

log = logging.getLogger("slo_agent.sidecar")
SESSION_COOKIE = "slo_agent_session"
ASSETS = {"page.css": "text/css; charset=utf-8", "page.js": "text/javascript; charset=utf-8"}
#: the page loads only its own script and style: nothing from elsewhere, ever
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff"}


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


def _error(status: int, message: str, fields: list[dict[str, str]] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if fields:
        body["fields"] = fields
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(engine: Engine, token: str | None) -> Starlette:
    spec = engine.spec
    limits = spec.sidecar.limits
    admission = engine.admission
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Published(engine))
    dcgm = CollectorRegistry(auto_describe=False)
    dcgm.register(DCGMPublished(engine))
    token_bytes = token.encode() if token else None
    openapi = wire.document(ingest.openapi())
    names = {o.name for o in spec.objectives}
    sessions = Sessions()
    limiter = LoginLimiter()

    def authorized(request: Request, session_ok: bool = True) -> bool:
        """Bearer token in the header, or (for a browser, never for ingest) the session cookie
        /login sets."""
        if token_bytes is None:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer":
            return hmac.compare_digest(given.strip().encode(), token_bytes)
        return session_ok and sessions.valid(request.cookies.get(SESSION_COOKIE))

    def unauthorized() -> JSONResponse:
        engine.counters.inc("batches", "unauthorized")
        return _error(401, "missing or invalid bearer token (Authorization: Bearer ...)",
                      headers={"WWW-Authenticate": "Bearer"})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def metrics_dcgm(request: Request) -> Response:
        return Response(generate_latest(dcgm), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready = engine.ready.is_set()
        return JSONResponse({"ready": ready, "spec": spec.service,
                             "collectors_started": ready, "state_restored": engine.restored},
                            status_code=200 if ready else 503)

    async def status(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        return Response(dumps(engine.status_doc, "status document", default=str),
                        media_type="application/json")

    def html(body: str, status_code: int = 200) -> Response:
        return HTMLResponse(body, status_code=status_code,
                            headers={"Cache-Control": "no-store", **PAGE_HEADERS})

    def login_page(message: str = "", status_code: int = 401) -> Response:
        return html(page.login(spec, message), status_code)

    async def index(request: Request) -> Response:
        if not authorized(request):
            return login_page()
        fragment = request.query_params.get("fragment") == "1"
        # rendered off the event loop: ingest and /metrics never wait on a page
        return html(await asyncio.to_thread(page.index, spec, engine.status_doc,
                                            engine.interval, fragment))

    async def objective_page(request: Request) -> Response:
        if not authorized(request):
            return login_page()
        name = request.path_params["name"]
        body = await asyncio.to_thread(page.detail, spec, engine.status_doc, name,
                                       engine.history.doc(name), engine.interval,
                                       request.query_params.get("fragment") == "1")
        if body is None:
            return html(page.not_found(spec, name), 404)
        return html(body)

    async def history(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        name = request.path_params["name"]
        if name not in names:
            return _error(404, f"path: no objective named {name!r}",
                          [{"path": "<path>.name", "message": "unknown objective"}])
        return Response(dumps(engine.history.doc(name), "history", default=str),
                        media_type="application/json")

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return login_page(status_code=200)
        wait = limiter.allow(request.client.host if request.client else "")
        if wait:
            engine.counters.inc("batches", "unauthorized")
            resp = login_page("Too many attempts; try again in a minute.", 429)
            resp.headers["Retry-After"] = str(max(1, round(wait)))
            return resp
        body = (await request.body())[:4096].decode(errors="replace")
        given = parse_qs(body).get("token", [""])[0]
        if token_bytes is None or not hmac.compare_digest(given.encode(), token_bytes):
            engine.counters.inc("batches", "unauthorized")
            return login_page("That token is not the sidecar's.")
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(SESSION_COOKIE, sessions.new(), max_age=int(sessions.ttl),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return resp

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return _error(404, f"path: no asset {name!r}")
        return Response(page.asset(name), media_type=ASSETS[name],
                        headers={"Cache-Control": "max-age=300"})

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi)

    async def ingest_batch(request: Request) -> Response:
        if not authorized(request, session_ok=False):
            return unauthorized()
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
        parse = wire.parse if ctype == wire.CONTENT_TYPE else ingest.parse
        if ctype not in ("application/json", "", wire.CONTENT_TYPE):
            engine.counters.inc("batches", "rejected")
            return _error(415, f"Content-Type: expected application/json or "
                          f"{wire.CONTENT_TYPE}, got {ctype!r}",
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
            return _error(413, f"body: more than {limits.max_body_bytes} bytes "
                          "(sidecar.limits.max_body_bytes)",
                          [{"path": "<body>", "message": "too large"}])
        body = b"".join(chunks)
        try:
            batch = await asyncio.to_thread(parse, body) if size > 65536 else parse(body)
            if batch.service != spec.service:
                raise ingest.IngestError(
                    422, f"invalid field service: this sidecar serves {spec.service!r}, "
                    f"got {batch.service!r}", [{"path": "service", "message": "wrong service"}])
            admission.check(batch)
        except ingest.IngestError as exc:
            engine.counters.inc("batches", "rejected")
            return JSONResponse(exc.body(), status_code=exc.status)
        if not engine.submit(batch):
            engine.counters.inc("batches", "throttled")
            engine.counters.inc("dropped", "inbox_full", len(batch.items))
            return _error(429, "the sidecar is behind; retry later", headers={"Retry-After": "1"})
        engine.counters.inc("batches", "accepted")
        return JSONResponse({"accepted": len(batch.items)}, status_code=202)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        allowed = (exc.headers or {}).get("Allow")
        hint = f"; allowed: {allowed}" if allowed else ""
        return _error(exc.status_code, f"{request.method} {request.url.path}: "
                      f"{exc.detail}{hint}", headers=dict(exc.headers or {}))

    logged: set[tuple[str, str]] = set()

    async def on_error(request: Request, exc: Exception) -> Response:
        # Bad input is answered 4xx where it is parsed; reaching here is the sidecar's fault: a
        # 500, with the traceback logged the first time per endpoint and error type.
        key = (request.url.path, type(exc).__name__)
        if key not in logged and len(logged) < 256:      # capped: paths come from clients
            logged.add(key)
            log.error("internal error serving %s %s", request.method, request.url.path,
                      exc_info=exc)
        else:
            log.warning("internal error serving %s %s again: %s", request.method,
                        request.url.path, type(exc).__name__)
        return _error(500, f"internal error: {type(exc).__name__} (logged by the sidecar)")

    return Starlette(routes=[
        Route("/metrics", metrics), Route("/metrics/dcgm", metrics_dcgm),
        Route("/healthz", healthz), Route("/readyz", readyz), Route("/status", status),
        Route("/openapi.json", openapi_json),
        Route("/", index), Route("/objectives/{name}", objective_page),
        Route("/history/{name}", history), Route("/login", login, methods=["GET", "POST"]),
        Route("/ui/{name}", asset),
        Route("/v1/ingest", ingest_batch, methods=["POST"]),
    ], exception_handlers={HTTPException: on_http_error, Exception: on_error})


def run(spec: Spec, engine: Engine | None = None, log_level: str = "warning") -> None:
    """Serve until SIGTERM/SIGINT, then drain what was accepted and write a final snapshot.

    uvicorn re-raises the signal it caught once it has closed the listener; with SIGTERM's
    default action that would kill the process before the engine drains. A handler of ours is
    in place while it serves, so the re-raised SIGTERM only notes the request and the process
    exits 0 after the final snapshot (a rolling restart loses nothing accepted)."""
    import uvicorn

    token = resolve_token(spec)
    engine = engine or Engine(spec)
    engine.start()
    app = create_app(engine, token)
    config = uvicorn.Config(app, host=spec.sidecar.host, port=spec.sidecar.port,
                            log_level=log_level, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    previous = _hold_sigterm()
    try:
        server.run()
    finally:
        engine.stop()
        log.info("stopped: inbox drained, final snapshot written to %s", engine.state_dir)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _hold_sigterm() -> Any:
    """Install a no-op SIGTERM handler (main thread only); returns the one it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda sig, frame: log.info("SIGTERM: stopping"))
