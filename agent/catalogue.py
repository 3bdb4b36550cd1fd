"""The metric catalogue: every metric the project exports, and the PromQL of every signal kind.

The SDK, the sidecar's exposition, the evaluator, the dashboards and the alert rules take names from
here; nothing else spells a metric name. Names follow Prometheus conventions (base units, ``_total``
on counters, ratios 0-1); OTel instrument names follow the semantic conventions where one exists.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from detectors.thresholds import Status

MetricType = Literal["counter", "gauge", "histogram", "summary", "info"]

#: Labels every exported series carries, so fleets aggregate across replicas by service.
SERVICE_LABEL = "service"
#: the label a burn-rate alert names its tier by (alerts set it, the detail dashboard reads it),
#: named so that it cannot collide with a team's own labels
TIER_LABEL = "slo_agent_tier"
#: Selector keys → label names on the series (one to one, so selectors translate mechanically).
SELECTOR_LABELS = {"model": "model", "version": "version", "feature": "feature",
                   "column": "column", "dataset": "dataset", "gpu": "gpu", "queue": "queue",
                   "job": "job_name", "cache": "cache", "breaker": "breaker",
                   "objective": "objective"}
#: the window a job's success ratio is judged over: jobs run hourly to daily
JOB_WINDOW = "1d"
JOB_WINDOW_SECONDS = 86400.0
OUTCOMES = ("ok", "error", "fallback")
SENTIMENTS = ("positive", "negative", "neutral")
CACHE_RESULTS = ("hit", "miss")           # result label of cache lookups: good, bad
JOB_RESULTS = ("success", "failure")      # result label of finished job runs: good, bad
TOKEN_TYPES = ("input", "output")          # gen_ai.token.type values
#: latency-like histograms' bounds (plus the spec's levels): the SDK's and OTLP re-exports
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                   10.0, 30.0, 60.0)
#: the numeric value of slo_agent_objective_state per status (one definition: detectors' Status)
OBJECTIVE_STATES = {s.value: s.rank for s in Status}


@dataclass(frozen=True)
class Metric:
    name: str                      # the family name as exposed (counters end in _total)
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""                 # seconds | bytes | ratio | celsius | watts | hertz | usd
    otel_name: str | None = None   # OpenTelemetry instrument name, semantic conventions first

    @property
    def client_name(self) -> str:
        """The name prometheus_client wants (it appends ``_total`` to counters itself)."""
        if self.type == "counter" and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        if self.type == "info" and self.name.endswith("_info"):
            return self.name[: -len("_info")]
        return self.name

    def series(self, suffix: str = "") -> str:
        return self.name + suffix


_S = (SERVICE_LABEL,)
_MV = (SERVICE_LABEL, "model", "version")


def _m(name: str, type_: MetricType, help_: str, labels: tuple[str, ...] = _S, unit: str = "",
       otel: str | None = None) -> Metric:
    return Metric(name, type_, help_, labels, unit, otel)


# --- exported by the SDK in the inference process ------------------------------------------------
REQUESTS = _m("inference_requests_total", "counter",
              "Inference calls by outcome (ok, error, fallback).", _MV + ("outcome",))
ERRORS = _m("inference_errors_total", "counter", "Failed inference calls by exception type.",
            _MV + ("error_type",))
LATENCY = _m("inference_request_duration_seconds", "histogram",
             "Inference call duration; buckets include every latency threshold in the spec.",
             _MV, "seconds", "gen_ai.client.operation.duration")
IN_FLIGHT = _m("inference_in_flight_requests", "gauge", "Inference calls currently running.", _MV)
TTFT = _m("inference_time_to_first_token_seconds", "histogram",
          "Time from call to the first streamed item.", _MV, "seconds",
          "gen_ai.server.time_to_first_token")
INTER_TOKEN = _m("inference_inter_token_seconds", "histogram",
                 "Time between consecutive streamed items.", _MV, "seconds",
                 "gen_ai.server.time_per_output_token")
TOKENS = _m("inference_tokens_total", "counter", "Tokens processed, by gen_ai token type.",
            _MV + ("token_type",), "", "gen_ai.client.token.usage")
COST = _m("inference_cost_usd_total", "counter", "Spend on inference in US dollars.", _MV, "usd")
FEEDBACK = _m("inference_feedback_total", "counter",
              "User feedback on inferences by sentiment.", _MV + ("sentiment",))
FEEDBACK_SCORE = _m("inference_feedback_score", "histogram",
                    "User feedback scores between 0 (worst) and 1 (best).", _MV, "ratio")
QUEUE_DEPTH = _m("inference_queue_depth", "gauge", "Requests waiting in a queue.",
                 _S + ("queue",))
QUEUE_WAIT = _m("inference_queue_wait_seconds", "histogram",
                "Time requests waited in a queue.", _S + ("queue",), "seconds")
CACHE = _m("inference_cache_requests_total", "counter",
           "Cache lookups by result (hit, miss).", _S + ("cache", "result"))
DEGRADATION = _m("inference_degradation_level", "gauge",
                 "Degradation level the service runs at: 0 full, 1 limited, 2 cached, 3 minimal.")
BREAKER = _m("inference_circuit_breaker_state", "gauge",
             "Circuit-breaker state: 0 closed, 1 half-open, 2 open.", _S + ("breaker",))
COST_BY_TAG = _m("inference_cost_by_tag_usd_total", "counter",
                 "Spend in US dollars by a tag (user, feature); values past the cardinality cap "
                 "are folded into 'other'.", _MV + ("tag", "tag_value"), "usd")
SDK_DROPPED = _m("slo_agent_sdk_dropped_samples_total", "counter",
                 "Samples the SDK dropped instead of blocking (queue full, sidecar away).",
                 _S + ("reason",))
SDK_SHIPPED = _m("slo_agent_sdk_shipped_samples_total", "counter",
                 "Samples the SDK delivered to the sidecar.", _S)
SDK_ERRORS = _m("slo_agent_sdk_errors_total", "counter",
                "Internal SDK failures swallowed to protect the host application.",
                _S + ("where",))
SDK_OVERFLOW = _m("slo_agent_sdk_label_overflow_total", "counter",
                  "Label values folded into 'other' by the cardinality cap.", _S + ("metric",))

# --- exported by the sidecar ---------------------------------------------------------------------
_OBJ = (SERVICE_LABEL, "objective", "signal")
OBJECTIVE_VALUE = _m("slo_agent_objective_value", "gauge",
                     "Current value of an objective's signal, in base units.", _OBJ)
OBJECTIVE_STATE = _m("slo_agent_objective_state", "gauge",
                     "Objective state: -1 no data, 0 ok, 1 warning, 2 critical.", _OBJ)
OBJECTIVE_PENDING = _m("slo_agent_objective_pending_fire_timestamp_seconds", "gauge",
                       "While an objective is past a level and its `for` runs: when it will fire "
                       "(unix time), by the level it is pending for.", _OBJ + ("level",),
                       "seconds")
OBJECTIVE_WARNING = _m("slo_agent_objective_warning_threshold", "gauge",
                       "Resolved warning level of an objective, in base units.", _OBJ)
OBJECTIVE_CRITICAL = _m("slo_agent_objective_critical_threshold", "gauge",
                        "Resolved critical level of an objective, in base units.", _OBJ)
OBJECTIVE_BASELINE = _m("slo_agent_objective_baseline", "gauge",
                        "Learned or pinned baseline of an objective, in base units.", _OBJ)
BUDGET_REMAINING = _m("slo_agent_error_budget_remaining_ratio", "gauge",
                      "Share of the error budget left in the compliance window.", _OBJ)
BURN_RATE = _m("slo_agent_burn_rate", "gauge",
               "Error-budget burn rate over a window (1 = exactly on budget).",
               _OBJ + ("window",))
OBJECTIVE_TRANSITIONS = _m("slo_agent_objective_transitions_total", "counter",
                           "State changes of objectives.", _OBJ + ("to",))
SKETCH_LATENCY = _m("slo_agent_latency_sketch_seconds", "summary",
                    "Latency quantiles from the SDK's mergeable sketches (<=1% relative error).",
                    _MV, "seconds")
SKETCH_TTFT = _m("slo_agent_ttft_sketch_seconds", "summary",
                 "Time-to-first-token quantiles from the SDK's mergeable sketches.", _MV, "seconds")
DRIFT_SCORE = _m("slo_agent_drift_score", "gauge",
                 "Feature drift effect size (KS D or PSI) when significant, else 0.",
                 _MV + ("feature", "test"))
DRIFT_STATISTIC = _m("slo_agent_drift_statistic", "gauge",
                     "Feature drift test statistic (KS D, chi-square).", _MV + ("feature", "test"))
DRIFT_P_VALUE = _m("slo_agent_drift_p_value", "gauge",
                   "Feature drift p-value, adjusted for multiple testing.",
                   _MV + ("feature", "test"))
DRIFT_EFFECT = _m("slo_agent_drift_effect", "gauge",
                  "Feature drift effect size (KS D or PSI), significant or not.",
                  _MV + ("feature", "test"))
DRIFT_THRESHOLD = _m("slo_agent_drift_threshold", "gauge",
                     "Effect size (KS D or PSI) a feature's drift is judged against: calibrated "
                     "on the reference (source=calibrated) or a fixed floor (source=floor).",
                     _MV + ("feature", "test", "source"))
DRIFT_WINDOW_RANK = _m(
    "slo_agent_drift_window_rank_ratio", "histogram",
    "Sampled values of a numeric feature (predictions: feature=\"__prediction__\") counted "
    "against the reference's quantiles: bucket le=q holds the values at or below the "
    "reference's q-quantile; _sum adds each value's bin level (the upper q of its bin, 1 "
    "for the last). Counts add across replicas: the fleet's drift is computed "
    "from their sum.", _MV + ("feature",), "ratio")
DRIFT_REFERENCE_RANK = _m(
    "slo_agent_drift_reference_rank_ratio", "histogram",
    "A numeric feature's reference counted against its own quantile edges: bucket le=q holds "
    "the reference values at or below its q-quantile (ties make the share differ from q), "
    "_count the reference size, _sum each value's bin level. Constant while the reference "
    "is: read it as it is, never through rate().", _MV + ("feature",), "ratio")
DRIFT_CATEGORY_SAMPLES = _m(
    "slo_agent_drift_category_samples_total", "counter",
    "Sampled values of a categorical feature per reference category (named when a contract "
    "lists it, else c1, c2 … by reference share), __other__ (in the reference, past the cap) "
    "and __new__ (never in the reference).", _MV + ("feature", "category"))
DRIFT_REFERENCE_CATEGORY = _m(
    "slo_agent_drift_reference_category_ratio", "gauge",
    "Share of a categorical feature's reference in each category label of "
    "slo_agent_drift_category_samples_total.", _MV + ("feature", "category"), "ratio")
NEW_CATEGORY = _m("slo_agent_new_category_ratio", "gauge",
                  "Share of a categorical feature's window values in categories the reference "
                  "never had.", _MV + ("feature",), "ratio")
PREDICTION_DRIFT_EFFECT = _m("slo_agent_prediction_drift_effect", "gauge",
                             "Prediction drift effect size, significant or not.", _MV + ("test",))
PREDICTION_DRIFT_SCORE = _m("slo_agent_prediction_drift_score", "gauge",
                            "Prediction drift effect size when significant, else 0.",
                            _MV + ("test",))
PREDICTION_DRIFT_THRESHOLD = _m("slo_agent_prediction_drift_threshold", "gauge",
                                "Effect size prediction drift is judged against (source: "
                                "calibrated or floor).", _MV + ("test", "source"))
PREDICTION_DRIFT_P_VALUE = _m("slo_agent_prediction_drift_p_value", "gauge",
                              "Prediction drift p-value.", _MV + ("test",))
FRESHNESS = _m("slo_agent_dataset_freshness_lag_seconds", "gauge",
               "Now minus the newest event time or last update mark of a dataset.",
               _S + ("dataset",), "seconds")
NULL_RATIO = _m("slo_agent_dataset_null_ratio", "gauge",
                "Share of null values per column in the latest batch.",
                _S + ("dataset", "column"), "ratio")
SCHEMA_CHANGES = _m("slo_agent_dataset_schema_changes", "gauge",
                    "Columns added, removed or retyped against the contract or reference.",
                    _S + ("dataset", "change"))
DATASET_ROWS = _m("slo_agent_dataset_rows", "gauge", "Rows in the latest batch of a dataset.",
                  _S + ("dataset",))
DATASET_DRIFT_SCORE = _m("slo_agent_dataset_drift_score", "gauge",
                         "Column drift against the dataset's reference file: effect size (KS D "
                         "or PSI) when significant, else 0.", _S + ("dataset", "column", "test"))
DATASET_DRIFT_P_VALUE = _m("slo_agent_dataset_drift_p_value", "gauge",
                           "Column drift p-value against the reference file, adjusted.",
                           _S + ("dataset", "column", "test"))
DATASET_DRIFT_EFFECT = _m("slo_agent_dataset_drift_effect", "gauge",
                          "Column drift effect size against the reference file, significant or "
                          "not.", _S + ("dataset", "column", "test"))
DATASET_DRIFT_THRESHOLD = _m("slo_agent_dataset_drift_threshold", "gauge",
                             "Effect size a column's drift against the reference file is judged "
                             "against (source: calibrated or floor).",
                             _S + ("dataset", "column", "test", "source"))
DATASET_NEW_CATEGORY = _m("slo_agent_dataset_new_category_ratio", "gauge",
                          "Share of a column's rows in categories the reference file never had.",
                          _S + ("dataset", "column"), "ratio")
DATASET_NEW_CATEGORY_ROWS = _m("slo_agent_dataset_new_category_rows", "gauge",
                               "New categories in the latest batch: 1 for each one the "
                               "contract's allowed_values names, the number of all others "
                               "(raw values) under category=\"__other__\".",
                               _S + ("dataset", "column", "category"))
DATASET_DISALLOWED = _m("slo_agent_dataset_disallowed_value_ratio", "gauge",
                        "Share of a column's non-null rows with a value the contract's "
                        "allowed_values does not list.", _S + ("dataset", "column"), "ratio")
CONTRACT_FAILURES = _m("slo_agent_dataset_contract_failures", "gauge",
                       "Failed data-contract expectations in the latest validated batch.",
                       _S + ("dataset", "expectation", "column"))
GPU_LABELS = (SERVICE_LABEL, "gpu", "uuid", "model_name")
GPU_UTIL = _m("slo_agent_gpu_utilization_ratio", "gauge", "GPU busy time share.", GPU_LABELS,
              "ratio")
GPU_MEM_USED = _m("slo_agent_gpu_memory_used_bytes", "gauge", "GPU framebuffer memory used.",
                  GPU_LABELS, "bytes")
GPU_MEM_TOTAL = _m("slo_agent_gpu_memory_total_bytes", "gauge", "GPU framebuffer memory size.",
                   GPU_LABELS, "bytes")
GPU_TEMP = _m("slo_agent_gpu_temperature_celsius", "gauge", "GPU core temperature.", GPU_LABELS,
              "celsius")
GPU_POWER = _m("slo_agent_gpu_power_watts", "gauge", "GPU power draw.", GPU_LABELS, "watts")
GPU_POWER_LIMIT = _m("slo_agent_gpu_power_limit_watts", "gauge", "GPU enforced power limit.",
                     GPU_LABELS, "watts")
GPU_SM_CLOCK = _m("slo_agent_gpu_sm_clock_hertz", "gauge", "GPU SM clock.", GPU_LABELS, "hertz")
GPU_MEM_CLOCK = _m("slo_agent_gpu_memory_clock_hertz", "gauge", "GPU memory clock.", GPU_LABELS,
                   "hertz")
GPU_THROTTLED = _m("slo_agent_gpu_throttled", "gauge",
                   "1 while a clock throttle reason is active.", GPU_LABELS + ("reason",))
GPU_ECC = _m("slo_agent_gpu_ecc_errors", "gauge", "Volatile ECC error count by type.",
             GPU_LABELS + ("type",))
GPU_PROCESS_MEM = _m("slo_agent_gpu_process_memory_used_bytes", "gauge",
                     "GPU memory used per process (DCGM-exporter has no such series).",
                     GPU_LABELS + ("pid", "process"), "bytes")
KV_CACHE_USAGE = _m("slo_agent_kv_cache_usage_ratio", "gauge", "Share of a model server's KV "
                    "cache in use, worst engine, as last scraped.", _S + ("source",), "ratio")
JOB_RUNS = _m("slo_agent_job_runs_total", "counter",
              "Finished runs of a batch job (retraining, scoring, backfill) by result.",
              _S + ("job_name", "result"))
JOB_LAST_DURATION = _m("slo_agent_job_last_duration_seconds", "gauge",
                       "Duration of a job's last finished run.", _S + ("job_name",), "seconds")
JOB_LAST_SUCCESS = _m("slo_agent_job_last_success_timestamp_seconds", "gauge",
                      "When a job last finished successfully (unix time).", _S + ("job_name",),
                      "seconds")
JOB_LAST_START = _m("slo_agent_job_last_start_timestamp_seconds", "gauge",
                    "When a job's last run started (unix time).", _S + ("job_name",), "seconds")
JOB_RUNNING = _m("slo_agent_job_running", "gauge", "Runs of a job in progress.", _S + ("job_name",))
DRIFT_DETECTION = _m("slo_agent_drift_detection_seconds", "gauge",
                     "How long a shift of the drift objective's critical size takes to be "
                     "detected at its warning level, given the sampled traffic, window size, "
                     "min_samples and evaluation interval.", _OBJ, "seconds")
RECOVERY = _m("slo_agent_objective_recovery_seconds", "histogram",
              "Time from an objective turning critical to it being ok again.", _OBJ, "seconds")
SOURCE_UP = _m("slo_agent_source_up", "gauge",
               "1 when a source (gpu, scrape target, dataset) is available.",
               _S + ("source", "kind"))
SCRAPE_DURATION = _m("slo_agent_scrape_duration_seconds", "gauge",
                     "Duration of the last scrape of a target.", _S + ("source",), "seconds")
INGEST_BATCHES = _m("slo_agent_ingest_batches_total", "counter",
                    "Ingest requests by result (accepted, rejected, unauthorized, throttled, "
                    "duplicate: a resent batch already accepted, not applied again).",
                    _S + ("result",))
INGEST_SAMPLES = _m("slo_agent_ingest_samples_total", "counter",
                    "Samples accepted by ingest, by kind.", _S + ("kind",))
INGEST_DROPPED = _m("slo_agent_ingest_dropped_total", "counter",
                    "Ingested items dropped by a cap, by reason.", _S + ("reason",))
OTLP_POINTS = _m("slo_agent_otlp_data_points_total", "counter", "OTLP data points by result: "
                 "accepted, rejected (named in partial_success), ignored.", _S + ("result",))
EVALUATION_DURATION = _m("slo_agent_evaluation_duration_seconds", "histogram",
                         "Duration of one evaluation tick.", _S, "seconds")
EVALUATION_LAG = _m("slo_agent_evaluation_lag_seconds", "gauge",
                    "How late the last evaluation tick started.", _S, "seconds")
SNAPSHOTS = _m("slo_agent_state_snapshots_total", "counter", "State snapshots by result.",
               _S + ("result",))
WEBHOOKS = _m("slo_agent_webhook_deliveries_total", "counter",
              "Transition webhook deliveries by result.", _S + ("result",))
PUBLICATION_AGE = _m("slo_agent_publication_age_seconds", "gauge",
                     "Seconds since the worker last published metrics and /status: grows when "
                     "publication is stuck.", _S, "seconds")
PUBLICATION_ERRORS = _m("slo_agent_publication_errors_total", "counter",
                        "Parts of a publication (metric families, objectives) that failed and "
                        "were left out, by part.", _S + ("part",))
SNAPSHOT_BYTES = _m("slo_agent_state_snapshot_bytes", "gauge",
                    "Size of the last state snapshot written.", _S, "bytes")
SNAPSHOT_AGE = _m("slo_agent_state_snapshot_age_seconds", "gauge", "Seconds since the last good "
                  "state snapshot (written, or restored at start).", _S, "seconds")
INBOX_BYTES = _m("slo_agent_ingest_inbox_bytes", "gauge", "Ingest bodies being read or queued, "
                 "not yet applied (429 past sidecar.limits.max_inbox_bytes).", _S, "bytes")
HTTP_CLOSED = _m("slo_agent_http_connections_closed_total", "counter", "Connections the sidecar "
                 "closed (header_timeout, evicted, refused, body_timeout).", _S + ("reason",))
CARDINALITY_OVERFLOW = _m("slo_agent_cardinality_overflow_total", "counter",
                          "Items folded into an overflow bucket because a cardinality cap was "
                          "reached, by kind.", _S + ("kind",))
BUILD_INFO = _m("slo_agent_build_info", "info", "Build information of the agent.",
                _S + ("version",))

#: DCGM-exporter compatible names, so existing GPU dashboards and rules keep working. They are
#: served on their own path: DCGM's camelCase label names (modelName, UUID) fail promtool's lint,
#: and the main /metrics stays lint-clean.
DCGM_PATH = "/metrics/dcgm"
DCGM_LABELS = ("gpu", "UUID", "device", "modelName", "Hostname")
_MIB = 1.0 / (1024 * 1024)
#: name -> (help, GPU reading field, scale from the reading's base unit to DCGM's unit)
DCGM = {
    "DCGM_FI_DEV_GPU_UTIL": ("GPU utilization (in %).", "utilization", 100.0),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("Memory utilization (in %).", "memory_utilization", 100.0),
    "DCGM_FI_DEV_FB_USED": ("Framebuffer memory used (in MiB).", "memory_used", _MIB),
    "DCGM_FI_DEV_FB_FREE": ("Framebuffer memory free (in MiB).", "memory_free", _MIB),
    "DCGM_FI_DEV_GPU_TEMP": ("GPU temperature (in C).", "temperature", 1.0),
    "DCGM_FI_DEV_POWER_USAGE": ("Power draw (in W).", "power", 1.0),
    "DCGM_FI_DEV_SM_CLOCK": ("SM clock frequency (in MHz).", "sm_clock", 1e-6),
    "DCGM_FI_DEV_MEM_CLOCK": ("Memory clock frequency (in MHz).", "memory_clock", 1e-6),
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": ("Current clock throttle reasons (bitmask).",
                                           "throttle_mask", 1.0),
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": ("Total number of single-bit volatile ECC errors.",
                                      "ecc_corrected", 1.0),
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": ("Total number of double-bit volatile ECC errors.",
                                      "ecc_uncorrected", 1.0),
}

SDK_METRICS = (REQUESTS, ERRORS, LATENCY, IN_FLIGHT, TTFT, INTER_TOKEN, TOKENS, COST, FEEDBACK,
               FEEDBACK_SCORE, QUEUE_DEPTH, QUEUE_WAIT, CACHE, DEGRADATION, BREAKER,
               COST_BY_TAG, SDK_DROPPED, SDK_SHIPPED, SDK_ERRORS,
               SDK_OVERFLOW)
SIDECAR_METRICS = (OBJECTIVE_VALUE, OBJECTIVE_STATE, OBJECTIVE_PENDING, OBJECTIVE_WARNING,
                   OBJECTIVE_CRITICAL,
                   OBJECTIVE_BASELINE, BUDGET_REMAINING, BURN_RATE, OBJECTIVE_TRANSITIONS,
                   SKETCH_LATENCY, SKETCH_TTFT, DRIFT_SCORE, DRIFT_STATISTIC, DRIFT_P_VALUE,
                   DRIFT_EFFECT, DRIFT_THRESHOLD, DRIFT_WINDOW_RANK, DRIFT_REFERENCE_RANK,
                   DRIFT_CATEGORY_SAMPLES, DRIFT_REFERENCE_CATEGORY,
                   NEW_CATEGORY, PREDICTION_DRIFT_EFFECT,
                   PREDICTION_DRIFT_SCORE, PREDICTION_DRIFT_P_VALUE, PREDICTION_DRIFT_THRESHOLD,
                   FRESHNESS, NULL_RATIO,
                   SCHEMA_CHANGES, DATASET_ROWS, DATASET_DRIFT_SCORE, DATASET_DRIFT_P_VALUE,
                   DATASET_DRIFT_EFFECT, DATASET_DRIFT_THRESHOLD, DATASET_NEW_CATEGORY,
                   DATASET_NEW_CATEGORY_ROWS,
                   DATASET_DISALLOWED, CONTRACT_FAILURES, JOB_RUNS, JOB_LAST_DURATION,
                   JOB_LAST_SUCCESS, JOB_LAST_START, JOB_RUNNING, DRIFT_DETECTION, RECOVERY,
                   GPU_UTIL, GPU_MEM_USED,
                   GPU_MEM_TOTAL, GPU_TEMP, GPU_POWER, GPU_POWER_LIMIT, GPU_SM_CLOCK,
                   GPU_MEM_CLOCK, GPU_THROTTLED, GPU_ECC, GPU_PROCESS_MEM, KV_CACHE_USAGE,
                   SOURCE_UP, SCRAPE_DURATION, INGEST_BATCHES, INGEST_SAMPLES, INGEST_DROPPED,
                   OTLP_POINTS,
                   EVALUATION_DURATION, EVALUATION_LAG, SNAPSHOTS, WEBHOOKS, BUILD_INFO,
                   PUBLICATION_AGE, PUBLICATION_ERRORS, SNAPSHOT_BYTES, CARDINALITY_OVERFLOW,
                   SNAPSHOT_AGE, INBOX_BYTES, HTTP_CLOSED)
ALL_METRICS: dict[str, Metric] = {m.name: m for m in SDK_METRICS + SIDECAR_METRICS}

# --- names of series that the generated recording rules write ------------------------------------
RECORD_PREFIX = "slo"
RULE_SLI_BAD = "slo:sli_bad:increase"         # + window suffix, e.g. slo:sli_bad:increase5m
RULE_SLI_TOTAL = "slo:sli_total:increase"
RULE_ERROR_RATIO = "slo:sli_error:ratio_rate"  # + window suffix
RULE_HISTORY = "slo:sli_history:seconds"       # how long its data has run (capped)
RULE_VALUE = "slo:objective_value"
#: a ratio's 99 % Wilson bound on the side that matters, as the sidecar judges it
RULE_BOUND = "slo:objective_value:wilson_bound"
RULE_BUDGET_REMAINING = "slo:error_budget_remaining:ratio"
RULE_OBJECTIVE = "slo:objective:ratio"
RULE_INFO = "slo:objective_info"  # labels: the detail dashboard's uid, the window (if targeted)
INFO_DASHBOARD_LABEL, INFO_WINDOW_LABEL = "dashboard_uid", "window"


# --- PromQL ------------------------------------------------------------------------------------
def label_matchers(labels: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> str:
    """``{a="x",b=~"y"}`` from exact labels plus already-formatted matchers; ``""`` when empty."""
    parts = [f'{k}="{_escape(v)}"' for k, v in (labels or {}).items()]
    parts.extend(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _with(matchers: str, *more: str) -> str:
    inner = matchers[1:-1] if matchers else ""
    parts = [p for p in (inner, *more) if p]
    return "{" + ",".join(parts) + "}" if parts else ""


def le_value(threshold: float) -> str:
    """The ``le`` label value prometheus_client writes for a bucket bound (e.g. 1 → ``1.0``):
    its ``floatToGoString``, spelled here because importing prometheus_client (its exposition,
    HTTP server and registry) was 60 ms of a 1,000-objective ``generate`` that needs none of it;
    tests/test_catalogue.py holds the two equal over any float."""
    d = float(threshold)
    if math.isinf(d):
        return "+Inf" if d > 0 else "-Inf"
    if math.isnan(d):
        return "NaN"
    s = repr(d)
    dot = s.find(".")
    if d > 0 and dot > 6:          # Go switches to exponents sooner than Python
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return s


def selector_labels(service: str, selector: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Exact label matchers for an objective's service and selector."""
    labels = {SERVICE_LABEL: service}
    for key, value in selector:
        if key in SELECTOR_LABELS:          # scrape names a target, not a label
            labels[SELECTOR_LABELS[key]] = value
    return labels
