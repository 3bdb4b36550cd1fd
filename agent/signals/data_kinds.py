"""Data signals of datasets (polled files or batches): freshness, nulls, schema, categories,
contract values and volume."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import agent.signals.fleet as fleet
import agent.signals.inputs as inp
import agent.signals.query_shapes as pq
from agent import catalogue as cat
from agent.signals.record import (
    Aggregation,
    Compute,
    Direction,
    Example,
    Judge,
    Panel,
    Producer,
    Query,
    SignalKind,
    SignalRecord,
    SLIType,
)
from agent.units import Unit

_UP, _DOWN, _TS = Direction.HIGHER_IS_WORSE, Direction.LOWER_IS_WORSE, SLIType.TIMESLICES
_DS = ("dataset",)
_SIDECAR = (Producer.SIDECAR,)
_MAX = Aggregation.MAX
_TX, _TX_COL = {"dataset": "tx"}, {"dataset": "tx", "column": "country"}


def _any_dataset(sources: Any) -> bool:
    """A dataset the sidecar polls or receives batches of."""
    return bool(sources.datasets)


def _allowed_values(sources: Any) -> bool:
    return any(d.contract.allowed_values for d in sources.datasets)
_NEW_VALUE, _ = pq.either(cat.NEW_CATEGORY, cat.DATASET_NEW_CATEGORY)


def _new_source(q: Query) -> str:
    """A dataset file's gauge; the SDK's category counters (any replica keeps them present)."""
    return (cat.DATASET_NEW_CATEGORY if q.dataset else cat.DRIFT_CATEGORY_SAMPLES).name


def _batch_rows(q: Query) -> str:
    """The rows of the batch whose null share the objective watches (its dataset's)."""
    return (f"max({cat.DATASET_ROWS.name} and on({cat.SERVICE_LABEL}, dataset) "
            f"{cat.NULL_RATIO.name}{q.m})")


def _null_inputs(s: inp.Synth, segments: list[inp.Segment]) -> list[dict[str, str]]:
    """The share at the segment's value, in batches of a million rows: judged like the share."""
    rows = {k: v for k, v in s.base.items() if k != "column"}
    return [*inp.gauge(cat.NULL_RATIO, {"column": "c"})(s, segments),
            {"series": inp.series(cat.DATASET_ROWS.name, rows),
             "values": inp.gauge_values([(t, 1e6) for t, _ in segments])}]


def _dataset(what: str) -> Compute:
    return Compute("dataset", {"what": what})


_RECORDS = (
    SignalRecord(SignalKind.FRESHNESS_LAG, "Data freshness lag", Unit.SECONDS, _UP, _DS, _TS,
                 "data", "now minus the newest event time (or update mark)", required=_DS,
                 grafana_unit="s", producers=_SIDECAR, metric=cat.FRESHNESS, aggregation=_MAX,
                 fed_by=_any_dataset, examples=(Example(_TX, "1h", "3h"),),
                 compute=_dataset("freshness"),
                 inputs=inp.gauge(cat.FRESHNESS)),
    SignalRecord(SignalKind.NULL_RATIO, "Null ratio", Unit.RATIO, _UP, ("dataset", "column"),
                 _TS, "data", "share of nulls in a column of the latest batch", learnable=True,
                 required=_DS, grafana_unit="percentunit", producers=_SIDECAR,
                 metric=cat.NULL_RATIO, aggregation=_MAX, fed_by=_any_dataset,
                 examples=(Example({"dataset": "tx", "column": "amount"}, "1%", "5%"),),
                 compute=_dataset("null_ratio"),
                 judge=Judge.ROWS_RATIO, rows=_batch_rows, status_detail="column",
                 inputs=_null_inputs),
    SignalRecord(SignalKind.SCHEMA_DRIFT, "Schema changes", Unit.COUNT, _UP, _DS, _TS, "data",
                 "columns added, removed or retyped in a batch against the contract or "
                 "reference", required=_DS, default_warning="0", default_critical="1",
                 note="changes per batch, judged strictly above the level: any change is a "
                      "warning, more than one critical",
                 producers=_SIDECAR, metric=cat.SCHEMA_CHANGES, aggregation=_MAX,
                 fed_by=_any_dataset, examples=(Example(_TX, "1", "3"),),
                 value=lambda q: _MAX.promql(
                     f"sum without (change) ({cat.SCHEMA_CHANGES.name}{q.m})"),
                 compute=_dataset("schema"),
                 inputs=inp.gauge(cat.SCHEMA_CHANGES, {"change": "added"})),
    SignalRecord(SignalKind.NEW_CATEGORY_SHARE, "New categories", Unit.RATIO, _UP,
                 ("dataset", "column", "model", "version", "feature"), _TS, "data",
                 "share of rows whose category the reference never saw (SDK-fed: the "
                 "whole fleet's, from counts summed over replicas)",
                 default_warning="1%", default_critical="5%", grafana_unit="percentunit",
                 producers=_SIDECAR, metric=cat.NEW_CATEGORY, aggregation=_MAX,
                 examples=(Example({"model": "m"}, "1%", "5%"),
                           Example(_TX_COL, "1%", "5%", name="dataset")),
                 value=fleet.fleet_value(_NEW_VALUE, fleet.NEW_SHARE), source=_new_source,
                 recordings=fleet.new_share_rules, settle=fleet.fleet_settle,
                 compute=Compute("drift", {"dataset": "new_categories",
                                           "windows": "new_categories"}),
                 status_detail="features",
                 inputs=inp.category_counts(inp.gauge(
                     cat.NEW_CATEGORY, {"feature": "f"},
                     dataset=(cat.DATASET_NEW_CATEGORY, {"column": "c"})))),
    SignalRecord(SignalKind.DISALLOWED_VALUE_SHARE, "Disallowed values", Unit.RATIO, _UP,
                 ("dataset", "column"), _TS, "data",
                 "share of rows outside the contract's allowed values", required=_DS,
                 default_warning="0.1%", default_critical="1%", grafana_unit="percentunit",
                 note="contract `allowed_values`", producers=_SIDECAR,
                 metric=cat.DATASET_DISALLOWED, aggregation=_MAX, fed_by=_allowed_values,
                 examples=(Example(_TX_COL, "0.1%", "1%"),),
                 compute=_dataset("disallowed"),
                 status_detail="features",
                 inputs=inp.gauge(cat.DATASET_DISALLOWED, {"column": "c"})),
    SignalRecord(SignalKind.ROW_COUNT, "Rows per batch", Unit.COUNT, _DOWN, _DS, _TS, "data",
                 "rows in the latest batch", learnable=True, required=_DS,
                 default_warning="50% baseline", default_critical="20% baseline",
                 note="rows per batch", producers=_SIDECAR, metric=cat.DATASET_ROWS,
                 aggregation=_MAX, fed_by=_any_dataset,
                 examples=(Example(_TX, "50% baseline", "20% baseline",
                                   {"objective": "99%", "sli_threshold": 100}),),
                 compute=_dataset("rows"),
                 inputs=inp.gauge(cat.DATASET_ROWS)),
)

_LEGEND = "{{dataset}}.{{column}}"
PANELS = {
    SignalKind.FRESHNESS_LAG: Panel(
        "Data", 1, "Freshness lag", None,
        "{{dataset}}", "Now minus the newest event time (or update mark) per dataset; dashed at "
        "the levels of the objective watching that dataset.", by="dataset"),
    SignalKind.NULL_RATIO: Panel(
        "Data", 2, "Null ratio per column", None, _LEGEND,
        "Share of nulls per column in the latest batch; each column is dashed at the levels of "
        "the objective watching it (none where no objective does).", by="dataset, column"),
    SignalKind.SCHEMA_DRIFT: Panel(
        "Data", 3, "Schema changes", None, "{{dataset}} {{change}}",
        "Columns added, removed or retyped per dataset against its contract or reference; "
        "schema objectives add their total line, dashed at their levels (any change is a "
        "warning, more than one critical).", style="lines", by="dataset, change"),
    SignalKind.DISALLOWED_VALUE_SHARE: Panel(
        "Data", 3.5, "Disallowed values per column", None, _LEGEND,
        "Share of rows outside the contract's allowed values per column in the latest batch; "
        "dashed at the levels of the objective watching that column.", by="dataset, column"),
    SignalKind.NEW_CATEGORY_SHARE: Panel(
        "Model", 4.5, "New categories (share of rows)",
        fleet.fleet_panel("model, feature", fleet.NEW_SHARE, "", cat.NEW_CATEGORY),
        "{{model}} {{feature}}", "Share of the whole fleet's sampled rows (counts summed over "
        "replicas) whose category the reference never saw, per model and feature (where no "
        "objective records the fleet's, the worst replica's own view); dashed at the "
        "new-category objective's levels (a dataset file's share is on its objective's "
        "detail dashboard).", sdk_only=True),
    SignalKind.ROW_COUNT: Panel(
        "Data", 5, "Rows per batch", None,
        "{{dataset}}", "Rows in the latest batch per dataset; dashed at the levels of a "
        "row-count objective with absolute levels (baseline-relative ones are on its detail "
        "dashboard).", by="dataset"),
}

RECORDS = tuple(replace(r, panel=PANELS.get(r.kind)) for r in _RECORDS)
