"""The monitor's own bookkeeping, off the hot path: capped counter tables, SDK errors counted
and logged once, drops, refusals by the sidecar, label overflow, the event queue for shipping.
A base of :class:`agent.sdk.monitor.Monitor`; it declares the state it reads."""

from __future__ import annotations

import logging
import os
import sys
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
        """Count an SDK failure (``where`` is the metric's label) and say it once per cause:
        the option whose callable failed (``prediction=``), the exception's type and the line of
        your code it came from, never its message (it may carry data values). No traceback at the
        default level: debug logging adds it. Never raises."""
        try:
            self._tick(self.errors, where)
            exc = sys.exc_info()[1]
            origin = _origin(exc)
            cause = f"error:{where}:{type(exc).__name__}:{origin}"
            if cause in self._logged or len(self._logged) >= MAX_SAID:
                return
            self._logged.add(cause)
            what = (f"the {where}= callable you gave @monitor" if where in OPTIONS
                    else f"slo-agent's own {where} step")
            log.warning("slo-agent: %s raised %s%s; %s (counted in %s{where=\"%s\"}; said once "
                        "per cause, debug logging shows the traceback)", what,
                        type(exc).__name__ if exc is not None else "an error",
                        f" at {origin}" if origin else "", OPTIONS.get(where, "what that step "
                        "recorded was dropped; your code ran on"), cat.SDK_ERRORS.name, where)
            log.debug("slo-agent: traceback of the %s failure", where, exc_info=exc)
        except Exception:
            pass


#: decorator options whose callables run on your data, and what their failure costs
OPTIONS = {"features": "this call's features were not sampled",
           "prediction": "this call's prediction was not sampled",
           "fallback": "this call was not checked for a fallback",
           "request_id": "this call's request id was not aliased"}
MAX_SAID = 256          # distinct causes said once each; past it, only counted


def _origin(exc: BaseException | None) -> str:
    """``file.py:12`` of the innermost frame outside slo-agent: where the failure came from."""
    tb = exc.__traceback__ if exc is not None else None
    where = ""
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename
        if f"{os.sep}agent{os.sep}sdk{os.sep}" not in path:
            where = f"{os.path.basename(path)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where
