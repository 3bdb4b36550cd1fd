"""Thread-safe values without a lock on the hot path: one shard per thread, summed on read.

A shard is written only by its own thread, so increments need no lock (and stay exact without a
GIL too); readers (the /metrics collector, the shipper) sum every shard. Shards of finished threads
are folded into a retired total, so thread-per-request servers keep memory bounded.
"""

from __future__ import annotations

import itertools
import math
import threading
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

from detectors.sketch import QuantileSketch

#: a request id is ``series index << 96 | shard number << 64 | call number in the shard``: the
#: series of any id is known without a table, and no counter is shared between threads
RID_SERIES_SHIFT = 96
RID_SHARD_SHIFT = 64

#: a thread's latency buffer is folded by the thread itself once it holds this many calls (when
#: neither a scrape nor the shipper drained it first), so memory stays bounded without readers
BUFFER_CAP = 2048   # a power of two: the hot path tests ``n & (BUFFER_CAP - 1)``


class Shard:
    """Per-thread accumulator of one inference series.

    The decorator's fast path only appends a successful call's duration to ``lat`` (and counts
    ``started``); readers fold those into the set's ``drained`` total under the set's lock.
    Appending and ``del lat[:n]`` are each atomic, so a fold never loses a racing append."""

    __slots__ = ("buckets", "cancelled", "count", "errors", "fallbacks", "gaps", "inflight",
                 "inter_buckets", "inter_count", "inter_sum", "lat", "owner", "rid_base", "sketch",
                 "started",
                 "sum", "ttft_buckets", "ttft_count", "ttft_sketch", "ttft_sum", "ttfts")
    # ``sketch`` / ``ttft_sketch`` are bare DDSketch bucket dicts (key -> count; key None counts
    # zeros): cold paths touch only them; QuantileSketch objects are built when swapped out.

    def __init__(self, n_buckets: int, owner: Any = None, rid_base: int = 0) -> None:
        self.lat: list[float] = []                 # fast-path durations not yet folded
        self.ttfts: list[float] = []               # streams' times to first item, not yet folded
        self.gaps: list[float] = []                # streams' gaps between items, not yet folded
        #: request ids of this shard are ``rid_base + started``: unique without a shared counter
        self.rid_base = rid_base
        self.buckets = [0] * (n_buckets + 1)       # last slot is +Inf
        self.count = 0                             # finished calls (all outcomes)
        self.sum = 0.0
        self.errors = 0
        self.fallbacks = 0
        self.started = 0
        self.cancelled = 0                         # calls ended by cancellation / exit
        self.inflight = 0
        self.sketch: dict[int | None, int] = {}
        self.ttft_buckets = [0] * (n_buckets + 1)
        self.ttft_count = 0
        self.ttft_sum = 0.0
        self.ttft_sketch: dict[int | None, int] = {}
        self.inter_buckets = [0] * (n_buckets + 1)
        self.inter_count = 0
        self.inter_sum = 0.0
        self.owner = owner

    @property
    def in_flight(self) -> int:
        return self.started - self.count - self.cancelled

    def fold_into(self, other: Shard) -> None:
        for name in ("buckets", "ttft_buckets", "inter_buckets"):
            mine, theirs = getattr(self, name), getattr(other, name)
            for i, v in enumerate(mine):
                theirs[i] += v
        for name in ("count", "sum", "errors", "fallbacks", "started", "cancelled", "inflight",
                     "ttft_count", "ttft_sum", "inter_count", "inter_sum"):
            setattr(other, name, getattr(other, name) + getattr(self, name))


class ShardSet:
    """All shards of one series plus the retired and drained totals; ``local()`` is the
    hot-path accessor. ``drained`` (written only under the lock) holds the folded fast-path
    durations: buckets, sum, count and the sketch."""

    def __init__(self, n_buckets: int, keymap: KeyBuckets | None = None, index: int = 0) -> None:
        self.n_buckets = n_buckets
        self.index = index
        self._seq = itertools.count(1)
        self._tls = threading.local()
        self._lock = threading.Lock()
        self._shards: list[Shard] = []
        self.retired = Shard(n_buckets)
        self.drained = Shard(n_buckets)
        self.keymap = keymap if keymap is not None else KeyBuckets([])
        self._pending_sketches: list[tuple[dict[int | None, int], dict[int | None, int]]] = []

    def local(self) -> Shard:
        try:
            shard: Shard = self._tls.shard
            return shard
        except AttributeError:
            rid_base = (self.index << RID_SERIES_SHIFT) | (next(self._seq) << RID_SHARD_SHIFT)
            shard = Shard(self.n_buckets, weakref.ref(threading.current_thread()), rid_base)
            with self._lock:
                self._shards.append(shard)
            self._tls.shard = shard
            return shard

    def drain(self, shard: Shard) -> None:
        """Fold a shard's buffered durations into ``drained`` (the owner calls it when the
        buffer is full; readers through ``total``/``swap_sketches``)."""
        with self._lock:
            self._drain(shard)

    def _drain(self, shard: Shard) -> None:
        """Called under the lock: the shard's buffered durations (calls, and streams' first
        items) and gaps folded into ``drained``."""
        d = self.drained
        values = _take(shard.lat)
        if values:
            d.sum += self._fold(values, d.buckets, d.sketch)
            d.count += len(values)
        values = _take(shard.ttfts)
        if values:
            d.ttft_sum += self._fold(values, d.ttft_buckets, d.ttft_sketch)
            d.ttft_count += len(values)
        values = _take(shard.gaps)
        if values:
            # sorted, a bucket's count is the run between two bounds: a bisect per bound, not
            # per value (the counts ``bisect_left(bounds, v)`` gives value by value)
            values.sort()
            bounds, buckets = self.keymap.bounds, d.inter_buckets
            below = 0
            for i, bound in enumerate(bounds):
                upto = bisect_right(values, bound, below)
                buckets[i] += upto - below
                below = upto
            buckets[len(bounds)] += len(values) - below
            d.inter_sum += math.fsum(values)
            d.inter_count += len(values)

    def _fold(self, values: list[float], buckets: list[int], sketch: dict[int | None, int]
              ) -> float:
        """Durations into histogram buckets and sketch bins; returns their sum.

        Sorted first (timsort in C), a sketch key is one contiguous run, so ``log`` is taken a
        few times per distinct key instead of once per value: the run's end is found by
        ``bisect`` at ``gamma ** k`` and then checked against the per-value formula, so every
        count is the one ``ceil(log(v) / log(gamma))`` gives (keys rise with the value)."""
        vs = values                           # the buffer's own copy (_take): sorted in place
        vs.sort()
        n = len(vs)
        inv, log, ceil, gamma = INV_LOG_GAMMA, math.log, math.ceil, _GAMMA
        i = bisect_right(vs, 1e-9)            # zeros and below: key None
        if i:
            sketch[None] = sketch.get(None, 0) + i
            self._bucket(None, vs, 0, i, buckets)
        get = self.keymap.get           # a known key's bucket without a call to _bucket
        k = ceil(log(vs[i]) * inv) if i < n else 0
        while i < n:
            j = bisect_right(vs, gamma ** k, i)
            while j > i + 1 and ceil(log(vs[j - 1]) * inv) > k:
                j -= 1
            nk = k
            while j < n:
                nk = ceil(log(vs[j]) * inv)      # the next run's key, when it is past k
                if nk > k:
                    break
                j += 1
            sketch[k] = sketch.get(k, 0) + (j - i)
            b = get(k, -1)
            if b >= 0:
                buckets[b] += j - i
            else:
                self._bucket(k, vs, i, j, buckets)
            i, k = j, nk
        return math.fsum(vs)

    def _bucket(self, key: int | None, vs: list[float], i: int, j: int, buckets: list[int]
                ) -> None:
        """The run ``vs[i:j]`` of one sketch key into its histogram bucket, or value by value
        where the key straddles a bucket bound."""
        keymap = self.keymap
        b = keymap[key]
        if b < 0:   # first sight of the key, or one that straddles a bucket bound
            keymap.learn(key, vs[i])
            b = keymap[key]
            if b < 0:
                bounds = keymap.bounds
                for v in vs[i:j]:
                    buckets[bisect_left(bounds, v)] += 1
                return
        buckets[b] += j - i

    def _compact(self) -> None:
        """Drain every shard and fold those whose thread has ended (called under the lock)."""
        alive = []
        for s in self._shards:
            self._drain(s)
            thread = s.owner() if s.owner is not None else None
            if thread is not None and thread.is_alive():
                alive.append(s)
            else:
                s.fold_into(self.retired)
                self._pending_sketches.append((s.sketch, s.ttft_sketch))
        self._shards = alive

    def total(self) -> Shard:
        """A snapshot summed over all shards (consistent at quiescence, monotone always)."""
        out = Shard(self.n_buckets)
        with self._lock:
            self._compact()
            shards = [*self._shards, self.retired, self.drained]
            for s in shards:
                s.fold_into(out)
        return out

    def swap_sketches(self) -> list[tuple[QuantileSketch, QuantileSketch]]:
        """Take each shard's sketch buckets and give it fresh ones. The taken ones are returned
        on the *next* call, so an add racing with the swap has long completed by then; the
        drained sketch is written only under the lock, so it is returned at once."""
        with self._lock:
            self._compact()
            ready, self._pending_sketches = self._pending_sketches, []
            for s in self._shards:
                self._pending_sketches.append((s.sketch, s.ttft_sketch))
                s.sketch, s.ttft_sketch = {}, {}
            ready.append((self.drained.sketch, self.drained.ttft_sketch))
            self.drained.sketch, self.drained.ttft_sketch = {}, {}
        return [(sketch_from_bins(a), sketch_from_bins(b)) for a, b in ready]

    def shard_count(self) -> int:
        with self._lock:
            return len(self._shards)


def _take(buf: list[float]) -> list[float]:
    """What a buffer holds now, removed from it (appends racing with this stay in it)."""
    n = len(buf)
    if not n:
        return []
    values = buf[:n]
    del buf[:n]
    return values


def sketch_from_bins(bins: dict[int | None, int]) -> QuantileSketch:
    """A QuantileSketch from hot-path bucket counts (key None holds the zeros)."""
    sk = QuantileSketch()
    total = 0
    for k, c in list(bins.items()):
        if k is None:
            sk.zeros += c
        else:
            sk.bins[k] = sk.bins.get(k, 0) + c
        total += c
    sk.count = total
    if sk.bins:
        g = sk.gamma
        sk.min = 0.0 if sk.zeros else 2.0 * g ** min(sk.bins) / (g + 1.0)
        sk.max = 2.0 * g ** max(sk.bins) / (g + 1.0)
    elif sk.zeros:
        sk.min = sk.max = 0.0
    return sk


def sketch_add(bins: dict[int | None, int], value: float) -> None:
    """Cold-path add into a hot-path bucket dict (same keys as the inlined hot path)."""
    key = math.ceil(math.log(value) * INV_LOG_GAMMA) if value > 1e-9 else None
    bins[key] = bins.get(key, 0) + 1


INV_LOG_GAMMA = 1.0 / math.log((1 + 0.01) / (1 - 0.01))
_GAMMA = (1 + 0.01) / (1 - 0.01)

class KeyBuckets(dict[int | None, int]):
    """Sketch key -> histogram bucket index, filled on first sight of a key.

    A key covers (gamma^(k-1), gamma^k]; when no bucket bound lies inside that range every value
    with the key falls in the same bucket, so the index is cached and the per-call ``bisect`` is
    skipped. Keys that straddle a bound are never cached (``bisect`` decides), so ``le`` buckets
    stay exact.
    """

    def __init__(self, bounds: Sequence[float]) -> None:
        super().__init__()
        self.bounds = list(bounds)
        self.gamma = (1 + 0.01) / (1 - 0.01)

    def __missing__(self, key: int | None) -> int:
        return -1

    def learn(self, key: int | None, value: float) -> int:
        idx = bisect_left(self.bounds, value)
        if key is not None and len(self) < 100_000:
            # widened by 1e-9 so float rounding in log() can never put a value across a bound
            lo = self.gamma ** (key - 1) * (1 - 1e-9)
            hi = self.gamma ** key * (1 + 1e-9)
            if not any(lo <= b <= hi for b in self.bounds[max(0, idx - 2): idx + 2]):
                self[key] = idx
        return idx


class LockedCounter:
    """A plain locked float counter for cold paths (tokens, cost, feedback, drops)."""

    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        with self._lock:
            self.value += amount


class ShardedCounter:
    """A counter for request paths: each thread adds to its own cell (no lock, no contention);
    a reader sums the cells. Only a cell's own thread writes it, so no increment is lost."""

    __slots__ = ("_cells", "_lock", "_tls")

    def __init__(self) -> None:
        self._tls = threading.local()
        self._cells: list[list[float]] = []
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0) -> None:
        try:
            cell = self._tls.cell
        except AttributeError:
            cell = self._new_cell()
        cell[0] += amount

    def _new_cell(self) -> list[float]:
        cell = [0.0]
        with self._lock:
            self._cells.append(cell)
        self._tls.cell = cell
        return cell

    @property
    def value(self) -> float:
        with self._lock:
            cells = list(self._cells)
        return float(sum(c[0] for c in cells))
