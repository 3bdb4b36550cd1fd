"""Connection limits uvicorn leaves to the application: a header-read timeout and a cap.

uvicorn's ``timeout_keep_alive`` is cancelled by any byte received, so a client that sends a
header byte every few seconds is held forever, and nothing caps the connections but the
open-file limit. This protocol (uvicorn's h11 one, plus bookkeeping) gives every connection
``header_timeout`` seconds, counted from connect or from the end of the previous response and
not renewed by partial bytes, to deliver a request's line and headers; a sweep closes those
that do not. Past ``max_connections`` a new connection closes the one that has waited longest
for its request (a slow or idle client), so a scraper always gets in; when every connection
is serving a request, the new one is refused. Closes are counted by reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def guarded_protocol(max_connections: int, header_timeout: float,
                     on_close: Callable[[str], None],
                     on_count: Callable[[int], None]) -> type[H11Protocol]:
    """An h11 protocol class for one server with these limits (pass it as uvicorn's ``http``)."""
    period = min(1.0, header_timeout / 4)
    sweeper: dict[str, Any] = {"handle": None}
    #: connections waiting for a request's headers, in the order they started waiting (so the
    #: longest-waiting is the first, and a sweep stops at the first one still in time)
    waiting: dict[Any, float] = {}

    class Guarded(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._track()
            if sweeper["handle"] is None:
                sweeper["handle"] = self.loop.call_later(period, _sweep, self.loop)
            if len(self.connections) > max_connections:
                victim = next((c for c in waiting
                               if c is not self and not c.transport.is_closing()), None)
                (victim or self).close_for("evicted" if victim else "refused")
            on_count(len(self.connections))

        def connection_lost(self, exc: Exception | None) -> None:
            waiting.pop(self, None)
            super().connection_lost(exc)
            on_count(len(self.connections))

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._track()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._track()

        def _track(self) -> None:
            """Note when the connection started waiting for a request's headers."""
            ours, theirs = self.conn.our_state, self.conn.their_state
            busy = ours is h11.SEND_RESPONSE or (ours is h11.IDLE and theirs is not h11.IDLE)
            if busy:
                waiting.pop(self, None)
            elif self not in waiting and not self.transport.is_closing():
                waiting[self] = self.loop.time()

        def close_for(self, reason: str) -> None:
            waiting.pop(self, None)
            if not self.transport.is_closing():
                on_close(reason)
                self.transport.close()

    def _sweep(loop: asyncio.AbstractEventLoop) -> None:
        cutoff = loop.time() - header_timeout
        for conn, since in list(waiting.items()):
            if since > cutoff:
                break
            conn.close_for("header_timeout")
        sweeper["handle"] = loop.call_later(period, _sweep, loop)

    return Guarded
