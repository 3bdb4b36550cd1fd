"""The OTLP door: an ``ExportMetricsServiceRequest`` becomes the same validated items the SDK's
doors produce (``requests`` with counts and sketches, ``tokens``), in one ``payload.Batch``;
everything after the door is shared.

Which metrics, and what each gives, is the table in :mod:`agent.signals.otel_names`; any other
metric is ignored and counted by name, never an error; so is a point of a model no
``models[].otlp`` line names. A data point the door cannot take (bucket counts that disagree
with the count, a NaN or negative sum, a resource of another service) is rejected alone and
named in the response's ``partial_success``; the rest of the request is applied. Cumulative
streams become deltas (:mod:`.otlp_streams`), committed only once the batch is queued, so a
request answered 429 and retried counts once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from agent.sidecar.ingest import otlp_points as pts
from agent.sidecar.ingest import payload as m
from agent.sidecar.ingest.otlp_streams import Seen, StreamKey, Streams
from agent.signals import otel_names as names
from agent.spec.document import Spec
from detectors.sketch import QuantileSketch

MAX_NAMED = 10                  # rejection reasons named in one response
MAX_IGNORED_NAMES = 100         # distinct ignored metric names counted by name
MAX_ATTRIBUTES = 128            # per data point, as the OpenTelemetry SDKs limit them
MAX_KEY_TEXT = 128              # an attribute name or value kept as is in a stream key
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
OTHER = "__other__"


def _value(v: Any) -> str:
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return str(v.string_value)
    if kind == "int_value":
        return str(v.int_value)
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "double_value":
        return repr(v.double_value)
    return ""        # arrays, maps, bytes: never a label here


def _attrs(kvs: Any) -> dict[str, str]:
    return {kv.key: _value(kv.value) for kv in kvs}


def _key(attrs: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Attributes as part of a stream key, each name and value at most ~128 characters (a
    longer one by its digest), so the capped stream table stays bounded in bytes too."""
    return tuple(sorted((_short(k), _short(v)) for k, v in attrs.items()))


def _short(text: str) -> str:
    if len(text) <= MAX_KEY_TEXT:
        return text
    return "#" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass
class _Model:
    """What one request adds to one (model, version)."""

    ok: float = 0.0
    error: float = 0.0
    placed: dict[str, pts.Placed] = field(default_factory=dict)   # spread once per request
    tokens: dict[str, float] = field(default_factory=dict)

    def add(self, attr: str, h: pts.Hist) -> None:
        self.placed.setdefault(attr, pts.Placed()).add(h)

    def sketches(self) -> dict[str, QuantileSketch]:
        out = {attr: p.sketch() for attr, p in self.placed.items()}
        return {attr: sk for attr, sk in out.items() if sk is not None}


@dataclass
class Conversion:
    """A request's items, its rejections and the stream memory to keep if it is queued."""

    batch: m.Batch
    points: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    updates: dict[StreamKey, Seen] = field(default_factory=dict)

    def reject(self, n: int, reason: str) -> None:
        self.rejected += n
        if len(self.reasons) < MAX_NAMED:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        more = self.rejected - len(self.reasons)
        text = "; ".join(self.reasons)
        return text + (f" (and {more} more)" if more > 0 and len(self.reasons) == MAX_NAMED
                       else "") if self.rejected else ""


@dataclass
class Outcome:
    accepted: int
    rejected: int
    message: str
    queued: bool


class OtlpDoor:
    """Shared by the HTTP route and the gRPC service; holds the stream memory and counters."""

    def __init__(self, spec: Spec, clock: Callable[[], float] = time.time) -> None:
        self.spec = spec
        otlp = spec.sidecar.otlp
        self.streams = Streams(otlp.max_streams, int(clock() * 1e9))
        self.matches = [(mdl.name, mdl.version or "", mdl.otlp_match) for mdl in spec.models
                        if mdl.otlp_match is not None]
        self.lock = threading.Lock()
        # fixed keys: /metrics reads a copy without the lock
        self.points: Counter[str] = Counter(dict.fromkeys(("accepted", "rejected", "ignored"), 0))
        self.ignored: Counter[str] = Counter()       # metric name -> points ignored

    # -- the whole request -------------------------------------------------------------------
    def admit(self, req: ExportMetricsServiceRequest,
              submit: Callable[[m.Batch], bool]) -> Outcome:
        """Convert, hand the batch to ``submit`` (admission and the inbox), and keep the
        stream memory only when it was queued. ``submit`` may raise IngestError (413)."""
        with self.lock:
            conv = self.convert(req)
            queued = not conv.batch.items or submit(conv.batch)
            if queued:
                self.streams.commit(conv.updates)
                self.points["accepted"] += conv.points
                self.points["rejected"] += conv.rejected
        return Outcome(conv.points, conv.rejected, conv.message, queued)

    def convert(self, req: ExportMetricsServiceRequest) -> Conversion:
        instance = ""
        conv = Conversion(m.Batch(service=self.spec.service, items=[]))
        conv.batch._door = "otlp"
        models: dict[tuple[str, str], _Model] = {}
        for rm in req.resource_metrics:
            res = _attrs(rm.resource.attributes)
            service = res.get(names.SERVICE_ATTRIBUTE, "")
            npoints = sum(_count(met) for sm in rm.scope_metrics for met in sm.metrics
                          if met.name in names.BY_NAME)
            if service != self.spec.service:
                if npoints:
                    conv.reject(npoints, f"resource {names.SERVICE_ATTRIBUTE}={service[:64]!r}: "
                                f"this sidecar serves {self.spec.service!r} (set "
                                "OTEL_SERVICE_NAME)")
                self._ignore(rm, only_unknown=True)
                continue
            instance = instance or res.get("service.instance.id", "")[:128]
            res_key = _key(res)
            for sm in rm.scope_metrics:
                scope_key = (_short(sm.scope.name), _short(sm.scope.version))
                for met in sm.metrics:
                    inst = names.BY_NAME.get(met.name)
                    if inst is None:
                        self._count_ignored(met.name, _count(met))
                        continue
                    self._metric(conv, models, inst, met, (res_key, scope_key, met.name))
        conv.batch.instance = instance
        conv.batch.items = self._items(conv, models)
        return conv

    # -- one metric --------------------------------------------------------------------------
    def _metric(self, conv: Conversion, models: dict[tuple[str, str], _Model],
                inst: names.OtelInstrument, met: Any, key: StreamKey) -> None:
        kind = met.WhichOneof("data")
        if kind == "histogram":
            data, exp = met.histogram, False
        elif kind == "exponential_histogram":
            data, exp = met.exponential_histogram, True
        elif kind == "sum" and inst.role == "tokens" and met.sum.is_monotonic:
            data, exp = met.sum, False
        else:
            conv.reject(_count(met), f"{met.name}: a {kind or 'metric without data'}, the "
                        "conventions make it a histogram")
            return
        temporality = data.aggregation_temporality
        if temporality not in (CUMULATIVE, DELTA):
            conv.reject(len(data.data_points), f"{met.name}: aggregation_temporality "
                        "unspecified")
            return
        for p in data.data_points:
            if p.flags & 1:            # NO_RECORDED_VALUE: the stream has nothing now
                continue
            if len(p.attributes) > MAX_ATTRIBUTES:
                conv.reject(1, f"{met.name}: {len(p.attributes)} attributes, at most "
                            f"{MAX_ATTRIBUTES} (the OpenTelemetry SDKs' default limit)")
                continue
            attrs = _attrs(p.attributes)
            model = self._model(inst, attrs)
            if isinstance(model, str):
                self._count_ignored(model, 1)
                continue
            try:
                hist = _hist(kind, p, exp)
                if inst.role == "tokens" and hist.sum is None:
                    raise pts.PointError("no sum: the tokens are the sum of the observations")
            except pts.PointError as exc:
                conv.reject(1, f"{met.name}: {exc}")
                continue
            if inst.role == "tokens" and names.TOKEN_TYPES.get(
                    attrs.get(names.TOKEN_TYPE_ATTRIBUTE, "")) is None:
                self._count_ignored(f"{met.name}{{token.type}}", 1)
                continue
            skey = (*key, _key(attrs))
            streams = self.streams
            take, seen = (streams.cumulative if temporality == CUMULATIVE else streams.delta)(
                skey, p.start_time_unix_nano, p.time_unix_nano, hist)
            conv.updates[skey] = seen
            conv.points += 1
            if take is not None and take.count:
                self._take(models.setdefault(model, _Model()), inst, attrs, take)

    def _model(self, inst: names.OtelInstrument, attrs: dict[str, str]
               ) -> tuple[str, str] | str:
        """The (model, version) a point feeds: the first ``models[].otlp`` line that matches
        it; else why it feeds none (the point is ignored and counted under that reason, so a
        service both SDK-fed and exporting OTLP is never counted twice)."""
        http = inst.conventions == "http"
        for name, version, match in self.matches:
            if match.hits(attrs, http):
                return name, version
        value = next((attrs[k] for k in names.MODEL_ATTRIBUTES if attrs.get(k)), None)
        if value is None and http:
            value = attrs.get(names.HTTP_MODEL_ATTRIBUTE)
        if value is None:
            return f"{inst.name}: no model attribute (otlp: '*' takes every GenAI point)"
        return f"{inst.name}: {value[:64]!r} is on no models[].otlp line"

    def _take(self, mdl: _Model, inst: names.OtelInstrument, attrs: dict[str, str],
              h: pts.Hist) -> None:
        if inst.role == "tokens":
            ttype = names.TOKEN_TYPES[attrs[names.TOKEN_TYPE_ATTRIBUTE]]
            mdl.tokens[ttype] = mdl.tokens.get(ttype, 0.0) + (h.sum or 0.0)
            return
        if inst.role == "duration":
            if _failed(inst, attrs):
                mdl.error += h.count
            else:
                mdl.ok += h.count
            mdl.add("latency", h)
        else:
            mdl.add(inst.role, h)

    def _items(self, conv: Conversion, models: dict[tuple[str, str], _Model]) -> list[Any]:
        items: list[Any] = []
        for (model, version), mdl in models.items():
            sketches = mdl.sketches()
            if mdl.ok or mdl.error or sketches:
                items.append(m.Requests.model_validate({
                    "type": "requests", "model": model, "version": version,
                    "counts": {"ok": mdl.ok, "error": mdl.error},
                    **{attr: sk.to_dict() for attr, sk in sketches.items()}}))
            for ttype, n in mdl.tokens.items():
                if n:
                    items.append(m.Tokens(type="tokens", model=model, version=version,
                                          token_type=ttype, count=n))  # type: ignore[arg-type]
        return items

    # -- counting what is ignored ------------------------------------------------------------
    def _count_ignored(self, name: str, n: int) -> None:
        self.points["ignored"] += n
        key = name if name in self.ignored or len(self.ignored) < MAX_IGNORED_NAMES else OTHER
        self.ignored[key[:128]] += n

    def _ignore(self, rm: Any, only_unknown: bool) -> None:
        for sm in rm.scope_metrics:
            for met in sm.metrics:
                if not only_unknown or met.name not in names.BY_NAME:
                    self._count_ignored(met.name, _count(met))

    def report(self) -> dict[str, Any]:
        """What /status shows of the door (a copy, under the lock)."""
        with self.lock:
            return {"points": dict(self.points), "streams": len(self.streams),
                    "max_streams": self.streams.cap, "stream_events": dict(self.streams.events),
                    "ignored_metrics": dict(self.ignored.most_common(20)),
                    "models": {mdl.name: mdl.otlp for mdl in self.spec.models
                               if mdl.otlp_match is not None}}


def _count(met: Any) -> int:
    kind = met.WhichOneof("data")
    return len(getattr(met, kind).data_points) if kind else 0


def _failed(inst: names.OtelInstrument, attrs: dict[str, str]) -> bool:
    if names.ERROR_ATTRIBUTE in attrs:
        return True
    if inst.conventions == "http":
        code = attrs.get(names.HTTP_STATUS_ATTRIBUTE, "")
        return code.isdigit() and int(code) >= names.FAILED_STATUS
    return False


def _hist(kind: str, p: Any, exp: bool) -> pts.Hist:
    if kind == "sum":          # a monotonic token counter: its value is the sum
        v = p.as_double if p.WhichOneof("value") == "as_double" else float(p.as_int)
        if not v >= 0.0 or v > pts.MAX_COUNT:
            raise pts.PointError(f"value {v!r}: a token count is finite and not negative")
        return pts.explicit(round(v), v, None, None, [], [])
    total = p.sum if p.HasField("sum") else None
    lo = p.min if p.HasField("min") else None
    hi = p.max if p.HasField("max") else None
    if exp:
        return pts.exponential(p.count, total, lo, hi, p.scale, p.zero_count,
                               p.positive.offset, list(p.positive.bucket_counts),
                               list(p.negative.bucket_counts))
    return pts.explicit(p.count, total, lo, hi, list(p.explicit_bounds), list(p.bucket_counts))


__all__ = ["Conversion", "OtlpDoor", "Outcome"]
