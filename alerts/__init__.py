"""Spec → Prometheus rule groups, promtool rule tests, Grafana-managed rules, Alertmanager."""
