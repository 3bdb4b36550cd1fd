"""OpenTelemetry instruments the sidecar's OTLP door reads, and what each one feeds: one plain
table, so it can be joined to the signal records (a record's "names elsewhere") and read by the
door, the docs and ``validate`` alike.

Conventions followed, as ``OTEL_SEMCONV_STABILITY_OPT_IN`` names them:

* ``http`` — the stable HTTP conventions (semconv 1.23+): ``http.server.request.duration`` in
  seconds with ``http.response.status_code`` and ``error.type``. An instrumentation on
  ``http/dup`` also emits the old ``http.server.duration`` (milliseconds): that name is left out
  here on purpose (ignored and counted), so no call is counted twice.
* ``gen_ai_latest_experimental`` — the GenAI conventions as of semconv 1.37 (client and model
  server metrics, the client's streaming chunk timings). Instrumentations still on 1.36 or
  earlier emit the same metric names; ``gen_ai.system`` vs ``gen_ai.provider.name`` does not
  matter here (neither is read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["duration", "ttft", "tpot", "tokens"]


@dataclass(frozen=True)
class OtelInstrument:
    name: str                  # the instrument (OTLP metric) name
    unit: str                  # the UCUM unit the conventions give it
    role: Role                 # what the door makes of a data point (see ROLES, FILLS)
    conventions: str           # the OTEL_SEMCONV_STABILITY_OPT_IN value it follows
    side: Literal["client", "server"]


#: every instrument the door reads; any other metric is ignored and counted by name
INSTRUMENTS: tuple[OtelInstrument, ...] = (
    OtelInstrument("gen_ai.client.operation.duration", "s", "duration",
                   "gen_ai_latest_experimental", "client"),
    OtelInstrument("gen_ai.server.request.duration", "s", "duration",
                   "gen_ai_latest_experimental", "server"),
    OtelInstrument("http.server.request.duration", "s", "duration", "http", "server"),
    OtelInstrument("gen_ai.server.time_to_first_token", "s", "ttft",
                   "gen_ai_latest_experimental", "server"),
    OtelInstrument("gen_ai.client.operation.time_to_first_chunk", "s", "ttft",
                   "gen_ai_latest_experimental", "client"),
    OtelInstrument("gen_ai.server.time_per_output_token", "s", "tpot",
                   "gen_ai_latest_experimental", "server"),
    OtelInstrument("gen_ai.client.operation.time_per_output_chunk", "s", "tpot",
                   "gen_ai_latest_experimental", "client"),
    OtelInstrument("gen_ai.client.token.usage", "{token}", "tokens",
                   "gen_ai_latest_experimental", "client"),
)

#: what each role fills of a model's state (the names its signal records compute from: a
#: kind is fed by OTLP when its record reads what some role fills)
FILLS: dict[Role, tuple[str, ...]] = {
    "duration": ("ok", "error", "latency"), "ttft": ("ttft",), "tpot": ("tpot",),
    "tokens": ("tokens",)}
#: what each role means to the door
ROLES: dict[Role, str] = {
    "duration": "one call per observation: counts by outcome and the latency sketch",
    "ttft": "the time-to-first-token sketch",
    "tpot": "the time-per-output-token sketch",
    "tokens": "the sum of the observations, by gen_ai.token.type",
}
#: a failed call: this attribute present (any value), on every duration instrument
ERROR_ATTRIBUTE = "error.type"
#: a failed HTTP call: this attribute at or above FAILED_STATUS (server errors only)
HTTP_STATUS_ATTRIBUTE = "http.response.status_code"
FAILED_STATUS = 500
#: where a data point's model comes from, first present wins (HTTP: the route); a spec's
#: models[].otlp line matches on them
MODEL_ATTRIBUTES = ("gen_ai.request.model", "gen_ai.response.model")
HTTP_MODEL_ATTRIBUTE = "http.route"
#: the resource attribute naming the service (must be the spec's service)
SERVICE_ATTRIBUTE = "service.name"
TOKEN_TYPE_ATTRIBUTE = "gen_ai.token.type"
#: gen_ai.token.type values → the token types the sidecar keeps; "prompt" and "completion"
#: are what instrumentations before semconv 1.27 sent
TOKEN_TYPES = {"input": "input", "output": "output", "prompt": "input", "completion": "output"}

BY_NAME = {i.name: i for i in INSTRUMENTS}

__all__ = ["BY_NAME", "ERROR_ATTRIBUTE", "FILLS", "FAILED_STATUS", "HTTP_MODEL_ATTRIBUTE",
           "HTTP_STATUS_ATTRIBUTE", "INSTRUMENTS", "MODEL_ATTRIBUTES",
           "ROLES", "SERVICE_ATTRIBUTE", "TOKEN_TYPES", "TOKEN_TYPE_ATTRIBUTE",
           "OtelInstrument"]
