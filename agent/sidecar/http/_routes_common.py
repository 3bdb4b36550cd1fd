"""What every route module shares: the JSON error shape (a message naming the field) and the
page's response headers."""

from __future__ import annotations

from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response

SESSION_COOKIE = "slo_agent_session"
#: the page loads only its own script and style: nothing from elsewhere, ever
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff"}


def error(status: int, message: str, fields: list[dict[str, str]] | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if fields:
        body["fields"] = fields
    return JSONResponse(body, status_code=status, headers=headers)


def html(body: str, status_code: int = 200) -> Response:
    return HTMLResponse(body, status_code=status_code,
                        headers={"Cache-Control": "no-store", **PAGE_HEADERS})
