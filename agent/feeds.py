"""What feeds each signal kind in a spec: our own series of it (the SDK's or the sidecar's) and
the scrape targets that map it. The service dashboard draws a kind's panel only where something
feeds it, with one query per feeding source, and the production test asks the same question;
pure functions of the spec and the records, so the generators ask and never decide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.signals import ORDERED, SignalKind, SignalRecord
from agent.spec.document import Objective, Spec


@dataclass(frozen=True)
class Feed:
    """``ours``: our series of the kind exist for this spec (an objective reads them, a source
    of the spec produces them, or the sidecar re-exports a scraped value into them);
    ``scraped``: (target name, mapping) of every scrape target that maps the kind."""

    kind: SignalKind
    ours: bool
    scraped: tuple[tuple[str, Any], ...] = ()

    @property
    def fed(self) -> bool:
        return self.ours or bool(self.scraped)


def reads_ours(r: SignalRecord, o: Objective) -> bool:
    """An objective of (or drawn with) the kind that reads our series of it: not a scrape
    target's, not a custom query, and for a panel of the SDK's view not a dataset file's."""
    if r.kind not in (o.signal, o.info.drawn_with):
        return False
    if o.selector.scrape is not None or o.custom is not None:
        return False
    return not (r.panel is not None and r.panel.sdk_only and o.selector.dataset is not None)


def feed(spec: Spec, r: SignalRecord) -> Feed:
    scraped = tuple((t.name, m) for t in spec.sources.scrape
                    for kind, m in t.mappings().items() if kind is r.kind)
    ours = (any(reads_ours(r, o) for o in spec.objectives)
            or (r.fed_by is not None and r.fed_by(spec.sources))
            or (r.reexport and bool(scraped)))
    return Feed(r.kind, ours, scraped)


def feeds(spec: Spec) -> dict[SignalKind, Feed]:
    """Every kind's feed, in the records' order."""
    return {r.kind: feed(spec, r) for r in ORDERED}
