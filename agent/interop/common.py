"""What the importers share: per-field problems, levels for objectives that only had a target,
and burn-rate tiers from an external (factor, long window, short window)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.spec.units import QuantityError, format_duration, parse_duration


def duration(text: str) -> float:
    """Seconds from a duration, Prometheus's compound form too (``1h24m``)."""
    try:
        return parse_duration(str(text).strip())
    except QuantityError:
        raise ValueError(f"not a duration: {text!r}") from None


@dataclass(frozen=True)
class ImportProblem:
    path: str          # document and field, e.g. "SLO latency.spec.timeWindow[0]"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def derived_levels(target: float) -> dict[str, Any]:
    """OpenSLO and Sloth give only a target; the objective warns while the bad share is above
    the error budget and is critical at ten times it (burn-rate tiers do the paging)."""
    budget = 1.0 - target
    return {"warning": round(budget, 12), "critical": round(min(1.0, 10 * budget), 12)}


def tier_entry(name: str, factor: float, long: str, short: str | None, window: str,
               severity: str) -> dict[str, Any]:
    """A tier of this objective alone with the given factor: budget_share = factor × long /
    window (the spec's own arithmetic, agent.spec.burn)."""
    long_s = duration(long)
    window_s = duration(window)
    if factor <= 0 or long_s <= 0:
        raise ValueError("threshold and lookbackWindow must be positive")
    out: dict[str, Any] = {"name": name, "severity": severity,
                           "budget_share": round(min(1.0, factor * long_s / window_s), 12),
                           "long": format_duration(long_s)}
    if short:
        out["short"] = format_duration(duration(short))
    return out
