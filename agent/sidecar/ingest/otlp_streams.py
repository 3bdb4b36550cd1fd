"""Per-stream memory of cumulative OTLP points, so each point becomes the delta since the last.

A stream is resource + scope + metric + data-point attributes. What a cumulative point adds:

* the first point of a stream counts whole when the stream started after this sidecar did
  (its ``start_time_unix_nano``), else it only sets the baseline: a sidecar that restarts
  under a long-running exporter does not count hours of calls into one interval (the OpenTelemetry
  Collector's ``cumulativetodelta`` "auto" rule);
* a point with another start time, or counts lower than the last, is a reset: it counts whole;
* a point no newer than the last one seen (same start) is out of order or a repeat: skipped.

Delta points add as they come; one repeating the last (start, time) of its stream exactly (an
exporter's retry) is skipped. The table is capped (``sidecar.otlp.max_streams``): the stream
unseen longest is forgotten first, and counted.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from agent.sidecar.ingest.otlp_points import Hist, delta

StreamKey = tuple[Any, ...]


@dataclass
class Seen:
    start: int
    time: int
    hist: Hist | None          # cumulative: the last point; delta streams keep none


class Streams:
    """Not thread-safe: the door holds its lock around a whole request."""

    def __init__(self, cap: int, started_ns: int) -> None:
        self.cap = cap
        self.started_ns = started_ns
        self._seen: OrderedDict[StreamKey, Seen] = OrderedDict()
        self.events: Counter[str] = Counter()    # resets, out_of_order, baseline, evicted ...

    def __len__(self) -> int:
        return len(self._seen)

    def cumulative(self, key: StreamKey, start: int, time: int, cur: Hist
                   ) -> tuple[Hist | None, Seen]:
        """(what to count now or None, the stream's new memory — kept only on ``commit``)."""
        prev = self._seen.get(key)
        new = Seen(start, time, cur)
        if prev is None:
            if start and start >= self.started_ns:
                return cur, new
            self.events["baseline"] += 1
            return None, new
        if start != prev.start:
            if time <= prev.time:
                self.events["out_of_order"] += 1
                return None, prev
            self.events["reset"] += 1
            return cur, new
        if time <= prev.time:
            self.events["out_of_order"] += 1
            return None, prev
        assert prev.hist is not None
        d = delta(prev.hist, cur)
        if d is None:
            self.events["reset"] += 1
            return cur, new
        return d, new

    def delta(self, key: StreamKey, start: int, time: int, cur: Hist
              ) -> tuple[Hist | None, Seen]:
        prev = self._seen.get(key)
        if prev is not None and (prev.start, prev.time) == (start, time):
            self.events["repeated"] += 1
            return None, prev
        return cur, Seen(start, time, None)

    def commit(self, updates: dict[StreamKey, Seen]) -> None:
        seen = self._seen
        for key, s in updates.items():
            seen[key] = s
            seen.move_to_end(key)
        while len(seen) > self.cap:
            seen.popitem(last=False)
            self.events["evicted"] += 1


__all__ = ["Seen", "StreamKey", "Streams"]
