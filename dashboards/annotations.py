"""Alert context on every time axis: firing alerts (Prometheus' ``ALERTS``), the sidecar's state
transitions and its pending-to-fire marks, as Prometheus annotation queries."""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models.dashboard import AnnotationQuery

from agent import catalogue as cat
from dashboards.panels import DATASOURCE

#: Prometheus' own series of active alerts (not ours to name: the rule engine writes it)
ALERTS = "ALERTS"


@dataclass
class _Spec:
    name: str
    expr: str
    color: str
    title: str
    text: str
    tags: str


class PromAnnotationQuery(AnnotationQuery):
    """Grafana's Prometheus annotation fields the SDK's generic model does not carry."""

    def __init__(self, spec: _Spec) -> None:
        super().__init__(name=spec.name, datasource=DATASOURCE, enable=True, hide=False,
                         icon_color=spec.color, expr=spec.expr)
        self.extra = {"step": "60s", "titleFormat": spec.title,
                      "textFormat": spec.text, "tagKeys": spec.tags, "useValueForTime": False}

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), **self.extra}


class PromAnnotation(cogbuilder.Builder[AnnotationQuery]):
    def __init__(self, spec: _Spec) -> None:
        self._internal = PromAnnotationQuery(spec)

    def build(self) -> AnnotationQuery:
        return self._internal


def alert_annotations(service: str, objective: str | None = None) -> list[PromAnnotation]:
    """Firing alerts, state transitions and pending marks, for one objective or the service."""
    labels = {cat.SERVICE_LABEL: service, **({"objective": objective} if objective else {})}
    m = cat.label_matchers(labels)
    firing = cat.label_matchers(labels, ['alertstate="firing"'])
    transitions = cat.OBJECTIVE_TRANSITIONS.name
    return [PromAnnotation(_Spec(
        "Firing alerts", f"{ALERTS}{firing}", "red", "{{alertname}}",
        "{{severity}} · {{objective}} {{tier}}", "severity,objective,tier")),
        PromAnnotation(_Spec(
            "State transitions (sidecar)",
            f"sum by (objective, to) (increase({transitions}{m}[$__rate_interval])) > 0", "orange",
            "{{objective}} → {{to}}", "the sidecar judged the objective {{to}}", "objective,to")),
        PromAnnotation(_Spec(
            "Pending to fire (sidecar)", f"max by (objective, level) ({cat.OBJECTIVE_PENDING.name}"
            f"{m})", "yellow", "{{objective}} pending {{level}}",
            "past the level; its `for` runs until the alert fires", "objective,level"))]
