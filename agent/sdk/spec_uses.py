"""What a spec reads of the SDK's output: the decorator pays per call only for what an objective
can read (a request id where feedback is joined, a stream's item timings where TTFT or the
inter-token time is an objective)."""

from __future__ import annotations

from typing import Any

from agent import catalogue as cat


def reads_feedback(spec: Any) -> bool:
    """An objective of the spec reads the feedback counter: a kind whose record's source is it,
    or a custom SLI that names it."""
    return _reads(spec, (cat.FEEDBACK.name,))


def reads_stream_timings(spec: Any) -> bool:
    """An objective of the spec reads a stream's time to first item or its gaps (the TTFT and
    inter-token histograms): only then does a stream pay a clock read and an append per
    item."""
    return _reads(spec, (cat.TTFT.name, cat.INTER_TOKEN.name))


def _reads(spec: Any, names: tuple[str, ...]) -> bool:
    """An objective's source (its record's, or a custom SLI's text) names one of ``names``."""
    from agent.signals import Query, record

    for o in getattr(spec, "objectives", ()):
        if o.custom is not None:
            text = o.custom.model_dump_json()
            if any(name in text for name in names):
                return True
            continue
        source = record(o.signal).source
        if source is not None and str(source(Query())).startswith(names):
            return True
    return False
