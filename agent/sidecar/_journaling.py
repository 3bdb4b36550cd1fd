"""What the tick writes into the journal (:mod:`agent.sidecar.state.journal`) for the review:
objective state changes, burn-rate tiers firing and clearing, and dataset events found by
comparing each dataset's facts with the last tick's. Runs on the worker thread only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.sidecar.judge.evaluate import Result, Transition
    from agent.sidecar.state.agent_state import AgentState, DatasetState
    from agent.spec.document import Spec


def record(spec: Spec, state: AgentState, results: list[Result], transitions: list[Transition],
           now: float) -> None:
    j = state.journal
    if j.started is None:
        j.started = now
    for t in transitions:
        detail = next((r.detail for r in results if r.name == t.objective), {})
        against = detail.get("judged_against")
        column = (against.get("column") if isinstance(against, dict) else None) \
            or detail.get("column")
        j.add(f"objective:{t.objective}", t.at, "state", **{
            "from": t.previous, "to": t.current, "value": t.value,
            **({"breach_since": t.breach_since} if t.breach_since is not None else {}),
            **({"column": str(column)} if column else {})})
    for r in results:
        firing = sorted(t["name"] for t in r.tiers if t.get("firing"))
        before = j.firing.get(r.name, [])
        if firing == before:
            continue
        for tier in r.tiers:
            was, now_firing = tier["name"] in before, tier["name"] in firing
            if was != now_firing:
                j.add(f"objective:{r.name}", now, "tier", tier=tier["name"],
                      severity=tier.get("severity"), firing=now_firing,
                      burn=[tier["long"].get("burn_rate"), tier["short"].get("burn_rate")])
        for gone in set(before) - {t["name"] for t in r.tiers}:   # a tier the spec dropped
            j.add(f"objective:{r.name}", now, "tier", tier=gone, severity=None, firing=False)
        j.firing[r.name] = firing
    for name, d in state.datasets.items():
        _dataset(state, name, d, now)
    keys = {f"objective:{o.name}" for o in spec.objectives} | \
        {f"dataset:{n}" for n in state.datasets}
    j.prune(now, keys)


def facts(d: DatasetState) -> dict[str, Any]:
    """What a dataset's events compare tick to tick."""
    return {"columns": dict(d.columns), "contract": len(d.contract_failures),
            "file": d.file_state,
            "drift": sorted(str(r.get("column")) for r in d.drift
                            if r.get("column") and r.get("status") in ("warning", "critical"))}


def _dataset(state: AgentState, name: str, d: DatasetState, now: float) -> None:
    j = state.journal
    cur, before = facts(d), j.marks.get(name)
    j.marks[name] = cur
    if before is None:
        return
    key = f"dataset:{name}"
    if before.get("columns") and cur["columns"] and cur["columns"] != before["columns"]:
        j.add(key, now, "schema", text=schema_text(before["columns"], cur["columns"]))
    if cur["contract"] != before.get("contract"):
        j.add(key, now, "contract", failures=cur["contract"],
              text=f"contract failing ({cur['contract']} expectation"
                   f"{'s' if cur['contract'] != 1 else ''})" if cur["contract"]
              else "contract passing again")
    if cur["file"] != before.get("file") and cur["file"] is not None:
        j.add(key, now, "file", state=cur["file"],
              text="file back" if cur["file"] == "ok" else f"file {cur['file']}")
    if cur["drift"] != before.get("drift"):
        j.add(key, now, "drift", columns=cur["drift"],
              text=f"drift in {', '.join(cur['drift'])}" if cur["drift"] else "no drift any more")


def schema_text(before: dict[str, str], after: dict[str, str]) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    retyped = sorted(f"{c} ({before[c]} → {after[c]})" for c in set(before) & set(after)
                     if before[c] != after[c])
    parts = [f"{what} {', '.join(cols)}" for what, cols in
             (("added", added), ("removed", removed), ("retyped", retyped)) if cols]
    return "schema changed: " + "; ".join(parts)
