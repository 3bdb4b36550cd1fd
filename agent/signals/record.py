"""The record type of a signal kind: everything a consumer needs to know about one kind.

A record says what the signal means (unit, direction, selectors, defaults), who produces its
series and under which names elsewhere (OpenTelemetry, the model servers' presets), how values
aggregate across series and replicas, how Prometheus computes it (value and bad/total events), how
the sidecar computes and judges it (a named computation shape with its parameters, a judgement
basis), which series a no-data alert watches, its dashboard panel, the raw series its generated
promtool tests feed and a worked example (the every-kind test spec and the docs are built from
it). The spec model, the rule and dashboard generators and the sidecar evaluator read records;
none of them names a kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from agent.catalogue import Metric
from agent.units import Base, Unit


class SignalKind(str, Enum):
    """Every kind an objective can watch; a value outside it cannot be constructed."""

    LATENCY = "latency"
    TTFT = "ttft"
    TIME_PER_OUTPUT_TOKEN = "time_per_output_token"
    ERROR_RATE = "error_rate"
    AVAILABILITY = "availability"
    QUEUE_DEPTH = "queue_depth"
    QUEUE_WAIT = "queue_wait"
    IN_FLIGHT = "in_flight"
    THROUGHPUT = "throughput"
    GPU_UTILIZATION = "gpu_utilization"
    GPU_MEMORY_RATIO = "gpu_memory_ratio"
    GPU_TEMPERATURE = "gpu_temperature"
    KV_CACHE_USAGE = "kv_cache_usage"
    FRESHNESS_LAG = "freshness_lag"
    NULL_RATIO = "null_ratio"
    SCHEMA_DRIFT = "schema_drift"
    FEATURE_DRIFT = "feature_drift"
    PREDICTION_DRIFT = "prediction_drift"
    FALLBACK_RATE = "fallback_rate"
    NEGATIVE_FEEDBACK_RATE = "negative_feedback_rate"
    TOKEN_RATE = "token_rate"
    COST_PER_1K = "cost_per_1k"
    DAILY_SPEND = "daily_spend"
    NEW_CATEGORY_SHARE = "new_category_share"
    DISALLOWED_VALUE_SHARE = "disallowed_value_share"
    ROW_COUNT = "row_count"
    JOB_SUCCESS_RATIO = "job_success_ratio"
    JOB_DURATION = "job_duration"
    TIME_SINCE_SUCCESS = "time_since_success"
    DRIFT_DETECTION_TIME = "drift_detection_time"
    CACHE_HIT_RATE = "cache_hit_rate"
    DEGRADATION_LEVEL = "degradation_level"
    CIRCUIT_BREAKER_STATE = "circuit_breaker_state"
    CUSTOM = "custom"


class Direction(str, Enum):
    HIGHER_IS_WORSE = "higher_is_worse"
    LOWER_IS_WORSE = "lower_is_worse"


class SLIType(str, Enum):
    """How an error-budget SLI is counted for this kind."""

    EVENTS = "events"        # good / total from counters or histogram buckets (exact ratio of sums)
    TIMESLICES = "timeslices"  # share of time a gauge met its threshold (OpenSLO Timeslices)


class Producer(str, Enum):
    """Who produces a kind's series: the inference process's SDK, the sidecar (datasets, jobs,
    GPUs, drift), an OpenTelemetry exporter through the sidecar's OTLP door, or a scrape target
    (a model server) whose own series the rules read and whose value the sidecar re-exports."""

    SDK = "sdk"
    SIDECAR = "sidecar"
    OTLP = "otlp"
    SCRAPE = "scrape"


class Aggregation(str, Enum):
    """How a kind's values combine across series and replicas, the same in the rules, the
    panels, the scrape path and the sidecar: counts add (``sum``: counters, histogram buckets,
    requests waiting or running); shares, levels, ages and temperatures take the worst series
    (``max``), since two engines at 60 % and 70 % are not at 130 %."""

    SUM = "sum"
    MAX = "max"

    def promql(self, expr: str, by: str = "") -> str:
        return f"{self.value} by ({by}) ({expr})" if by else f"{self.value}({expr})"

    def combine(self, values: Iterable[float]) -> float | None:
        """The values combined; None when there are none."""
        got = list(values)
        if not got:
            return None
        return float(sum(got)) if self is Aggregation.SUM else float(max(got))


@dataclass(frozen=True)
class Example:
    """A worked objective of the kind: its selector, levels and any further fields (a budget,
    an SLI level, a quantile). ``name`` tells variants of one kind apart (a dataset file's
    drift beside the SDK's). The every-kind test spec, the README and the docs are built from
    the examples, so adding a kind touches no test file."""

    selector: Mapping[str, str] = field(default_factory=dict)
    warning: str | None = None
    critical: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""


class Judge(str, Enum):
    """What the sidecar judges a value on: the value itself, or the 99 % Wilson bound of its
    bad (or good) event ratio, so a handful of failures at night does not page."""

    VALUE = "value"
    BAD_RATIO = "bad_ratio"        # levels are bad-event shares (error rate)
    GOOD_RATIO = "good_ratio"      # levels are good-event shares (availability, hit rate)
    ROWS_RATIO = "rows_ratio"      # a bad-row share, judged once enough rows were seen


@dataclass(frozen=True)
class Fleet:
    """What the fleet drift rules need of the spec and the objective (SDK-fed drift only): the
    raw selector as labels, the recorded series' matchers, the window of summed counts, the
    bins, the significance level and its correction, and the calibration of the thresholds."""

    labels: Mapping[str, str]
    rec: str                             # matchers of the objective's recorded series
    window: str                          # drift.fleet_window as a PromQL duration
    window_seconds: float
    bins: int                            # drift.fleet_bins
    alpha: float                         # the objective's alpha, else drift.alpha
    correction: str                      # drift.correction: none keeps alpha as it is
    calibration: float | None            # None: the objective's fixed levels judge the score
    min_ks: float
    min_psi: float
    reference_size: int                  # m of a categorical reference (its shares carry none)
    level: float | None = None           # the warning level (synthetic test inputs only)
    min_samples: int = 1                 # drift.min_samples: fewer in the window is no verdict


@dataclass(frozen=True)
class Query:
    """What a PromQL builder of a record is given: label matchers, window, and the objective's
    options (quantile, a dataset file as source, its own significance level, the SLI level)."""

    m: str = ""
    w: str = "5m"
    quantile: float | None = None
    dataset: bool = False
    alpha: float | None = None
    threshold: float | None = None
    fn: str = "rate"
    fleet: Fleet | None = None


@dataclass(frozen=True)
class Compute:
    """How the sidecar computes a value: a named computation shape (one implementation each in
    the sidecar, shared by every kind of that shape) and its parameters."""

    shape: str
    params: Mapping[str, Any] = field(default_factory=dict)


PromValue = Callable[[Query], str]
#: (PromQL of the columns past their own calibrated level, PromQL of those levels)
ColumnLevels = Callable[[Query], tuple[str, str]]
PromEvents = Callable[[Query], tuple[str, str]]
Source = Callable[[Query], str]
#: intermediate series recorded before the value: [(record name, PromQL)]
Recordings = Callable[[Query], list[tuple[str, str]]]
#: (synthetic clock and labels, [(ticks, [(value, share)])]) → promtool input series
Inputs = Callable[[Any, Any], list[dict[str, str]]]


@dataclass(frozen=True)
class Panel:
    """The kind's panel on the service dashboard. ``style``: ``series`` (the raw series, each
    coloured by the objective whose selector picks it), ``lines`` (the raw series plus one line
    per objective, dashed at its levels), ``quantile`` (p50/p95/p99 plus objective lines),
    ``state`` (named discrete states), ``objectives`` (objective lines only, shown when any).
    ``expr`` None: the record's metric aggregated by its aggregation over ``by``."""

    row: str                     # Infrastructure | Data | Model | Cost | Jobs
    order: float                 # position in the row among the dashboard's own panels
    title: str
    expr: Callable[[str], str] | None  # matchers → PromQL over the raw series
    legend: str
    description: str
    style: str = "series"
    width: int = 12
    sdk_only: bool = False       # objectives on a dataset file are drawn on the file's panel
    raw_thresholds: bool = False  # "lines": also colour the raw series per objective
    by: str = ""                 # the labels the record's metric is shown by (expr None)


#: what feeds a kind besides its objectives: a predicate over the spec's ``sources``
Fed = Callable[[Any], bool]


@dataclass(frozen=True)
class SignalRecord:
    kind: SignalKind
    title: str
    unit: Unit
    direction: Direction
    selectors: tuple[str, ...]
    sli: SLIType
    family: str                          # infrastructure | data | model | cost | jobs | custom
    meaning: str = ""                    # one sentence: what the number is
    quantile: bool = False               # takes a quantile (p50/p95/p99 or any q)
    learnable: bool = False              # the sidecar can learn a baseline for relative levels
    required: tuple[str, ...] = ()       # selector keys that must be given
    default_warning: str | None = None
    default_critical: str | None = None
    grafana_unit: str = "short"
    unit_text: str | None = None         # how the docs spell the unit when it says more
    note: str = ""                       # the docs' note column
    #: who produces the kind's series, the main producer first
    producers: tuple[Producer, ...] = ()
    #: the kind's series in the catalogue (an SDK's, the sidecar's, or the sidecar's re-export
    #: of a scraped value); its OpenTelemetry name is the catalogue's ``otel_name``
    metric: Metric | None = None
    #: how values combine across series and replicas (rules, panels, scrape path, sidecar)
    aggregation: Aggregation = Aggregation.SUM
    #: a value read from a scrape target is re-exported by the sidecar as ``metric``, the
    #: target's name in its last label (a queue, a source)
    reexport: bool = False
    #: a source of the spec that feeds the kind without an objective (a GPU, a dataset file)
    fed_by: Fed | None = None
    examples: tuple[Example, ...] = ()   # worked objectives, the first the docs' example
    value: PromValue | None = None       # PromQL of the value (None: from the objective)
    events: PromEvents | None = None     # PromQL (bad, total) for events SLIs
    source: Source | None = None         # the raw series a no-data alert watches
    #: per-column warning levels calibrated on the reference (drift without ``warning:``)
    column_levels: ColumnLevels | None = None
    #: promtool inputs for those levels: the exported threshold series at the segment values
    column_level_inputs: Inputs | None = None
    compute: Compute = Compute("external")
    judge: Judge = Judge.VALUE
    #: PromQL of the rows a ``Judge.ROWS_RATIO`` share is of (one series, no labels): the rules
    #: judge the share's Wilson bound on at least ``detectors.quality.NULL_MIN_ROWS`` of them,
    #: as the sidecar does, never the bare share of a handful of rows
    rows: PromValue | None = None
    #: the budget clock: rules judge this kind over a longer window than the rate window
    #: (seconds, or seconds from the query: the fleet drift window)
    settle: float | Callable[[Query], float | None] | None = None
    #: intermediate recording rules the value reads (the fleet drift statistics)
    recordings: Recordings | None = None
    panel: Panel | None = None
    #: drawn on another kind's panel (availability on the error-rate panel)
    drawn_with: SignalKind | None = None
    inputs: Inputs | None = None
    states: tuple[str, ...] = ()         # named discrete levels (0, 1, ...), worst last
    #: what /status shows of the value's detail: "detail", "features" (per column/feature),
    #: "column" (the worst column's counts) or nothing
    status_detail: str | None = None
    #: what a relative level ("2x", "120%") multiplies when it names neither
    relative_to: Base = Base.BASELINE

    def __post_init__(self) -> None:
        """A gauge kind's value is its metric aggregated as the record says, and its no-data
        source that metric, unless the record gives its own PromQL."""
        m = self.metric
        if m is None:
            return
        if self.value is None and m.type == "gauge":
            object.__setattr__(self, "value", _gauge_value(m, self.aggregation))
        if self.source is None:
            object.__setattr__(self, "source", _series(m))

    @property
    def info(self) -> SignalRecord:
        return self

    @property
    def higher_is_worse(self) -> bool:
        return self.direction is Direction.HIGHER_IS_WORSE

    @property
    def bounded(self) -> bool:
        """Judged on the 99 % Wilson bound of its event share with a minimum of events (an
        error or hit ratio), by the sidecar and the generated rules alike."""
        return self.judge in (Judge.BAD_RATIO, Judge.GOOD_RATIO)

    @property
    def judged_once_covered(self) -> bool:
        """A rate where lower is worse reads low while its rate window holds less data than
        its length (a deploy start), so both judges judge its levels only once it is covered
        (no data at all is the no-data alert's business)."""
        return self.unit is Unit.PER_SECOND and self.direction is Direction.LOWER_IS_WORSE

    @property
    def docs_unit(self) -> str:
        return self.unit_text or self.unit.value.replace("_", " ")

    @property
    def otel_name(self) -> str | None:
        """The OpenTelemetry instrument the kind's series has (semantic conventions first)."""
        return None if self.metric is None else self.metric.otel_name

    def panel_expr(self, matchers: str) -> str:
        """PromQL of the kind's panel over our own series (the SDK's or the sidecar's)."""
        d = self.panel
        if d is None:
            raise ValueError(f"{self.kind.value}: no panel in its record")
        if d.expr is not None:
            return d.expr(matchers)
        if self.metric is None:
            raise ValueError(f"{self.kind.value}: a panel without expr needs the record's metric")
        return self.aggregation.promql(f"{self.metric.name}{matchers}", d.by)


def _gauge_value(m: Metric, agg: Aggregation) -> PromValue:
    return lambda q: agg.promql(f"{m.name}{q.m}")


def _series(m: Metric) -> Source:
    return lambda q: m.name


#: the older name: a record is the signal's info
SignalInfo = SignalRecord
