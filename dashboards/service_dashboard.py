"""The service dashboard: SLO overview, then Infrastructure, Data, Model and Cost rows.

Built from what the spec has: a kind's panel is drawn only where an objective or a source feeds
the kind (no GPU panels with the GPU off), with a query per source that really produces its series:
ours (the SDK's, the sidecar's) and each scrape target's own (a vLLM preset's TTFT histogram).
Every query aggregates across replicas as the kind's record says; thresholds come from the spec.
Budget and burn-rate panels read the series the generated recording rules write.
"""

from __future__ import annotations

import re
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard, DashboardLink, Row
from grafana_foundation_sdk.models.dashboard import DashboardLinkType

from agent import catalogue as cat
from agent.feeds import Feed, feeds
from agent.signals import ORDERED, SignalKind, SignalRecord, scraped
from agent.sli import ObjectivePlan, dashboard_uid, plans
from agent.spec.document import Spec
from agent.units import Unit
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
RATE = "$__rate_interval"


def _of(ps: list[ObjectivePlan], kind: SignalKind) -> list[ObjectivePlan]:
    """Objectives of ``kind`` and of the kinds drawn on its panel."""
    return [p for p in ps if kind in (p.o.signal, p.o.info.drawn_with)]


def objective_series(spec: Spec, ps: list[ObjectivePlan], kind: SignalKind,
                     ref: str = "O") -> tuple[list[Any], list[tuple[str, ObjectivePlan]]]:
    """One series per objective of ``kind`` (its own selector, the dashboard's filters), named
    after it and coloured by its levels: what the objective judges, not a borrowed line."""
    targets, per = [], []
    for i, p in enumerate(x for x in _of(ps, kind) if x.scraped is None
                          and x.o.custom is None):
        m = matchers(spec.service, p.o.selector.items(), models="model" in p.o.info.selectors)
        targets.append(query(p.value_expr(m, "$__rate_interval"), p.o.name, ref=f"{ref}{i}"))
        per.append((f"^{re.escape(p.o.name)}$", p))
    return targets, per


def scraped_queries(r: SignalRecord, f: Feed) -> list[Any]:
    """A query per scrape target that maps the kind, over the server's own series (as the rules
    read them): its p50/p95/p99 for a histogram, its value otherwise (a mean, a rate, a share,
    a gauge combined as the record aggregates). None where the sidecar re-exports the value
    into our own series (the panel's own query shows it)."""
    if r.reexport:
        return []
    out = []
    for i, (name, m) in enumerate(f.scraped):
        if r.quantile and m.metric is not None:
            out += [query(scraped.scraped_value(r, m, RATE, q), f"{name} p{int(q * 100)}",
                          ref=f"S{i}Q{int(q * 100)}") for q in (0.5, 0.95, 0.99)]
        else:
            legend = f"{name} mean" if r.quantile else name
            out.append(query(scraped.scraped_value(r, m, RATE), legend, ref=f"S{i}"))
    return out


def record_panel(spec: Spec, ps: list[ObjectivePlan], r: SignalRecord, f: Feed
                 ) -> Panel | None:
    """The panel a kind's record describes, drawn only where something feeds the kind: a query
    over our own series where they exist, one per scrape target that maps it; coloured by the
    objectives of the kind."""
    d = r.panel
    assert d is not None
    if not f.fed:
        return None
    m = matchers(spec.service, models="model" in r.selectors)
    mine = [p for p in _of(ps, r.kind) if not (d.sdk_only and p.o.selector.dataset)]
    per = [(legend_regex(d.legend, p), p) for p in mine]
    unit = r.grafana_unit
    ours = [query(r.panel_expr(m), d.legend)] if f.ours else []
    servers = scraped_queries(r, f)
    if d.style == "series":
        return series_panel(d.title, unit, [*ours, *servers], d.description, width=d.width,
                            per_series=per) if ours or servers else None
    if d.style == "state":
        return state_series_panel(d.title, r.kind, ours[0], d.description,
                                  next(iter(mine), None)) if ours else None
    own, own_per = objective_series(spec, ps, r.kind)
    if d.style == "objectives":
        return series_panel(d.title, unit, own, d.description, per_series=own_per) \
            if own else None
    if d.style == "quantile":
        qs = [query(f"histogram_quantile({q}, sum by (le) (rate({r.panel_expr(m)}"
                    f"[{RATE}])))", f"p{int(q * 100)}", ref=f"Q{int(q * 100)}")
              for q in (0.5, 0.95, 0.99)] if f.ours else []
        return series_panel(d.title, unit, [*qs, *servers, *own],
                            f"{d.description} p50/p95/p99 over all selected series"
                            + (" (a model server's own under its name)" if servers else "")
                            + "; each objective of this kind adds its own line (its quantile "
                            "and selector), dashed at its warning and critical levels.",
                            per_series=own_per)
    budgets = [query(f"vector({p.o.daily_budget:g})", f"{p.o.name} budget", ref=f"BU{i}")
               for i, p in enumerate(mine) if p.o.daily_budget is not None]
    return series_panel(d.title, unit, [*ours, *servers, *own, *budgets],
                        d.description, width=d.width,
                        per_series=[*(per if d.raw_thresholds else []), *own_per])


def _row(spec: Spec, ps: list[ObjectivePlan], row: str,
         own: list[tuple[float, Panel | None]]) -> list[Panel]:
    """The row's own panels (None where the spec has nothing to show) and its kinds' record
    panels (where something feeds the kind), in order."""
    fed = feeds(spec)
    got = [(r.panel.order, record_panel(spec, ps, r, fed[r.kind])) for r in ORDERED
           if r.panel is not None and r.panel.row == row]
    return [panel for _, panel in sorted([*own, *got], key=lambda x: x[0])
            if panel is not None]


def _reads(ps: list[ObjectivePlan], metric: cat.Metric) -> bool:
    """An objective reads ``metric`` as its record's own series (not a server's, not custom)."""
    return any(p.record.metric is metric and p.scraped is None and p.o.custom is None
               for p in ps)


def infrastructure(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    gpu = matchers(spec.service, models=False)
    if spec.sources.gpu.mode == "off":        # no NVML: nothing of the GPUs to show
        return _row(spec, ps, "Infrastructure", [])
    return _row(spec, ps, "Infrastructure", [
        (11, series_panel("GPU power", "watt", [
            query(f"max by (gpu) ({cat.GPU_POWER.name}{gpu})", "GPU {{gpu}} draw"),
            query(f"max by (gpu) ({cat.GPU_POWER_LIMIT.name}{gpu})", "GPU {{gpu}} limit",
                  ref="B")],
            "Power draw per GPU against its enforced limit (no objective: a draw pinned at the "
            "limit means power throttling).")),
        (15, series_panel("GPU memory per process", "bytes", [query(
            f"max by (gpu, pid, process) ({cat.GPU_PROCESS_MEM.name}{gpu})",
            "GPU {{gpu}} {{process}} ({{pid}})")],
            "GPU memory each process holds (no objective; DCGM-exporter has no such series)."))])


def data(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service, models=False)
    file_drift = [p for p in ps if p.o.selector.dataset is not None
                  and p.o.info.unit is Unit.EFFECT_SIZE]
    legend = "{{dataset}}.{{column}}"
    datasets = spec.sources.datasets
    # contracts are checked, and drift measured against a reference file, on the datasets the
    # sidecar polls itself (a file or a SQL table), not on batches the SDK sends
    polled = [d for d in datasets if d.path or d.sql]
    contracts = any(d.contract.model_dump(exclude_defaults=True) for d in polled)
    references = any(d.reference for d in polled)
    return _row(spec, ps, "Data", [
        (4, series_panel("Data-contract failures", "short", [query(
            f"max by (dataset, expectation, column) ({cat.CONTRACT_FAILURES.name}{m})",
            "{{dataset}} {{expectation}} {{column}}")],
            "Failed data-contract expectations in the latest validated batch (Great "
            "Expectations); any failure is worth a look.") if contracts else None),
        (6, series_panel("Dataset drift against the reference file", "short", [query(
            f"max by (dataset, column) ({cat.DATASET_DRIFT_SCORE.name}{m})", legend)],
            "Effect size (KS D or PSI) per column against the dataset's reference file when "
            "significant, else 0; dashed at the levels of the drift objective on that column.",
            per_series=[(legend_regex(legend, p), p) for p in file_drift])
         if references else None)])


def model(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service)
    return _row(spec, ps, "Model", [
        (2, series_panel("Feature drift p-value (adjusted)", "short", [query(
            f"min by (model, feature) ({cat.DRIFT_P_VALUE.name}{m})", "{{model}} {{feature}}")],
            "Adjusted p-value of the drift test per feature (low = the shift is unlikely to be "
            "chance); the drift objectives judge the effect size, not this.")
         if _reads([p for p in ps if p.o.selector.dataset is None], cat.DRIFT_SCORE) else None),
        (6, series_panel("Feedback by sentiment", "short", [query(
            f"sum by (sentiment) (rate({cat.FEEDBACK.name}{m}[$__rate_interval]))",
            "{{sentiment}}")], "User feedback events per second by sentiment (no objective).")
         if _reads(ps, cat.FEEDBACK) else None)])


def cost(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service)
    if not _reads(ps, cat.COST):              # no spend objective: the SDK reports no spend
        return _row(spec, ps, "Cost", [])
    return _row(spec, ps, "Cost", [
        (4 + i, series_panel(f"Spend by {tag} (top 10, last 24h)", "currencyUSD", [query(
            f"topk(10, sum by (tag_value) (increase({cat.COST_BY_TAG.name}"
            f"{_with_label(m, 'tag', tag)}[1d])))", "{{tag_value}}")],
            f"The ten {tag}s that spent most over the trailing 24 hours (values past the "
            "cardinality cap are folded into 'other'); no objective."))
        for i, tag in enumerate(SPEND_TAGS)])


def jobs(spec: Spec, ps: list[ObjectivePlan]) -> list[Panel]:
    m = matchers(spec.service, models=False)
    if not _reads(ps, cat.JOB_RUNS) and not any(p.o.selector.job for p in ps):
        return _row(spec, ps, "Jobs", [])
    return _row(spec, ps, "Jobs", [
        (1, series_panel("Job runs by result (last hour)", "short", [query(
            f"sum by (job_name, result) (increase({cat.JOB_RUNS.name}{m}[1h]))",
            "{{job_name}} {{result}}")],
            "Finished runs per job and result over the trailing hour: counts, so no ratio "
            "lines (the success ratio has its own panel).", width=12))])


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
            for p in ps if p.o.custom is not None]


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
