"""A burn-rate tier as the sidecar judges it for ``/status``: the same rule as the generated
alert (:mod:`alerts.rules`), so the two judges agree from the first minute. Each window's burn is
measured over the data it holds; a window holding less data than its length counts the missing
part as unknown, so the tier fires only when burn × coverage exceeds its threshold in both windows
(the bad events seen already spend the tier's budget share), with a page tier's minimum bad
events and the traffic guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.spec.document import TierWindows
from agent.units import format_duration, format_span


def tier_entry(tier: TierWindows, budget: float, ratio: Callable[[float], float | None],
               covered: Callable[[float], float], bad_in: Callable[[float], float],
               min_bad: int, quiet: bool) -> dict[str, Any]:
    """One tier as /status shows it, judged as the generated rule judges it: each window's burn
    over the data it holds, and firing only when both burns times their coverage (the share of
    the window that holds data; the rest counts as unknown) exceed the tier's threshold, with a
    page tier's minimum bad events and the traffic guard."""
    entry: dict[str, Any] = {"name": tier.name, "severity": tier.severity,
                             "factor": tier.factor, "budget_share": tier.budget_share,
                             "exhaustion": format_span(tier.exhaustion)}
    spent = []
    for which, w in (("long", tier.long), ("short", tier.short)):
        cov = covered(w)
        r = ratio(w)
        window: dict[str, Any] = {"window": format_duration(w), "coverage": cov,
                                  "partial": cov < 1.0, "burn_rate": None}
        if r is None:
            window["reason"] = "no events in the window"
        else:
            window["burn_rate"] = r / budget
            if cov < 1.0:
                window["reason"] = (f"partial: {format_span(cov * w)} of {format_duration(w)}"
                                    f" holds data; the rest counts as unknown, so the tier needs "
                                    f"a burn above {tier.factor / max(cov, 1e-9):.3g}x here")
        entry[which] = window
        spent.append(None if r is None else r / budget * cov)
    entry["firing"] = (all(b is not None and b > tier.factor for b in spent) and not quiet
                       and bad_in(tier.long) >= min_bad)
    return entry
