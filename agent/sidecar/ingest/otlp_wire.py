"""OTLP bytes in and out: an ``ExportMetricsServiceRequest`` from a protobuf or OTLP/JSON body
(gzip or not), and the response in the encoding the client used.

Decoding is the official ``opentelemetry-proto`` messages'. OTLP/JSON differs from protobuf's own
JSON mapping in one way this module bridges: trace and span ids are hex, not base64 (int64 as
strings or numbers and enums by name or number are accepted by both). Unknown fields are ignored,
as the OTLP specification asks of receivers.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from agent.sidecar.ingest.payload import IngestError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)
_IDS = ("traceId", "spanId", "trace_id", "span_id")


def gunzip(body: bytes, limit: int) -> bytes:
    """A gzip body inflated, refused (413) past ``limit`` bytes: a small bomb stays small."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise IngestError(400, f"body: not valid gzip ({exc})",
                          [{"path": "<body>", "message": "bad gzip"}]) from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise IngestError(413, f"body: more than {limit} bytes once inflated "
                          "(sidecar.limits.max_body_bytes)",
                          [{"path": "<body>", "message": "too large"}])
    return out


def parse(body: bytes, content_type: str) -> ExportMetricsServiceRequest:
    """Bytes → the request message, or IngestError(400) saying what is wrong with them."""
    req = ExportMetricsServiceRequest()
    if content_type == PROTOBUF:
        try:
            req.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise IngestError(400, f"body: not an OTLP ExportMetricsServiceRequest in "
                              f"protobuf ({exc})"[:300],
                              [{"path": "<body>", "message": "malformed protobuf"}]) from None
        return req
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict):
            raise ValueError("expected a JSON object")
        _hex_ids(doc)
        json_format.ParseDict(doc, req, ignore_unknown_fields=True)
    except (ValueError, RecursionError, json_format.ParseError, TypeError) as exc:
        raise IngestError(400, f"body: not an OTLP/JSON ExportMetricsServiceRequest "
                          f"({exc})"[:300],
                          [{"path": "<body>", "message": "malformed OTLP/JSON"}]) from None
    return req


def _hex_ids(node: Any, depth: int = 0) -> None:
    """OTLP/JSON writes exemplars' trace and span ids in hex; protobuf's JSON wants base64."""
    if depth > 64:
        raise ValueError("nested too deeply")
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _IDS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise ValueError(f"{key}: expected hex, got {value[:40]!r}") from None
            elif isinstance(value, (dict, list)):
                _hex_ids(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, (dict, list)):
                _hex_ids(value, depth + 1)


def response(rejected: int, message: str, as_json: bool) -> bytes:
    """The ExportMetricsServiceResponse: empty when all was taken, else partial_success."""
    resp = ExportMetricsServiceResponse()
    if rejected or message:
        resp.partial_success.CopyFrom(ExportMetricsPartialSuccess(
            rejected_data_points=rejected, error_message=message))
    if as_json:
        return json.dumps(json_format.MessageToDict(resp), separators=(",", ":")).encode()
    return bytes(resp.SerializeToString())


def status(code: int, message: str, as_json: bool) -> bytes:
    """The google.rpc.Status body OTLP/HTTP asks for on a 4xx/5xx (``code``: gRPC's)."""
    from google.rpc.status_pb2 import Status

    st = Status(code=code, message=message)
    if as_json:
        return json.dumps(json_format.MessageToDict(st), separators=(",", ":")).encode()
    return bytes(st.SerializeToString())


__all__ = ["CONTENT_TYPES", "JSON", "PROTOBUF", "gunzip", "parse", "response", "status"]
