"""The demo inference service: a fraud model and a small streaming "chat" model behind HTTP,
instrumented with the SDK's decorators, plus a data pipeline thread feeding a dataset.

Incidents are switched on and off through ``POST /admin/incident`` (demo only):
latency, fallback_storm, null_spike, stale_dataset, retrain_failure. Input drift and negative
feedback come from the traffic itself.

    python -m agent.demo.inference_service --spec slo.yaml --port 8000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent.demo.fraud_model import FraudModel, train
from agent.sdk import Monitor

INCIDENTS = ("latency", "fallback_storm", "null_spike", "stale_dataset", "retrain_failure")
USERS = tuple(f"user-{i:02d}" for i in range(20))


class Service:
    def __init__(self, monitor: Monitor, model: FraudModel, seed: int = 0) -> None:
        self.monitor = monitor
        self.model = model
        self.active: dict[str, bool] = dict.fromkeys(INCIDENTS, False)
        self.rng = random.Random(seed)
        self.in_flight = 0
        self._stop = threading.Event()
        self._workers: asyncio.Semaphore | None = None

        @monitor.inference(model="fraud", version="v3", features=lambda f: f,
                           prediction=lambda out: out["score"],
                           fallback=lambda out: out["fallback"])
        async def predict(features: dict[str, Any]) -> dict[str, Any]:
            if float(features.get("amount") or 0.0) < 0:
                raise ValueError("amount must not be negative")
            await asyncio.sleep(0.004 + (0.06 if self.active["latency"] else 0.0))
            cache = monitor.cache("features")
            cache.hit() if self.rng.random() < 0.9 else cache.miss()
            if self.active["fallback_storm"] and self.rng.random() < 0.5:
                return {"score": 0.5, "fallback": True}   # model timed out: rules answered
            return {"score": self.model.predict(features), "fallback": False}

        @monitor.inference(model="chat", version="2025-06")
        async def generate(prompt: str) -> Any:
            await asyncio.sleep(0.02)
            for word in ("the", "transaction", "looks", "fine", "to", "me"):
                await asyncio.sleep(0.002)
                yield word + " "

        self.predict = predict
        self.generate = generate

    def pipeline(self) -> None:
        """A data pipeline: a batch of transactions every second, marked fresh unless stale."""
        import numpy as np
        import pandas as pd

        from agent.demo.fraud_model import sample_features

        rng = np.random.default_rng(1)
        ds = self.monitor.dataset("transactions")
        age = self.monitor.gauge("feature_store_age_seconds")
        fresh_at = time.time()
        while not self._stop.wait(1.0):
            self.retrain()
            storm = self.active["fallback_storm"]
            self.monitor.degradation("cached" if storm else "full")
            self.monitor.circuit_breaker("fraud-model").set("open" if storm else "closed")
            age.set(time.time() - fresh_at)
            rows = [sample_features(rng) for _ in range(200)]
            frame = pd.DataFrame(rows)
            frame["event_time"] = pd.Timestamp.now(tz="UTC")
            if self.active["null_spike"]:
                frame.loc[frame.sample(frac=0.3, random_state=0).index, "amount"] = None
            if not self.active["stale_dataset"]:
                ds.observe(frame)
                ds.mark_fresh()
                fresh_at = time.time()
            self.monitor.queue("requests").set(self.in_flight)

    def retrain(self) -> None:
        """A (very) frequent retraining job: it fails while the incident is on."""
        try:
            with self.monitor.job("retrain-fraud"):
                time.sleep(0.02)
                if self.active["retrain_failure"]:
                    raise RuntimeError("training data missing")
        except RuntimeError:
            pass

    def app(self) -> Starlette:
        async def predict(request: Request) -> Response:
            try:
                body = await request.json()
                features = body["features"]
                if not isinstance(features, dict):
                    raise TypeError("features must be an object")
            except (ValueError, KeyError, TypeError) as exc:
                return JSONResponse({"error": f"features: {exc}"}, status_code=422)
            if self._workers is None:
                self._workers = asyncio.Semaphore(4)    # four model workers; others queue
            queued = time.perf_counter()
            self.in_flight += 1
            try:
                async with self._workers:
                    self.monitor.queue("requests").observe_wait(time.perf_counter() - queued)
                    out = await self.predict(features)
            except ValueError as exc:
                return JSONResponse({"error": f"features.amount: {exc}"}, status_code=422)
            finally:
                self.in_flight -= 1
            self.monitor.cost(model="fraud", version="v3", usd=0.00002,
                              tags={"user": self.rng.choice(USERS), "feature": "fraud-check"})
            return JSONResponse({**out, "request_id": self.monitor.current_request_id()})

        async def generate(request: Request) -> Response:
            prompt = (await request.body()).decode(errors="replace")[:200]
            words = [w async for w in self.generate(prompt)]
            self.monitor.tokens(model="chat", version="2025-06", input=len(prompt.split()) + 8,
                                output=len(words))
            self.monitor.cost(model="chat", version="2025-06", usd=0.0004,
                              tags={"user": self.rng.choice(USERS), "feature": "chat"})
            return StreamingResponse(iter(words), media_type="text/plain")

        async def feedback(request: Request) -> Response:
            body = await request.json()
            self.monitor.feedback(body.get("request_id"), positive=bool(body.get("positive")))
            return JSONResponse({"ok": True})

        async def incident(request: Request) -> Response:
            body = await request.json()
            name = body.get("name")
            if name not in self.active:
                return JSONResponse({"error": f"name: one of {', '.join(INCIDENTS)}"},
                                    status_code=422)
            self.active[name] = bool(body.get("active", True))
            return JSONResponse(self.active)

        async def health(request: Request) -> Response:
            return JSONResponse({"status": "ok"})

        async def metrics(request: Request) -> Response:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            return Response(generate_latest(self.monitor.registry),
                            media_type=CONTENT_TYPE_LATEST)

        return Starlette(routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/generate", generate, methods=["POST"]),
            Route("/feedback", feedback, methods=["POST"]),
            Route("/admin/incident", incident, methods=["POST"]),
            Route("/healthz", health),
            Route("/metrics", metrics),
        ])

    def stop(self) -> None:
        self._stop.set()


def main() -> None:
    import uvicorn

    from agent.spec import load_spec

    ap = argparse.ArgumentParser(description="slo-agent demo inference service")
    ap.add_argument("--spec", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--sidecar-url", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    spec = load_spec(args.spec)
    monitor = Monitor(spec=spec, sidecar_url=args.sidecar_url, flush_interval=0.5)
    service = Service(monitor, train(args.seed), args.seed)
    threading.Thread(target=service.pipeline, name="pipeline", daemon=True).start()
    uvicorn.run(service.app(), host=args.host, port=args.port, log_level="warning",
                access_log=False)
    service.stop()
    monitor.close()
    time.sleep(0.1)


if __name__ == "__main__":
    main()
