"""Optional OpenTelemetry: a span per inference and gen_ai metrics through the OTLP exporter.

Enabled by ``sdk.otel: true`` in the spec or by the standard ``OTEL_EXPORTER_OTLP_*`` variables.
A host that configured its own providers keeps them; otherwise the SDK makes private ones with the
OTLP exporters (``OTEL_EXPORTER_OTLP_PROTOCOL`` picks grpc or http/protobuf). Attribute names follow
the gen_ai semantic conventions. Everything here is off the default hot path.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from agent.extras import hint

if TYPE_CHECKING:
    from agent.sdk.host import MonitorHost as Monitor
    from agent.sdk.series import Series

OPERATION = "gen_ai.operation.name"
MODEL = "gen_ai.request.model"
SYSTEM = "gen_ai.system"
log = logging.getLogger("slo_agent.sdk")


def _exporters() -> tuple[Any, Any] | None:
    """The OTLP span and metric exporter classes (``OTEL_EXPORTER_OTLP_PROTOCOL`` picks grpc or
    http/protobuf), or None when the ``otlp`` extra is not installed."""
    try:
        if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter,
            )
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[assignment]
                OTLPMetricExporter,
            )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
                OTLPSpanExporter,
            )
    except ImportError:
        return None
    return OTLPSpanExporter, OTLPMetricExporter


class OTelBridge:
    def __init__(self, tracer: Any, duration: Any, token_usage: Any, providers: list[Any],
                 operation: str) -> None:
        self.tracer = tracer
        self.duration = duration
        self.token_usage = token_usage
        self._providers = providers
        self.operation = operation

    @classmethod
    def create(cls, monitor: Monitor) -> OTelBridge | None:
        try:
            from opentelemetry import metrics, trace
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            resource = Resource.create({"service.name": monitor.service})
            providers: list[Any] = []
            tp = trace.get_tracer_provider()
            mp = metrics.get_meter_provider()
            own_tp = type(tp).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider")
            own_mp = type(mp).__name__ in ("_ProxyMeterProvider", "NoOpMeterProvider")
            if own_tp or own_mp:
                exporters = _exporters()
                if exporters is None:   # the host set no providers and we cannot export
                    log.warning("slo-agent: %s; OpenTelemetry spans and gen_ai metrics are off "
                                "(Prometheus metrics and the sidecar are unaffected)",
                                hint("otlp", "OTLP export"))
                    return None
                span_exporter, metric_exporter = exporters
                if own_tp:
                    tp = TracerProvider(resource=resource)
                    tp.add_span_processor(BatchSpanProcessor(span_exporter()))
                    providers.append(tp)
                if own_mp:
                    mp = MeterProvider(resource=resource, metric_readers=[
                        PeriodicExportingMetricReader(metric_exporter())])
                    providers.append(mp)
            tracer = tp.get_tracer("slo-agent")
            meter = mp.get_meter("slo-agent")
            duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s",
                                              description="Inference call duration")
            usage = meter.create_histogram("gen_ai.client.token.usage", unit="{token}",
                                           description="Tokens used per call")
            return cls(tracer, duration, usage, providers,
                       os.environ.get("SLO_AGENT_GENAI_OPERATION", "inference"))
        except Exception:
            monitor.sdk_error("otel")
            return None

    def _attrs(self, series: Series) -> dict[str, str]:
        attrs = {OPERATION: self.operation, MODEL: series.model}
        if series.version:
            attrs["gen_ai.request.model.version"] = series.version
        return attrs

    def start(self, series: Series) -> Any:
        return self.tracer.start_span(f"{self.operation} {series.model}",
                                      attributes=self._attrs(series))

    def end(self, span: Any, series: Series, t0: float, exc: BaseException | None) -> None:
        attrs = self._attrs(series)
        if exc is not None:
            from opentelemetry.trace import Status, StatusCode

            attrs["error.type"] = type(exc).__name__
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
        span.end()
        self.duration.record(time.perf_counter() - t0, attrs)

    def tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        for ttype, amount in (("input", input_tokens), ("output", output_tokens)):
            if amount:
                self.token_usage.record(amount, {OPERATION: self.operation, MODEL: model,
                                                 "gen_ai.token.type": ttype})

    def shutdown(self) -> None:
        for p in self._providers:
            try:
                p.shutdown()
            except Exception:
                pass
