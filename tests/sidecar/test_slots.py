"""Slots.total reads slots kept in time order from the newest back; it gives the sum the plain
scan gives, whatever order the slots were filled in and across a snapshot."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.sidecar.state._slots import Slots

events = st.lists(st.tuples(st.floats(0, 10_000), st.floats(0, 1e6)), max_size=80)


@settings(max_examples=300, deadline=None)
@given(events, st.booleans(), st.floats(0, 12_000), st.floats(0, 15_000),
       st.sampled_from([1.0, 60.0, 600.0]))
def test_total_is_the_sum_of_the_slots_in_the_window(adds: list[tuple[float, float]],
                                                     in_order: bool, now: float, window: float,
                                                     slot: float) -> None:
    s = Slots(slot, keep=20_000)
    for t, v in sorted(adds) if in_order else adds:
        s.add(t, v)
    start, end = int((now - window) // slot) + 1, int(now // slot)
    plain = sum(v for k, v in s.data.items() if start <= k <= end)
    assert s.total(now, window) == pytest.approx(plain, rel=1e-12, abs=1e-9)
    assert Slots.from_state(s.state()).total(now, window) == pytest.approx(plain, rel=1e-12,
                                                                           abs=1e-9)


def test_a_slot_just_before_the_window_is_left_out() -> None:
    s = Slots(60.0, keep=86_400)
    for k in range(5):                       # slots 0..4, one event of 1 each
        s.add(k * 60 + 1, 1.0)
    assert s.total(now=600.0, window=600.0) == 4.0    # slots 1..10: four of the five kept
    assert s.total(now=240.0, window=120.0) == 2.0    # slots 3..4
    assert s.total(now=180.0, window=120.0) == 2.0    # slots 2..3: slot 4 is after the end
    assert s.total(now=600.0, window=1e6) == 5.0      # all of them
    s.add(1.0, 1.0)                           # an old slot again: still in time order
    s.add(-60.0, 1.0)                         # slot -1, out of order: a scan from now on
    assert s.total(now=600.0, window=600.0) == 4.0
    assert s.total(now=600.0, window=1e6) == 7.0
