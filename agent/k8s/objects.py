"""The generated rules, dashboards and alerting as Kubernetes objects: a ``PrometheusRule`` per
objective and a ``PodMonitor`` for the Prometheus Operator, dashboards as ConfigMaps labelled for
Grafana's dashboard sidecar (``grafana_dashboard: "1"``), Grafana-managed alert rules as a
provisioning ConfigMap (``grafana_alert: "1"``), and an ``AlertmanagerConfig`` example.

The rule groups and dashboards are the very ones the plain files hold; only the wrapping differs.
:mod:`agent.k8s.render` writes them out.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agent.k8s.limits import split_provisioning
from agent.k8s.names import label_value, object_name
from agent.sli import plans
from agent.spec.document import Spec
from agent.units import format_duration

MANAGED_BY = {"app.kubernetes.io/managed-by": "slo-agent"}
SIDECAR_PORT = "slo-agent"       # the sidecar container's port name in deploy/kubernetes
APP_PORT = "metrics"             # the inference container's /metrics (the SDK's series)


def _meta(name: str, spec: Spec, namespace: str | None, labels: dict[str, str],
          extra: dict[str, str] | None = None, annotations: dict[str, str] | None = None
          ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {
        **MANAGED_BY, "app.kubernetes.io/part-of": label_value(spec.service),
        **(extra or {}), **labels}}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    return meta


def prometheus_rule(spec: Spec, name: str, group: dict[str, Any], namespace: str | None,
                    labels: dict[str, str]) -> dict[str, Any]:
    """The PrometheusRule of one objective, holding that objective's rule group."""
    meta = _meta(object_name(spec.service, name), spec, namespace, labels,
                 {"slo-agent/objective": label_value(name)})
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": meta, "spec": {"groups": [group]}}


def prometheus_rules(spec: Spec, groups: dict[str, dict[str, Any]], namespace: str | None,
                     labels: dict[str, str]) -> list[dict[str, Any]]:
    """One PrometheusRule per objective, holding that objective's rule group."""
    out = [prometheus_rule(spec, p.o.name, groups[p.o.name], namespace, labels)
           for p in plans(spec)]
    service = service_rule(spec, groups, namespace, labels)
    return out + ([service] if service is not None else [])


def service_rule(spec: Spec, groups: dict[str, dict[str, Any]], namespace: str | None,
                 labels: dict[str, str]) -> dict[str, Any] | None:
    """The PrometheusRule of the service-wide group (no data from the whole service), if any."""
    from alerts.rules import SERVICE_FILE

    service = groups.get(SERVICE_FILE)
    if service is None:
        return None
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": _meta(object_name(spec.service, "service"), spec, namespace, labels),
            "spec": {"groups": [service]}}


def pod_monitor(spec: Spec, namespace: str | None, labels: dict[str, str]) -> dict[str, Any]:
    """Scrapes the sidecar and the inference container of the service's pods, and the
    service's checker pod (deploy/kubernetes/checker.yaml): it selects by the service's name
    only, so replicas and the checker are all scraped, each as its own target."""
    interval = format_duration(spec.alerting.scrape_interval)
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
        "metadata": _meta(object_name(spec.service, "slo-agent"), spec, namespace, labels),
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": label_value(spec.service)}},
            "podMetricsEndpoints": [
                {"port": SIDECAR_PORT, "path": "/metrics", "interval": interval},
                {"port": APP_PORT, "path": "/metrics", "interval": interval},
            ],
        },
    }


def dashboard_configmap(spec: Spec, filename: str, text: str, namespace: str | None,
                        labels: dict[str, str], folder: str) -> dict[str, Any]:
    """One dashboard's ConfigMap, found by the Grafana sidecar through its label."""
    uid = json.loads(text).get("uid", filename)
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": _meta(object_name("dashboard", uid), spec, namespace, labels,
                          {"grafana_dashboard": "1"},
                          {"grafana_folder": folder, "k8s-sidecar-target-directory": folder}),
        "data": {object_name(uid) + ".json": text},
    }


def dashboard_configmaps(spec: Spec, dashboards: dict[str, str], namespace: str | None,
                         labels: dict[str, str], folder: str) -> list[dict[str, Any]]:
    """One ConfigMap per dashboard, found by the Grafana sidecar through its label."""
    return [dashboard_configmap(spec, filename, text, namespace, labels, folder)
            for filename, text in sorted(dashboards.items())]


def grafana_alerting_configmap(spec: Spec, provisioning: str | None, namespace: str | None,
                               labels: dict[str, str], part: int = 1, parts: int = 1
                               ) -> dict[str, Any] | None:
    """The Grafana alert rules' provisioning file, or its ``part`` of ``parts``
    (:func:`agent.k8s.limits.split_provisioning`)."""
    if provisioning is None:
        return None
    which = "" if parts == 1 else f"-{part}"
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(object_name(spec.service, f"grafana-alerting{which}"), spec,
                              namespace, labels, {"grafana_alert": "1"}),
            "data": {object_name(spec.service) + f"-alerting{which}.yaml": provisioning}}


_MATCHER = re.compile(r'^([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)"(.*)"$')


def _matcher(text: str) -> dict[str, str]:
    """``severity="critical"`` → the operator's ``{name, value, matchType}``."""
    m = _MATCHER.match(text)
    if m is None:
        raise ValueError(f"not a matcher: {text}")
    return {"name": m.group(1), "value": m.group(3), "matchType": m.group(2)}


def alertmanager_config(spec: Spec, namespace: str | None, labels: dict[str, str]
                        ) -> dict[str, Any]:
    """The plain example's grouping, routing and inhibition (:mod:`alerts.alertmanager`), in the
    operator's camelCase form: critical pages, warning goes to chat."""
    from alerts.alertmanager import config

    svc = spec.service
    plain = config(spec, "http://pager.example.svc:9095/pager",
                   "http://chat.example.svc:9095/chat")
    route = plain["route"]
    routes = [{"receiver": r["receiver"],
               **({"repeatInterval": r["repeat_interval"]} if "repeat_interval" in r else {}),
               "matchers": [_matcher(m) for m in r["matchers"] if not m.startswith("service=")]}
              for r in route["routes"]]
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "AlertmanagerConfig",
        "metadata": _meta(object_name(svc, "alerting"), spec, namespace, labels),
        "spec": {
            "route": {"receiver": route["receiver"], "groupBy": route["group_by"],
                      "groupWait": route["group_wait"], "groupInterval": route["group_interval"],
                      "repeatInterval": route["repeat_interval"],
                      "matchers": [{"name": "service", "value": svc, "matchType": "="}],
                      "routes": routes},
            "receivers": [
                {"name": r["name"], "webhookConfigs": [
                    {"url": w["url"], "sendResolved": w["send_resolved"]}
                    for w in r["webhook_configs"]]} for r in plain["receivers"]],
            "inhibitRules": [{"sourceMatch": [_matcher(m) for m in r["source_matchers"]],
                              "targetMatch": [_matcher(m) for m in r["target_matchers"]],
                              "equal": r["equal"]} for r in plain["inhibit_rules"]],
        },
    }


def kubernetes_objects(spec: Spec, files: dict[str, tuple[str, str]], namespace: str | None,
                       labels: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """File name → objects, from the plain files :func:`agent.render.files.render` made."""
    import yaml

    # libyaml reads it ~10x faster than PyYAML, into the same objects
    _Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    svc = spec.service
    groups = {}
    for path, (_, text) in files.items():
        if path.startswith(f"prometheus/rules/{svc}/") and path.endswith(".rules.yml"):
            group = yaml.load(text, Loader=_Loader)["groups"][0]
            groups[path.rsplit("/", 1)[1].removesuffix(".rules.yml")] = group
    dashboards = {path.rsplit("/", 1)[1]: text for path, (_, text) in files.items()
                  if path.startswith("grafana/dashboards/") and path.endswith(".json")}
    alerting = files.get(f"grafana/provisioning/alerting/{svc}.yml", (None, None))[1]
    out: dict[str, list[dict[str, Any]]] = {
        "prometheusrules.yaml": prometheus_rules(spec, groups, namespace, labels),
        "podmonitor.yaml": [pod_monitor(spec, namespace, labels)],
        "grafana-dashboards.yaml": dashboard_configmaps(spec, dashboards, namespace, labels,
                                                        folder=svc),
        "alertmanagerconfig.yaml": [alertmanager_config(spec, namespace, labels)],
    }
    if alerting is not None:
        parts = split_provisioning(alerting)
        out["grafana-alerting.yaml"] = [
            doc for i, part in enumerate(parts, start=1)
            if (doc := grafana_alerting_configmap(spec, part, namespace, labels, i, len(parts)))
            is not None]
    return out
