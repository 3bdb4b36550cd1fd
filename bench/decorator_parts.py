"""What each part of a decorated call costs, at every form (sync, async, generator, async
generator), beside prometheus_client's ``@Histogram.time()`` measured in the same run.

Replicas of the fast path add one part at a time over an empty wrapper layer of the form (the
floor any Python wrapper pays): the thread's shard and call count, the request id in the
context, the timer pair, the histogram observe (one append and the drain test). Then ours as
shipped (its own parameters) and ours as a ``(*args, **kwargs)`` wrapper (what a call pays
where the spec wants sampling or aliases). Last, the floors of async-generator designs that are
not async generators (classes with ``__anext__``), and what asyncio's per-async-generator hook
costs. Batches are timed by the thread's CPU clock, round-robin, fastest kept (the machine may
be shared).

    python bench/decorator_parts.py [--calls 20000] [--repeat 9]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import itertools
import sys
import threading
import time
import types
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from decorator_overhead import FORMS, _consume, empty_layer, spec_monitor
from prometheus_client import CollectorRegistry, Histogram

from agent.sdk.values import Shard

pc = time.perf_counter
tls = threading.local()
tls.shard = Shard(17, rid_base=1 << 96)
rid: ContextVar[int] = ContextVar("bench_rid", default=-1)


def run(variants: dict[str, Callable[..., Any]], form: str, calls: int, repeat: int,
        hooks: bool = True) -> dict[str, float]:
    """Seconds per call of each variant in ``form`` (``hooks`` False: asyncio's async-generator
    hooks switched off inside the batch)."""
    loop = asyncio.new_event_loop()
    batches = {k: _consume(form, v) for k, v in variants.items()}
    best = dict.fromkeys(batches, float("inf"))

    async def unhooked(batch: Any) -> None:
        sys.set_asyncgen_hooks(None, None)
        await batch(calls)

    try:
        for _ in range(repeat):
            for name, batch in batches.items():
                t = time.thread_time()
                if inspect.iscoroutinefunction(batch):
                    loop.run_until_complete(batch(calls) if hooks else unhooked(batch))
                else:
                    batch(calls)
                best[name] = min(best[name], (time.thread_time() - t) / calls)
    finally:
        loop.close()
    return best


_LAYERS = {
    "sync": "def w(x):\n    BEFORE\n    out = fn(x)\n    AFTER\n    return out\n",
    "async": "async def w(x):\n    BEFORE\n    out = await fn(x)\n    AFTER\n    return out\n",
    "generator": "def w(x):\n    BEFORE\n    out = yield from fn(x)\n    AFTER\n    return out\n",
    "async generator": "async def w(x):\n    BEFORE\n    async for i in fn(x):\n"
                       "        yield i\n    AFTER\n",
}

#: cumulative: each row adds its part to the row above (the request id: to the count's row)
_PARTS = [
    ("layer (floor)", "pass", "pass"),
    ("+ shard and call count", "sh = tls.shard; n = sh.started + 1; sh.started = n", "pass"),
    ("+ timer pair", "sh = tls.shard; n = sh.started + 1; sh.started = n; t0 = pc()",
     "d = pc() - t0"),
    ("+ histogram observe (append, drain test)",
     "sh = tls.shard; n = sh.started + 1; sh.started = n; t0 = pc()",
     "sh.lat.append(pc() - t0)\n    if not n & 2047: sh.lat.clear()"),
    ("request id in the context (over the count)",
     "sh = tls.shard; n = sh.started + 1; sh.started = n; rid.set(sh.rid_base + n)", "pass"),
]


def replicas(form: str, fn: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    """The form's empty layer, then the fast path's parts inlined one at a time."""
    out = {}
    for name, before, after in _PARTS:
        ns: dict[str, Any] = {"fn": fn, "tls": tls, "pc": pc, "rid": rid}
        exec(_LAYERS[form].replace("BEFORE", before).replace("AFTER", after), ns)
        out[name] = ns["w"]
    return out


# -- async-generator designs that are not async generators: their floors, nothing recorded ----
def designs(fn: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    class Coro:
        """``__anext__`` a coroutine that sees the end (StopAsyncIteration)."""
        __slots__ = ("agen",)

        def __aiter__(self) -> Any:
            return self

        async def __anext__(self) -> Any:
            try:
                return await self.agen.__anext__()
            except StopAsyncIteration:
                raise

    @types.coroutine
    def step(aw: Any) -> Any:
        try:
            return (yield from aw.__await__())
        except StopAsyncIteration:
            raise

    class GenStep(Coro):
        """``__anext__`` a generator-based coroutine (``types.coroutine``)."""
        __slots__ = ()

        def __anext__(self) -> Any:            # type: ignore[override]
            return step(self.agen.__anext__())

    class SelfAwait:
        """``__anext__`` returns the object itself, which forwards send/throw to the step."""
        __slots__ = ("agen", "step")

        def __aiter__(self) -> Any:
            return self

        def __anext__(self) -> Any:
            self.step = self.agen.__anext__()
            return self

        def __await__(self) -> Any:
            return self

        def __next__(self) -> Any:
            try:
                return self.step.send(None)
            except StopAsyncIteration:
                raise

        def send(self, v: Any) -> Any:
            return self.step.send(v)

        def throw(self, *a: Any) -> Any:
            return self.step.throw(*a)

    class Pass:
        """Passes the inner steps on and never sees the end: not a design, the floor of any."""
        __slots__ = ("agen",)

        def __aiter__(self) -> Any:
            return self

        def __anext__(self) -> Any:
            return self.agen.__anext__()

    def make(cls: Any) -> Callable[..., Any]:
        def wrapper(x: int) -> Any:
            o = cls.__new__(cls)
            o.agen = fn(x)
            return o
        return wrapper

    return {"async-generator layer (async for)": empty_layer(fn),
            "class, __anext__ a coroutine": make(Coro),
            "class, __anext__ a types.coroutine step": make(GenStep),
            "class, itself the awaitable": make(SelfAwait),
            "class passing steps on, end unseen (no design)": make(Pass)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    hist = Histogram("parts_seconds", "b", ["model"], registry=CollectorRegistry()).labels("m")
    mon = spec_monitor()

    def generic_of(form: str) -> Callable[..., Any]:
        """Ours as a ``(*args, **kwargs)`` wrapper, around the form's trivial function with its
        parameter named ``_slo_x`` (a name of ours keeps the generic wrapper)."""
        ns: dict[str, Any] = {}
        src = {"sync": "def g(_slo_x):\n    return _slo_x",
               "async": "async def g(_slo_x):\n    return _slo_x",
               "generator": "def g(_slo_x):\n    yield _slo_x",
               "async generator": "async def g(_slo_x):\n    yield _slo_x"}[form]
        exec(src + "\n", ns)
        return mon.inference(model="m")(ns["g"])

    print(f"# thread CPU per call, {args.calls} calls x {args.repeat} batches, fastest batch")
    for form, fn in FORMS.items():
        v = {"bare": fn, "@time()": hist.time()(fn), "ours": mon.inference(model="m")(fn),
             "ours, (*args, **kwargs)": generic_of(form)}
        v |= replicas(form, fn)
        c = run(v, form, args.calls, args.repeat)
        b, anchor = c["bare"], c["@time()"] - c["bare"]
        print(f"\n## {form}: bare {b * 1e9:.0f} ns; @Histogram.time() +{anchor * 1e9:.0f} ns")
        for name in ("ours", "ours, (*args, **kwargs)", "layer (floor)"):
            print(f"  {name:<48} +{(c[name] - b) * 1e9:5.0f} ns = {(c[name] - b) / anchor:.2f}x")
        names = [p[0] for p in _PARTS]
        for above, name in itertools.pairwise(names):
            base = c["+ shard and call count" if name.startswith("request") else above]
            print(f"  {name:<48} +{(c[name] - base) * 1e9:5.0f} ns")

    fn = FORMS["async generator"]
    print("\n## async generator designs (floors: nothing recorded), vs @Histogram.time()")
    v = {"bare": fn, "@time()": hist.time()(fn)} | designs(fn)
    c = run(v, "async generator", args.calls, args.repeat)
    b, anchor = c["bare"], c["@time()"] - c["bare"]
    for name in list(v)[2:]:
        print(f"  {name:<48} +{(c[name] - b) * 1e9:5.0f} ns = {(c[name] - b) / anchor:.2f}x")
    c = run({"bare": fn, "layer": empty_layer(fn)}, "async generator", args.calls, args.repeat,
            hooks=False)
    print(f"  without asyncio's async-generator hooks: bare {c['bare'] * 1e9:.0f} ns, layer "
          f"+{(c['layer'] - c['bare']) * 1e9:.0f} ns (the hooks' share of the layer's floor)")


if __name__ == "__main__":
    main()
