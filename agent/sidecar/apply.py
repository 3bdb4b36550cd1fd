"""Applying validated ingest batches to the state, and admission caps checked at request time."""

from __future__ import annotations

import threading
from typing import Any

from agent.sidecar import ingest as m
from agent.sidecar.ingest import IngestError
from agent.sidecar.state import AgentState, CategoricalWindow, numeric_values
from agent.sidecar.wire import ColumnSamples
from agent.spec.model import Spec
from detectors.quality import schema_diff
from detectors.sketch import QuantileSketch
from detectors.windows import FeatureWindow


class Admission:
    """Caps distinct label values (models, queues, datasets) and features per model.

    Checked in the request handler, so an over-limit batch gets a 422 naming the field before
    anything is queued; keys already admitted always pass.
    """

    def __init__(self, spec: Spec) -> None:
        limits = spec.sidecar.limits
        self.max_values = limits.max_label_values
        self.max_features = limits.max_features_per_model
        self.max_batch = limits.max_batch
        self._lock = threading.Lock()
        self._keys: dict[str, set[str]] = {k: set() for k in ("model", "queue", "dataset",
                                                                 "job", "cache", "breaker",
                                                                 "metric")}
        self._features: dict[str, set[str]] = {}
        for model in spec.models:
            self._keys["model"].add(model.name)
        for d in spec.sources.datasets:
            self._keys["dataset"].add(d.name)

    def _admit(self, kind: str, value: str, path: str) -> None:
        keys = self._keys[kind]
        if value in keys:
            return
        if len(keys) >= self.max_values:
            raise IngestError(422, f"invalid field {path}: more than {self.max_values} distinct "
                              f"{kind} values (sidecar.limits.max_label_values)",
                              [{"path": path, "message": "label value cap reached"}])
        keys.add(value)

    def check(self, batch: m.Batch) -> None:
        if len(batch.items) > self.max_batch:
            raise IngestError(413, f"items: {len(batch.items)} items, at most {self.max_batch} "
                              "per batch (sidecar.limits.max_batch)",
                              [{"path": "items", "message": "too many items"}])
        with self._lock:
            for i, item in enumerate(batch.items):
                if isinstance(item, (m.Requests, m.Samples, m.Feedback, m.Tokens, m.Cost)):
                    self._admit("model", item.model, f"items[{i}].model")
                elif isinstance(item, m.Queue):
                    self._admit("queue", item.queue, f"items[{i}].queue")
                elif isinstance(item, (m.DatasetBatch, m.DatasetMark)):
                    self._admit("dataset", item.dataset, f"items[{i}].dataset")
                elif isinstance(item, m.Job):
                    self._admit("job", item.job, f"items[{i}].job")
                elif isinstance(item, m.Cache):
                    self._admit("cache", item.cache, f"items[{i}].cache")
                elif isinstance(item, m.State):
                    for key, field, table in (("breaker", "breakers", item.breakers),
                                              ("metric", "gauges", item.gauges),
                                              ("metric", "counters", item.counters)):
                        for name in table:
                            self._admit(key, name, f"items[{i}].{field}.{name}")
                if isinstance(item, ColumnSamples):    # columnar door (agent/sidecar/wire.py)
                    over = item.cap_features(self._features.setdefault(item.model, set()),
                                             self.max_features)
                    if over:
                        path = f"items[{i}].columns.{over[0]}"
                        raise IngestError(422, f"invalid field {path}: more than "
                                          f"{self.max_features} features for model "
                                          f"{item.model!r} (sidecar.limits.max_features_per_"
                                          "model)", [{"path": path, "message": "feature cap"}])
                if isinstance(item, m.Samples):
                    known = self._features.setdefault(item.model, set())
                    for j, row in enumerate(item.features):
                        for name in row or ():
                            if name not in known:
                                if len(known) >= self.max_features:
                                    path = f"items[{i}].features[{j}].{name}"
                                    raise IngestError(422, f"invalid field {path}: more than "
                                                      f"{self.max_features} features for model "
                                                      f"{item.model!r} (sidecar.limits."
                                                      "max_features_per_model)",
                                                      [{"path": path, "message": "feature cap"}])
                                known.add(name)


def apply(state: AgentState, spec: Spec, batch: m.Batch, now: float) -> int:
    """Fold one batch into the state; returns the number of feature rows taken."""
    rows = 0
    categorical = {mdl.name: set(mdl.categorical) for mdl in spec.models}
    for item in batch.items:
        state.ingested[item.type] += 1
        if isinstance(item, m.Requests):
            ms = state.model(item.model, item.version)
            for outcome in ("ok", "error", "fallback"):
                n = getattr(item.counts, outcome)
                getattr(ms, outcome).add(now, n)
                ms.cum[outcome] += n
            if item.in_flight is not None:
                ms.in_flight[batch.instance] = (float(item.in_flight), now)
            for sk_in, target in ((item.latency, ms.latency), (item.ttft, ms.ttft)):
                if sk_in is not None:
                    try:
                        target.add_sketch(QuantileSketch.from_dict(sk_in.model_dump()), now)
                    except ValueError:
                        state.ingested["bad_sketch"] += 1
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


def _service_item(state: AgentState, instance: str, item: m.Item, now: float) -> None:
    sv = state.service
    if isinstance(item, m.Job):
        # a job event may be reported late (slo-agent job-event --at), never from the future
        at = min(item.at, now) if item.at is not None else now
        sv.job(item.job).event(item.event, at, item.run_id, item.duration, item.error)
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
                cw = ms.categorical.get(name)
                if cw is None:
                    cw = ms.categorical[name] = CategoricalWindow(state.window_size,
                                                                  state.reference_size)
                cw.add(column)
            else:
                fw = ms.numeric.get(name)
                if fw is None:
                    fw = ms.numeric[name] = FeatureWindow(state.window_size,
                                                          state.reference_size)
                fw.add(numeric_values(column))
    preds = [p for p in item.predictions if p is not None and not isinstance(p, str)]
    if preds:
        if ms.predictions is None:
            ms.predictions = FeatureWindow(state.window_size, state.reference_size)
        ms.predictions.add(numeric_values(preds))
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
