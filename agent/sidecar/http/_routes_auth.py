"""Who may read and write: the bearer token (constant-time compare) or, for a browser and
never for ingest, the session cookie that ``/login`` sets (rate-limited per client)."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from agent.sidecar.http import _page
from agent.sidecar.http._routes_common import SESSION_COOKIE, error, html
from agent.sidecar.http._sessions import LoginLimiter, Sessions
from agent.sidecar.view import Counters
from agent.spec.document import Spec


class Auth:
    def __init__(self, spec: Spec, token: str | None, counters: Counters) -> None:
        self.spec = spec
        self.token_bytes = token.encode() if token else None
        self.counters = counters
        self.sessions = Sessions()
        self.limiter = LoginLimiter()

    def authorized(self, request: Request, session_ok: bool = True) -> bool:
        """Bearer token in the header, or (for a browser, never for ingest) the session
        cookie /login sets."""
        if self.token_bytes is None:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer":
            return hmac.compare_digest(given.strip().encode(), self.token_bytes)
        return session_ok and self.sessions.valid(request.cookies.get(SESSION_COOKIE))

    def unauthorized(self) -> JSONResponse:
        self.counters.inc("batches", "unauthorized")
        return error(401, "missing or invalid bearer token (Authorization: Bearer ...)",
                     headers={"WWW-Authenticate": "Bearer"})

    def login_page(self, message: str = "", status_code: int = 401) -> Response:
        return html(_page.login(self.spec, message), status_code)

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self.login_page(status_code=200)
        wait = self.limiter.allow(request.client.host if request.client else "")
        if wait:
            self.counters.inc("batches", "unauthorized")
            resp = self.login_page("Too many attempts; try again in a minute.", 429)
            resp.headers["Retry-After"] = str(max(1, round(wait)))
            return resp
        body = (await request.body())[:4096].decode(errors="replace")
        given = parse_qs(body).get("token", [""])[0]
        if self.token_bytes is None or not hmac.compare_digest(given.encode(),
                                                               self.token_bytes):
            self.counters.inc("batches", "unauthorized")
            return self.login_page("That token is not the sidecar's.")
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(SESSION_COOKIE, self.sessions.new(), max_age=int(self.sessions.ttl),
                        httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
        return resp
