"""The records' worked examples as spec data: each example an objective, and one spec holding an
objective of every example of every kind (with the models, datasets and scrape targets their
selectors name). The tests generate, lint and run the rules of that spec, and the docs show the
same objectives, so a new kind with an example is covered without touching a test file."""

from __future__ import annotations

from typing import Any

from agent.signals import ORDERED
from agent.signals.presets import PRESETS
from agent.signals.record import Example, SignalRecord

#: what every example objective of the every-kind spec carries unless its example says more:
#: an error-budget target, so every alert type of every kind is generated and unit-tested
TARGET = {"for": "2m", "objective": "99%", "window": "28d"}
MODEL = {"name": "m", "version": "v1"}


def objective_name(r: SignalRecord, ex: Example) -> str:
    """``k-<kind>`` (dashes for underscores), ``-<variant>`` for a named variant: an example's
    selector names another example objective this way (drift detection time)."""
    base = "k-" + r.kind.value.replace("_", "-")
    return f"{base}-{ex.name}" if ex.name else base


def objective(r: SignalRecord, ex: Example, common: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """The example as a spec objective; ``common`` fields first, the example's over them."""
    o: dict[str, Any] = {"name": objective_name(r, ex), "signal": r.kind.value}
    if ex.selector:
        o["selector"] = dict(ex.selector)
    for key, level in (("warning", ex.warning), ("critical", ex.critical)):
        if level is not None:
            o[key] = level
    return {**o, **(common or {}), **ex.extra}


def scrape_target(name: str) -> dict[str, Any]:
    """A loopback target for an example's ``scrape`` selector: the preset of that name."""
    target: dict[str, Any] = {"name": name, "url": "http://127.0.0.1:8000/metrics"}
    if name in PRESETS:
        target["preset"] = name
    return target


def sources_for(objectives: list[dict[str, Any]]) -> dict[str, Any]:
    """The datasets and scrape targets the objectives' selectors name."""
    datasets = sorted({o["selector"]["dataset"] for o in objectives
                       if "dataset" in o.get("selector", {})})
    scrape = sorted({o["selector"]["scrape"] for o in objectives
                     if "scrape" in o.get("selector", {})})
    out: dict[str, Any] = {}
    if datasets:
        out["datasets"] = [{"name": d} for d in datasets]
    if scrape:
        out["scrape"] = [scrape_target(t) for t in scrape]
    return out


def every_kind_spec() -> dict[str, Any]:
    """One objective per example of every record, each with an error-budget target."""
    objectives = [objective(r, ex, TARGET) for r in ORDERED for ex in r.examples]
    return {"service": "every-kind", "models": [dict(MODEL)],
            "sources": sources_for(objectives),
            "alerting": {"min_request_rate": 0.5,
                         "runbook_url": "https://rb.example/{objective}"},
            "objectives": objectives}

