"""What a scrape of /metrics serves: the families the last tick published (as the text it
rendered), then the few live counters read from the engine at the scrape itself (ingest,
snapshots, webhooks, the publication's age, the sidecar's own limits), and DCGM's families on
their own port. Kept apart from :mod:`.exposition`, which builds the tick's families."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import InfoMetricFamily
from prometheus_client.registry import Collector

from agent import catalogue as cat
from agent.families import family as _fam
from agent.sidecar.view import EngineView


class Live(Collector):
    """The counters a scrape reads live from the engine (ingest, snapshots, webhooks, the
    publication's age): few series, rendered per scrape after the tick's text."""

    def __init__(self, engine: EngineView) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Any]:
        return iter(())

    def collect(self) -> Iterator[Any]:
        eng = self.engine
        svc = eng.spec.service
        for metric, table in ((cat.INGEST_BATCHES, eng.counters.batches),
                              (cat.INGEST_SAMPLES, eng.counters.samples),
                              (cat.INGEST_DROPPED, eng.counters.dropped),
                              (cat.SNAPSHOTS, eng.counters.snapshots),
                              (cat.WEBHOOKS, eng.counters.webhooks),
                              (cat.PUBLICATION_ERRORS, eng.counters.publish_errors),
                              (cat.OTLP_POINTS, dict(eng.otlp.points)),
                              (cat.CARDINALITY_OVERFLOW, eng.admission.report()["overflow"]),
                              (cat.HTTP_CLOSED, eng.counters.http_closed)):
            fam = _fam(metric)
            for key, value in sorted(table.items()):
                fam.add_metric([svc, key], value)
            yield fam
        if eng.published_at is not None:
            age = _fam(cat.PUBLICATION_AGE)
            age.add_metric([svc], max(0.0, eng.clock() - eng.published_at))
            yield age
        size = _fam(cat.SNAPSHOT_BYTES)
        size.add_metric([svc], float(eng.snapshot_bytes))
        yield size
        yield from _edges(eng)
        build = InfoMetricFamily(cat.BUILD_INFO.client_name, cat.BUILD_INFO.help,
                                 labels=[cat.SERVICE_LABEL])
        from agent import __version__

        build.add_metric([svc], {"version": __version__})
        yield build


class Published(Live):
    """Every family a scrape serves: the last tick's, then the live counters. /metrics sends
    the tick's families as the text the tick rendered (:func:`scrape`), the same bytes."""

    def collect(self) -> Iterator[Any]:
        yield from self.engine.published
        yield from super().collect()


def scrape(engine: EngineView, live: Any) -> bytes:
    """The /metrics body: the tick's rendered families, then ``live`` (a registry of
    :class:`Live`) rendered now; what ``generate_latest`` of :class:`Published` writes."""
    from prometheus_client.exposition import generate_latest

    return engine.published_text + generate_latest(live)


def _edges(eng: EngineView) -> Iterator[Any]:
    """Live gauges of the sidecar's own limits: the last good snapshot's age, inbox bytes."""
    svc = eng.spec.service
    age = eng.snapshots.age(eng.clock())
    for metric, value in ((cat.SNAPSHOT_AGE, age), (cat.INBOX_BYTES, float(eng.inbox_bytes))):
        if value is not None:
            fam = _fam(metric)
            fam.add_metric([svc], value)
            yield fam


class DCGMPublished(Collector):
    def __init__(self, engine: EngineView) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Any]:
        return iter(())

    def collect(self) -> Iterator[Any]:
        yield from self.engine.published_dcgm
