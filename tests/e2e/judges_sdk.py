"""The SDK side of the two-judges test: one inference service instrumented with the real SDK
(``Monitor``: decorators, cold-path recorders, its /metrics for Prometheus, its shipping to the
sidecar), whose every SDK-fed signal turns bad in the incident and good again after it.

:data:`OBJECTIVES` are the service's objectives, one per SDK-fed kind (the kind is the
objective's ``signal``); :class:`Service` produces their inputs, about 50 calls a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from typing import Any

MODEL, STREAM, BATCH = "clf", "chat", "batch"
#: SDK-fed objectives; levels where a healthy call is far inside and the incident far past
OBJECTIVES: list[dict[str, Any]] = [
    {"name": "sdk-latency", "signal": "latency", "quantile": "p95", "selector": {"model": MODEL},
     "warning": "100ms", "critical": "250ms", "objective": "99%", "sli_threshold": "250ms"},
    {"name": "sdk-ttft", "signal": "ttft", "quantile": "p95", "selector": {"model": STREAM},
     "warning": "100ms", "critical": "250ms"},
    {"name": "sdk-errors", "signal": "error_rate", "selector": {"model": MODEL},
     "warning": "5%", "critical": "20%", "objective": "99%"},
    {"name": "sdk-availability", "signal": "availability", "selector": {"model": MODEL},
     "warning": "95%", "critical": "80%"},
    {"name": "sdk-fallback", "signal": "fallback_rate", "selector": {"model": MODEL},
     "warning": "5%", "critical": "15%"},
    {"name": "sdk-feedback", "signal": "negative_feedback_rate", "selector": {"model": MODEL},
     "warning": "10%", "critical": "20%"},
    {"name": "sdk-throughput", "signal": "throughput", "selector": {"model": BATCH},
     "warning": "10/s", "critical": "5/s"},
    {"name": "sdk-tokens", "signal": "token_rate", "selector": {"model": MODEL},
     "warning": "300/s", "critical": "600/s"},
    {"name": "sdk-cost", "signal": "cost_per_1k", "selector": {"model": MODEL},
     "warning": "$2", "critical": "$5"},
    {"name": "sdk-spend", "signal": "daily_spend", "selector": {"model": MODEL},
     "budget": 5, "warning": "120% budget", "critical": "150% budget"},
    {"name": "sdk-queue", "signal": "queue_depth", "selector": {"queue": "q"},
     "warning": "10", "critical": "50", "objective": "99%"},
    {"name": "sdk-in-flight", "signal": "in_flight", "selector": {"model": MODEL},
     "warning": "4", "critical": "8"},
    {"name": "sdk-cache", "signal": "cache_hit_rate", "selector": {"cache": "emb"},
     "warning": "80%", "critical": "60%"},
    {"name": "sdk-degradation", "signal": "degradation_level", "warning": "0", "critical": "1"},
    {"name": "sdk-breaker", "signal": "circuit_breaker_state", "selector": {"breaker": "ranker"},
     "warning": "0", "critical": "1"},
    {"name": "sdk-custom", "signal": "custom", "warning": "10", "critical": "50",
     "custom": {"gauge": "backlog", "unit": "count"}},
    {"name": "sdk-job-success", "signal": "job_success_ratio", "selector": {"job": "retrain"},
     "warning": "90%", "critical": "80%"},
    {"name": "sdk-job-duration", "signal": "job_duration", "selector": {"job": "retrain"},
     "warning": "150ms", "critical": "300ms"},
    {"name": "sdk-job-since", "signal": "time_since_success", "selector": {"job": "retrain"},
     "warning": "5s", "critical": "10s"},
]
MODELS = [{"name": MODEL, "version": "v1"}, {"name": STREAM, "version": "v1"},
          {"name": BATCH, "version": "v1"}]


class Service:
    """The instrumented service: ``incident`` turns every SDK-fed signal bad."""

    def __init__(self, mon: Any) -> None:
        self.mon = mon
        self.incident = False
        self.stop = threading.Event()
        self.ids = count()
        self.cache = mon.cache("emb")
        self.queue = mon.queue("q")
        self.breaker = mon.circuit_breaker("ranker")
        self.backlog = mon.gauge("backlog")

        @mon.inference(model=MODEL, version="v1", request_id=lambda i: i,
                       fallback=lambda result: result == "fallback")
        def predict(i: int) -> str:
            bad = self.incident
            time.sleep(0.3 if bad else 0.005)
            if bad and i % 10 < 4:                 # 40 % of calls fail
                raise RuntimeError("injected failure")
            return "fallback" if bad and i % 10 < 6 else "ok"   # 20 % fall back

        @mon.inference(model=STREAM, version="v1")
        def stream() -> Any:
            time.sleep(0.3 if self.incident else 0.01)
            yield "first"
            yield "last"

        @mon.inference(model=BATCH, version="v1")
        def batch() -> None:
            pass

        self.predict: Callable[[int], str] = predict
        self.stream: Callable[[], Any] = stream
        self.batch: Callable[[], None] = batch

    def _call(self) -> None:
        i = next(self.ids)
        bad = self.incident
        try:
            self.predict(i)
        except RuntimeError:
            pass            # a failed call has no answer to give feedback on
        else:               # half the answers in the incident are thumbed down
            self.mon.feedback(i, positive=not (bad and i % 10 < 7))
        self.mon.tokens(MODEL, output=20 if bad else 2)
        self.mon.cost(MODEL, usd=0.01 if bad else 0.001)
        (self.cache.miss if bad and i % 10 < 6 else self.cache.hit)()

    def _stream(self) -> None:
        for _ in self.stream():
            pass

    def _job(self) -> None:
        """A retraining job a second: quick and succeeding, in the incident slow and failing."""
        while not self.stop.wait(1.0):
            with self.mon.job("retrain") as run:
                time.sleep(0.4 if self.incident else 0.05)
                if self.incident:
                    run.fail("injected")

    def run(self) -> None:
        """About 50 predictions, 10 streams and 20 batch calls a second (2 in the incident) on
        24 workers, whatever the calls' latency; the gauges follow the incident."""
        threading.Thread(target=self._job, daemon=True).start()
        with ThreadPoolExecutor(24) as pool:
            tick = 0
            while not self.stop.is_set():
                bad = self.incident
                for _ in range(5):
                    pool.submit(self._call)
                pool.submit(self._stream)
                for _ in range(2) if not bad or tick % 10 == 0 else ():
                    self.batch()
                self.queue.set(80 if bad else 3)
                self.backlog.set(80 if bad else 3)
                self.mon.degradation("minimal" if bad else "full")
                (self.breaker.open if bad else self.breaker.close)()
                tick += 1
                time.sleep(0.1)
