"""Request ids, late feedback joined to its inference, and sampled features / predictions:
the monitor's memory of recent requests (bounded maps). A base of
:class:`agent.sdk.monitor.Monitor`; it declares the state it reads."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from agent import catalogue as cat
from agent.sdk.bookkeeping import Bookkeeping
from agent.sdk.conversions import _features, _plain, _same, _value
from agent.sdk.decorator import REQUEST_ID, Options
from agent.sdk.labels import clean
from agent.sdk.series import Series
from agent.sdk.values import RID_SERIES_SHIFT, LockedCounter

log = logging.getLogger("slo_agent.sdk")
_RING = 1 << 16     # requests remembered for feedback joins


class RequestJoin(Bookkeeping):
    max_features: int
    feedback_counters: dict[tuple[str, str, str], LockedCounter]
    _prefix: str
    _by_index: list[Series]
    _aliases: OrderedDict[str, int]
    _predictions: OrderedDict[int, Any]

    def _series_of(self, n: int | None) -> Series | None:
        """The series that served request number ``n`` (its index is in the id's high bits)."""
        if n is None:
            return None
        i = n >> RID_SERIES_SHIFT
        return self._by_index[i] if 0 <= i < len(self._by_index) else None

    # -- request ids and feedback -------------------------------------------------------------
    def current_request_id(self) -> str | None:
        """The id of the latest inference in this context (thread / task): the feedback key."""
        n = REQUEST_ID.get()
        return None if n < 0 else f"{self._prefix}{n:x}"

    def _resolve(self, rid: Any) -> int | None:
        if isinstance(rid, str) and rid.startswith(self._prefix):
            try:
                return int(rid[len(self._prefix):], 16)
            except ValueError:
                return None
        with self._cold_lock:
            return self._aliases.get(clean(rid))

    def alias_request(self, opts: Options, n: int, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> None:
        try:
            key = clean(opts.request_id(*args, **kwargs))  # type: ignore[misc]
        except Exception:
            self.sdk_error("request_id")
            return
        with self._cold_lock:
            self._aliases[key] = n
            if len(self._aliases) > _RING:
                self._aliases.popitem(last=False)

    def feedback(self, request_id: Any, positive: bool | None = None, score: float | None = None,
                 label: Any = None, model: str | None = None) -> None:
        """Late user feedback joined to an inference by its request id."""
        try:
            n = self._resolve(request_id)
            series = self._series_of(n)
            mdl = series.model if series else clean(model or "unknown")
            ver = series.version if series else ""
            if series is None and "feedback:unknown" not in self._logged:
                self._logged.add("feedback:unknown")
                log.warning("slo-agent: feedback for request id %r, which this process did not "
                            "serve (or whose alias is more than %d requests old): recorded under "
                            "model %r with no prediction to compare. Said once.",
                            clean(request_id, 64), _RING, mdl)
            with self._cold_lock:
                predicted = self._predictions.get(n) if n is not None else None
            sentiment = "neutral"
            if positive is not None:
                sentiment = "positive" if positive else "negative"
            elif score is not None:
                score = float(score)
                sentiment = "positive" if score >= 0.5 else "negative"
                self._score_hist(mdl, ver).observe(min(max(score, 0.0), 1.0))
            elif label is not None and predicted is not None:
                sentiment = "positive" if _same(label, predicted) else "negative"
            self._counter(self.feedback_counters, cat.FEEDBACK.name, (mdl, ver, sentiment)).inc()
            self._enqueue_event({"type": "feedback", "model": mdl, "version": ver,
                                 "request_id": clean(request_id), "sentiment": sentiment,
                                 "joined": series is not None,
                                 "score": score, "label": _plain(label) if label is not None
                                 else None, "prediction": _plain(predicted)
                                 if predicted is not None else None, "at": time.time()})
        except Exception:
            self.sdk_error("feedback")

    # -- samples -----------------------------------------------------------------------------
    def sample(self, series: Series, opts: Options, n: int, args: tuple[Any, ...],
               kwargs: dict[str, Any], out: Any) -> None:
        feats: Any = None
        pred: Any = None
        try:
            if opts.features is not None:
                raw = opts.features(*args, **kwargs)
                # a copy (the caller may reuse its dict); cleaned later, on the shipper thread
                feats = raw.copy() if type(raw) is dict and len(raw) <= self.max_features \
                    else _features(raw, self.max_features)
        except Exception:
            self.sdk_error("features")
            return
        try:
            if opts.prediction is not None and out is not None:
                pred = _value(opts.prediction(out))
                with self._cold_lock:
                    self._predictions[n] = pred
                    if len(self._predictions) > _RING:
                        self._predictions.popitem(last=False)
        except Exception:
            self.sdk_error("prediction")
            return
        if not series.samples.add(feats, pred, opts.prediction is not None):
            self._drop("queue_full", 1)
