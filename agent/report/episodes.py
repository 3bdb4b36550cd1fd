"""Events into incidents: pure functions on an objective's state and tier events.

An event is ``{"t", "kind": "state", "from", "to", "breach_since"?, "column"?}`` or
``{"t", "kind": "tier", "tier", "severity", "firing"}``. An incident is open while the
objective is at warning or critical or any of its burn-rate tiers fires: it is *detected* at its
first level or tier, *started* when that level was first passed (the ``for`` wait, or a tier's
detection window, is the time to detect) and *recovers* when the objective is ok again and no
tier fires (the time to recover counts from detection).
"""

from __future__ import annotations

from typing import Any

LEVELS = ("warning", "critical")
RANK = {"no_data": -1, "ok": 0, "warning": 1, "critical": 2}


def incidents(events: list[dict[str, Any]], t0: float, t1: float) -> list[dict[str, Any]]:
    """The incidents that overlap ``[t0, t1]``, oldest first, folded from every event given
    (earlier ones too, so an incident open at ``t0`` keeps its start)."""
    out: list[dict[str, Any]] = []
    state = "no_data"
    firing: set[str] = set()
    current: dict[str, Any] | None = None
    for e in sorted(events, key=lambda e: e["t"]):
        t = float(e["t"])
        if e.get("kind") == "state":
            state = str(e.get("to"))
            if state in LEVELS:
                current = current or _open(out, t, e.get("breach_since"))
                current["levels"].append({"level": state, "at": t,
                                          "since": e.get("breach_since") or t,
                                          **({"column": e["column"]} if e.get("column") else {})})
                if RANK[state] > RANK[current["worst"]]:
                    current["worst"] = state
        elif e.get("kind") == "tier":
            name = str(e.get("tier"))
            if e.get("firing"):
                firing.add(name)
                current = current or _open(out, t, None)
                current["tiers"].append({"tier": name, "severity": e.get("severity"),
                                         "fired": t, "cleared": None})
                sev = str(e.get("severity") or "warning")
                if sev in RANK and RANK[sev] > RANK[current["worst"]]:
                    current["worst"] = sev
            else:
                firing.discard(name)
                if current is not None:
                    for tier in reversed(current["tiers"]):
                        if tier["tier"] == name and tier["cleared"] is None:
                            tier["cleared"] = t
                            break
        if current is not None and state not in LEVELS and not firing \
                and (state == "ok" or e.get("kind") == "tier"):
            current["cleared"] = t
            current["time_to_recover"] = t - current["detected"]
            current = None
    return [i for i in out if i["detected"] <= t1 and (i["cleared"] is None or i["cleared"] >= t0)]


def _open(out: list[dict[str, Any]], t: float, breach_since: Any) -> dict[str, Any]:
    start = float(breach_since) if isinstance(breach_since, (int, float)) else t
    incident: dict[str, Any] = {"started": start, "detected": t, "time_to_detect": t - start,
                                "cleared": None, "time_to_recover": None, "worst": "ok",
                                "levels": [], "tiers": []}
    out.append(incident)
    return incident


def time_in_state(events: list[dict[str, Any]], t0: float, t1: float,
                  begins: float | None) -> dict[str, float]:
    """Seconds of ``[t0, t1]`` spent in each state; ``unrecorded`` before the record begins
    (``begins``: the journal's start or its oldest kept event)."""
    spans = {"ok": 0.0, "warning": 0.0, "critical": 0.0, "no_data": 0.0, "unrecorded": 0.0}
    start = t0 if begins is None else max(t0, begins)
    spans["unrecorded"] = max(0.0, min(start, t1) - t0)
    state, at = "no_data", start
    for e in sorted((e for e in events if e.get("kind") == "state"), key=lambda e: e["t"]):
        t = float(e["t"])
        if t <= start:
            state = str(e.get("to"))
            continue
        if t > t1:
            break
        spans[state if state in spans else "no_data"] += t - at
        state, at = str(e.get("to")), t
    if at < t1:
        spans[state if state in spans else "no_data"] += t1 - at
    return spans
