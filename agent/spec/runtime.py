"""Where the agent runs and how it ships: the sidecar's listener and caps, the SDK's sampling."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from agent.spec.fields import (
    ENV_RE,
    Duration,
    Ratio,
    StrictModel,
    as_duration,
    as_ratio,
    check_url,
    problems_error,
)
from agent.spec.otlp import Otlp


class Webhook(StrictModel):
    url: Annotated[str, Field(pattern=r"^https?://")]
    timeout: Duration = 5.0
    _v_timeout = field_validator("timeout", mode="before")(lambda cls, v: as_duration(v))
    _v_url = model_validator(mode="before")(lambda cls, data: check_url(data))


class Limits(StrictModel):
    """Caps that keep the sidecar's memory and CPU bounded whatever clients send."""

    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_batch: int = Field(default=20_000, ge=1)
    max_label_values: int = Field(default=1000, ge=1)
    max_features_per_model: int = Field(default=256, ge=1)
    max_inbox_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024, description=(
        "bytes of request bodies being read or accepted and not yet applied; beyond it ingest "
        "answers 429 with Retry-After (the SDK waits that long)"))
    max_connections: int = Field(default=1000, ge=8, description=(
        "open HTTP connections; a new one past the cap closes the oldest connection still "
        "waiting for its request (a slow or idle client), else it is refused"))
    header_timeout: Duration = Field(default=10.0, gt=0, description=(
        "seconds a connection may take to send a request's line and headers (from connect, "
        "or from the end of the previous response)"))
    body_timeout: Duration = Field(default=30.0, gt=0, description=(
        "seconds an ingest request may take to send its body; then 408"))

    _v_timeouts = field_validator("header_timeout", "body_timeout", mode="before")(
        lambda cls, v: as_duration(v))


class Sidecar(StrictModel):
    listen: str = "127.0.0.1:9464"
    token_env: str | None = Field(
        default=None, description="name of the environment variable holding the bearer token")
    state_dir: str = ".slo-agent/state"
    role: Literal["all", "replica", "checker"] = Field(
        default="all", description="all: one sidecar does everything; in a fleet, replica "
        "sidecars take the SDK's traffic only and one checker polls datasets and receives job "
        "events for the service (SLO_AGENT_ROLE or --role override it)")
    interval: Duration = 15.0
    webhooks: list[Webhook] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    otlp: Otlp = Field(default_factory=Otlp)
    trusted_proxies: list[str] = Field(default_factory=list, max_length=64, description=(
        "addresses or networks (10.0.0.0/8) of reverse proxies whose X-Forwarded-For / "
        "X-Forwarded-Proto are believed; empty: no proxy header is believed from anyone"))

    _v_interval = field_validator("interval", mode="before")(lambda cls, v: as_duration(v))

    @model_validator(mode="before")
    @classmethod
    def _no_inline_token(cls, data: Any) -> Any:
        if isinstance(data, dict) and "token" in data:
            raise problems_error([("token", "a token is never written in the spec; put it in an "
                              "environment variable and name that variable in token_env",
                              "<redacted>")])
        return data

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise PydanticCustomError(
                "spec_value", "expected HOST:PORT such as 127.0.0.1:9464 or [::1]:9464")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        import ipaddress

        for i, item in enumerate(v):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise PydanticCustomError(
                    "spec_value", "item {i}: expected an IP address or network such as "
                    "10.0.0.5 or 10.0.0.0/8, got {item!r}", {"i": i, "item": item}) from None
        return v

    @field_validator("token_env")
    @classmethod
    def _token_env(cls, v: str | None) -> str | None:
        if v is not None and not ENV_RE.match(v):
            raise PydanticCustomError(
                "spec_value", "expected an environment variable name such as SLO_AGENT_TOKEN")
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def loopback(self) -> bool:
        """Every listener on loopback (HTTP, and OTLP/gRPC when enabled)."""
        grpc = self.otlp.grpc_listen(self.host)
        return _loopback(self.host) and (grpc is None or _loopback(grpc[0]))


def _loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


class SDK(StrictModel):
    """How the decorators sample and ship; read by the SDK in the inference process."""

    sample_rate: Ratio = 1.0
    max_features: int = Field(default=64, ge=0)
    queue_size: int = Field(default=10_000, ge=1)
    batch_size: int = Field(default=500, ge=1)
    flush_interval: Duration = 1.0
    exit_timeout: Duration = Field(default=2.0, ge=0, description=(
        "seconds the SDK may wait for the sidecar at interpreter exit, at SIGTERM and at the "
        "end of a job run (SLO_AGENT_EXIT_TIMEOUT overrides; 0: never wait)"))
    max_label_values: int = Field(default=200, ge=1)
    otel: bool | None = Field(default=None, description="None: on when OTEL_* variables say so")
    extra_buckets: list[float] = Field(default_factory=list)

    _v_rate = field_validator("sample_rate", mode="before")(lambda cls, v: as_ratio(v))
    _v_flush = field_validator("flush_interval", "exit_timeout", mode="before")(
        lambda cls, v: as_duration(v))
