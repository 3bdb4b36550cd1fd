"""The read side: /metrics (open, published families only), /healthz, /readyz, /status, the
status page and its history, assets and the OpenAPI document. Pages render off the event loop
so ingest and /metrics never wait on one."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.sidecar.http import _page
from agent.sidecar.http._routes_auth import Auth
from agent.sidecar.http._routes_common import error, html
from agent.sidecar.ingest import columnar, payload
from agent.sidecar.served import DCGMPublished, Live, scrape
from agent.sidecar.state.jsonsafe import dumps
from agent.sidecar.view import EngineView

ASSETS = {"page.css": "text/css; charset=utf-8", "page.js": "text/javascript; charset=utf-8"}


class Reads:
    def __init__(self, engine: EngineView, auth: Auth) -> None:
        self.engine = engine
        self.auth = auth
        self.spec = engine.spec
        self.names = {o.name for o in engine.spec.objectives}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(Live(engine))
        self.dcgm = CollectorRegistry(auto_describe=False)
        self.dcgm.register(DCGMPublished(engine))
        self.openapi = columnar.document(payload.openapi())

    async def metrics(self, request: Request) -> Response:
        return Response(scrape(self.engine, self.registry), media_type=CONTENT_TYPE_LATEST)

    async def metrics_dcgm(self, request: Request) -> Response:
        return Response(generate_latest(self.dcgm), media_type=CONTENT_TYPE_LATEST)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        ready = self.engine.ready.is_set()
        return JSONResponse({"ready": ready, "spec": self.spec.service,
                             "collectors_started": ready,
                             "state_restored": self.engine.restored},
                            status_code=200 if ready else 503)

    async def status(self, request: Request) -> Response:
        if not self.auth.authorized(request):
            return self.auth.unauthorized()
        return Response(dumps(self.engine.status_doc, "status document", default=str),
                        media_type="application/json")

    async def index(self, request: Request) -> Response:
        if not self.auth.authorized(request):
            return self.auth.login_page()
        fragment = request.query_params.get("fragment") == "1"
        return html(await asyncio.to_thread(_page.index, self.spec, self.engine.status_doc,
                                            self.engine.interval, fragment))

    async def objective_page(self, request: Request) -> Response:
        if not self.auth.authorized(request):
            return self.auth.login_page()
        name = request.path_params["name"]
        body = await asyncio.to_thread(_page.detail, self.spec, self.engine.status_doc, name,
                                       self.engine.history.doc(name), self.engine.interval,
                                       request.query_params.get("fragment") == "1")
        if body is None:
            return html(_page.not_found(self.spec, name), 404)
        return html(body)

    async def history(self, request: Request) -> Response:
        if not self.auth.authorized(request):
            return self.auth.unauthorized()
        name = request.path_params["name"]
        if name not in self.names:
            return error(404, f"path: no objective named {name!r}",
                         [{"path": "<path>.name", "message": "unknown objective"}])
        return Response(dumps(self.engine.history.doc(name), "history", default=str),
                        media_type="application/json")

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return error(404, f"path: no asset {name!r}")
        return Response(_page.asset(name), media_type=ASSETS[name],
                        headers={"Cache-Control": "max-age=300"})

    async def openapi_json(self, request: Request) -> Response:
        return JSONResponse(self.openapi)
