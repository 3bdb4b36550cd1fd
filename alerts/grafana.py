"""Grafana-managed alert rules (file provisioning, apiVersion 1) for the same objectives, for teams
that alert in Grafana rather than in Prometheus. Queries read the raw series, not the recording
rules, so they work against a Prometheus that has not loaded the generated rule files."""

from __future__ import annotations

import json
from typing import Any, Literal

from grafana_foundation_sdk.builders import alerting as ab
from grafana_foundation_sdk.builders import expr as eb
from grafana_foundation_sdk.builders import prometheus as pb
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.alerting import RelativeTimeRange

from agent import catalogue as cat
from agent.signals.query_shapes import wilson_bound
from agent.sli import Level, ObjectivePlan, detail_uid, plans
from agent.spec.document import Objective, Spec
from agent.units import format_duration
from alerts import text
from alerts.rules import threshold_alert
from detectors.rates import MIN_EVENTS, Z_99

DATASOURCE_UID = "prometheus"
FOLDER = "SLOs"


def query_expr(p: ObjectivePlan, level: Level) -> tuple[str, float]:
    """(PromQL of query A, level it is compared with). Learned-baseline levels compare the value
    divided by the sidecar's resolved threshold with 1; a ratio's Wilson bound (with the
    minimum of events) is compared where the sidecar judges that; with fewer events A reads the
    level, not past it, as the sidecar says ok. A lower-is-worse rate is
    judged once its rate window is covered (the Prometheus rules'
    :attr:`ObjectivePlan.covered_guard`): until then A reads the level itself, not past it
    (the comparison is strict), so the rule is Normal as the sidecar says ok, rather than an
    empty result that Grafana takes for No Data; with no series at all A is still empty."""
    expr, threshold = _query(p, level)
    if p.covered_guard:
        expr = f"({expr}){p.covered_guard}\nor on()\n({expr}) * 0 + {threshold:.10g}"
    return expr, threshold


def _query(p: ObjectivePlan, level: Level) -> tuple[str, float]:
    value = p.value_expr()
    events = p.window_events(p.spec.alerting.rate_window) if p.bounded else None
    if level.constant is not None and events is not None:   # judged as the sidecar judges it
        bad, total = (f"({e})" for e in events)
        bound = wilson_bound(bad, total, Z_99, good=not p.o.info.higher_is_worse)
        # too few events: A reads the level itself (not past it), as the sidecar says ok,
        # rather than an empty result that Grafana would notify as No Data; a silent service
        # (no series at all) is still empty
        return (f"({bound})\nand on()\n({total} >= {MIN_EVENTS})\nor on()\n"
                f"({total}) * 0 + {level.constant:.10g}"), level.constant
    if level.constant is not None:
        return value, level.constant
    if level.per_column is not None:       # columns past their own calibrated level
        return f"count({level.per_column}) or vector(0)", 0.0
    metric = cat.OBJECTIVE_WARNING if level.severity == "warning" else cat.OBJECTIVE_CRITICAL
    return f"({value}) / scalar(max({metric.name}{p.rec_matchers}))", 1.0


def uid_prefix(spec: Spec, o: Objective) -> str:
    """What every rule uid of the objective starts with: its dashboard's uid, cut so that the
    severity still fits Grafana's 40 characters (a spelling of the name the composer's
    templates must know: agent/render/shapes.py)."""
    return detail_uid(spec, o)[:34]


#: how this module spells an objective's name beyond agent/render/shapes.py's NAME_FORMS
NAME_FORMS = {"grafana-rule-uid": uid_prefix}


def grafana_rule(p: ObjectivePlan, level: Level) -> dict[str, Any]:
    prom_rule = threshold_alert(p, level)
    expr, threshold = query_expr(p, level)
    op: Literal["gt", "lt"] = "gt" if p.o.info.higher_is_worse else "lt"
    lookback = int(max(600, 2 * p.spec.alerting.rate_window))
    rule = (
        ab.Rule(f"{p.o.name} {level.severity}")
        .uid(f"{uid_prefix(p.spec, p.o)}-{level.severity[:4]}")
        .condition("C")
        .for_val(format_duration(p.o.for_))
        .labels(prom_rule["labels"])
        .annotations(prom_rule["annotations"]
                     | {"summary": f"{p.o.name}: {p.o.info.title.lower()} past the "
                                   f"{level.severity} level {level.text}",
                        # Grafana prints values its own way: the text without the value
                        "description": text.render(
                            text.threshold_description(p, level, measured=False))}
                     | p.o.annotations)
        .no_data_state("NoData")
        .exec_err_state("Error")
        .with_query(ab.Query("A").datasource_uid(DATASOURCE_UID)
                    .relative_time_range(RelativeTimeRange(from_val=lookback, to=0))
                    .model(pb.Dataquery().expr(expr).instant().ref_id("A")))
        .with_query(ab.Query("B").datasource_uid("__expr__")
                    .model(eb.TypeReduce().expression("A").reducer("last").ref_id("B")))
        .with_query(ab.Query("C").datasource_uid("__expr__").model(
            eb.TypeThreshold().expression("B").ref_id("C").conditions([
                eb.ExprTypeThresholdConditions().evaluator(
                    eb.ExprTypeThresholdConditionsEvaluator().type(op).params([threshold]))])))
    )
    data = json.loads(JSONEncoder(sort_keys=True).encode(rule.build()))
    for key in ("folderUID", "ruleGroup", "orgID"):   # set on the group in file provisioning
        data.pop(key, None)
    return data


def objective_rules(p: ObjectivePlan) -> list[dict[str, Any]]:
    """One objective's Grafana-managed rules, one per level."""
    return [grafana_rule(p, level) for level in p.levels]


def provisioning(spec: Spec, rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The provisioning document; ``rules`` when the caller built them objective by objective."""
    if rules is None:
        rules = [r for p in plans(spec) for r in objective_rules(p)]
    return {"apiVersion": 1, "groups": [{
        "orgId": 1, "name": f"slo-agent-{spec.service}", "folder": FOLDER,
        "interval": format_duration(max(60.0, spec.alerting.evaluation_interval)),
        "rules": rules,
    }]}


def rule_exprs(doc: dict[str, Any]) -> list[str]:
    """Every PromQL expression in a provisioning document (for syntax checks)."""
    return [d["model"]["expr"] for g in doc["groups"] for r in g["rules"] for d in r["data"]
            if d.get("datasourceUid") == DATASOURCE_UID]
