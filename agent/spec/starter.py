"""The commented starter spec that ``slo-agent init`` writes."""

from __future__ import annotations

_TEMPLATE = """\
# slo.yaml: the single source of truth for slo-agent.
# The sidecar evaluates it, the SDK places histogram buckets on its latency thresholds, and
# `slo-agent generate` turns it into Grafana dashboards and alert rules.
# Editor support: `slo-agent schema -o slo.schema.json` and point your YAML plugin at it.
version: 1
service: {service}
environment: production

models:
  - name: {model}
    version: v1
    # features: [amount, country]     # optional: lets selectors be checked

sidecar:
  listen: 127.0.0.1:9464             # loopback by default; elsewhere requires token_env
  # token_env: SLO_AGENT_TOKEN       # the bearer token comes from this variable, never this file
  state_dir: .slo-agent/state
  interval: 15s

objectives:
  # Thresholds: absolute with units (250ms, 2s, 1%, 0.01, 1000) or relative
  # (2x baseline, 120% budget). Omitted ones take field-practice defaults.
  - name: latency-p95
    signal: latency
    quantile: p95
    selector: {{model: {model}}}
    warning: 500ms
    critical: 2s
    for: 5m
    objective: 99%                   # share of requests faster than sli_threshold
    window: 30d
    sli_threshold: 500ms

  - name: error-rate
    signal: error_rate
    selector: {{model: {model}}}
    # warning 1% / critical 5% by default
    for: 5m
    objective: 99.9%
    window: 30d

  - name: prediction-drift
    signal: prediction_drift
    selector: {{model: {model}}}
    warning: 0.1                     # KS D effect size, only when also significant
    critical: 0.25
    for: 10m

  # More signals, uncomment what you use (slo-agent validate lists every field):
  #
  # A retraining job: `with monitor.job("retrain"):` or `slo-agent job-event retrain -- cmd`
  # - name: retrain-recency
  #   signal: time_since_success
  #   selector: {{job: retrain}}
  #   warning: 26h                     # a daily job: late after 26h, broken after 50h
  #   critical: 50h
  #   for: 0s
  #
  # Your own SLI as PromQL (Sloth style; {{{{.window}}}} is replaced by each window):
  # - name: checkout-errors
  #   signal: custom
  #   custom:
  #     bad: sum(rate(http_requests_total{{code=~"5.."}}[{{{{.window}}}}]))
  #     total: sum(rate(http_requests_total[{{{{.window}}}}]))
  #   warning: 1%
  #   critical: 5%
  #   objective: 99.5%
  #
  # ... or on a metric the SDK records: monitor.gauge("queue_age_seconds").set(age)
  # - name: queue-age
  #   signal: custom
  #   custom: {{gauge: queue_age_seconds, unit: seconds}}
  #   warning: 1m
  #   critical: 5m
"""


def starter_spec(service: str = "my-inference-service", model: str = "my-model") -> str:
    return _TEMPLATE.format(service=service, model=model)
