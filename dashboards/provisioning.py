"""Grafana provisioning: a Prometheus datasource and a file provider for the dashboards folder, so
a Grafana container picks everything up from mounted folders."""

from __future__ import annotations

from typing import Any

DASHBOARDS_PATH = "/var/lib/grafana/dashboards/slo-agent"


def datasource(prometheus_url: str = "http://prometheus:9090") -> dict[str, Any]:
    return {"apiVersion": 1, "datasources": [{
        "name": "Prometheus", "uid": "prometheus", "type": "prometheus", "access": "proxy",
        "url": prometheus_url, "isDefault": True, "editable": False,
        "jsonData": {"timeInterval": "15s"},
    }]}


def dashboard_provider(path: str = DASHBOARDS_PATH) -> dict[str, Any]:
    return {"apiVersion": 1, "providers": [{
        "name": "slo-agent", "orgId": 1, "folder": "SLOs", "type": "file",
        "disableDeletion": False, "allowUiUpdates": False, "updateIntervalSeconds": 30,
        "options": {"path": path, "foldersFromFilesStructure": False},
    }]}
