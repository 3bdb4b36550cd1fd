"""Where an unconfigured monitor looks (environment variables) and what it says once when it
finds nothing: a process with no spec and no sidecar URL only serves its own metrics."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("slo_agent.sdk")

ENV_URL = "SLO_AGENT_URL"
ENV_SPEC = "SLO_AGENT_SPEC"
ENV_TOKEN = "SLO_AGENT_TOKEN"
ENV_SERVICE = "SLO_AGENT_SERVICE"


_warned_unconfigured = False


def _warn_unconfigured(service: str) -> None:
    """Said once per process: with no spec and no sidecar URL the SDK only serves metrics from
    this process, which a newcomer would otherwise have to guess."""
    global _warned_unconfigured
    if _warned_unconfigured:
        return
    _warned_unconfigured = True
    named = (f"the service is named {service!r}" if service != "unknown_service" else
             "the service is named 'unknown_service' (set SLO_AGENT_SERVICE or OTEL_SERVICE_NAME)")
    log.warning("slo-agent: neither %s nor %s is set: metrics are only exposed through this "
                "process's Prometheus registry, nothing is shipped to a sidecar, and %s. Set "
                "%s=path/to/slo.yaml, or %s=http://127.0.0.1:9464 to ship to a running sidecar.",
                ENV_SPEC, ENV_URL, named, ENV_SPEC, ENV_URL)


def _otel_from_env(sdk: Any) -> bool:
    if sdk is not None and sdk.otel is not None:
        return bool(sdk.otel)
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
