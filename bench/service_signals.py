"""Per-call cost of the new service recorders against prometheus_client, measured in one run.

Cache lookups, a custom counter and gauge, and spend by tag are called on request paths, so they
must cost no more than what a user would otherwise write with prometheus_client: a labelled
Counter/Gauge (pre-bound child, and ``.labels(...)`` looked up per call). Prints the median
per-call cost of each pair and the ratio (prometheus_client / ours; above 1 means ours is cheaper).

    python bench/service_signals.py [--calls 200000] [--repeat 7]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from decorator_overhead import per_call  # the same timing loop (this script runs from bench/)
from prometheus_client import CollectorRegistry, Counter, Gauge

from agent.sdk import Monitor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    reg = CollectorRegistry()
    mon = Monitor(registry=CollectorRegistry(), service="svc", register=False)
    hits = Counter("cache_requests", "c", ["service", "cache", "result"], registry=reg)
    orders = Counter("orders", "c", ["service"], registry=reg)
    age = Gauge("store_age_seconds", "g", ["service"], registry=reg)
    spend = Counter("spend_usd", "c", ["service", "model", "tag", "tag_value"], registry=reg)
    hit_child, orders_child, age_child = (hits.labels("svc", "emb", "hit"),
                                          orders.labels("svc"), age.labels("svc"))
    cache, counter, gauge = mon.cache("emb"), mon.counter("orders"), mon.gauge("store_age_seconds")
    users = [f"user-{i}" for i in range(20)]

    def tagged(i: int) -> None:
        spend.labels("svc", "m", "user", users[i % 20]).inc(0.01)
        spend.labels("svc", "m", "feature", "search").inc(0.01)

    pairs: list[tuple[str, Callable[[int], Any], Callable[[int], Any]]] = [
        ("cache hit, handle held", lambda i: hit_child.inc(), lambda i: cache.hit()),
        ("cache hit, looked up per call", lambda i: hits.labels("svc", "emb", "hit").inc(),
         lambda i: mon.cache("emb").hit()),
        ("custom counter inc", lambda i: orders_child.inc(), lambda i: counter.inc()),
        ("custom gauge set", lambda i: age_child.set(i), lambda i: gauge.set(i)),
        ("spend with user+feature tags", tagged,
         lambda i: mon.cost("m", 0.01, tags={"user": users[i % 20], "feature": "search"})),
    ]
    print(f"{'recorder':34} {'prometheus_client':>18} {'slo-agent':>12} {'ratio':>7}")
    for name, theirs, ours in pairs:
        t = per_call(theirs, a.calls, a.repeat)
        o = per_call(ours, a.calls, a.repeat)
        print(f"{name:34} {t * 1e9:15.0f} ns {o * 1e9:9.0f} ns {t / o:6.2f}x")


if __name__ == "__main__":
    main()
