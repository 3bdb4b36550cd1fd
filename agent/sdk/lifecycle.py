"""Data leaves the process before it ends.

What a process recorded is shipped, within a bound (``exit_timeout``: ``sdk.exit_timeout``,
``SLO_AGENT_EXIT_TIMEOUT``, or ``Monitor(exit_timeout=...)``, 2 s by default, 0 turns it off):
at interpreter exit (``atexit``, as OpenTelemetry's SDK shuts its providers down) and when the
process is asked to stop (SIGTERM). The SIGTERM handler is chained, never a replacement: the
handler that was installed before runs after the flush (or, when there was none, the default
action is taken again, so the process still ends by the signal); a framework that installs its
own handler later (uvicorn, gunicorn) ends the process through a normal exit, and ``atexit``
flushes then. The last batch of an exit carries ``sdk.lifecycle: exit``, so the sidecar takes
the instance out of its live count at once. A job run's end is shipped by :mod:`.handles` itself.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import time
import weakref
from typing import Any, Protocol

log = logging.getLogger("slo_agent.sdk")

EXIT_TIMEOUT_ENV = "SLO_AGENT_EXIT_TIMEOUT"
DEFAULT_EXIT_TIMEOUT = 2.0


class Flushable(Protocol):
    exit_timeout: float

    def final_flush(self, deadline: float, final: bool) -> None: ...


_monitors: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_hooks = {"atexit": False, "sigterm": False}


def exit_timeout(given: float | None, spec_value: float | None) -> float:
    """The bound on waiting for the sidecar at exit and at a job's end, in seconds: the
    argument, else ``SLO_AGENT_EXIT_TIMEOUT``, else the spec's ``sdk.exit_timeout``, else 2."""
    if given is not None:
        return max(0.0, float(given))
    raw = os.environ.get(EXIT_TIMEOUT_ENV)
    if raw:
        try:
            return max(0.0, float(raw.rstrip("s")))
        except ValueError:
            log.warning("slo-agent: %s=%r is not a number of seconds; using %gs",
                        EXIT_TIMEOUT_ENV, raw, DEFAULT_EXIT_TIMEOUT)
    return DEFAULT_EXIT_TIMEOUT if spec_value is None else max(0.0, float(spec_value))


def register(monitor: Flushable) -> None:
    """Flush ``monitor`` at exit and at SIGTERM (hooks installed once per process)."""
    if monitor.exit_timeout <= 0:
        return
    with _lock:
        _monitors.add(monitor)
        if not _hooks["atexit"]:
            atexit.register(flush_all, True)
            _hooks["atexit"] = True
        if not _hooks["sigterm"] and threading.current_thread() is threading.main_thread():
            try:
                _chain_sigterm()
                _hooks["sigterm"] = True
            except (ValueError, OSError):   # no signals here (embedded interpreter)
                pass


def unregister(monitor: Flushable) -> None:
    with _lock:
        _monitors.discard(monitor)


def flush_all(final: bool) -> None:
    """Ship what every registered monitor holds; all together within the largest bound."""
    monitors = list(_monitors)
    if not monitors:
        return
    deadline = time.monotonic() + max(m.exit_timeout for m in monitors)
    for m in monitors:
        try:
            m.final_flush(deadline, final)
        except Exception:   # never into the host's shutdown
            log.debug("slo-agent: flush at exit failed", exc_info=True)


def _chain_sigterm() -> None:
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        # the process ends now only when nothing else handles the signal
        ends = not callable(previous)
        flush_all(final=ends and previous != signal.SIG_IGN)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:                                     # SIG_DFL, or set outside Python
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)


class Shipping:
    """The monitor's shipping verbs: ``flush`` (tests, your own shutdown), ``close``, the exit
    flush and a job's end. A base of :class:`agent.sdk.monitor.Monitor`."""

    shipper: Any
    otel: Any
    exit_timeout: float

    def sdk_error(self, where: str) -> None:
        raise NotImplementedError

    def flush(self, timeout: float = 5.0) -> bool:
        """Ship what is held now, within ``timeout`` seconds; True when nothing is left."""
        if self.shipper is None:
            return True
        try:
            return bool(self.shipper.flush(timeout))
        except Exception:
            self.sdk_error("flush")
            return False

    def close(self) -> None:
        unregister(self)
        if self.shipper is not None:
            self.final_flush(time.monotonic() + (self.exit_timeout or DEFAULT_EXIT_TIMEOUT),
                             final=True)
            self.shipper.close()
        if self.otel is not None:
            self.otel.shutdown()

    def final_flush(self, deadline: float, final: bool) -> None:
        """Ship what is held before the process ends, until ``deadline`` (monotonic)."""
        if self.shipper is not None:
            try:
                self.shipper.flush(max(0.0, deadline - time.monotonic()), final=final)
            except Exception:
                self.sdk_error("flush")

    def _ship_now(self) -> None:
        """A job run ended: ship it before the block returns, within ``exit_timeout``."""
        if self.shipper is not None and self.exit_timeout > 0:
            self.flush(self.exit_timeout)
