"""A deploy start spends no budget on a rate where lower is worse (issue 34), in the sidecar.

The sidecar's rate of a fresh service divides the events of a window that holds less data than
its length by the whole length, so it reads low while the window fills, as Prometheus's
``rate()`` does. Its warning and critical levels wait until the window is covered (a whole rate
window after the first counted event); its time slices must too: an uncovered slice is unknown,
neither good nor bad, as in the generated rules (tests/generators/test_slice_coverage.py, the
same scenario under promtool). A real outage after that still spends budget and fires the tier.
"""

from __future__ import annotations

from agent.sidecar.judge.evaluate import Evaluator, Result
from agent.sidecar.state.agent_state import AgentState
from agent.spec import parse_spec
from tests.deploy_start import HEALTHY, LEVEL, SPEC


def _run(minutes: int, serving: int) -> list[Result]:
    """One tick a minute; HEALTHY requests a second for the first ``serving`` minutes, none
    after; the floor objective's result at each tick."""
    spec = parse_spec(SPEC)
    state = AgentState(slot=1.0, window_size=100, reference_size=100)
    ev = Evaluator(spec, state)
    ms = state.model("m", "v1")
    t0 = 1_000_000.0
    out = []
    for m in range(minutes + 1):
        now = t0 + 60 * m
        if 0 < m <= serving:
            ms.ok.add(now - 1, HEALTHY * 60)
        results, _ = ev.tick(now)
        out.append(next(r for r in results if r.name == "floor"))
    return out


def test_a_healthy_deploy_start_spends_no_budget() -> None:
    got = _run(20, 20)
    # the rate reads low while its window fills: under the level for the first minutes
    assert got[1].value is not None and got[1].value < LEVEL < HEALTHY
    for m, r in enumerate(got):
        assert r.budget.get("bad", 0) == 0, (m, r.value, r.budget)
        assert not any(t["firing"] for t in r.tiers), (m, r.value, r.tiers)
    assert got[-1].budget_remaining == 1.0, got[-1].budget


def test_an_outage_after_the_window_is_covered_spends_budget_and_pages() -> None:
    got = _run(22, 10)
    assert got[-1].budget["bad"] > 0
    assert any(t["firing"] for t in got[-1].tiers), got[-1].tiers
