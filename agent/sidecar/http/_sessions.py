"""Browser sessions and the /login rate limit: what the page's cookie means, bounded.

The cookie carries a random session value, never the token: a stolen cookie expires and never
grants ingest. Sessions are kept as SHA-256 digests in a capped table (oldest evicted first);
login attempts are limited per client by a token bucket in a capped map whose overflow bucket
is shared by every client past the cap, so a flood of addresses cannot grow it.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

SESSION_TTL = 12 * 3600.0
MAX_SESSIONS = 1000
LOGIN_BURST = 10            # attempts a client may make at once
LOGIN_PER_MINUTE = 10.0     # and then per minute
MAX_CLIENTS = 1024
OVERFLOW = "<overflow>"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode(errors="replace")).digest()


class Sessions:
    """Random session values with an expiry; at most ``cap`` live at once."""

    def __init__(self, ttl: float = SESSION_TTL, cap: int = MAX_SESSIONS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.cap, self._clock = ttl, cap, clock
        self._table: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0

    def new(self) -> str:
        value = secrets.token_urlsafe(32)
        with self._lock:
            self._table[_digest(value)] = self._clock() + self.ttl
            while len(self._table) > self.cap:
                self._table.popitem(last=False)
                self.evicted += 1
        return value

    def valid(self, value: str | None) -> bool:
        if not value:
            return False
        key = _digest(value)
        with self._lock:
            expires = self._table.get(key)
            if expires is None:
                return False
            if expires <= self._clock():
                del self._table[key]
                return False
            return True

    def __len__(self) -> int:
        return len(self._table)


class LoginLimiter:
    """Per-client token bucket for /login: ``burst`` attempts, refilled ``per_minute``."""

    def __init__(self, burst: int = LOGIN_BURST, per_minute: float = LOGIN_PER_MINUTE,
                 cap: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.rate, self.cap, self._clock = burst, per_minute / 60.0, cap, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str) -> float:
        """0 when this attempt may proceed, else the seconds to wait before the next one."""
        now = self._clock()
        with self._lock:
            # named clients take cap - 1 entries; the last is the shared overflow bucket
            if client not in self._buckets and len(self._buckets) >= self.cap - 1:
                self._forget(now)
                if len(self._buckets) >= self.cap - 1:
                    client = OVERFLOW
            tokens, at = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens - 1.0, now)
            self._buckets.move_to_end(client)
            return 0.0

    def _forget(self, now: float) -> None:
        """Drop clients whose bucket has refilled (they are indistinguishable from new ones)."""
        full = [c for c, (t, at) in self._buckets.items()
                if c != OVERFLOW and t + (now - at) * self.rate >= self.burst]
        for c in full:
            del self._buckets[c]

    def __len__(self) -> int:
        return len(self._buckets)
