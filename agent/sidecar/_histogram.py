"""Small labelled histograms the sidecar keeps itself (evaluation tick durations, recovery times),
exposed as Prometheus histograms with cumulative buckets."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator

#: seconds: a minute-scale demo incident to a day-long outage
RECOVERY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
                    21600.0, 86400.0)


class Histograms:
    def __init__(self, bounds: tuple[float, ...] = RECOVERY_BUCKETS) -> None:
        self.bounds = bounds
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = {}

    def touch(self, key: tuple[str, ...]) -> None:
        """Expose ``key`` with zero counts before its first observation."""
        self._counts.setdefault(key, [0] * (len(self.bounds) + 1))
        self._sums.setdefault(key, 0.0)

    def observe(self, key: tuple[str, ...], value: float) -> None:
        counts = self._counts.setdefault(key, [0] * (len(self.bounds) + 1))
        counts[bisect_left(self.bounds, value)] += 1
        self._sums[key] = self._sums.get(key, 0.0) + value

    def families(self) -> Iterator[tuple[tuple[str, ...], list[tuple[str, float]], float]]:
        """(key, cumulative (le, count) buckets, sum) per key, sorted."""
        for key in sorted(self._counts, key=repr):
            acc, buckets = 0, []
            for bound, c in zip([*self.bounds, math.inf], self._counts[key], strict=True):
                acc += c
                buckets.append(("+Inf" if math.isinf(bound) else str(bound), float(acc)))
            yield key, buckets, self._sums[key]
