"""OTLP in the spec: which models come from OpenTelemetry (``models[].otlp``, one line each), the
receiver's settings (``sidecar.otlp``), and the notes ``validate`` prints when an objective
watches something no source feeds.

``models[].otlp`` takes three forms:

* ``true`` — data points whose ``gen_ai.request.model`` (else ``gen_ai.response.model``) is
  the model's own name;
* ``gpt-4o-mini`` — the same attributes equal to that value (the spec's name may differ);
  ``gpt-4o-mini*`` — starting with it (a provider's dated snapshots: ``gpt-4o-mini-2024-07-18``);
* ``*`` — every GenAI data point of the service, with a model attribute or not (OpenLLMetry
  records a failed call's duration with ``error.type`` only: a service calling one model says
  ``*`` so its failures count);
* ``http.route=/v1/predict`` — any data-point attribute equal to a value (``*``: present with
  any value), e.g. an HTTP service's route on ``http.server.request.duration``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from agent.signals import RECORDS, otel_names, otlp_instruments
from agent.spec.fields import StrictModel

ATTR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
GRPC_PORT = 4317
ANY = "*"


@dataclass(frozen=True)
class Match:
    """Which data points feed a model: the first of ``keys`` present must equal ``value``
    (``*``: any value; ``prefix*``: starting with it); ``every``: every GenAI point."""

    keys: tuple[str, ...]
    value: str
    every: bool = False

    def hits(self, attrs: dict[str, str], http_point: bool = False) -> bool:
        if self.every:
            return not http_point
        for key in self.keys:
            got = attrs.get(key)
            if got is not None:
                return self.value == ANY or got == self.value or (
                    self.value.endswith(ANY) and got.startswith(self.value[:-1]))
        return False

    @property
    def http(self) -> bool:
        return not self.every and self.keys[0].startswith(("http.", "url."))


def parse_match(value: bool | str | None, name: str) -> Match | None:
    """The ``models[].otlp`` line as a match (None: not fed by OTLP)."""
    if value is None or value is False:
        return None
    if value is True:
        return Match(otel_names.MODEL_ATTRIBUTES, name)
    if value.strip() == ANY:
        return Match(otel_names.MODEL_ATTRIBUTES, ANY, every=True)
    key, sep, wanted = value.partition("=")
    if not sep:
        return Match(otel_names.MODEL_ATTRIBUTES, value)
    return Match((key.strip(),), wanted.strip())


def check_match(value: bool | str | None) -> bool | str | None:
    """Field validator of ``models[].otlp``: a name, or ATTRIBUTE=VALUE with a plausible
    attribute name and a value (``*`` for any)."""
    if not isinstance(value, str):
        return value
    key, sep, wanted = value.partition("=")
    if (sep and (not ATTR_RE.match(key.strip()) or not wanted.strip())) or not value.strip() \
            or len(value) > 256:
        raise PydanticCustomError(
            "spec_value", "expected true, a model name as gen_ai.request.model carries it "
            "(gpt-4o-mini, or gpt-4o-mini* for its snapshots), * for every GenAI point, or "
            "ATTRIBUTE=VALUE such as http.route=/v1/predict (VALUE * for any)")
    return value


class Otlp(StrictModel):
    """The OTLP receiver: ``POST /v1/metrics`` on the sidecar's own listen address always;
    gRPC on its own port when ``grpc`` says so (``true``: the sidecar's host, port 4317)."""

    grpc: bool | str = Field(default=False, description="false: HTTP only; true: "
                             "HOST:4317 on the sidecar's host; or HOST:PORT")
    max_streams: int = Field(default=10_000, ge=1, description="cumulative streams remembered "
                             "(resource + scope + metric + attributes); the oldest are "
                             "forgotten past it")

    @field_validator("grpc")
    @classmethod
    def _grpc(cls, v: bool | str) -> bool | str:
        if isinstance(v, str):
            host, sep, port = v.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise PydanticCustomError("spec_value", "expected true, false or HOST:PORT "
                                          "such as 0.0.0.0:4317")
        return v

    def grpc_listen(self, sidecar_host: str) -> tuple[str, int] | None:
        if self.grpc is False:
            return None
        if self.grpc is True:
            return sidecar_host, GRPC_PORT
        host, _, port = self.grpc.rpartition(":")
        return host.strip("[]"), int(port)


def fed_kinds(http_only: bool = False) -> frozenset[str]:
    """The signal kinds OTLP feeds (only ``http.*`` instruments: ``http_only``), joined from
    the instrument table to the records: a kind whose sidecar computation reads what an
    instrument fills (a sketch, the bad outcome, or any of the counts it sums)."""
    return frozenset(kind.value for kind, r in RECORDS.items()
                     if otlp_instruments(r, http_only))


def source_notes(spec: Any) -> list[str]:
    """Objectives watching, on a model the spec feeds from OTLP, a signal OTLP does not carry:
    one note each (said by ``validate``, never refused: the SDK may feed the model too)."""
    notes: list[str] = []
    models = {m.name: m for m in spec.models}
    kinds, http_kinds = fed_kinds(), fed_kinds(http_only=True)
    for o in spec.objectives:
        sel: Any = o.selector
        if sel.scrape is not None or sel.dataset is not None:
            continue
        kind = o.signal.value
        picked = [models[sel.model]] if sel.model in models else spec.models
        match = [m for m in picked if m.otlp_match is not None]
        if not match or (sel.model is None and len(match) < len(picked)):
            continue            # other models may be SDK-fed
        http = all(m.otlp_match.http for m in match)
        lacking = [m.name for m in match if kind not in (
            http_kinds if m.otlp_match.http else kinds)]
        if lacking:
            carried = ", ".join(sorted(http_kinds if http else kinds))
            notes.append(f"{o.name}: {kind} of {', '.join(lacking)} comes from no source: "
                         f"the model is fed by OTLP (models[].otlp), which carries {carried}; "
                         f"send {kind} with the SDK's decorators or drop the objective")
    return notes


__all__ = ["GRPC_PORT", "Match", "Otlp", "check_match", "fed_kinds", "parse_match",
           "source_notes"]
