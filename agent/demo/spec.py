"""The demo's embedded spec: every incident the demo injects has an objective watching it.
Intervals are short (1 s ticks, 5 s rate window) so each incident is detected within seconds and
resolves within seconds of its end: a whole tour takes about two minutes."""

from __future__ import annotations

from typing import Any

# A 1h window scales page-fast to 5s, no longer than the demo's 5s SLI step, so it could only be
# widened: the demo's 1h objectives keep the three tiers that fit (30s/5s x6, 2m/10s x3,
# 6m/30s x1).
DEMO_TIERS = ["page-slow", "ticket-fast", "ticket-slow"]


def demo_spec(sidecar_port: int = 9464, state_dir: str = ".slo-agent/demo-state",
              grafana_url: str = "http://localhost:3000") -> dict[str, Any]:
    return {
        "version": 1,
        "service": "fraud-demo",
        "environment": "demo",
        "owner": "ml-platform",
        "models": [
            {"name": "fraud", "version": "v3", "categorical": ["country"],
             "features": ["amount", "age", "tenure", "velocity", "merchant_risk", "country"]},
            {"name": "chat", "version": "2025-06"},
        ],
        "sidecar": {"listen": f"127.0.0.1:{sidecar_port}", "state_dir": state_dir,
                    "interval": "1s"},
        "sdk": {"sample_rate": 1.0, "flush_interval": "0.5s"},
        "sources": {"gpu": {"mode": "auto"}, "datasets": [{
            "name": "transactions",
            "contract": {"columns": {"amount": "float", "age": "float", "country": "string",
                                     "event_time": "datetime"},
                         "max_null_ratio": {"amount": "2%"},
                         "freshness": {"column": "event_time", "max_lag": "8s"}}}]},
        "drift": {"reference": "first_window", "reference_size": 400, "window_size": 300,
                  "min_samples": 150, "alpha": 0.01, "correction": "bh",
                  "fleet_window": "30s"},     # the fleet rules sum counts over this window
        "alerting": {"rate_window": "5s", "scrape_interval": "1s", "evaluation_interval": "1s",
                     "absent_for": "1m", "grafana_url": grafana_url,
                     "runbook_url": "https://runbooks.example.com/fraud-demo/{objective}"},
        "objectives": [
            {"name": "fraud-latency-p95", "signal": "latency", "quantile": "p95",
             "selector": {"model": "fraud"}, "warning": "2x baseline",
             "critical": "5x baseline", "for": "2s", "objective": "99%", "window": "1h",
             "sli_threshold": "40ms", "tiers": DEMO_TIERS,
             "description": "95th percentile scoring latency against its learned baseline"},
            {"name": "fraud-errors", "signal": "error_rate", "selector": {"model": "fraud"},
             "for": "2s", "objective": "99.9%", "window": "1h", "tiers": DEMO_TIERS},
            {"name": "fraud-input-drift", "signal": "feature_drift",
             "selector": {"model": "fraud"}, "warning": "0.2", "critical": "0.35", "for": "1s"},
            {"name": "amount-nulls", "signal": "null_ratio",
             "selector": {"dataset": "transactions", "column": "amount"},
             "warning": "2%", "critical": "10%", "for": "1s"},
            {"name": "transactions-fresh", "signal": "freshness_lag",
             "selector": {"dataset": "transactions"}, "warning": "3s", "critical": "6s",
             "for": "0s"},
            {"name": "fraud-fallbacks", "signal": "fallback_rate",
             "selector": {"model": "fraud"}, "warning": "5%", "critical": "20%", "for": "2s"},
            {"name": "fraud-negative-feedback", "signal": "negative_feedback_rate",
             "selector": {"model": "fraud"}, "warning": "25%", "critical": "50%", "for": "2s"},
            {"name": "chat-ttft-p95", "signal": "ttft", "selector": {"model": "chat"},
             "warning": "200ms", "critical": "1s", "for": "2s"},
            {"name": "request-queue", "signal": "queue_depth", "for": "2s"},
            {"name": "chat-cost-per-1k", "signal": "cost_per_1k", "selector": {"model": "chat"},
             "warning": "$1", "critical": "$2", "for": "5s"},
            {"name": "gpu-hot", "signal": "gpu_temperature", "warning": "83C",
             "critical": "90C", "for": "10s"},
            {"name": "retrain-recency", "signal": "time_since_success",
             "selector": {"job": "retrain-fraud"}, "warning": "4s", "critical": "8s",
             "for": "0s", "description": "the fraud model retrains every second"},
            {"name": "retrain-success", "signal": "job_success_ratio",
             "selector": {"job": "retrain-fraud"}, "warning": "90%", "critical": "50%",
             "for": "0s"},
            {"name": "retrain-duration", "signal": "job_duration",
             "selector": {"job": "retrain-fraud"}, "warning": "1s", "critical": "5s",
             "for": "0s"},
            {"name": "fraud-drift-detection", "signal": "drift_detection_time",
             "selector": {"objective": "fraud-input-drift"}, "warning": "1m",
             "critical": "5m", "for": "5s"},
            {"name": "transactions-volume", "signal": "row_count",
             "selector": {"dataset": "transactions"}, "for": "2s"},
            {"name": "feature-cache", "signal": "cache_hit_rate",
             "selector": {"cache": "features"}, "warning": "80%", "critical": "50%",
             "for": "5s"},
            {"name": "degraded", "signal": "degradation_level", "for": "2s"},
            {"name": "fraud-breaker", "signal": "circuit_breaker_state",
             "selector": {"breaker": "fraud-model"}, "for": "2s"},
            {"name": "feature-store-age", "signal": "custom",
             "custom": {"gauge": "feature_store_age_seconds", "unit": "seconds",
                        "title": "Feature store age"},
             "warning": "5s", "critical": "10s", "for": "0s"},
        ],
    }
