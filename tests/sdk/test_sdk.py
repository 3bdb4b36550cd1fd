"""The instrumentation SDK: every function kind, exceptions, fallbacks, feedback joins, the sidecar
away, exact counts under contention, cardinality caps, exposition and shipping."""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent.sdk import Monitor
from agent.sidecar.ingest import columnar as wire
from tests.helpers import free_port, require_binary


def samples(reg: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(generate_latest(reg).decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(reg: CollectorRegistry, name: str, **labels: str) -> float:
    want = set(labels.items())
    found = [v for (n, lab), v in samples(reg).items() if n == name and want <= set(lab)]
    return sum(found)


@pytest.fixture()
def mon() -> Iterator[Monitor]:
    m = Monitor(registry=CollectorRegistry(), service="svc", sample_rate=1.0)
    yield m
    m.close()


def as_json(body: bytes, ctype: str | None) -> Any:
    """A body as the JSON (schema 1) document it stands for: columnar bodies are decoded by the
    sidecar's own door, their sample columns turned back into rows."""
    if not body:
        return None
    if ctype != wire.CONTENT_TYPE:
        return json.loads(body)
    batch = wire.parse(body)
    doc = batch.model_dump(mode="json", by_alias=True, exclude_none=True)
    for i, item in enumerate(batch.items):
        if isinstance(item, wire.ColumnSamples):
            feats, preds = item.to_rows()
            doc["items"][i] = {"type": "samples", "model": item.model, "version": item.version,
                               "at": item.at, "features": feats, "predictions": preds}
    return doc


class Capture(BaseHTTPRequestHandler):
    """A loopback stand-in for the sidecar's ingest endpoint that records what arrives."""

    bodies: list[dict[str, Any]] = []
    status = 202

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        ctype = self.headers.get("Content-Type")
        type(self).bodies.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                  "ctype": ctype, "json": as_json(body, ctype)})
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def sidecar() -> Iterator[tuple[str, type[Capture]]]:
    handler = type("H", (Capture,), {"bodies": [], "status": 202})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_all_function_kinds_keep_their_nature_and_metadata(mon: Monitor) -> None:
    def plain(x: int, *, y: int = 2) -> int:
        """doc"""
        return x + y

    async def coro(x: int) -> int:
        return x

    def gen(n: int) -> Iterator[int]:
        yield from range(n)

    async def agen(n: int) -> Any:
        for i in range(n):
            yield i

    wrapped = [mon.inference(model="m")(f) for f in (plain, coro, gen, agen)]
    p, c, g, a = wrapped
    assert p.__name__ == "plain" and p.__doc__ == "doc" and p.__wrapped__ is plain
    assert inspect.signature(p) == inspect.signature(plain)
    assert inspect.iscoroutinefunction(c) and inspect.isgeneratorfunction(g)
    assert inspect.isasyncgenfunction(a)
    assert p(1, y=3) == 4 and asyncio.run(c(5)) == 5 and list(g(3)) == [0, 1, 2]

    async def drain() -> list[int]:
        return [x async for x in a(3)]

    assert asyncio.run(drain()) == [0, 1, 2]
    assert value(mon.registry, "inference_requests_total", model="m", outcome="ok") == 4


def test_user_exceptions_pass_through_untouched(mon: Monitor) -> None:
    boom = ValueError("boom")

    @mon.inference(model="m")
    def fails() -> None:
        raise boom

    with pytest.raises(ValueError) as info:
        fails()
    assert info.value is boom
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "fails"

    @mon.inference(model="m")
    async def afails() -> None:
        raise boom

    with pytest.raises(ValueError) as ainfo:
        asyncio.run(afails())
    assert ainfo.value is boom
    assert value(mon.registry, "inference_requests_total", model="m", outcome="error") == 2
    assert value(mon.registry, "inference_errors_total", error_type="ValueError") == 2


def test_streams_record_ttft_inter_token_and_errors(mon: Monitor) -> None:
    @mon.inference(model="chat")
    def stream(n: int, fail: bool = False) -> Iterator[str]:
        for i in range(n):
            time.sleep(0.002)
            yield f"t{i}"
        if fail:
            raise RuntimeError("mid-stream")

    assert list(stream(4)) == ["t0", "t1", "t2", "t3"]
    with pytest.raises(RuntimeError):
        list(stream(2, fail=True))
    g = stream(10)
    next(g)
    g.close()                                   # consumer stops early
    reg = mon.registry
    assert value(reg, "inference_time_to_first_token_seconds_count", model="chat") == 3
    assert value(reg, "inference_inter_token_seconds_count", model="chat") == 3 + 1
    assert value(reg, "inference_requests_total", model="chat", outcome="error") == 1
    assert value(reg, "inference_requests_total", model="chat", outcome="ok") == 2
    assert value(reg, "inference_time_to_first_token_seconds_sum", model="chat") >= 0.006
    assert value(reg, "inference_in_flight_requests", model="chat") == 0


def test_generator_forwards_send_throw_and_its_return_value(mon: Monitor) -> None:
    """A generator iterated by the wrapper's ``for`` loop hands the rest of the stream to the
    step-by-step loop once a value is sent or an exception thrown in; one that returns a value
    gives it to ``yield from``; every stream is one call with its first item and gaps."""
    @mon.inference(model="echo")
    def echo() -> Any:
        got = None
        while True:
            try:
                got = yield got
            except KeyError:
                got = "handled"
            if got == "stop":
                return

    @mon.inference(model="echo")
    def counted(n: int) -> Any:
        yield from range(n)
        return n * 10

    def outer() -> Any:
        total = yield from counted(3)
        yield total

    g = echo()
    assert [next(g), g.send("a"), g.throw(KeyError()), g.send(None), next(g)] == \
        [None, "a", "handled", None, None]
    with pytest.raises(StopIteration):
        g.send("stop")
    h = echo()
    assert [next(h), h.throw(KeyError())] == [None, "handled"]
    h.close()
    assert list(outer()) == [0, 1, 2, 30]
    reg = mon.registry
    assert value(reg, "inference_requests_total", model="echo", outcome="ok") == 3
    assert value(reg, "inference_time_to_first_token_seconds_count", model="echo") == 3
    assert value(reg, "inference_inter_token_seconds_count", model="echo") == 4 + 1 + 2
    assert value(reg, "inference_in_flight_requests", model="echo") == 0


def test_async_generator_forwards_asend_and_athrow(mon: Monitor) -> None:
    @mon.inference(model="chat")
    async def echo() -> Any:
        got = None
        while True:
            try:
                got = yield got
            except KeyError:
                got = "handled"

    async def run() -> list[Any]:
        g = echo()
        out = [await g.__anext__(), await g.asend("a"), await g.athrow(KeyError())]
        await g.aclose()
        return out

    assert asyncio.run(run()) == [None, "a", "handled"]


def test_fallbacks_by_predicate_and_by_exception(mon: Monitor) -> None:
    @mon.inference(model="f", fallback=lambda out: out["rules"])
    def predict(rules: bool) -> dict[str, bool]:
        return {"rules": rules}

    @mon.inference(model="g", fallback=(TimeoutError,))
    def slow() -> None:
        raise TimeoutError

    predict(True)
    predict(False)
    with pytest.raises(TimeoutError):
        slow()
    reg = mon.registry
    assert value(reg, "inference_requests_total", model="f", outcome="fallback") == 1
    assert value(reg, "inference_requests_total", model="f", outcome="ok") == 1
    assert value(reg, "inference_requests_total", model="g", outcome="fallback") == 1
    assert value(reg, "inference_requests_total", model="g", outcome="error") == 0


def test_feedback_joins_by_request_id(mon: Monitor) -> None:
    @mon.inference(model="fraud", version="v3", prediction=lambda out: out,
                   request_id=lambda req: req["id"])
    def predict(req: dict[str, Any]) -> int:
        return 1

    predict({"id": "order-1"})
    rid = mon.current_request_id()
    assert rid is not None
    mon.feedback(rid, positive=False)
    mon.feedback(rid, score=0.9)
    mon.feedback("order-1", label=0)            # own id; label differs from the prediction
    mon.feedback("order-1", label=1)
    mon.feedback("never-seen", positive=True)
    reg = mon.registry
    assert value(reg, "inference_feedback_total", model="fraud", sentiment="negative") == 2
    assert value(reg, "inference_feedback_total", model="fraud", version="v3",
                 sentiment="positive") == 2
    assert value(reg, "inference_feedback_total", model="unknown", sentiment="positive") == 1
    assert value(reg, "inference_feedback_score_count", model="fraud") == 1


def test_feedback_ships_whether_it_joined(mon: Monitor, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ships says which feedback joined a served call, so the sidecar counts the rest."""
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(mon, "_enqueue_event", sent.append)

    @mon.inference(model="fraud", request_id=lambda req: req["id"])
    def predict(req: dict[str, Any]) -> int:
        return 1

    predict({"id": "order-1"})
    mon.feedback("order-1", positive=True)
    mon.feedback("never-seen", positive=True)
    assert [e["joined"] for e in sent if e["type"] == "feedback"] == [True, False]


def test_request_ids_are_per_task(mon: Monitor) -> None:
    @mon.inference(model="m")
    async def infer(delay: float) -> str | None:
        await asyncio.sleep(delay)
        return mon.current_request_id()

    async def run() -> list[tuple[str | None, str | None]]:
        async def one(d: float) -> tuple[str | None, str | None]:
            inside = await infer(d)
            return inside, mon.current_request_id()
        return await asyncio.gather(*(one(d) for d in (0.03, 0.01, 0.02)))

    pairs = asyncio.run(run())
    assert all(a == b and a is not None for a, b in pairs)
    assert len({a for a, _ in pairs}) == 3


def test_exact_counts_under_thread_contention(mon: Monitor) -> None:
    threads, calls = 8, 5000

    @mon.inference(model="m")
    def f(x: int) -> int:
        if x % 100 == 0:
            raise KeyError(x)
        return x

    def work() -> None:
        for i in range(calls):
            try:
                f(i)
            except KeyError:
                pass

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    reg = mon.registry
    total = threads * calls
    errors = threads * (calls // 100)
    assert value(reg, "inference_requests_total", model="m", outcome="error") == errors
    assert value(reg, "inference_requests_total", model="m", outcome="ok") == total - errors
    assert value(reg, "inference_request_duration_seconds_count", model="m") == total
    assert value(reg, "inference_request_duration_seconds_bucket", model="m", le="+Inf") == total
    assert value(reg, "inference_in_flight_requests", model="m") == 0
    # finished threads were folded: shard memory stays bounded under thread churn
    assert mon.all_series()[0].shards.shard_count() <= 1


def test_exact_counts_under_asyncio_concurrency(mon: Monitor) -> None:
    @mon.inference(model="a")
    async def f(i: int) -> int:
        await asyncio.sleep(0)
        return i

    async def run() -> None:
        await asyncio.gather(*(f(i) for i in range(3000)))

    asyncio.run(run())
    assert value(mon.registry, "inference_requests_total", model="a", outcome="ok") == 3000


def test_buckets_sit_on_spec_thresholds_so_ratios_are_exact() -> None:
    from agent.spec import load_spec
    from tests.helpers import EXAMPLE_SPEC

    spec = load_spec(EXAMPLE_SPEC)
    m = Monitor(spec=spec, registry=CollectorRegistry(), sidecar_url="")
    for level in spec.latency_thresholds():
        assert level in m.bounds
    m.close()


def test_cardinality_cap_folds_into_other(mon: Monitor) -> None:
    mon.max_label_values = 5
    from agent.sdk.labels import LabelCap

    mon._caps = {k: LabelCap(k, 5, mon._overflowed) for k in mon._caps}
    for i in range(50):
        mon.tokens(model=f"model-{i}", input=1)
    fams = samples(mon.registry)
    models = {dict(lab)["model"] for (n, lab) in fams if n == "inference_tokens_total"}
    assert len(models) == 6 and "other" in models
    assert value(mon.registry, "inference_tokens_total") == 50
    assert value(mon.registry, "slo_agent_sdk_label_overflow_total",
                 metric="inference_tokens_total") == 45


def test_sdk_failures_are_counted_never_raised(mon: Monitor) -> None:
    @mon.inference(model="m", features=lambda x: 1 / 0, fallback=lambda out: out.nope)
    def f(x: int) -> int:
        return x * 2

    assert f(2) == 4 and f(3) == 6
    assert value(mon.registry, "slo_agent_sdk_errors_total", where="features") == 2
    assert value(mon.registry, "slo_agent_sdk_errors_total", where="fallback") == 2
    mon.feedback(object(), score="not a number")   # type: ignore[arg-type]
    mon.cost(model="m", usd=float("nan"))
    mon.dataset("d").observe("not a frame")
    assert value(mon.registry, "slo_agent_sdk_errors_total", where="feedback") == 1
    assert value(mon.registry, "slo_agent_sdk_errors_total", where="dataset") >= 0


def test_queues_tokens_cost(mon: Monitor) -> None:
    import queue

    q: queue.Queue[int] = queue.Queue()
    for i in range(3):
        q.put(i)
    mon.track_queue("jobs", q)
    mon.queue("requests").set(7)
    mon.queue("requests").observe_wait(0.02)
    mon.tokens(model="chat", input=812, output=96)
    mon.cost(model="chat", usd=0.0031)
    reg = mon.registry
    assert value(reg, "inference_queue_depth", queue="jobs") == 3
    assert value(reg, "inference_queue_depth", queue="requests") == 7
    assert value(reg, "inference_queue_wait_seconds_count", queue="requests") == 1
    assert value(reg, "inference_tokens_total", token_type="input") == 812
    assert value(reg, "inference_cost_usd_total", model="chat") == pytest.approx(0.0031)


def test_exposition_passes_promtool(mon: Monitor) -> None:
    promtool = require_binary("promtool")

    @mon.inference(model="m", version="v1")
    def f() -> int:
        return 1

    @mon.inference(model="chat")
    def s() -> Iterator[int]:
        yield 1
        yield 2

    f()
    list(s())
    mon.tokens(model="chat", input=3)
    mon.feedback(mon.current_request_id(), score=0.1)
    mon.queue("q").observe_wait(0.1)
    res = subprocess.run([promtool, "check", "metrics"], input=generate_latest(mon.registry),
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode() + res.stdout.decode()


def test_ships_everything_to_the_sidecar(sidecar: tuple[str, type[Capture]]) -> None:
    import pandas as pd

    url, handler = sidecar
    m = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url=url, sample_rate=1.0,
                flush_interval=60, token="t0k")

    @m.inference(model="fraud", version="v3", features=lambda r: r, prediction=lambda o: o)
    def predict(req: dict[str, Any]) -> float:
        return 0.5

    for i in range(10):
        predict({"amount": float(i), "country": "de", "missing": math.nan})
    m.feedback(m.current_request_id(), positive=False)
    m.tokens(model="fraud", input=5)
    m.cost(model="fraud", usd=0.01)
    m.queue("requests").set(3)
    m.dataset("tx").observe(pd.DataFrame({"a": [1.0, None], "t": ["2026-11-24T00:00:00Z"] * 2}),
                            event_time_column="t")
    m.dataset("tx").mark_fresh(1_700_000_000)
    m.flush()
    m.flush()       # sketches taken at one flush are shipped at the next
    m.close()
    assert handler.bodies and all(b["path"] == "/v1/ingest" for b in handler.bodies)
    assert handler.bodies[0]["auth"] == "Bearer t0k"
    items = [i for b in handler.bodies for i in b["json"]["items"]]
    kinds = {i["type"] for i in items}
    assert {"requests", "samples", "feedback", "tokens", "cost", "queue", "dataset_batch",
            "dataset_mark"} <= kinds
    req = [i for i in items if i["type"] == "requests"]
    assert sum(i["counts"]["ok"] for i in req) == 10
    assert sum(i["latency"]["count"] for i in req if "latency" in i) == 10
    smp = next(i for i in items if i["type"] == "samples")
    assert smp["features"][0] == {"amount": 0.0, "country": "de", "missing": None}
    batch = next(i for i in items if i["type"] == "dataset_batch")
    assert batch["rows"] == 2 and batch["nulls"]["a"] == 1 and batch["newest_event"] > 0
    env = handler.bodies[0]["json"]
    assert env["service"] == "svc" and env["schema"] == 1


def test_sidecar_away_drops_are_counted_and_calls_unaffected() -> None:
    m = Monitor(registry=CollectorRegistry(), service="svc", sample_rate=1.0, flush_interval=60,
                sidecar_url=f"http://127.0.0.1:{free_port()}")      # nothing listens there
    assert m.shipper is not None
    m.shipper.max_pending = 2

    @m.inference(model="m", features=lambda x: {"x": x})
    def f(x: int) -> int:
        return x

    for _ in range(5):
        for i in range(20):
            assert f(i) == i
        assert m.flush(timeout=0.5) is False
    assert value(m.registry, "slo_agent_sdk_dropped_samples_total",
                 reason="sidecar_unavailable") > 0
    assert m.shipper.last_error
    assert m.shipper.pending_items() <= 2 * m.shipper.batch_items
    m.close()


def test_rejected_batches_are_dropped_not_retried(sidecar: tuple[str, type[Capture]]) -> None:
    url, handler = sidecar
    handler.status = 400
    m = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url=url, flush_interval=60)
    m.queue("q").set(1)
    m.flush()
    assert value(m.registry, "slo_agent_sdk_dropped_samples_total", reason="rejected") >= 1
    assert m.shipper is not None and m.shipper.pending_items() == 0
    m.close()


def test_asgi_and_wsgi_helpers(mon: Monitor) -> None:
    import httpx

    @mon.inference(model="m")
    def f() -> int:
        return 1

    f()
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": "",
               "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    status: list[str] = []
    body = b"".join(mon.wsgi_app()(environ, lambda s, h: status.append(s)))
    assert status[0].startswith("200") and b"inference_requests_total" in body

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=mon.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/metrics")

    resp = asyncio.run(get())
    assert resp.status_code == 200 and "inference_requests_total" in resp.text


SNIPPET = '''
import asyncio, os, sys, urllib.request
import pandas as pd
from agent import monitor

class Req:
    def __init__(self, amount):
        self.features = {"amount": amount, "country": "de"}

class Out:
    def __init__(self, score):
        self.score, self.from_rules = score, score > 0.9

@monitor.inference(model="fraud", version="v3",
                   features=lambda req: req.features,
                   prediction=lambda out: out.score,
                   fallback=lambda out: out.from_rules)
def predict(req): return Out(req.features["amount"] / 100)

@monitor.inference(model="chat")
async def generate(prompt):
    for word in prompt.split():
        yield word

async def chat():
    return [w async for w in generate("hello there world")]

for amount in (10, 50, 95):
    predict(Req(amount))
asyncio.run(chat())
rid = monitor.current_request_id()
monitor.feedback(rid, positive=False)
monitor.queue("requests").set(12)
monitor.tokens(model="chat", input=812, output=96); monitor.cost(model="chat", usd=0.0031)
df = pd.DataFrame({"amount": [1.0, None], "event_time": ["2026-11-24T00:00:00Z"] * 2})
monitor.dataset("transactions").observe(df)
monitor.dataset("transactions").mark_fresh(1_700_000_000)
server, thread = monitor.serve(port=int(sys.argv[1]))
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics").read().decode())
'''


def test_the_issue_snippet_runs_against_a_real_scrape(tmp_path: Any) -> None:
    port = free_port()
    script = tmp_path / "snippet.py"
    script.write_text(SNIPPET)
    res = subprocess.run([sys.executable, str(script), str(port)], capture_output=True,
                         text=True, timeout=120, env={"PATH": "/usr/bin:/bin",
                                                      "PYTHONPATH": str(
                                                          __import__("pathlib").Path(
                                                              __file__).resolve().parents[2])})
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert 'inference_requests_total{model="fraud",outcome="fallback",service="unknown_service",' \
           'version="v3"} 1.0' in text
    assert 'inference_time_to_first_token_seconds_count{model="chat"' in text
    # asyncio.run() ran the chat stream in its own context: here the latest request is fraud's
    assert 'inference_feedback_total{model="fraud",sentiment="negative"' in text
    assert 'inference_queue_depth{queue="requests",service="unknown_service"} 12.0' in text
    assert 'inference_tokens_total{model="chat",service="unknown_service",token_type="output",' \
           'version=""} 96.0' in text


def test_job_runs_as_context_decorator_and_async(sidecar: tuple[str, type[Capture]]) -> None:
    url, handler = sidecar
    m = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url=url, flush_interval=0.1)

    @m.job("nightly")
    def train(fail: bool) -> str:
        if fail:
            raise KeyError("missing column")
        return "model"

    @m.job("nightly")
    async def score() -> int:
        await asyncio.sleep(0)
        return 7

    assert train(False) == "model" and train.__name__ == "train"
    boom = KeyError("x")
    with pytest.raises(KeyError) as err, m.job("nightly"):
        raise boom
    assert err.value is boom                               # the same exception object
    with pytest.raises(KeyError):
        train(True)
    assert asyncio.run(score()) == 7
    with m.job("nightly") as run:
        run.fail("exit status 2")                          # failed without raising
    assert m.flush(5)
    events = [i for b in handler.bodies for i in b["json"]["items"] if i["type"] == "job"]
    finished = [(e["event"], e.get("error")) for e in events if e["event"] != "start"]
    assert finished == [("success", None), ("failure", "KeyError"), ("failure", "KeyError"),
                        ("success", None), ("failure", "exit status 2")]
    starts = {e["run_id"] for e in events if e["event"] == "start"}
    assert starts == {e["run_id"] for e in events if e["event"] != "start"} and len(starts) == 5
    assert all(e["duration"] >= 0 for e in events if e["event"] != "start")
    m.close()


def test_service_state_metrics_and_spend_tags(mon: Monitor) -> None:
    mon.cache("emb").hit(3)
    mon.cache("emb").miss()
    mon.degradation("cached")
    mon.degradation("nonsense")                            # counted, never raised
    mon.circuit_breaker("ranker").half_open()
    mon.gauge("queue age seconds").set(4.5)                # sanitised into a metric name
    mon.counter("orders_total").inc(2)
    for i in range(60):
        mon.cost("m", 0.01, tags={"user": f"u{i}", "feature": "search"})
    reg = mon.registry
    assert value(reg, "inference_cache_requests_total", cache="emb", result="hit") == 3
    assert value(reg, "inference_degradation_level") == 2
    assert value(reg, "inference_circuit_breaker_state", breaker="ranker") == 1
    assert value(reg, "queue_age_seconds") == 4.5 and value(reg, "orders_total") == 2
    users = {dict(lab)["tag_value"] for (n, lab) in samples(reg)
             if n == "inference_cost_by_tag_usd_total" and dict(lab)["tag"] == "user"}
    assert len(users) == 51 and "other" in users           # 50 named, the rest folded
    assert math.isclose(value(reg, "inference_cost_by_tag_usd_total", tag="user"), 0.6)
    assert math.isclose(value(reg, "inference_cost_by_tag_usd_total", tag="feature"), 0.6)
    assert value(reg, "slo_agent_sdk_errors_total", where="degradation") == 1


def test_cache_and_counter_counts_are_exact_across_threads(mon: Monitor) -> None:
    cache, counter = mon.cache("emb"), mon.counter("orders")

    def work() -> None:
        for _ in range(20_000):
            cache.hit()
            mon.cache("emb").miss()
            counter.inc()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert value(mon.registry, "inference_cache_requests_total", result="hit") == 80_000
    assert value(mon.registry, "inference_cache_requests_total", result="miss") == 80_000
    assert value(mon.registry, "orders_total") == 80_000
