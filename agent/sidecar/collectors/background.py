"""A dataset's reads on a daemon thread of its own, one at a time.

A dataset read can take minutes (a huge file scanned by DuckDB, a slow database): run on the
collector thread it would delay the GPU and scrape polls behind it. The collector thread only
starts a read when one is due and picks up the finished one; while a read runs no second one
starts, and the poller says when the running one has overrun. Imports nothing of ours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

R = TypeVar("R")


class Reads(Generic[R]):
    """``start()`` runs ``read(now)`` on a new thread unless one is running; ``finished()``
    hands over its result once (a ``None`` result, nothing new, is not handed over). An
    exception in ``read`` becomes ``failed(exc)``: a bug never kills the poller."""

    def __init__(self, name: str, read: Callable[[float], R | None],
                 failed: Callable[[Exception], R]) -> None:
        self.name = name
        self._read, self._failed = read, failed
        self._lock = threading.Lock()
        self._running_since: float | None = None
        self._done: R | None = None

    def start(self, now: float | None = None) -> float | None:
        """Start a read; when one is already running, how long it has run instead (seconds)."""
        now = time.time() if now is None else now
        with self._lock:
            if self._running_since is not None:
                return max(0.0, now - self._running_since)
            self._running_since = now
        threading.Thread(target=self._run, args=(now,), daemon=True, name=self.name).start()
        return None

    def _run(self, now: float) -> None:
        try:
            result = self._read(now)
        except Exception as exc:
            result = self._failed(exc)
        with self._lock:
            if result is not None:
                self._done = result
            self._running_since = None

    def finished(self) -> R | None:
        with self._lock:
            done, self._done = self._done, None
        return done

    @property
    def running(self) -> bool:
        with self._lock:
            return self._running_since is not None
