"""Fixed-memory windows per feature and the three kinds of drift reference.

A window is a ring buffer: memory is ``capacity × 8`` bytes whatever the traffic. The reference is a
file (handed in as an array), the first full window frozen, or a rolling earlier window.

A window may also be read over a span of time (:class:`Marks`): the values that arrived in the
last ``span`` seconds, still at most ``capacity`` (the newest). The times are the caller's (no
clock here): it marks the window's running total at its own moments.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from operator import is_
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors.ks import sorted_reference

ReferenceKind = Literal["file", "first_window", "rolling"]


class RingBuffer:
    """The last ``capacity`` float values (NaN kept: missing values are dropped at test time)."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._buf = np.empty(capacity, dtype=np.float64)
        self._next = 0
        self._size = 0
        self.total = 0   # values ever added, for detection-delay accounting

    def __len__(self) -> int:
        return self._size

    def extend(self, values: ArrayLike) -> None:
        arr = np.asarray(values, dtype=np.float64).ravel()
        self.total += arr.size
        if arr.size >= self.capacity:
            self._buf[:] = arr[-self.capacity:]
            self._next, self._size = 0, self.capacity
            return
        end = self._next + arr.size
        if end <= self.capacity:
            self._buf[self._next:end] = arr
        else:
            first = self.capacity - self._next
            self._buf[self._next:] = arr[:first]
            self._buf[: arr.size - first] = arr[first:]
        self._next = end % self.capacity
        self._size = min(self.capacity, self._size + arr.size)

    def values(self) -> NDArray[np.float64]:
        """Oldest first: the ``len`` values that end just before the write position (a ring
        of :class:`RingRows` may hold them anywhere, not only from the start)."""
        start = self._next - self._size
        if start >= 0:
            return self._buf[start: self._next].copy()
        return np.concatenate([self._buf[start:], self._buf[: self._next]])

    def clear(self) -> None:
        self._next = self._size = 0

    def state(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "values": self.values().tolist(), "total": self.total}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RingBuffer:
        ring = cls(int(state["capacity"]))
        ring.extend(state.get("values", []))
        ring.total = int(state.get("total", len(ring)))
        return ring


class Marks:
    """When a window's running total stood where: ``(t, total)`` pairs, oldest first, so the
    values that arrived after time ``t0`` are those past the total marked at or before ``t0``.

    A value's time is the first mark that counts it (never earlier than it arrived), so a value
    leaves a span at most one marking interval after it should. Bounded: a mark closer than
    ``span / RESOLUTION`` to the previous one, or one that adds nothing, is not kept, and marks
    older than the newest one at or before ``now - span`` are dropped. A span reaching past the
    first mark (a new window, or a longer span than the marks were kept for, e.g. after a
    restart with a longer ``fleet_window``) counts every value held, as the rules' longer
    ``increase`` counts what came before too; a snapshot without marks (an older version)
    starts with none, its values taken as arriving at the first mark."""

    RESOLUTION = 512

    def __init__(self) -> None:
        self.times: list[float] = []
        self.totals: list[int] = []

    def mark(self, now: float, total: int, span: float) -> None:
        """Record ``total`` at ``now`` and forget what no span ending at ``now`` or later
        reads."""
        times, totals = self.times, self.totals
        if not times or (total > totals[-1] and now - times[-1] >= span / self.RESOLUTION):
            times.append(now)
            totals.append(total)
        drop = bisect_right(times, now - span) - 1     # keep the newest at or before the start
        if drop > 0:
            del times[:drop], totals[:drop]

    def start(self, t0: float) -> int:
        """The running total at time ``t0``: values counted past it arrived after ``t0``
        (0 when no mark is that old: every value held may be newer)."""
        i = bisect_right(self.times, t0) - 1
        return self.totals[i] if i >= 0 else 0

    def arrived(self, total: int, t0: float) -> int:
        """Values taken after ``t0`` of ``total`` ever taken, held or pushed out since."""
        return max(0, total - self.start(t0))

    def newest(self, held: int, total: int, t0: float) -> int:
        """How many of the ``held`` newest values came after ``t0``: the values of a span, at
        most those held."""
        return min(held, self.arrived(total, t0))

    def state(self) -> dict[str, Any]:
        return {"times": list(self.times), "totals": list(self.totals)}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> Marks:
        out = cls()
        if state:
            times = [float(t) for t in state["times"]]
            totals = [int(n) for n in state["totals"]]
            if len(times) != len(totals) or times != sorted(times) or totals != sorted(totals):
                raise ValueError("marks must be pairs, both in order")
            if not all(map(math.isfinite, times)) or (totals and totals[0] < 0):
                raise ValueError("marks must be finite times and counts of at least 0")
            out.times, out.totals = times, totals
        return out


class RingRows:
    """Rings of one capacity whose buffers are the rows of one array and which share one write
    position, so a block of equal-length rows (row ``i`` for ring ``i``) goes in with one
    assignment instead of one :meth:`RingBuffer.extend` per ring. Each ring stays a whole
    ``RingBuffer`` (read, persisted, extended alone); :meth:`holds` tells whether they still
    share the position."""

    def __init__(self, rings: list[RingBuffer]) -> None:
        cap = rings[0].capacity
        if any(r.capacity != cap for r in rings):
            raise ValueError("rings of one capacity only")
        self.capacity = cap
        self.rings = rings
        self.store = np.empty((len(rings), cap), dtype=np.float64)
        for i, ring in enumerate(rings):     # each ring's values end just before position 0
            values = ring.values()
            self.store[i, cap - values.size:] = values
            ring._buf, ring._next = self.store[i], 0
        self.position = 0

    def holds(self, rings: list[RingBuffer]) -> bool:
        """Whether ``rings`` are these, each still writing at the shared position."""
        pos = self.position
        return len(rings) == len(self.rings) and all(map(is_, rings, self.rings)) and \
            all(r._next == pos for r in rings)

    def extend(self, block: NDArray[Any]) -> None:
        """``block[i]`` (finite values, any float dtype) appended to ring ``i``."""
        n = block.shape[1]
        cap, pos, store = self.capacity, self.position, self.store
        if n >= cap:
            store[:] = block[:, n - cap:]
            pos = 0
        elif pos + n <= cap:
            store[:, pos: pos + n] = block
            pos = (pos + n) % cap
        else:
            first = cap - pos
            store[:, pos:] = block[:, :first]
            store[:, : n - first] = block[:, first:]
            pos = n - first
        self.position = pos
        for ring in self.rings:
            ring._next = pos
            ring._size = min(cap, ring._size + n)
            ring.total += n


@dataclass
class FeatureWindow:
    """Current window plus reference for one feature (numeric)."""

    window_size: int
    reference_size: int
    kind: ReferenceKind = "first_window"

    def __post_init__(self) -> None:
        self.window = RingBuffer(self.window_size)
        self._reference: NDArray[np.float64] | None = None
        self._pending = RingBuffer(self.reference_size)   # first window / rolling history
        self._rolling = RingBuffer(self.reference_size + self.window_size) \
            if self.kind == "rolling" else None
        self.marks = Marks()

    def mark(self, now: float, span: float) -> None:
        """Note the window's running total at ``now`` (see :meth:`recent`)."""
        self.marks.mark(now, self.window.total, span)

    def arrived(self, now: float, span: float) -> int:
        """Values the window took in the last ``span`` seconds, held or pushed out since."""
        return self.marks.arrived(self.window.total, now - span)

    def recent(self, now: float, span: float | None) -> NDArray[np.float64]:
        """The window's values of the last ``span`` seconds (None: all it holds), at most
        ``window_size``, oldest first."""
        values = self.window.values()
        if span is None:
            return values
        k = self.marks.newest(values.size, self.window.total, now - span)
        return values[values.size - k:]

    def set_reference(self, values: ArrayLike) -> None:
        """A reference from a file (or any array); replaces a learned one."""
        self._reference = sorted_reference(values)

    @property
    def reference(self) -> NDArray[np.float64] | None:
        if self.kind == "rolling" and self._rolling is not None:
            history = self._rolling.values()
            if history.size < self.reference_size + self.window_size:
                return None
            return sorted_reference(history[: self.reference_size])
        return self._reference

    def add(self, values: ArrayLike) -> None:
        """Missing values (None/NaN, e.g. an upstream outage) are not part of a distribution:
        they are dropped here, so no window or reference ever holds a NaN."""
        arr = np.asarray(values, dtype=np.float64).ravel()
        arr = arr[np.isfinite(arr)]
        if self.kind == "first_window" and self._reference is None:
            room = self.reference_size - len(self._pending)
            self._pending.extend(arr[:room])
            if len(self._pending) >= self.reference_size:
                self._reference = sorted_reference(self._pending.values())
                self._pending.clear()
            arr = arr[room:]
            if arr.size == 0:
                return
        if self._rolling is not None:
            self._rolling.extend(arr)
        self.window.extend(arr)

    def ready(self, min_samples: int) -> bool:
        ref = self.reference
        return ref is not None and ref.size >= min_samples and len(self.window) >= min_samples

    def state(self) -> dict[str, Any]:
        return {
            "window_size": self.window_size, "reference_size": self.reference_size,
            "kind": self.kind, "window": self.window.state(),
            "reference": None if self._reference is None else self._reference.tolist(),
            "pending": self._pending.state(),
            "rolling": None if self._rolling is None else self._rolling.state(),
            "marks": self.marks.state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureWindow:
        fw = cls(int(state["window_size"]), int(state["reference_size"]), state["kind"])
        fw.window = RingBuffer.from_state(state["window"])
        if state.get("reference") is not None:
            fw._reference = np.asarray(state["reference"], dtype=np.float64)
        fw._pending = RingBuffer.from_state(state["pending"])
        if state.get("rolling") is not None:
            fw._rolling = RingBuffer.from_state(state["rolling"])
        fw.marks = Marks.from_state(state.get("marks"))
        return fw


def detection_delay(before: ArrayLike, after: ArrayLike,
                    fires: Callable[[NDArray[np.float64], NDArray[np.float64]], bool],
                    window_size: int, step: int = 50) -> int | None:
    """Samples after a shift until ``fires(reference, window)`` is true; None if it never does.

    ``before`` supplies the reference and the pre-shift window; ``after`` is streamed in steps.
    """
    pre = np.asarray(before, dtype=np.float64)
    post = np.asarray(after, dtype=np.float64)
    ref_size = max(pre.size - window_size, 1)
    reference = sorted_reference(pre[:ref_size])
    window = RingBuffer(window_size)
    window.extend(pre[ref_size:])
    fed = 0
    while fed < post.size:
        chunk = post[fed: fed + step]
        window.extend(chunk)
        fed += chunk.size
        if fires(reference, window.values()):
            return fed
    return None
