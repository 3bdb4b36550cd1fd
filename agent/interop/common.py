"""What the importers share: reading documents, per-field problems, exact targets, reserved
labels and burn-rate tiers from an external (factor, long window, short window)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from agent.spec.promql_syntax import problem as promql_problem
from agent.units import QuantityError, format_duration, parse_duration

#: labels slo-agent puts on every series and alert of an objective: a team's label of the same
#: name would be overwritten, so importers refuse it
RESERVED_LABELS = ("service", "objective", "signal")
_CALENDAR_UNIT = re.compile(r"^\s*\d+\s*(M|Q|Y)\s*$")


def duration(text: Any) -> float:
    """Seconds from a duration, Prometheus's compound form too (``1h24m``). Calendar units
    (``1M``, ``1Q``, ``1Y``: valid OpenSLO) have no fixed length and are named as such."""
    if isinstance(text, str) and _CALENDAR_UNIT.match(text):
        raise ValueError(f"{text.strip()!r} is a calendar duration (month, quarter or year) of "
                         "no fixed length; slo-agent windows are rolling and fixed: use e.g. "
                         "28d, 30d or 90d")
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


@dataclass
class Imported:
    """An importer's answer: the slo.yaml mapping, what cannot be imported (exit 2), and what
    was imported with a change worth saying (printed, and written as comments)."""

    data: dict[str, Any]
    problems: list[ImportProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def as_map(value: Any) -> dict[str, Any]:
    """A mapping field, or {} where the document holds something else (reported elsewhere)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def load_documents(text: str) -> list[tuple[str, Any]]:
    """Every document of a YAML stream, a top-level list read as one document per item (the form
    OpenSLO's examples and Go SDK use), each with the name its problems carry."""
    out: list[tuple[str, Any]] = []
    for i, doc in enumerate(d for d in yaml.safe_load_all(text) if d is not None):
        if isinstance(doc, list):
            out.extend((f"document {i}[{j}]", item) for j, item in enumerate(doc))
        else:
            out.append((f"document {i}", doc))
    return out


def percent(value: Any) -> str:
    """A target as an exact percentage string: 99.9 → ``99.9%``, 0.999 (a ratio) → ``99.9%``."""
    try:
        number = Decimal(str(value).strip().rstrip("%"))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return f"{number.normalize():f}%"


def ratio_percent(value: Any) -> str:
    """An OpenSLO target (a ratio, 0.999) as an exact percentage string (``99.9%``)."""
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return percent(number * 100)


def label_problems(labels: dict[str, Any], at: str) -> list[ImportProblem]:
    return [ImportProblem(f"{at}.{k}", f"label {k!r} is reserved: slo-agent puts "
                          f"{', '.join(RESERVED_LABELS)} on every series of an objective; "
                          "rename it") for k in labels if k in RESERVED_LABELS]


def query_problem(query: str, at: str) -> ImportProblem | None:
    """A query Prometheus cannot run (MetricsQL, a typo), named by its field."""
    why = promql_problem(query)
    return None if why is None else ImportProblem(
        at, f"not PromQL that Prometheus can run ({why}); MetricsQL and other dialects "
        "cannot be imported")


def tier_entry(name: str, factor: float, long: str, short: str | None, window: str,
               severity: str, for_: Any = None) -> dict[str, Any]:
    """A tier of this objective alone with the given factor: budget_share = factor × long /
    window (the spec's own arithmetic, agent.spec.burn); without ``short`` the spec's default
    short window (1/12 of the long one)."""
    long_s = duration(long)
    window_s = duration(window)
    if factor <= 0 or long_s <= 0:
        raise ValueError("threshold and lookbackWindow must be positive")
    share = factor * long_s / window_s
    if share > 1:
        raise ValueError(f"a burn of {factor:g}x over {format_duration(long_s)} spends "
                         f"{share:.3g}x the whole budget of the {format_duration(window_s)} "
                         "window; slo-agent tiers spend at most all of it (lower the threshold "
                         "or the lookbackWindow)")
    out: dict[str, Any] = {"name": name, "severity": severity,
                           "budget_share": round(share, 12),
                           "long": format_duration(long_s)}
    if short:
        out["short"] = format_duration(duration(short))
    if for_ is not None and duration(for_) > 0:
        out["for"] = format_duration(duration(for_))
    return out


def fit_rate_window(data: dict[str, Any], notes: list[str]) -> None:
    """Set ``alerting.rate_window`` (the SLI step, 5m by default) to the shortest short window of
    the imported tiers when that is finer, so the source's windows are kept, not refused."""
    shorts = [duration(t["short"]) for o in data["objectives"] for t in o.get("tiers") or []
              if isinstance(t, dict) and t.get("short")]
    step = min([300.0, *shorts])
    if step < 300:
        data.setdefault("alerting", {})["rate_window"] = format_duration(step)
        notes.append(f"alerting.rate_window {format_duration(step)}: the SLI step, no longer "
                     "than the shortest burn window imported")
