"""The decorator's hot path only appends to a per-thread buffer; readers (scrapes, the shipper)
fold the buffers while calls run. Counts, buckets and sketches must stay exact under 8 threads and
under asyncio with readers racing the writers, and a buffer nobody reads must stay bounded."""

from __future__ import annotations

import asyncio
import bisect
import math
import threading

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from agent.sdk import Monitor
from agent.sdk.values import _GAMMA, BUFFER_CAP, KeyBuckets, ShardSet, sketch_add


def _mon() -> Monitor:
    return Monitor(registry=CollectorRegistry(), service="hot", sample_rate=0)


def test_exact_counts_with_8_threads_and_a_racing_reader() -> None:
    mon = _mon()
    threads, calls = 8, 6000

    @mon.inference(model="m")
    def f(x: int) -> int:
        return x

    stop = threading.Event()
    sketched = [0]

    def reader() -> None:
        series = mon.all_series()[0]
        while not stop.is_set():
            generate_latest(mon.registry)
            sketched[0] += sum(a.count for a, _ in series.shards.swap_sketches())

    def work() -> None:
        for i in range(calls):
            f(i)

    r = threading.Thread(target=reader)
    r.start()
    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    stop.set()
    r.join()
    series = mon.all_series()[0]
    total = series.shards.total()
    assert total.count == threads * calls
    assert sum(total.buckets) == threads * calls
    assert total.in_flight == 0
    sketched[0] += sum(a.count for a, _ in series.shards.swap_sketches())
    sketched[0] += sum(a.count for a, _ in series.shards.swap_sketches())
    assert sketched[0] == threads * calls          # every call in exactly one shipped sketch


def test_exact_counts_under_asyncio_with_a_racing_reader() -> None:
    mon = _mon()

    @mon.inference(model="a")
    async def f(i: int) -> int:
        await asyncio.sleep(0)
        return i

    async def scrape() -> None:
        for _ in range(50):
            mon.all_series()[0].shards.total()
            await asyncio.sleep(0)

    async def run() -> None:
        await asyncio.gather(scrape(), *(f(i) for i in range(5000)))

    asyncio.run(run())
    total = mon.all_series()[0].shards.total()
    assert total.count == 5000 and sum(total.buckets) == 5000 and total.in_flight == 0


def test_an_unread_buffer_stays_bounded() -> None:
    mon = _mon()

    @mon.inference(model="b")
    def f(x: int) -> int:
        return x

    for i in range(5 * BUFFER_CAP + 7):
        f(i)
    shard = mon.all_series()[0].shards._tls.shard
    assert len(shard.lat) < BUFFER_CAP
    assert mon.all_series()[0].shards.total().count == 5 * BUFFER_CAP + 7


def test_buffered_durations_land_in_the_right_buckets() -> None:
    mon = Monitor(registry=CollectorRegistry(), service="hot", sample_rate=0)
    series = mon._series_for("m", "")
    shard = series.shards.local()
    bounds = series.bounds
    values = [b for b in bounds] + [b * 1.0000001 for b in bounds] + [0.0, 1e-12, 1e9]
    shard.lat.extend(values)
    shard.started += len(values)
    total = series.shards.total()
    from bisect import bisect_left

    want = [0] * (len(bounds) + 1)
    for v in values:
        want[bisect_left(bounds, v)] += 1
    assert total.buckets == want
    assert abs(total.sum - sum(values)) < 1e-6


def _near_edge(key: int, ulps: int) -> float:
    """A value a few ulps from a sketch key's edge, where ``log`` rounding decides the key."""
    v = _GAMMA ** key
    for _ in range(abs(ulps)):
        v = math.nextafter(v, math.inf if ulps > 0 else 0.0)
    return v


_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
_durations = st.one_of(
    st.floats(min_value=0.0, max_value=1e4, allow_nan=False),
    st.sampled_from([0.0, 1e-9, *_BOUNDS]),                  # on a bucket bound, at the zero
    st.builds(_near_edge, st.integers(-2000, 2000), st.integers(-3, 3)),
)


@settings(max_examples=300, deadline=None)
@given(batches=st.lists(st.lists(_durations, max_size=300), min_size=1, max_size=4),
       edge=st.integers(-2000, 2000))
def test_a_fold_counts_as_each_value_alone_would(batches: list[list[float]], edge: int) -> None:
    """The fold sorts a buffer and counts each sketch key's run by bisect: every count must be
    the one the per-value formula gives (sketch key, ``le`` bucket) and the sum exactly fsum."""
    ss = ShardSet(len(_BOUNDS) + 1, KeyBuckets(_BOUNDS))
    buckets, sketch = [0] * (len(_BOUNDS) + 1), {}     # type: ignore[var-annotated]
    want_b, want_s = [0] * (len(_BOUNDS) + 1), {}       # type: ignore[var-annotated]
    batches[0] += [_near_edge(edge, u) for u in range(-3, 4)]     # a whole edge's neighbours
    for values in batches:
        assert ss._fold(list(values), buckets, sketch) == math.fsum(values)
        for v in values:
            want_b[bisect.bisect_left(_BOUNDS, v)] += 1
            sketch_add(want_s, v)
    assert buckets == want_b
    assert sketch == want_s


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(_durations, max_size=300), min_size=1, max_size=4),
       edge=st.integers(-2000, 2000))
def test_a_streams_gaps_fold_counts_as_each_gap_alone_would(batches: list[list[float]],
                                                            edge: int) -> None:
    """Gaps between a stream's items are folded sorted, a bisect per bucket bound: each count
    must be the per-value ``bisect_left`` one, the sum exactly fsum."""
    from agent.sdk.values import Shard

    ss = ShardSet(len(_BOUNDS) + 1, KeyBuckets(_BOUNDS))
    shard = Shard(len(_BOUNDS) + 1)
    want = [0] * (len(_BOUNDS) + 2)
    batches[0] += [_near_edge(edge, u) for u in range(-3, 4)]
    seen: list[float] = []
    for values in batches:
        shard.gaps.extend(values)
        ss._drain(shard)
        seen += values
        for v in values:
            want[bisect.bisect_left(_BOUNDS, v)] += 1
    d = ss.drained
    assert d.inter_buckets == want and d.inter_count == len(seen) and not shard.gaps
    assert d.inter_sum == sum(math.fsum(v) for v in batches)
