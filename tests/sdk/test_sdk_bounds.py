"""SDK cardinality: custom gauge/counter and cache names are capped with an overflow bucket
(counted, warned once); a batch the sidecar refuses for one item never blinds later ones."""

from __future__ import annotations

import logging
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agent.sdk import Monitor
from agent.spec import parse_spec
from tests.helpers import free_port
from tests.sidecar.conftest import make_spec


def _overflow(m: Monitor) -> float:
    return sum(c.value for c in m.overflow.values())


def test_custom_names_are_capped_with_an_overflow_bucket(caplog: pytest.LogCaptureFixture) -> None:
    m = Monitor(registry=CollectorRegistry(), service="svc", sidecar_url="")
    tracemalloc.start()
    with caplog.at_level(logging.WARNING, logger="slo_agent.sdk"):
        for i in range(20_000):
            m.gauge(f"g{i}").set(i)
            m.counter(f"c{i}_total").inc()
            m.cache(f"cache-{i}").hit()
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert kept < 2_000_000, kept             # was +31 MB RSS for 20,000 gauge names
    cap = m.max_label_values
    assert len(m.custom_gauges) <= cap + 1 and "other" in m.custom_gauges
    assert len(m.custom_counters) <= cap + 1 and m.custom_counters["other"].value > 0
    assert len(m._cache_handles) <= cap + 1
    assert _overflow(m) > 0
    families = list(m.collector.collect())
    assert len(families) < 3 * cap            # was 40,020 families for 20,000 names
    warned = [r for r in caplog.records if "other" in r.getMessage()]
    assert 1 <= len(warned) <= 3, [r.getMessage() for r in warned]   # once per capped metric


def _requests(sc: Any) -> float:
    return float(sc.status()["sources"]["ingest"]["items"].get("requests", 0))


@pytest.mark.parametrize("names", [1_100, 20_000])
def test_many_gauge_names_never_blind_latency_and_errors(tmp_path: Path, sidecar_factory: Any,
                                                         names: int) -> None:
    """The SDK's own cap set above the sidecar's (1,000 names) so the sidecar refuses them: the
    refused names are dropped, the rest of every batch keeps arriving."""
    data = make_spec(tmp_path, free_port())
    sc = sidecar_factory(data)
    data["sdk"]["max_label_values"] = 5000
    spec = parse_spec(data)
    m = Monitor(spec, registry=CollectorRegistry(), sidecar_url=sc.url, flush_interval=60)

    @m.inference(model="clf", version="v1")
    def predict(x: int) -> int:
        if x % 10 == 0:
            raise ValueError("bad input")
        return x

    for i in range(names):
        m.gauge(f"pool_{i}").set(i)
    seen = []
    for _ in range(3):
        for x in range(50):
            try:
                predict(x)
            except ValueError:
                pass
        m.flush()
        deadline = time.time() + 5
        while time.time() < deadline and _requests(sc) <= (seen[-1] if seen else 0):
            time.sleep(0.1)
        seen.append(_requests(sc))
    m.close()
    assert seen[0] > 0 and seen[0] < seen[1] < seen[2], seen
    lat = next(o for o in sc.status()["objectives"] if o["name"] == "errors")
    assert lat["value"] == pytest.approx(0.1, abs=0.02), lat
    assert len(m._refused) <= m.max_label_values


def test_a_batch_too_large_for_the_sidecar_is_split_not_dropped(tmp_path: Path,
                                                                 sidecar_factory: Any) -> None:
    data = make_spec(tmp_path, free_port())
    data["sidecar"]["limits"] = {"max_batch": 8}
    sc = sidecar_factory(data)
    m = Monitor(parse_spec(data), registry=CollectorRegistry(), sidecar_url=sc.url,
                flush_interval=60)
    for i in range(30):
        m.queue(f"q{i}").set(i)
    assert m.flush()
    deadline = time.time() + 5
    items: dict[str, float] = {}
    while time.time() < deadline:
        items = sc.status()["sources"]["ingest"]["items"]
        if items.get("queue", 0) >= 30:
            break
        time.sleep(0.1)
    assert items.get("queue") == 30, items      # each depth once, in batches of at most 8
    assert not any(k == "rejected" for k in m.dropped), m.dropped
    m.close()
