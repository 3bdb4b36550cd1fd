"""An instrumented service for tests, run as its own process: every SDK handle on the spec's
first model (calls that succeed, raise and fall back; a stream; tokens, spend by tag, feedback,
a cache, a queue, degradation, a breaker, a job, a custom counter), its /metrics served on a
port and its samples shipped to the sidecar the spec names.

    python -m tests.sdk_workload --spec slo.yaml --port 9100 [--rate 20] [--incident FILE]

While ``--incident`` names a file that exists, every prediction raises (an outage to recover
from).
"""

from __future__ import annotations

import argparse
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from agent.sdk import Monitor
from agent.spec import load_spec


class Fallback(Exception):
    """The model timed out and rules answered."""


def workload(mon: Monitor, model: str, version: str, rng: random.Random,
             incident: Path | None = None) -> Any:
    """One round of calls through every handle; returns the round function."""

    @mon.inference(model=model, version=version,
                   features=lambda x: {"amount": x, "country": rng.choice("ABC")},
                   prediction=lambda y: y, fallback=(Fallback,))
    def predict(x: float) -> float:
        if x < 0.005 or (incident is not None and incident.exists()):
            raise ValueError("negative amount")
        if x > 0.95:
            raise Fallback
        time.sleep(0.002)
        return x * 2

    @mon.inference(model=model, version=version)
    def generate(n: int) -> Any:
        time.sleep(0.003)
        for i in range(n):
            time.sleep(0.001)
            yield f"w{i}"

    cache, queue = mon.cache("emb"), mon.queue("q")
    breaker, orders = mon.circuit_breaker("ranker"), mon.counter("orders_total")

    def one_round() -> None:
        for _ in range(5):
            x = rng.random()
            queue.set(rng.randint(0, 3))
            queue.observe_wait(rng.uniform(0.001, 0.02))
            try:
                predict(x)
            except (ValueError, Fallback):
                pass
            (cache.hit if rng.random() < 0.8 else cache.miss)()
        words = list(generate(4))
        mon.tokens(model=model, version=version, input=8, output=len(words))
        mon.cost(model=model, version=version, usd=0.001,
                 tags={"user": rng.choice(("u1", "u2")), "feature": "search"})
        mon.feedback(mon.current_request_id(), positive=rng.random() < 0.8)
        mon.degradation("full")
        breaker.set("closed")
        orders.inc()
        try:
            with mon.job("retrain"):
                if rng.random() < 0.2:
                    raise RuntimeError("training data missing")
        except RuntimeError:
            pass

    return one_round


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=float, default=20.0, help="rounds per second")
    ap.add_argument("--incident", type=Path, help="every prediction fails while it exists")
    args = ap.parse_args()
    spec = load_spec(args.spec)
    mon = Monitor(spec=spec, registry=CollectorRegistry(), flush_interval=0.2)
    mon.serve(args.port)
    model = spec.models[0]
    one_round = workload(mon, model.name, model.version or "", random.Random(0), args.incident)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(1.0 / args.rate):
        one_round()
    mon.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
