"""Applying validated ingest batches to the state, and admission caps checked at request time."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from agent.sidecar.ingest import payload as m
from agent.sidecar.ingest.columnar import ColumnSamples
from agent.sidecar.ingest.payload import IngestError
from agent.sidecar.state.agent_state import SKETCHES, AgentState, numeric_values
from agent.spec.document import Spec
from detectors.quality import schema_diff
from detectors.sketch import QuantileSketch

log = logging.getLogger("slo_agent.sidecar")


OVERFLOW = "__overflow__"          # the one name every value past a cardinality cap folds into
MAX_UNKNOWN_LOGGED = 20
MAX_INSTANCES = 1000              # SDK instances with their own in_flight / degradation state


class Admission:
    """Caps distinct label values (models, queues, datasets, jobs, caches, breakers, custom
    metrics) and features per model, at request time.

    Past a cap a new name is folded into ``__overflow__`` (counted by kind, reported in
    /status and /metrics), never a 4xx of the whole batch: a process that exceeds one cap keeps
    its latency and errors flowing. A new feature past its cap is left out of the row.
    Also counts items for models the spec does not name (a typo such as ``clff``).
    """

    def __init__(self, spec: Spec, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        limits = spec.sidecar.limits
        self.max_values = limits.max_label_values
        self.max_features = limits.max_features_per_model
        self.max_batch = limits.max_batch
        self._lock = threading.Lock()
        self._keys: dict[str, set[str]] = {k: set() for k in ("model", "queue", "dataset",
                                                                 "job", "cache", "breaker",
                                                                 "metric", "version")}
        self._features: dict[str, set[str]] = {}
        self.known_models = {model.name for model in spec.models}
        #: an instance unseen this long is forgotten here and in the state (see ``expire``)
        self.instance_ttl = instance_ttl(spec)
        self._instances: dict[str, float] = {}
        self._pruned = 0.0
        self.overflow: Counter[str] = Counter()
        self.unknown_models: Counter[str] = Counter()
        self.unknown_feedback = 0  # feedback whose request id the SDK could not join
        for model in spec.models:
            self._keys["model"].add(model.name)
        for d in spec.sources.datasets:
            self._keys["dataset"].add(d.name)

    def _admit(self, kind: str, value: str) -> str:
        """The name to use: the value itself, or OVERFLOW once the kind's cap is reached."""
        keys = self._keys[kind]
        if value in keys:
            return value
        if len(keys) >= self.max_values:
            self.overflow[kind] += 1
            return OVERFLOW
        keys.add(value)
        return value

    def _admit_instance(self, instance: str, now: float) -> str:
        seen = self._instances
        if instance not in seen and len(seen) >= MAX_INSTANCES and now - self._pruned >= 1.0:
            self._pruned = now
            cutoff = now - self.instance_ttl
            for k in [k for k, t in seen.items() if t < cutoff]:
                del seen[k]
        if instance in seen or len(seen) < MAX_INSTANCES:
            seen[instance] = now
            return instance
        self.overflow["instance"] += 1
        return OVERFLOW

    def _fold(self, kind: str, table: dict[str, float], summed: bool) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, v in table.items():
            key = self._admit(kind, name)
            out[key] = out.get(key, 0.0) + v if summed and key in out else v
        return out

    def check(self, batch: m.Batch) -> None:
        """Refuse only a batch over max_batch items (413); fold the rest into the caps."""
        if len(batch.items) > self.max_batch:
            raise IngestError(413, f"items: {len(batch.items)} items, at most {self.max_batch} "
                              "per batch (sidecar.limits.max_batch)",
                              [{"path": "items", "message": "too many items"}])
        with self._lock:
            batch.instance = self._admit_instance(batch.instance, self.clock())
            for item in batch.items:
                if isinstance(item, (m.Requests, m.Samples, m.Feedback, m.Tokens, m.Cost,
                                     ColumnSamples)):
                    if self.known_models and item.model not in self.known_models:
                        self._unknown(item.model)
                    if isinstance(item, m.Feedback) and item.joined is False:
                        self.unknown_feedback += 1
                    item.model = self._admit("model", item.model)
                    if self._admit("version", f"{item.model}\0{item.version}") == OVERFLOW:
                        item.version = OVERFLOW
                elif isinstance(item, m.Queue):
                    item.queue = self._admit("queue", item.queue)
                elif isinstance(item, (m.DatasetBatch, m.DatasetMark)):
                    item.dataset = self._admit("dataset", item.dataset)
                elif isinstance(item, m.Job):
                    item.job = self._admit("job", item.job)
                elif isinstance(item, m.Cache):
                    item.cache = self._admit("cache", item.cache)
                elif isinstance(item, m.State):
                    item.breakers = self._fold("breaker", item.breakers, summed=False)
                    item.gauges = self._fold("metric", item.gauges, summed=False)
                    item.counters = self._fold("metric", item.counters, summed=True)
                if isinstance(item, ColumnSamples):    # the columnar door (ingest/columnar.py)
                    self.overflow["feature"] += len(item.cap_features(
                        self._features.setdefault(item.model, set()), self.max_features))
                if isinstance(item, m.Samples):
                    self._cap_features(item)

    def _cap_features(self, item: m.Samples) -> None:
        known = self._features.setdefault(item.model, set())
        for row in item.features:
            for name in [n for n in row or () if n not in known]:
                if len(known) < self.max_features:
                    known.add(name)
                else:
                    assert row is not None
                    del row[name]
                    self.overflow["feature"] += 1

    def _unknown(self, model: str) -> None:
        if model not in self.unknown_models and len(self.unknown_models) < MAX_UNKNOWN_LOGGED:
            log.warning("ingest: items for model %r, which the spec does not name (known: %s); "
                        "counted in /status sources.ingest.unknown_models", model[:128],
                        ", ".join(sorted(self.known_models))[:300])
        key = model if model in self.unknown_models or \
            len(self.unknown_models) < MAX_UNKNOWN_LOGGED else OVERFLOW
        self.unknown_models[key] += 1

    def report(self) -> dict[str, Any]:
        """What /status shows of the caps (a copy, taken under the lock)."""
        with self._lock:
            return {"overflow": dict(self.overflow), "unknown_models": dict(self.unknown_models),
                    "unjoined_feedback": self.unknown_feedback,
                    "cap": self.max_values, "max_features_per_model": self.max_features}


def instance_ttl(spec: Spec) -> float:
    """How long per-instance state outlives its last report: past the freshness every reader
    applies (``fresh_for``), or ten intervals, whichever is longer."""
    return max(10 * spec.sidecar.interval, 3 * spec.alerting.rate_window, 30.0)


def expire_instances(state: AgentState, cutoff: float) -> int:
    """Forget in_flight and degradation of instances unseen since ``cutoff``; returns how many."""
    n = 0
    tables = [ms.in_flight for ms in state.models.values()] + [state.service.degradation]
    for table in tables:
        for k in [k for k, (_, t) in table.items() if t < cutoff]:
            del table[k]
            n += 1
    return n


def apply(state: AgentState, spec: Spec, batch: m.Batch, now: float) -> int:
    """Fold one batch into the state; returns the number of feature rows taken."""
    rows = 0
    categorical = {mdl.name: set(mdl.categorical) for mdl in spec.models}
    otlp = batch._door == "otlp"
    for item in batch.items:
        state.ingested[item.type] += 1
        if isinstance(item, m.Requests):
            _requests(state, batch.instance, item, now, otlp)
        elif isinstance(item, ColumnSamples):
            rows += item.apply_to(state, categorical.get(item.model, set()), now)
        elif isinstance(item, m.Samples):
            rows += _samples(state, item, categorical.get(item.model, set()), now)
        elif isinstance(item, m.Feedback):
            ms = state.model(item.model, item.version)
            getattr(ms, item.sentiment).add(now, 1.0)
            ms.cum[item.sentiment] += 1
        elif isinstance(item, m.Tokens):
            state.model(item.model, item.version).tokens.add(now, item.count)
            if otlp:
                toks = state.otlp.model(item.model, item.version).tokens
                toks[item.token_type] = toks.get(item.token_type, 0.0) + item.count
        elif isinstance(item, m.Cost):
            state.model(item.model, item.version).cost.add(now, item.usd)
        elif isinstance(item, m.Queue):
            state.queues[item.queue] = (item.depth, now)
        elif isinstance(item, m.DatasetBatch):
            dataset_batch(state, spec, item.dataset, item.rows, item.columns, item.nulls,
                          item.newest_event, now, source="sdk")
        elif isinstance(item, m.DatasetMark):
            d = state.dataset(item.dataset)
            d.last_mark = max(d.last_mark or 0.0, item.updated_at)
            d.last_seen = now
        else:
            _service_item(state, batch.instance, item, now)
    return rows


def _requests(state: AgentState, instance: str, item: m.Requests, now: float,
              otlp: bool) -> None:
    ms = state.model(item.model, item.version)
    totals = state.otlp.model(item.model, item.version) if otlp else None
    for outcome in ("ok", "error", "fallback"):
        n = getattr(item.counts, outcome)
        getattr(ms, outcome).add(now, n)
        ms.cum[outcome] += n
        if totals is not None and n:
            totals.counts[outcome] = totals.counts.get(outcome, 0.0) + n
    if item.in_flight is not None:
        ms.in_flight[instance] = (float(item.in_flight), now)
    for attr in SKETCHES:
        sk_in = getattr(item, attr)
        if sk_in is None:
            continue
        try:
            sk = QuantileSketch.from_dict(sk_in.model_dump()).rebucketed(
                getattr(ms, attr).accuracy)
        except ValueError:
            state.ingested["bad_sketch"] += 1
            continue
        ms.add_sketch(attr, sk, now)
        if totals is not None:
            totals.add_sketch(attr, sk)


def _service_item(state: AgentState, instance: str, item: m.Item, now: float) -> None:
    sv = state.service
    if isinstance(item, m.Job):
        # a job event may be reported late (slo-agent job-event --at), never from the future
        at = min(item.at, now) if item.at is not None else now
        sv.job_event(item.job, item.event, at, item.run_id, item.duration, item.error)
    elif isinstance(item, m.Cache):
        sv.tally(sv.caches, (item.cache, "hit")).add(now, item.hits)
        sv.tally(sv.caches, (item.cache, "miss")).add(now, item.misses)
    elif isinstance(item, m.State):
        if item.degradation is not None:
            sv.degradation[instance] = (item.degradation, now)
        for name, v in item.breakers.items():
            sv.breakers[name] = (v, now)
        for name, v in item.gauges.items():
            sv.gauges[name] = (v, now)
        for name, n in item.counters.items():
            sv.tally(sv.counters, name).add(now, n)


def _samples(state: AgentState, item: m.Samples, categorical: set[str], now: float) -> int:
    ms = state.model(item.model, item.version)
    rows = [r for r in item.features if r is not None]
    ms.samples_seen += len(rows)
    ms.sampled.add(now, float(len(rows)))
    if rows:
        names: dict[str, None] = {}
        for r in rows:
            names.update(dict.fromkeys(r))
        for name in names:
            column = [r.get(name) for r in rows]
            # text and bools are categories (as in dataset files); a feature keeps its kind
            is_cat = name in categorical or name in ms.categorical or (
                name not in ms.numeric and any(isinstance(v, (str, bool)) for v in column))
            if is_cat:
                ms.add_categorical(name, column)
            else:
                ms.add_numeric(name, numeric_values(column))
    preds = [p for p in item.predictions if p is not None and not isinstance(p, str)]
    if preds:
        ms.add_predictions(numeric_values(preds))
    return len(rows)


def dataset_batch(state: AgentState, spec: Spec, name: str, rows: int, columns: dict[str, Any],
                  nulls: dict[str, int], newest_event: float | None, now: float,
                  source: str) -> None:
    """Record a batch summary; the first batch's schema and null ratios become the reference
    where the spec's contract gives none."""
    d = state.dataset(name)
    d.rows, d.columns, d.nulls = rows, dict(columns), dict(nulls)
    d.last_seen, d.source, d.error = now, source, None
    if newest_event is not None:
        d.newest_event = max(d.newest_event or 0.0, newest_event)
    declared = next((ds for ds in spec.sources.datasets if ds.name == name), None)
    if declared is not None and declared.contract.columns:
        d.reference_columns = dict(declared.contract.columns)
    elif not d.reference_columns:
        d.reference_columns = dict(columns)
    if not d.null_baseline and rows:
        d.null_baseline = {c: n / rows for c, n in nulls.items()}


def schema_changes(state: AgentState, spec: Spec, name: str) -> dict[str, int] | None:
    d = state.datasets.get(name)
    if d is None or not d.columns:
        return None
    declared = next((ds for ds in spec.sources.datasets if ds.name == name), None)
    allow_extra = declared.contract.allow_extra_columns if declared is not None else True
    diff = schema_diff(d.reference_columns, d.columns, allow_extra=allow_extra)
    return {"added": 0 if allow_extra else len(diff.added), "removed": len(diff.removed),
            "retyped": len(diff.retyped)}


__all__ = ["Admission", "apply", "dataset_batch", "schema_changes"]
