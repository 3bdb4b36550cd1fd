"""The service dashboard: SLO overview, then Infrastructure, Data, Model and Cost rows.

Every query names metrics from the catalogue and aggregates across replicas; thresholds come from
the spec. Budget and burn-rate panels read the series the generated recording rules write.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DashboardLink,
    DatasourceVariable,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.models.dashboard import DashboardLinkType, VariableRefresh, VariableSort

from agent import catalogue as cat
from agent.sli import ObjectivePlan, dashboard_uid, detail_uid, plans
from agent.spec.model import Spec
from agent.spec.signals import SignalKind
from agent.spec.units import format_duration
from dashboards.panels import (
    DATASOURCE,
    Grid,
    budget_gauge,
    matchers,
    query,
    series_panel,
    signal_matchers,
    stat_panel,
    state_timeline,
)

Panel = Any


def _first(ps: list[ObjectivePlan], kind: SignalKind) -> ObjectivePlan | None:
    return next((p for p in ps if p.o.signal is kind), None)


def variables(spec: Spec) -> list[Any]:
    svc = f'{{{cat.SERVICE_LABEL}="{spec.service}"}}'
    out: list[Any] = [DatasourceVariable("datasource").label("Data source").type("prometheus")]
    for name, source in (("model", f"{cat.REQUESTS.name}{svc}"),
                         ("version", f"{cat.REQUESTS.name}{svc}"),
                         ("instance", f"up{svc}")):
        out.append(QueryVariable(name).label(name.capitalize()).datasource(DATASOURCE)
                   .query(f"label_values({source}, {name})").include_all(True).all_value(".*")
                   .multi(True).refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
                   .sort(VariableSort.ALPHABETICAL_ASC))
    return out


def overview(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    panels: list[Panel] = []
    for p in ps:
        relative = any(lv.constant is None for lv in p.levels)
        if relative:
            target = query(f"max({cat.OBJECTIVE_STATE.name}{p.rec_matchers})", p.o.name,
                           instant=True)
            panel = stat_panel(p.o.name, "none", target, state=True)
        else:
            m = signal_matchers(spec.service, p.o.signal, p.o.selector.items())
            target = query(p.value_expr(m, "$__rate_interval"), p.o.name)
            panel = stat_panel(p.o.name, p.o.info.grafana_unit, target, p)
        panels.append(panel.description(f"{p.o.info.title}; details: /d/{detail_uid(spec, p.o)}"))
    panels.append(state_timeline(
        "Objective states (sidecar)",
        query(f"max by (objective) ({cat.OBJECTIVE_STATE.name}"
              f'{{{cat.SERVICE_LABEL}="{spec.service}"}})', "{{objective}}")))
    targeted = [p for p in ps if p.o.has_target]
    if targeted:
        svc = f'{{{cat.SERVICE_LABEL}="{spec.service}"}}'
        panels.append(budget_gauge("Error budget remaining", [
            query(f"{cat.RULE_BUDGET_REMAINING}{svc}", "{{objective}}", instant=True)]))
        burn_targets: list[Any] = []
        for p in targeted:
            for i, tier in enumerate(p.tiers):
                burn_targets.append(query(p.burn_expr(tier.long),
                                          f"{p.o.name} {format_duration(tier.long)}",
                                          ref=f"{chr(65 + len(burn_targets) % 26)}{i}"))
        panels.append(series_panel("Burn rate per tier (long windows)", "short", burn_targets,
                                   "1 = spending the budget exactly over the compliance window",
                                   width=8))
        exhaust: list[Any] = []
        for p in targeted:
            burn_1h = p.burn_expr(3600.0 if 3600.0 in p.window_seconds else p.window_seconds[0])
            exhaust.append(query(
                f"clamp_min({cat.RULE_BUDGET_REMAINING}{p.rec_matchers}, 0) * {p.o.window:g} / "
                f"clamp_min({burn_1h}, 0.001)", p.o.name, ref=f"T{len(exhaust)}", instant=True))
        panels.append(series_panel("Time to budget exhaustion at the current burn", "s", exhaust,
                                   "Remaining budget / current 1h burn rate", width=8))
    return panels


def _quantiles(hist: cat.Metric, m: str) -> list[Any]:
    return [query(f"histogram_quantile({q}, sum by (le) (rate({hist.name}_bucket{m}"
                  f"[$__rate_interval])))", f"p{int(q * 100)}", ref=f"Q{int(q * 100)}")
            for q in (0.5, 0.95, 0.99)]


def infrastructure(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    s = spec.service
    m = matchers(s)
    mq = matchers(s, models=False)
    gpu = matchers(s, models=False)
    return [
        series_panel("Latency p50 / p95 / p99", "s", _quantiles(cat.LATENCY, m),
                     p=_first(ps, SignalKind.LATENCY)),
        series_panel("Throughput by outcome", "reqps", [query(
            f"sum by (outcome) (rate({cat.REQUESTS.name}{m}[$__rate_interval]))",
            "{{outcome}}")]),
        series_panel("Error rate by type", "percentunit", [query(
            f"sum by (error_type) (rate({cat.ERRORS.name}{m}[$__rate_interval])) / "
            f"scalar(sum(rate({cat.REQUESTS.name}{m}[$__rate_interval])))", "{{error_type}}")],
            p=_first(ps, SignalKind.ERROR_RATE)),
        series_panel("In-flight requests", "short", [query(
            f"sum({cat.IN_FLIGHT.name}{m})", "in flight")], p=_first(ps, SignalKind.IN_FLIGHT)),
        series_panel("Queue depth", "short", [query(
            f"sum by (queue) ({cat.QUEUE_DEPTH.name}{mq})", "{{queue}}")],
            p=_first(ps, SignalKind.QUEUE_DEPTH)),
        series_panel("Queue wait p50 / p95 / p99", "s", _quantiles(cat.QUEUE_WAIT, mq),
                     p=_first(ps, SignalKind.QUEUE_WAIT)),
        series_panel("Time to first token p50 / p95 / p99", "s", _quantiles(cat.TTFT, m),
                     p=_first(ps, SignalKind.TTFT)),
        series_panel("GPU utilisation", "percentunit", [query(
            f"max by (gpu) ({cat.GPU_UTIL.name}{gpu})", "GPU {{gpu}}")],
            p=_first(ps, SignalKind.GPU_UTILIZATION)),
        series_panel("GPU memory used", "percentunit", [query(
            f"max by (gpu) ({cat.GPU_MEM_USED.name}{gpu} / {cat.GPU_MEM_TOTAL.name}{gpu})",
            "GPU {{gpu}}")], p=_first(ps, SignalKind.GPU_MEMORY_RATIO)),
        series_panel("GPU temperature", "celsius", [query(
            f"max by (gpu) ({cat.GPU_TEMP.name}{gpu})", "GPU {{gpu}}")],
            p=_first(ps, SignalKind.GPU_TEMPERATURE)),
        series_panel("GPU power", "watt", [
            query(f"max by (gpu) ({cat.GPU_POWER.name}{gpu})", "GPU {{gpu}} draw"),
            query(f"max by (gpu) ({cat.GPU_POWER_LIMIT.name}{gpu})", "GPU {{gpu}} limit",
                  ref="B")]),
        series_panel("Cache hit rate", "percentunit", [query(
            f"sum by (cache) (rate({cat.CACHE.name}{_with_label(mq, 'result', 'hit')}"
            f"[$__rate_interval])) / sum by (cache) (rate({cat.CACHE.name}{mq}"
            f"[$__rate_interval]))", "{{cache}}")], p=_first(ps, SignalKind.CACHE_HIT_RATE)),
        series_panel("Degradation level (0 full, 1 limited, 2 cached, 3 minimal)", "short",
                     [query(f"max({cat.DEGRADATION.name}{mq})", "level")],
                     p=_first(ps, SignalKind.DEGRADATION_LEVEL)),
        series_panel("Circuit breakers (0 closed, 1 half-open, 2 open)", "short", [query(
            f"max by (breaker) ({cat.BREAKER.name}{mq})", "{{breaker}}")],
            p=_first(ps, SignalKind.CIRCUIT_BREAKER_STATE)),
        series_panel("GPU memory per process", "bytes", [query(
            f"max by (gpu, pid, process) ({cat.GPU_PROCESS_MEM.name}{gpu})",
            "GPU {{gpu}} {{process}} ({{pid}})")]),
    ]


def data(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service, models=False)
    return [
        series_panel("Freshness lag", "s", [query(
            f"max by (dataset) ({cat.FRESHNESS.name}{m})", "{{dataset}}")],
            p=_first(ps, SignalKind.FRESHNESS_LAG)),
        series_panel("Null ratio per column", "percentunit", [query(
            f"max by (dataset, column) ({cat.NULL_RATIO.name}{m})", "{{dataset}}.{{column}}")],
            p=_first(ps, SignalKind.NULL_RATIO)),
        series_panel("Schema changes", "short", [query(
            f"max by (dataset, change) ({cat.SCHEMA_CHANGES.name}{m})",
            "{{dataset}} {{change}}")], p=_first(ps, SignalKind.SCHEMA_DRIFT)),
        series_panel("Data-contract failures", "short", [query(
            f"max by (dataset, expectation, column) ({cat.CONTRACT_FAILURES.name}{m})",
            "{{dataset}} {{expectation}} {{column}}")]),
        series_panel("Rows per batch", "short", [query(
            f"max by (dataset) ({cat.DATASET_ROWS.name}{m})", "{{dataset}}")],
            p=_first(ps, SignalKind.ROW_COUNT)),
        series_panel("Dataset drift against the reference file", "short", [query(
            f"max by (dataset, column) ({cat.DATASET_DRIFT_SCORE.name}{m})",
            "{{dataset}}.{{column}}")], "Effect size (KS D or PSI) when significant, else 0"),
    ]


def model(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service)
    return [
        series_panel("Feature drift (effect size when significant)", "short", [query(
            f"max by (model, feature) ({cat.DRIFT_SCORE.name}{m})", "{{model}} {{feature}}")],
            p=_first(ps, SignalKind.FEATURE_DRIFT)),
        series_panel("Feature drift p-value (adjusted)", "short", [query(
            f"min by (model, feature) ({cat.DRIFT_P_VALUE.name}{m})", "{{model}} {{feature}}")]),
        series_panel("Drift detection time (shift of the critical size)", "s", [query(
            f"max by (objective) ({cat.DRIFT_DETECTION.name}"
            f"{matchers(spec.service, models=False)})",
            "{{objective}}")], p=_first(ps, SignalKind.DRIFT_DETECTION_TIME)),
        series_panel("Prediction drift", "short", [query(
            f"max by (model) ({cat.PREDICTION_DRIFT_SCORE.name}{m})", "{{model}}")],
            p=_first(ps, SignalKind.PREDICTION_DRIFT)),
        series_panel("Fallback rate", "percentunit", [query(
            cat.value_expr(SignalKind.FALLBACK_RATE, m, "$__rate_interval"), "fallback")],
            p=_first(ps, SignalKind.FALLBACK_RATE)),
        series_panel("Feedback by sentiment", "short", [query(
            f"sum by (sentiment) (rate({cat.FEEDBACK.name}{m}[$__rate_interval]))",
            "{{sentiment}}")]),
        series_panel("Negative feedback rate", "percentunit", [query(
            cat.value_expr(SignalKind.NEGATIVE_FEEDBACK_RATE, m, "$__rate_interval"),
            "negative")], p=_first(ps, SignalKind.NEGATIVE_FEEDBACK_RATE)),
    ]


def cost(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service)
    spend = [query(cat.value_expr(SignalKind.DAILY_SPEND, m), "spend, last 24h")]
    budget_plan = _first(ps, SignalKind.DAILY_SPEND)
    if budget_plan is not None and budget_plan.o.daily_budget is not None:
        spend.append(query(f"vector({budget_plan.o.daily_budget:g})", "budget", ref="B"))
    return [
        series_panel("Tokens per second", "short", [query(
            f"sum by (model, token_type) (rate({cat.TOKENS.name}{m}[$__rate_interval]))",
            "{{model}} {{token_type}}")], p=_first(ps, SignalKind.TOKEN_RATE), width=8),
        series_panel("Cost per 1,000 inferences", "currencyUSD", [query(
            cat.value_expr(SignalKind.COST_PER_1K, m, "$__rate_interval"), "USD / 1k")],
            p=_first(ps, SignalKind.COST_PER_1K), width=8),
        series_panel("Daily spend against budget", "currencyUSD", spend, p=budget_plan, width=8),
        *(series_panel(f"Spend by {tag} (top 10, last 24h)", "currencyUSD", [query(
            f"topk(10, sum by (tag_value) (increase({cat.COST_BY_TAG.name}"
            f"{_with_label(m, 'tag', tag)}[1d])))", "{{tag_value}}")]) for tag in SPEND_TAGS),
    ]


def jobs(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service, models=False)
    return [
        series_panel("Job runs by result (last hour)", "short", [query(
            f"sum by (job_name, result) (increase({cat.JOB_RUNS.name}{m}[1h]))",
            "{{job_name}} {{result}}")], p=_first(ps, SignalKind.JOB_SUCCESS_RATIO), width=8),
        series_panel("Time since last successful run", "s", [query(
            f"time() - max by (job_name) ({cat.JOB_LAST_SUCCESS.name}{m})", "{{job_name}}")],
            p=_first(ps, SignalKind.TIME_SINCE_SUCCESS), width=8),
        series_panel("Last run duration", "s", [query(
            f"max by (job_name) ({cat.JOB_LAST_DURATION.name}{m})", "{{job_name}}")],
            p=_first(ps, SignalKind.JOB_DURATION), width=8),
    ]


def reliability(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service, models=False)
    name = cat.RECOVERY.name
    return [
        series_panel("Recovery time, critical → ok (p95 since the sidecar started)", "s", [query(
            f"histogram_quantile(0.95, sum by (le, objective) ({name}_bucket{m}))",
            "{{objective}}")]),
        series_panel("Mean recovery time", "s", [query(
            f"sum by (objective) ({name}_sum{m}) / sum by (objective) ({name}_count{m})",
            "{{objective}}")]),
    ]


def custom(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    return [series_panel(p.o.info.title if p.o.custom and p.o.custom.title else p.o.name,
                         p.o.info.grafana_unit, [query(p.value_expr(window="$__rate_interval"),
                                                       p.o.name)], p=p)
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
            .time("now-6h", "now").refresh("30s").timezone("browser")
            .link(DashboardLink("Objective details").type(DashboardLinkType.DASHBOARDS)
                  .tags([f"slo-{spec.service}"]).as_dropdown(True).include_vars(True)
                  .keep_time(True)))
    for v in variables(spec):
        dash = dash.with_variable(v)
    grid = Grid()
    panel_id = 1
    for title, build in ROWS:
        panels = build(spec, ps)
        if not panels:
            continue
        dash = dash.with_row(Row(title).id(1000 + panel_id).grid_pos(grid.row()))
        for panel in panels:
            dash = dash.with_panel(panel.id(panel_id).grid_pos(grid.place(panel)))
            panel_id += 1
    return dash


__all__ = ["ROWS", "service_dashboard"]
