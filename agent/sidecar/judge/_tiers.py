"""A burn-rate tier as the sidecar judges it for ``/status``: the same rule as the generated
alert (:mod:`alerts.rules`), so the two judges agree from the first minute. Each window's burn is
measured over the data it holds; a window holding less data than its length counts the missing
part as unknown, so the tier fires only when burn × coverage exceeds its threshold in both windows
(the bad events seen already spend the tier's budget share), with a page tier's minimum bad
events and the traffic guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.spec.burn import slower_tiers
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


def hold_and_wait(tiers: list[TierWindows], entries: list[dict[str, Any]],
                  since: dict[str, float], firing: list[str], now: float) -> list[str]:
    """The tiers' alerts as the rules evaluate them, from each tier's own condition
    (``entries[i]["firing"]``): a tier that fired stays firing while a slower tier of its
    severity fires its own condition (held, as the rule reads its own alert), and a tier with
    ``for`` fires once its condition has held that long (pending until then). ``since`` (tier
    → when its condition began) is updated in place; returns the tiers firing now."""
    own = {e["name"] for e in entries if e["firing"]}
    out = []
    for tier, entry in zip(tiers, entries, strict=True):
        holding = sorted(own & {t.name for t in slower_tiers(tiers, tier)})
        expr = tier.name in own or (tier.name in firing and bool(holding))
        if not expr:
            since.pop(tier.name, None)
            entry["firing"] = False
            continue
        began = since.setdefault(tier.name, now)
        entry["firing"] = now - began >= tier.for_
        if tier.name not in own:
            entry["held"] = f"held while {', '.join(holding)} fires"
        if not entry["firing"]:
            entry["pending"] = {"since": began, "fires_in": tier.for_ - (now - began)}
        else:
            out.append(tier.name)
    return out
