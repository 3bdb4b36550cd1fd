"""The monitor's own bookkeeping, off the hot path: capped counter tables, SDK errors counted
and logged once, drops, refusals by the sidecar, label overflow, the event queue for shipping.
A base of :class:`agent.sdk.monitor.Monitor`; it declares the state it reads."""

from __future__ import annotations

import logging
import threading
from typing import Any

from agent import catalogue as cat
from agent.sdk.labels import LabelCap, clean
from agent.sdk.series import LockedHistogram, Series
from agent.sdk.values import LockedCounter

log = logging.getLogger("slo_agent.sdk")
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class Bookkeeping:
    shipper: Any
    queue_size: int
    max_label_values: int
    score_histograms: dict[tuple[str, str], LockedHistogram]
    dropped: dict[str, LockedCounter]
    errors: dict[str, LockedCounter]
    overflow: dict[str, LockedCounter]
    _cold_lock: threading.Lock
    _caps: dict[str, LabelCap]
    _logged: set[str]
    _refused: set[str]
    _events: list[dict[str, Any]]
    _shipped_totals: dict[tuple[Any, ...], float]

    def _enqueue_event(self, item: dict[str, Any]) -> None:
        if self.shipper is None:
            return
        with self._cold_lock:
            if len(self._events) >= self.queue_size:
                self._drop("queue_full", 1)
                return
            self._events.append(item)

    def _delta(self, key: tuple[Any, ...], total: float) -> float:
        prev = self._shipped_totals.get(key, 0.0)
        self._shipped_totals[key] = total
        return total - prev

    # -- internal bookkeeping ------------------------------------------------------------------
    def _counter(self, table: dict[Any, LockedCounter], metric: str, labels: tuple[str, ...]
                 ) -> LockedCounter:
        c = table.get(labels)
        if c is None:
            labels = self._caps[metric](labels)
            with self._cold_lock:
                c = table.setdefault(labels, LockedCounter())
        return c

    def _score_hist(self, model: str, version: str) -> LockedHistogram:
        key = (model, version)
        h = self.score_histograms.get(key)
        if h is None:
            with self._cold_lock:
                h = self.score_histograms.setdefault(key, LockedHistogram(SCORE_BUCKETS))
        return h

    def error_type(self, series: Series, name: str) -> None:
        series.error(clean(name), self.max_label_values)

    def _tick(self, table: dict[str, LockedCounter], key: str, amount: float = 1.0) -> None:
        c = table.get(key)
        if c is None:
            with self._cold_lock:
                c = table.setdefault(key, LockedCounter())
        c.inc(amount)

    def _drop(self, reason: str, count: int) -> None:
        self._tick(self.dropped, reason, float(count))

    def _on_refused(self, table: str, name: str) -> None:
        """The sidecar refused one custom name (its cardinality cap): stop shipping it, so the
        rest of every later batch is accepted. Said once; bounded by the SDK's own cap."""
        if table in ("gauges", "counters") and len(self._refused) <= self.max_label_values:
            self._refused.add(name)
        if "refused" not in self._logged:
            self._logged.add("refused")
            log.warning("slo-agent: the sidecar refused %s name %r (its label cap); such names "
                        "are no longer shipped, the rest of each batch is (said once)",
                        table, name)

    def _overflowed(self, metric: str) -> None:
        """Counted every time; said once per metric, so a runaway label is never silent."""
        self._tick(self.overflow, metric)
        key = f"overflow:{metric}"
        if key not in self._logged:
            self._logged.add(key)
            log.warning("slo-agent: more than %d distinct values for %s; the rest are recorded "
                        "as 'other' (counted in slo_agent_sdk_label_overflow_total; said once)",
                        self.max_label_values, metric)

    def sdk_error(self, where: str) -> None:
        """Count an SDK failure and log it once per place; never raises."""
        try:
            self._tick(self.errors, where)
            if where not in self._logged:
                self._logged.add(where)
                log.warning("slo-agent SDK error in %s (counted in %s; logged once)", where,
                            cat.SDK_ERRORS.name, exc_info=True)
        except Exception:
            pass
