"""PromQL over a scrape target's own series (presets: vLLM, TGI, Triton, TorchServe), shaped by
the record of the kind a mapping feeds: a quantile, a rate, a ratio of counters or a gauge
combined across the target's series as the record aggregates (the sidecar's scraper alike)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent import catalogue as cat
from agent.signals.record import Judge, SignalRecord
from agent.units import Unit


def _sel(name: str, labels: Mapping[str, str], suffix: str = "",
         extra: Mapping[str, str] | None = None) -> str:
    return name + suffix + cat.label_matchers({**labels, **(extra or {})})


def scraped_events(r: SignalRecord, m: Any, window: str, threshold: float | None = None,
                   fn: str = "increase") -> tuple[str, str]:
    """(bad, total) over a server's own counters or histogram buckets."""
    w = window
    if m.is_ratio:
        total = f"sum({fn}({_sel(m.total, m.labels)}[{w}]))" if m.total else None
        bad = f"sum({fn}({_sel(m.bad, m.labels, extra=m.bad_labels)}[{w}]))" if m.bad else None
        good = f"sum({fn}({_sel(m.good, m.labels)}[{w}]))" if m.good else None
        if total is None:
            assert bad is not None and good is not None
            total = f"({bad} + {good})"
        if bad is None:
            assert good is not None
            bad = f"({total} - {good})"
        return bad, total
    if r.quantile and m.metric and threshold is not None:
        total = f"sum({fn}({_sel(m.metric, m.labels, '_count')}[{w}]))"
        le = {'le': cat.le_value(threshold)}
        good = f"sum({fn}({_sel(m.metric, m.labels, '_bucket', le)}[{w}]))"
        return f"{total} - {good}", total
    raise ValueError(f"{r.kind.value} from this mapping has no events")


def scraped_value(r: SignalRecord, m: Any, window: str, quantile: float | None = None) -> str:
    """PromQL over a scrape target's own series, as the sidecar computes from its scrapes."""
    w = window
    if m.is_ratio:
        bad, total = scraped_events(r, m, w, fn="rate")
        ratio = f"({bad}) / ({total})"
        return f"1 - {ratio}" if r.judge is Judge.GOOD_RATIO else ratio
    if m.sum is not None and m.count is not None:
        return (f"sum(rate({_sel(m.sum, m.labels)}[{w}])) / "
                f"sum(rate({_sel(m.count, m.labels)}[{w}])) * {m.scale:.10g}")
    assert m.metric is not None
    if r.quantile:
        q = 0.95 if quantile is None else quantile
        return (f"histogram_quantile({q:g}, sum by (le) "
                f"(rate({_sel(m.metric, m.labels, '_bucket')}[{w}])))")
    if r.unit is Unit.PER_SECOND:
        return f"sum(rate({_sel(m.metric, m.labels)}[{w}]))"
    return r.aggregation.promql(_sel(m.metric, m.labels))
