"""The service dashboard: SLO overview, then Infrastructure, Data, Model and Cost rows.

Every query names metrics from the catalogue and aggregates across replicas; thresholds come from
the spec. Budget and burn-rate panels read the series the generated recording rules write.
"""

from __future__ import annotations

import re
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard, DashboardLink, Row
from grafana_foundation_sdk.models.dashboard import DashboardLinkType

from agent import catalogue as cat
from agent.sli import ObjectivePlan, dashboard_uid, plans
from agent.spec.model import Spec
from agent.spec.signals import SignalKind
from dashboards.annotations import alert_annotations
from dashboards.overview import overview
from dashboards.panels import (
    legend_regex,
    matchers,
    query,
    series_panel,
    state_series_panel,
)
from dashboards.variables import finish

Panel = Any


def _of(ps: list[ObjectivePlan], kind: SignalKind) -> list[ObjectivePlan]:
    return [p for p in ps if p.o.signal is kind]


def _first(ps: list[ObjectivePlan], kind: SignalKind) -> ObjectivePlan | None:
    return next(iter(_of(ps, kind)), None)


def _per(ps: list[ObjectivePlan], kind: SignalKind, legend: str
         ) -> list[tuple[str, ObjectivePlan]]:
    """Per-series thresholds: each objective of ``kind`` colours the series its selector picks."""
    return [(legend_regex(legend, p), p) for p in _of(ps, kind)]


def signal(ps: list[ObjectivePlan], kind: SignalKind, title: str, unit: str, expr: str,
           legend: str, description: str, width: int = 12) -> Panel:
    """One panel of a signal whose series each objective of its kind may judge."""
    return series_panel(title, unit, [query(expr, legend)], description, width=width,
                        per_series=_per(ps, kind, legend))


def objective_series(spec: Spec, ps: list[ObjectivePlan], *kinds: SignalKind,
                     ref: str = "O") -> tuple[list[Any], list[tuple[str, ObjectivePlan]]]:
    """One series per objective of ``kinds`` (its own selector, the dashboard's filters), named
    after it and coloured by its levels: what the objective judges, not a borrowed line."""
    targets, per = [], []
    for i, p in enumerate(x for x in ps if x.o.signal in kinds and x.scraped is None
                          and x.o.custom is None):
        m = matchers(spec.service, p.o.selector.items(), models="model" in p.o.info.selectors)
        targets.append(query(p.value_expr(m, "$__rate_interval"), p.o.name, ref=f"{ref}{i}"))
        per.append((f"^{re.escape(p.o.name)}$", p))
    return targets, per


def _quantile_panel(spec: Spec, ps: list[ObjectivePlan], title: str, hist: cat.Metric, m: str,
                    kind: SignalKind) -> Panel:
    qs = [query(f"histogram_quantile({q}, sum by (le) (rate({hist.name}_bucket{m}"
                f"[$__rate_interval])))", f"p{int(q * 100)}", ref=f"Q{int(q * 100)}")
          for q in (0.5, 0.95, 0.99)]
    extra, per = objective_series(spec, ps, kind)
    return series_panel(title, "s", [*qs, *extra],
                        f"{hist.help} p50/p95/p99 over all selected series; each objective of "
                        "this kind adds its own line (its quantile and selector), dashed at its "
                        "warning and critical levels.", per_series=per)


def infrastructure(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    s = spec.service
    m = matchers(s)
    mq = matchers(s, models=False)
    gpu = matchers(s, models=False)
    err, err_per = objective_series(spec, ps, SignalKind.ERROR_RATE, SignalKind.AVAILABILITY)
    inflight, inflight_per = objective_series(spec, ps, SignalKind.IN_FLIGHT)
    cache, cache_per = objective_series(spec, ps, SignalKind.CACHE_HIT_RATE)
    thr, thr_per = objective_series(spec, ps, SignalKind.THROUGHPUT)
    return [
        _quantile_panel(spec, ps, "Latency p50 / p95 / p99", cat.LATENCY, m, SignalKind.LATENCY),
        series_panel("Throughput by outcome", "reqps", [query(
            f"sum by (outcome) (rate({cat.REQUESTS.name}{m}[$__rate_interval]))",
            "{{outcome}}"), *thr],
            "Inference calls per second by outcome (ok, error, fallback); throughput "
            "objectives add their own line, dashed at their floors.", per_series=thr_per),
        series_panel("Error rate by type", "percentunit", [query(
            f"sum by (error_type) (rate({cat.ERRORS.name}{m}[$__rate_interval])) / "
            f"scalar(sum(rate({cat.REQUESTS.name}{m}[$__rate_interval])))", "{{error_type}}"),
            *err],
            "Share of calls failing, per exception type; error-rate and availability objectives "
            "add their own line (all types), dashed at their levels.", per_series=err_per),
        series_panel("In-flight requests", "short", [query(
            f"sum({cat.IN_FLIGHT.name}{m})", "in flight"), *inflight],
            "Inference calls running now, summed over replicas; in-flight objectives add their "
            "own line, dashed at their levels.", per_series=inflight_per),
        signal(ps, SignalKind.QUEUE_DEPTH, "Queue depth", "short",
               f"sum by (queue) ({cat.QUEUE_DEPTH.name}{mq})", "{{queue}}",
               "Requests waiting per queue, summed over replicas; dashed at the levels of the "
               "objective watching that queue."),
        _quantile_panel(spec, ps, "Queue wait p50 / p95 / p99", cat.QUEUE_WAIT, mq,
                        SignalKind.QUEUE_WAIT),
        _quantile_panel(spec, ps, "Time to first token p50 / p95 / p99", cat.TTFT, m,
                        SignalKind.TTFT),
        signal(ps, SignalKind.GPU_UTILIZATION, "GPU utilisation", "percentunit",
               f"max by (gpu) ({cat.GPU_UTIL.name}{gpu})", "GPU {{gpu}}",
               "Busy-time share per GPU (NVML); dashed at the GPU objective's levels."),
        signal(ps, SignalKind.GPU_MEMORY_RATIO, "GPU memory used", "percentunit",
               f"max by (gpu) ({cat.GPU_MEM_USED.name}{gpu} / {cat.GPU_MEM_TOTAL.name}{gpu})",
               "GPU {{gpu}}", "Framebuffer memory used per GPU as a share of its size; dashed "
               "at the GPU objective's levels."),
        signal(ps, SignalKind.GPU_TEMPERATURE, "GPU temperature", "celsius",
               f"max by (gpu) ({cat.GPU_TEMP.name}{gpu})", "GPU {{gpu}}",
               "Core temperature per GPU; dashed at the GPU objective's levels."),
        series_panel("GPU power", "watt", [
            query(f"max by (gpu) ({cat.GPU_POWER.name}{gpu})", "GPU {{gpu}} draw"),
            query(f"max by (gpu) ({cat.GPU_POWER_LIMIT.name}{gpu})", "GPU {{gpu}} limit",
                  ref="B")],
            "Power draw per GPU against its enforced limit (no objective: a draw pinned at the "
            "limit means power throttling)."),
        series_panel("Cache hit rate", "percentunit", [query(
            f"sum by (cache) (rate({cat.CACHE.name}{_with_label(mq, 'result', 'hit')}"
            f"[$__rate_interval])) / sum by (cache) (rate({cat.CACHE.name}{mq}"
            f"[$__rate_interval]))", "{{cache}}"), *cache],
            "Share of cache lookups that hit, per cache; cache objectives add their own line, "
            "dashed at their floors.", per_series=[*_per(ps, SignalKind.CACHE_HIT_RATE,
                                                         "{{cache}}"), *cache_per]),
        state_series_panel(
            "Degradation level", SignalKind.DEGRADATION_LEVEL,
            query(f"max({cat.DEGRADATION.name}{mq})", "level"),
            "The level the service runs at (0 full, 1 limited, 2 cached, 3 minimal), worst "
            "replica; coloured as the degradation objective (or the defaults) judges it.",
            _first(ps, SignalKind.DEGRADATION_LEVEL)),
        state_series_panel(
            "Circuit breakers", SignalKind.CIRCUIT_BREAKER_STATE,
            query(f"max by (breaker) ({cat.BREAKER.name}{mq})", "{{breaker}}"),
            "Circuit-breaker state per breaker (0 closed, 1 half-open, 2 open), worst replica; "
            "coloured as the breaker objective (or the defaults) judges it.",
            _first(ps, SignalKind.CIRCUIT_BREAKER_STATE)),
        series_panel("GPU memory per process", "bytes", [query(
            f"max by (gpu, pid, process) ({cat.GPU_PROCESS_MEM.name}{gpu})",
            "GPU {{gpu}} {{process}} ({{pid}})")],
            "GPU memory each process holds (no objective; DCGM-exporter has no such series)."),
    ]


def data(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service, models=False)
    schema, schema_per = objective_series(spec, ps, SignalKind.SCHEMA_DRIFT)
    file_drift = [p for p in ps if p.o.selector.dataset is not None
                  and p.o.signal in (SignalKind.FEATURE_DRIFT, SignalKind.PREDICTION_DRIFT)]
    legend = "{{dataset}}.{{column}}"
    return [
        signal(ps, SignalKind.FRESHNESS_LAG, "Freshness lag", "s",
               f"max by (dataset) ({cat.FRESHNESS.name}{m})", "{{dataset}}",
               "Now minus the newest event time (or update mark) per dataset; dashed at the "
               "levels of the objective watching that dataset."),
        signal(ps, SignalKind.NULL_RATIO, "Null ratio per column", "percentunit",
               f"max by (dataset, column) ({cat.NULL_RATIO.name}{m})", legend,
               "Share of nulls per column in the latest batch; each column is dashed at the "
               "levels of the objective watching it (none where no objective does)."),
        series_panel("Schema changes", "short", [query(
            f"max by (dataset, change) ({cat.SCHEMA_CHANGES.name}{m})",
            "{{dataset}} {{change}}"), *schema],
            "Columns added, removed or retyped per dataset against its contract or reference; "
            "schema objectives add their total line, dashed at their levels (a warning equal "
            "to the critical level shows once, as critical).", per_series=schema_per),
        series_panel("Data-contract failures", "short", [query(
            f"max by (dataset, expectation, column) ({cat.CONTRACT_FAILURES.name}{m})",
            "{{dataset}} {{expectation}} {{column}}")],
            "Failed data-contract expectations in the latest validated batch (Great "
            "Expectations); any failure is worth a look."),
        signal(ps, SignalKind.ROW_COUNT, "Rows per batch", "short",
               f"max by (dataset) ({cat.DATASET_ROWS.name}{m})", "{{dataset}}",
               "Rows in the latest batch per dataset; dashed at the levels of a row-count "
               "objective with absolute levels (baseline-relative ones are on its detail "
               "dashboard)."),
        series_panel("Dataset drift against the reference file", "short", [query(
            f"max by (dataset, column) ({cat.DATASET_DRIFT_SCORE.name}{m})", legend)],
            "Effect size (KS D or PSI) per column against the dataset's reference file when "
            "significant, else 0; dashed at the levels of the drift objective on that column.",
            per_series=[(legend_regex(legend, p), p) for p in file_drift]),
    ]


def model(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service)
    sdk = [p for p in ps if p.o.selector.dataset is None]
    fb, fb_per = objective_series(spec, ps, SignalKind.FALLBACK_RATE)
    neg, neg_per = objective_series(spec, ps, SignalKind.NEGATIVE_FEEDBACK_RATE)
    return [
        signal(sdk, SignalKind.FEATURE_DRIFT, "Feature drift (effect size when significant)",
               "short", f"max by (model, feature) ({cat.DRIFT_SCORE.name}{m})",
               "{{model}} {{feature}}",
               "Input drift per model and feature: KS D (numbers) or PSI (categories) when the "
               "adjusted p-value is significant, else 0; dashed at the drift objective's levels."),
        series_panel("Feature drift p-value (adjusted)", "short", [query(
            f"min by (model, feature) ({cat.DRIFT_P_VALUE.name}{m})", "{{model}} {{feature}}")],
            "Adjusted p-value of the drift test per feature (low = the shift is unlikely to be "
            "chance); the drift objectives judge the effect size, not this."),
        signal(ps, SignalKind.DRIFT_DETECTION_TIME,
               "Drift detection time (shift of the critical size)", "s",
               f"max by (objective) ({cat.DRIFT_DETECTION.name}"
               f"{matchers(spec.service, models=False)})", "{{objective}}",
               "How long a shift of each drift objective's critical size takes to be detected "
               "at its warning level; dashed at the detection-time objective's levels."),
        signal(sdk, SignalKind.PREDICTION_DRIFT, "Prediction drift", "short",
               f"max by (model) ({cat.PREDICTION_DRIFT_SCORE.name}{m})", "{{model}}",
               "Drift of the predictions per model (effect size when significant, else 0); "
               "dashed at the prediction-drift objective's levels."),
        series_panel("Fallback rate", "percentunit", [query(
            cat.value_expr(SignalKind.FALLBACK_RATE, m, "$__rate_interval"), "fallback"), *fb],
            "Share of calls answered by a fallback; fallback objectives add their own line, "
            "dashed at their levels.", per_series=fb_per),
        series_panel("Feedback by sentiment", "short", [query(
            f"sum by (sentiment) (rate({cat.FEEDBACK.name}{m}[$__rate_interval]))",
            "{{sentiment}}")], "User feedback events per second by sentiment (no objective)."),
        series_panel("Negative feedback rate", "percentunit", [query(
            cat.value_expr(SignalKind.NEGATIVE_FEEDBACK_RATE, m, "$__rate_interval"),
            "negative"), *neg],
            "Share of feedback that is negative; feedback objectives add their own line, "
            "dashed at their levels.", per_series=neg_per),
    ]


def cost(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service)
    tok, tok_per = objective_series(spec, ps, SignalKind.TOKEN_RATE)
    c1k, c1k_per = objective_series(spec, ps, SignalKind.COST_PER_1K)
    spend, spend_per = objective_series(spec, ps, SignalKind.DAILY_SPEND)
    budgets = [query(f"vector({p.o.daily_budget:g})", f"{p.o.name} budget", ref=f"BU{i}")
               for i, p in enumerate(_of(ps, SignalKind.DAILY_SPEND))
               if p.o.daily_budget is not None]
    return [
        series_panel("Tokens per second", "short", [query(
            f"sum by (model, token_type) (rate({cat.TOKENS.name}{m}[$__rate_interval]))",
            "{{model}} {{token_type}}"), *tok],
            "Tokens processed per second by model and gen_ai token type; token-rate objectives "
            "add their own line, dashed at absolute levels.", width=8, per_series=tok_per),
        series_panel("Cost per 1,000 inferences", "currencyUSD", [query(
            cat.value_expr(SignalKind.COST_PER_1K, m, "$__rate_interval"), "USD / 1k"), *c1k],
            "Spend per 1,000 calls; cost objectives add their own line, dashed at absolute "
            "levels.", width=8, per_series=c1k_per),
        series_panel("Daily spend against budget", "currencyUSD", [query(
            cat.value_expr(SignalKind.DAILY_SPEND, m), "spend, last 24h"), *spend, *budgets],
            "Spend over the trailing 24 hours; each daily-spend objective adds its own line "
            "dashed at its levels (shares of its budget) and its budget line.", width=8,
            per_series=spend_per),
        *(series_panel(f"Spend by {tag} (top 10, last 24h)", "currencyUSD", [query(
            f"topk(10, sum by (tag_value) (increase({cat.COST_BY_TAG.name}"
            f"{_with_label(m, 'tag', tag)}[1d])))", "{{tag_value}}")],
            f"The ten {tag}s that spent most over the trailing 24 hours (values past the "
            "cardinality cap are folded into 'other'); no objective.") for tag in SPEND_TAGS),
    ]


def jobs(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service, models=False)
    ratio, ratio_per = objective_series(spec, ps, SignalKind.JOB_SUCCESS_RATIO)
    panels = [
        series_panel("Job runs by result (last hour)", "short", [query(
            f"sum by (job_name, result) (increase({cat.JOB_RUNS.name}{m}[1h]))",
            "{{job_name}} {{result}}")],
            "Finished runs per job and result over the trailing hour: counts, so no ratio "
            "lines (the success ratio has its own panel).", width=12),
        signal(ps, SignalKind.TIME_SINCE_SUCCESS, "Time since last successful run", "s",
               f"time() - max by (job_name) ({cat.JOB_LAST_SUCCESS.name}{m})", "{{job_name}}",
               "Time since each job last succeeded; dashed at the levels of the objective "
               "watching that job."),
        signal(ps, SignalKind.JOB_DURATION, "Last run duration", "s",
               f"max by (job_name) ({cat.JOB_LAST_DURATION.name}{m})", "{{job_name}}",
               "Duration of each job's last finished run; dashed at absolute levels of the job's "
               "objective (baseline-relative ones are on its detail dashboard)."),
    ]
    if ratio:
        panels.insert(1, series_panel(
            f"Job success ratio (last {cat.JOB_WINDOW})", "percentunit", ratio,
            f"Share of finished runs that succeeded over the trailing {cat.JOB_WINDOW}, per "
            "job objective, dashed at its levels.", per_series=ratio_per))
    return panels


def reliability(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service, models=False)
    name = cat.RECOVERY.name
    return [
        series_panel("Recovery time, critical → ok (p95 since the sidecar started)", "s", [query(
            f"histogram_quantile(0.95, sum by (le, objective) ({name}_bucket{m}))",
            "{{objective}}")],
            "95th percentile time from an objective turning critical to ok again, over every "
            "incident since the sidecar started."),
        series_panel("Mean recovery time", "s", [query(
            f"sum by (objective) ({name}_sum{m}) / sum by (objective) ({name}_count{m})",
            "{{objective}}")], "Mean time from critical to ok per objective."),
    ]


def custom(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    return [series_panel(p.o.info.title if p.o.custom and p.o.custom.title else p.o.name,
                         p.o.info.grafana_unit, [query(p.value_expr(window="$__rate_interval"),
                                                       p.o.name)],
                         (p.o.description or f"Custom SLI {p.o.name}") + "; dashed at its "
                         "warning and critical levels.", p=p)
            for p in ps if p.o.signal is SignalKind.CUSTOM]


def _with_label(m: str, key: str, value: str) -> str:
    inner = m[1:-1] if m else ""
    return "{" + ",".join(x for x in (inner, f'{key}="{value}"') if x) + "}"


SPEND_TAGS = ("user", "feature")
ROWS = (("SLO overview", overview), ("Infrastructure", infrastructure), ("Data", data),
        ("Model", model), ("Cost", cost), ("Jobs", jobs), ("Incidents", reliability),
        ("Custom SLIs", custom))


def service_dashboard(spec: Spec) -> Dashboard:
    ps = plans(spec)
    dash = (Dashboard(f"{spec.service} · SLOs").uid(dashboard_uid(spec))
            .tags(["slo-agent", spec.service, spec.environment]).editable()
            .description(f"Objectives and signals of {spec.service} ({spec.environment})")
            .time("now-6h", "now").refresh("30s").timezone("browser")
            .link(DashboardLink("Objective details").type(DashboardLinkType.DASHBOARDS)
                  .tags([f"slo-{spec.service}"]).as_dropdown(True).include_vars(True)
                  .keep_time(True)))
    for a in alert_annotations(spec.service):
        dash = dash.annotation(a)
    panels: list[Panel] = []
    rows: dict[int, Row] = {}
    for title, build in ROWS:
        built = build(spec, ps)
        if built:
            rows[len(panels)] = Row(title)
            panels.extend(built)
    return finish(dash, spec, panels, rows=rows)


__all__ = ["ROWS", "service_dashboard"]
