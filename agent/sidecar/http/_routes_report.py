"""The review: ``GET /report`` (HTML, linked from the status page) and ``GET /report.json``
(the document ``slo-agent report --url`` renders), ``?since=7d`` by default. Built on the worker
thread, which owns the state; behind the same token rules as ``/status``."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from agent.report import document, render
from agent.sidecar.http._routes_auth import Auth
from agent.sidecar.http._routes_common import error, html
from agent.sidecar.state.jsonsafe import dumps
from agent.sidecar.view import EngineView

TIMEOUT = 30.0


class Report:
    def __init__(self, engine: EngineView, auth: Auth) -> None:
        self.engine = engine
        self.auth = auth

    async def _doc(self, request: Request) -> dict[str, object] | Response:
        since = request.query_params.get("since", "7d")
        try:
            span = document.parse_since(since)
        except ValueError as exc:
            return error(400, f"since: {exc}".replace("--since ", ""),
                         [{"path": "<query>.since", "message": str(exc)}])
        try:
            return await asyncio.wait_for(asyncio.wrap_future(self.engine.report(span)),
                                          TIMEOUT)
        except TimeoutError:
            return error(503, "the review could not be built in time; try again",
                         headers={"Retry-After": "5"})

    async def json(self, request: Request) -> Response:
        if not self.auth.authorized(request):
            return self.auth.unauthorized()
        doc = await self._doc(request)
        if isinstance(doc, Response):
            return doc
        return Response(dumps(doc, "report", default=str), media_type="application/json")

    async def page(self, request: Request) -> Response:
        if not self.auth.authorized(request):
            return self.auth.login_page()
        doc = await self._doc(request)
        if isinstance(doc, Response):
            return doc
        return html(await asyncio.to_thread(render.page, doc, "/", "/report.css"))

    async def css(self, request: Request) -> Response:
        return Response(render.CSS, media_type="text/css; charset=utf-8",
                        headers={"Cache-Control": "max-age=300"})
