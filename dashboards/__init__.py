"""Spec → Grafana dashboards (grafana-foundation-sdk) and provisioning."""
