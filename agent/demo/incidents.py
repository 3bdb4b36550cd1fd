"""The incidents the demo injects, one after another: light (the CLI's ``demo --help`` reads
the list, so the number it states is the number the demo runs)."""

from __future__ import annotations

from dataclasses import dataclass

_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve")


@dataclass
class Incident:
    key: str
    label: str
    objective: str
    admin: str | None = None          # switched in the service; None: driven by traffic
    short: str = ""                   # how --help names it
    injected_at: float | None = None
    stopped_at: float | None = None
    detected_at: float | None = None
    worst: str = "ok"
    resolved_at: float | None = None
    expected: float | None = None     # the sidecar's predicted detection time (drift)


def incidents() -> list[Incident]:
    return [
        Incident("latency", "latency regression (+60ms)", "fraud-latency-p95", "latency",
                 "latency regression"),
        Incident("drift", "input drift on amount, velocity", "fraud-input-drift",
                 short="input drift"),
        Incident("nulls", "null spike in amount (30%)", "amount-nulls", "null_spike",
                 "null spike"),
        Incident("stale", "stale dataset (pipeline stops)", "transactions-fresh",
                 "stale_dataset", "stale dataset"),
        Incident("fallback", "fallback storm (50%)", "fraud-fallbacks", "fallback_storm",
                 "fallback storm"),
        Incident("feedback", "burst of negative feedback", "fraud-negative-feedback",
                 short="negative feedback"),
        Incident("retrain", "retraining fails", "retrain-recency", "retrain_failure",
                 "failing retraining job"),
    ]


def count_words() -> str:
    """``seven incidents``: the number of the list, in words."""
    n = len(incidents())
    return f"{_WORDS[n] if n < len(_WORDS) else n} incident{'s' if n != 1 else ''}"


def names() -> str:
    """``latency regression, input drift, …``: each incident as --help names it."""
    return ", ".join(i.short or i.label for i in incidents())
