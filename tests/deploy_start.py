"""The deploy-start scenario of issue 34, run on the generated rules under promtool
(tests/generators/test_slice_coverage.py) and on the sidecar's evaluator
(tests/sidecar/test_slice_coverage.py): one spec, so both hold the same objective to the same
levels. A throughput floor with an error-budget target counts time slices, bad while the rate is
under its level; a fresh service's rate reads low while its window fills."""

from __future__ import annotations

STEP = 5            # minutes: the rate window, one sample and one evaluation a minute
LEVEL = 5.0         # requests per second: slices under it are bad
HEALTHY = 6.0       # what the service serves from its first sample on
SPEC = {"service": "svc", "models": [{"name": "m"}],
        "alerting": {"evaluation_interval": "1m", "rate_window": f"{STEP}m",
                     "page_min_events": 0,
                     "tiers": [{"name": "page", "budget_share": 0.5, "severity": "critical",
                                "long": "10m", "short": "5m"}]},
        "objectives": [{"name": "floor", "signal": "throughput", "selector": {"model": "m"},
                        "warning": f"{LEVEL:g}/s", "critical": "1/s", "for": "0s",
                        "objective": "99%", "window": "1h",
                        "sli_threshold": f"{LEVEL:g}/s"}]}
