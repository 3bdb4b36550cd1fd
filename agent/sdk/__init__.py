"""The instrumentation SDK: ``Monitor`` and the default ``monitor``."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from agent.sdk.monitor import Monitor

_default: Monitor | None = None
_lock = threading.Lock()


def default_monitor() -> Monitor:
    """The process-wide monitor, configured from ``SLO_AGENT_SPEC`` and the environment."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                spec = None
                path = os.environ.get("SLO_AGENT_SPEC")
                if path:
                    from agent.spec import SpecError, load_spec

                    try:
                        spec = load_spec(path)
                    except SpecError as exc:   # instrumentation must not stop the service
                        logging.getLogger("slo_agent.sdk").error(
                            "slo-agent: ignoring invalid spec %s:\n%s", path, exc)
                _default = Monitor(spec=spec)
    return _default


class _LazyMonitor:
    """``from agent import monitor`` at import time; the Monitor is built on first use."""

    def __getattr__(self, name: str) -> Any:
        return getattr(default_monitor(), name)

    def __repr__(self) -> str:
        return f"<slo-agent default monitor {default_monitor().service!r}>"


monitor = _LazyMonitor()

__all__ = ["Monitor", "default_monitor", "monitor"]
