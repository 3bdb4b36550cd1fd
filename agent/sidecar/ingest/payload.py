"""The ``POST /v1/ingest`` payload: validated models, error reports that name the field, and the
OpenAPI description generated from the same models (so any language can send to it).

The door states every invariant ``apply`` relies on, so a 202 means every item is applied:
sketch keys inside the range the sketch's gamma represents, as many counts as keys, a count
that matches them, ``0 <= min <= max``, a sum that is finite and bounded (or absent: then it is
derived from the buckets), and timestamps between 2000 and 2100.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from agent.batch_id import BATCH_ID_PATTERN
from agent.spec.errors import format_path
from detectors.sketch import MAX_SUM, MAX_VALUE, key_range

Label = Annotated[str, Field(max_length=128)]
Name = Annotated[str, Field(min_length=1, max_length=128)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]
Scalar = float | bool | Annotated[str, Field(max_length=1024)] | None
MAX_NAMES = 20_000                                      # gauges / counters / breakers per item
MIN_TIME, MAX_TIME = 946_684_800.0, 4_102_444_800.0     # 2000-01-01 and 2100-01-01 (Unix s)
Timestamp = Annotated[float, Field(ge=MIN_TIME, le=MAX_TIME, allow_inf_nan=False)]
#: the newest event of a dataset may be old data (a historical table is stale, not invalid)
EventTime = Annotated[float, Field(ge=0, le=MAX_TIME, allow_inf_nan=False)]
SketchValue = Annotated[float, Field(ge=0, le=MAX_VALUE, allow_inf_nan=False)]
#: a batch's id: random (the SDK's is 128 bits as 32 hex digits), the same on every resend
BatchId = Annotated[str, Field(pattern=BATCH_ID_PATTERN, min_length=16, max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)


class Sketch(_Model):
    """A quantile sketch; ``sum`` may be left out (it is then derived from the buckets)."""

    accuracy: float = Field(default=0.01, ge=1e-4, le=0.5)
    keys: list[Annotated[int, Field(ge=-100_000, le=100_000)]] = Field(
        max_length=4096, description="bucket keys; each within the range the accuracy "
        "represents (values 1e-9 .. 1e12: -1037 .. 1382 at 1 %)")
    counts: list[Annotated[int, Field(ge=0, le=10**12)]] = Field(
        max_length=4096, description="one count per key")
    zeros: int = Field(default=0, ge=0, le=10**12)
    count: int | None = Field(default=None, ge=0, description="if given, zeros + sum(counts)")
    sum: Annotated[float, Field(ge=0, le=MAX_SUM, allow_inf_nan=False)] | None = Field(
        default=None, description="null or absent: derived from the buckets")
    min: SketchValue | None = None
    max: SketchValue | None = Field(default=None, description="at least min")

    @field_validator("keys")
    @classmethod
    def _keys_in_range(cls, keys: list[int], info: ValidationInfo) -> list[int]:
        lo, hi = key_range(info.data.get("accuracy", 0.01))
        bad = next((k for k in keys if not lo <= k <= hi), None)
        if bad is not None:
            raise ValueError(f"key {bad} outside [{lo}, {hi}], the range this accuracy "
                             f"represents (values 1e-9 .. {MAX_VALUE:g})")
        return keys

    @field_validator("counts")
    @classmethod
    def _counts_match(cls, counts: list[int], info: ValidationInfo) -> list[int]:
        keys = info.data.get("keys")
        if keys is not None and len(keys) != len(counts):
            raise ValueError(f"{len(counts)} counts for {len(keys)} keys: one count per key")
        return counts

    @field_validator("count")
    @classmethod
    def _count_matches(cls, count: int | None, info: ValidationInfo) -> int | None:
        counts = info.data.get("counts")
        if count is not None and counts is not None \
                and count != sum(counts) + info.data.get("zeros", 0):
            raise ValueError("count must equal zeros + the sum of counts")
        return count

    @field_validator("max")
    @classmethod
    def _min_le_max(cls, hi: float | None, info: ValidationInfo) -> float | None:
        lo = info.data.get("min")
        if hi is not None and lo is not None and lo > hi:
            raise ValueError(f"min {lo:g} > max {hi:g}")
        return hi


class Counts(_Model):
    ok: NonNeg = 0
    error: NonNeg = 0
    fallback: NonNeg = 0


class Requests(_Model):
    type: Literal["requests"]
    model: Name
    version: Label = ""
    at: Timestamp | None = None
    counts: Counts = Field(default_factory=Counts)
    in_flight: Annotated[int, Field(ge=-10**9, le=10**9)] | None = None
    latency: Sketch | None = None
    ttft: Sketch | None = None
    tpot: Sketch | None = Field(default=None, description="time per output token")


class Samples(_Model):
    type: Literal["samples"]
    model: Name
    version: Label = ""
    at: Timestamp | None = None
    features: list[dict[Name, Scalar] | None] = Field(default_factory=list, max_length=100_000)
    predictions: list[Scalar] = Field(default_factory=list, max_length=100_000)


class Feedback(_Model):
    type: Literal["feedback"]
    model: Name
    version: Label = ""
    request_id: Label | None = None
    sentiment: Literal["positive", "negative", "neutral"]
    score: Annotated[float, Field(ge=0, le=1)] | None = None
    label: Scalar = None
    prediction: Scalar = None
    # false when the SDK could not join the id to a call it served (typo, or older than its ring)
    joined: bool | None = None
    at: Timestamp | None = None


class Tokens(_Model):
    type: Literal["tokens"]
    model: Name
    version: Label = ""
    token_type: Literal["input", "output"]
    count: NonNeg
    at: Timestamp | None = None


class Cost(_Model):
    type: Literal["cost"]
    model: Name
    version: Label = ""
    usd: NonNeg
    at: Timestamp | None = None


class Queue(_Model):
    type: Literal["queue"]
    queue: Name
    depth: NonNeg
    at: Timestamp | None = None


ColumnType = Literal["int", "float", "string", "bool", "datetime", "category"]


class DatasetBatch(_Model):
    type: Literal["dataset_batch"]
    dataset: Name
    rows: int = Field(ge=0, le=10**12)
    columns: dict[Name, ColumnType] = Field(default_factory=dict, max_length=2000)
    nulls: dict[Name, Annotated[int, Field(ge=0)]] = Field(default_factory=dict, max_length=2000)
    newest_event: EventTime | None = None
    observed_at: Timestamp | None = None
    sample: dict[Name, list[Scalar]] | None = Field(default=None, max_length=2000)


class DatasetMark(_Model):
    type: Literal["dataset_mark"]
    dataset: Name
    updated_at: Timestamp


class Job(_Model):
    """One event of a batch-job run (from ``monitor.job`` or ``slo-agent job-event``)."""

    type: Literal["job"]
    job: Name
    event: Literal["start", "success", "failure"]
    run_id: Label = ""
    at: Timestamp | None = None
    duration: NonNeg | None = None
    error: Label | None = None


class Cache(_Model):
    type: Literal["cache"]
    cache: Name
    hits: NonNeg = 0
    misses: NonNeg = 0
    at: Timestamp | None = None


class State(_Model):
    """Service state the SDK reports every flush: degradation level, breakers, own metrics."""

    type: Literal["state"]
    at: Timestamp | None = None
    degradation: Annotated[float, Field(ge=0, le=3)] | None = None
    # generous per item: names past the sidecar's cap fold into __overflow__ (apply.Admission);
    # a tighter limit here would refuse the whole batch, requests included, on every flush
    breakers: dict[Name, Annotated[float, Field(ge=0, le=2)]] = Field(default_factory=dict,
                                                                      max_length=MAX_NAMES)
    gauges: dict[Name, Finite] = Field(default_factory=dict, max_length=MAX_NAMES)
    counters: dict[Name, NonNeg] = Field(default_factory=dict, max_length=MAX_NAMES)


Item = Annotated[Requests | Samples | Feedback | Tokens | Cost | Queue | DatasetBatch |
                 DatasetMark | Job | Cache | State, Field(discriminator="type")]


class Batch(_Model):
    schema_: Literal[1] = Field(default=1, alias="schema")
    service: Name
    instance: Label = ""
    sent_at: Timestamp | None = None
    batch_id: BatchId | None = Field(default=None, description=(
        "the same on every resend of this batch (16-64 of A-Z a-z 0-9 _ -, random: the SDK "
        "sends 128 bits as hex); a batch whose id the sidecar already accepted is answered "
        "200 with duplicate: true and not applied again. Without it every copy is applied."))
    sdk: dict[Label, Label] = Field(default_factory=dict, max_length=16)
    items: list[Item] = Field(max_length=100_000)
    #: which door admitted it ("sdk", or "otlp": then the sidecar re-exports its series);
    #: private, so no client can claim it in a body
    _door: str = PrivateAttr(default="sdk")


BATCH = TypeAdapter(Batch)


class IngestError(Exception):
    """A request the sidecar refuses, with the HTTP status and the fields at fault."""

    def __init__(self, status: int, message: str, fields: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or []

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.fields:
            out["fields"] = self.fields
        return out


def parse(body: bytes) -> Batch:
    """Bytes → Batch, or IngestError(400/422) naming each bad field (at most 20)."""
    try:
        return BATCH.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise IngestError(400, f"body is not valid JSON: {errors[0]['msg']}") from None
        fields = [{"path": format_path(_untagged(e["loc"])) or "<body>", "message": e["msg"]}
                  for e in errors[:20]]
        first = fields[0]
        raise IngestError(422, f"invalid field {first['path']}: {first['message']}",
                          fields) from None
    except (ValueError, RecursionError) as exc:    # invalid UTF-8, absurd nesting
        raise IngestError(400, f"body is not valid JSON: {exc}"[:300]) from None


_TAGS = {"requests", "samples", "feedback", "tokens", "cost", "queue", "dataset_batch",
         "dataset_mark", "job", "cache", "state"}


def _untagged(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``items.3.requests.latency.keys`` → ``items.3.latency.keys``: the union's tag is noise."""
    if len(loc) > 2 and loc[0] == "items" and isinstance(loc[1], int) and loc[2] in _TAGS:
        return (*loc[:2], *loc[3:])
    return loc


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the ingest endpoint (schemas from the models above)."""
    schema = Batch.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    defs["Batch"] = schema
    error = {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"}, "message": {"type": "string"}}}}}}
    defs["Error"] = error
    responses = {code: {"description": text, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}
        for code, text in (("400", "body is not JSON"), ("401", "missing or wrong bearer token"),
                           ("409", "a job event sent to a replica sidecar: the checker "
                            "takes them"),
                           ("413", "body or batch too large"),
                           ("422", "a field is invalid; the message names it"))}
    responses["202"] = {"description": "accepted", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"accepted": {"type": "integer"}}}}}}
    responses["200"] = {"description": "a copy of a batch already accepted (same batch_id): "
                        "not applied again", "content": {"application/json": {"schema": {
                            "type": "object", "properties": {
                                "accepted": {"type": "integer"},
                                "duplicate": {"type": "boolean"}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "slo-agent sidecar", "version": "1"},
        "paths": {"/v1/ingest": {"post": {
            "operationId": "ingest", "summary": "Batches from the instrumentation SDK",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Batch"}}}},
            "responses": responses}}},
        "components": {"schemas": defs, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str).encode()
