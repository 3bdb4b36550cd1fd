"""Kubernetes packaging of the generated artefacts (Prometheus Operator, Grafana sidecar)."""
