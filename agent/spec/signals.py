"""The signal kinds an objective can watch, and what each one means.

One table: unit, direction, which selectors apply, whether a baseline can be learned, whether the
SLI counts events (good/total) or time slices, and the field-practice default thresholds. The spec
validates against it; the metric catalogue attaches PromQL to it; the evaluator reads direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from agent.spec.units import Unit


class SignalKind(str, Enum):
    LATENCY = "latency"
    TTFT = "ttft"
    ERROR_RATE = "error_rate"
    AVAILABILITY = "availability"
    QUEUE_DEPTH = "queue_depth"
    QUEUE_WAIT = "queue_wait"
    IN_FLIGHT = "in_flight"
    THROUGHPUT = "throughput"
    GPU_UTILIZATION = "gpu_utilization"
    GPU_MEMORY_RATIO = "gpu_memory_ratio"
    GPU_TEMPERATURE = "gpu_temperature"
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


SELECTOR_KEYS = ("model", "version", "feature", "column", "dataset", "gpu", "queue", "job",
                 "cache", "breaker", "objective", "scrape")
_MODEL_SEL = ("model", "version")
_SCRAPED = ("model", "version", "scrape")    # scrape: a scrape target's own series (a preset)


@dataclass(frozen=True)
class SignalInfo:
    kind: SignalKind
    title: str
    unit: Unit
    direction: Direction
    selectors: tuple[str, ...]
    sli: SLIType
    family: str                          # infrastructure | data | model | cost | jobs | custom
    quantile: bool = False               # takes a quantile (p50/p95/p99 or any q)
    learnable: bool = False              # the sidecar can learn a baseline for relative thresholds
    required: tuple[str, ...] = ()       # selector keys that must be given
    default_warning: str | None = None
    default_critical: str | None = None
    grafana_unit: str = "short"

    @property
    def higher_is_worse(self) -> bool:
        return self.direction is Direction.HIGHER_IS_WORSE


_UP, _DOWN = Direction.HIGHER_IS_WORSE, Direction.LOWER_IS_WORSE
_EV, _TS = SLIType.EVENTS, SLIType.TIMESLICES

SIGNALS: dict[SignalKind, SignalInfo] = {
    s.kind: s
    for s in (
        SignalInfo(SignalKind.LATENCY, "Inference latency", Unit.SECONDS, _UP, _SCRAPED, _EV,
                   "infrastructure", quantile=True, learnable=True,
                   default_warning="2x baseline", default_critical="5x baseline", grafana_unit="s"),
        SignalInfo(SignalKind.TTFT, "Time to first token", Unit.SECONDS, _UP, _SCRAPED, _EV,
                   "infrastructure", quantile=True, learnable=True,
                   default_warning="2x baseline", default_critical="5x baseline", grafana_unit="s"),
        SignalInfo(SignalKind.ERROR_RATE, "Error rate", Unit.RATIO, _UP, _SCRAPED, _EV,
                   "infrastructure", default_warning="1%", default_critical="5%",
                   grafana_unit="percentunit"),
        SignalInfo(SignalKind.AVAILABILITY, "Availability", Unit.RATIO, _DOWN, _SCRAPED, _EV,
                   "infrastructure", default_warning="99%", default_critical="95%",
                   grafana_unit="percentunit"),
        SignalInfo(SignalKind.QUEUE_DEPTH, "Queue depth", Unit.COUNT, _UP, ("queue", "scrape"), _TS,
                   "infrastructure", learnable=True,
                   default_warning="1000", default_critical="10000"),
        SignalInfo(SignalKind.QUEUE_WAIT, "Queue wait", Unit.SECONDS, _UP, ("queue", "scrape"), _EV,
                   "infrastructure", quantile=True, learnable=True, grafana_unit="s"),
        SignalInfo(SignalKind.IN_FLIGHT, "In-flight requests", Unit.COUNT, _UP, _SCRAPED, _TS,
                   "infrastructure", learnable=True),
        SignalInfo(SignalKind.THROUGHPUT, "Throughput", Unit.PER_SECOND, _DOWN, _SCRAPED, _TS,
                   "infrastructure", learnable=True, grafana_unit="reqps"),
        SignalInfo(SignalKind.GPU_UTILIZATION, "GPU utilisation", Unit.RATIO, _UP,
                   ("gpu", "scrape"), _TS, "infrastructure", grafana_unit="percentunit"),
        SignalInfo(SignalKind.GPU_MEMORY_RATIO, "GPU memory used", Unit.RATIO, _UP, ("gpu",), _TS,
                   "infrastructure", grafana_unit="percentunit"),
        SignalInfo(SignalKind.GPU_TEMPERATURE, "GPU temperature", Unit.CELSIUS, _UP, ("gpu",), _TS,
                   "infrastructure", grafana_unit="celsius"),
        SignalInfo(SignalKind.FRESHNESS_LAG, "Data freshness lag", Unit.SECONDS, _UP,
                   ("dataset",), _TS, "data", required=("dataset",), grafana_unit="s"),
        SignalInfo(SignalKind.NULL_RATIO, "Null ratio", Unit.RATIO, _UP, ("dataset", "column"),
                   _TS, "data", learnable=True, required=("dataset",),
                   grafana_unit="percentunit"),
        SignalInfo(SignalKind.SCHEMA_DRIFT, "Schema changes", Unit.COUNT, _UP, ("dataset",), _TS,
                   "data", required=("dataset",), default_warning="1", default_critical="1"),
        SignalInfo(SignalKind.FEATURE_DRIFT, "Feature drift", Unit.COUNT, _UP,
                   ("model", "version", "feature", "dataset", "column"), _TS, "model",
                   default_warning="0.1", default_critical="0.25"),
        SignalInfo(SignalKind.PREDICTION_DRIFT, "Prediction drift", Unit.COUNT, _UP,
                   (*_MODEL_SEL, "dataset", "column"), _TS, "model", default_warning="0.1",
                   default_critical="0.25"),
        SignalInfo(SignalKind.FALLBACK_RATE, "Fallback rate", Unit.RATIO, _UP, _MODEL_SEL, _EV,
                   "model", grafana_unit="percentunit"),
        SignalInfo(SignalKind.NEGATIVE_FEEDBACK_RATE, "Negative feedback rate", Unit.RATIO, _UP,
                   _MODEL_SEL, _EV, "model", grafana_unit="percentunit"),
        SignalInfo(SignalKind.TOKEN_RATE, "Token rate", Unit.PER_SECOND, _UP, _SCRAPED, _TS,
                   "cost", learnable=True),
        SignalInfo(SignalKind.COST_PER_1K, "Cost per 1,000 inferences", Unit.USD, _UP, _MODEL_SEL,
                   _TS, "cost", learnable=True, grafana_unit="currencyUSD"),
        SignalInfo(SignalKind.DAILY_SPEND, "Daily spend", Unit.USD, _UP, _MODEL_SEL, _TS, "cost",
                   default_warning="120% budget", default_critical="150% budget",
                   grafana_unit="currencyUSD"),
        SignalInfo(SignalKind.NEW_CATEGORY_SHARE, "New categories", Unit.RATIO, _UP,
                   ("dataset", "column", "model", "version", "feature"), _TS, "data",
                   default_warning="1%", default_critical="5%", grafana_unit="percentunit"),
        SignalInfo(SignalKind.DISALLOWED_VALUE_SHARE, "Disallowed values", Unit.RATIO, _UP,
                   ("dataset", "column"), _TS, "data", required=("dataset",),
                   default_warning="0.1%", default_critical="1%", grafana_unit="percentunit"),
        SignalInfo(SignalKind.ROW_COUNT, "Rows per batch", Unit.COUNT, _DOWN, ("dataset",), _TS,
                   "data", learnable=True, required=("dataset",),
                   default_warning="50% baseline", default_critical="20% baseline"),
        SignalInfo(SignalKind.JOB_SUCCESS_RATIO, "Job success ratio", Unit.RATIO, _DOWN,
                   ("job",), _EV, "jobs", required=("job",), default_warning="99%",
                   default_critical="90%", grafana_unit="percentunit"),
        SignalInfo(SignalKind.JOB_DURATION, "Job duration", Unit.SECONDS, _UP, ("job",), _TS,
                   "jobs", learnable=True, required=("job",), default_warning="1.5x baseline",
                   default_critical="3x baseline", grafana_unit="s"),
        SignalInfo(SignalKind.TIME_SINCE_SUCCESS, "Time since last successful run",
                   Unit.SECONDS, _UP, ("job",), _TS, "jobs", required=("job",), grafana_unit="s"),
        SignalInfo(SignalKind.DRIFT_DETECTION_TIME, "Drift detection time", Unit.SECONDS, _UP,
                   ("objective",), _TS, "model", required=("objective",), grafana_unit="s"),
        SignalInfo(SignalKind.CACHE_HIT_RATE, "Cache hit rate", Unit.RATIO, _DOWN, ("cache",),
                   _EV, "infrastructure", grafana_unit="percentunit"),
        # discrete levels, judged "above": warning 0 = anything but full/closed
        SignalInfo(SignalKind.DEGRADATION_LEVEL, "Degradation level", Unit.COUNT, _UP, (), _TS,
                   "infrastructure", default_warning="0", default_critical="1"),
        SignalInfo(SignalKind.CIRCUIT_BREAKER_STATE, "Circuit breaker state", Unit.COUNT, _UP,
                   ("breaker",), _TS, "infrastructure", default_warning="0",
                   default_critical="1"),
        SignalInfo(SignalKind.CUSTOM, "Custom SLI", Unit.COUNT, _UP, (), _TS, "custom"),
    )
}

#: degradation levels by name (``monitor.degradation("cached")``), worst last
DEGRADATION_LEVELS = ("full", "limited", "cached", "minimal")
#: circuit-breaker states by name, as exported (0 closed, 1 half-open, 2 open)
BREAKER_STATES = ("closed", "half_open", "open")


def signal(kind: SignalKind | str) -> SignalInfo:
    return SIGNALS[SignalKind(kind)]
