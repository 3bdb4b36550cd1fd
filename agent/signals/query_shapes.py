"""PromQL shapes shared by the records: a gauge, a counter ratio, a histogram quantile, a drift
score. Each builder returns the callables a record holds; metric names come from the catalogue.
"""

from __future__ import annotations

from agent import catalogue as cat
from agent.signals.record import ColumnLevels, PromEvents, PromValue, Query, Source


def with_(matchers: str, *more: str) -> str:
    """Matchers plus more (already formatted) ones: ``{a="x"}`` + ``b="y"``."""
    inner = matchers[1:-1] if matchers else ""
    parts = [p for p in (inner, *more) if p]
    return "{" + ",".join(parts) + "}" if parts else ""


def gauge(agg: str, metric: cat.Metric) -> PromValue:
    return lambda q: f"{agg}({metric.name}{q.m})"


def series(metric: cat.Metric, suffix: str = "") -> Source:
    return lambda q: metric.name + suffix


def counter_events(metric: cat.Metric, bad: str, window: str | None = None) -> PromEvents:
    """(bad, total) from one counter whose label ``bad`` (``result="miss"``) marks bad events;
    ``window`` pins the window (a job's day) instead of the query's."""
    def events(q: Query) -> tuple[str, str]:
        w = window or q.w
        return (f"sum({q.fn}({metric.name}{with_(q.m, bad)}[{w}]))",
                f"sum({q.fn}({metric.name}{q.m}[{w}]))")
    return events


def ratio(events: PromEvents, good: bool = False, fn: str = "rate") -> PromValue:
    """The bad share of ``events``, or the good share (1 - bad share)."""
    def value(q: Query) -> str:
        bad, total = events(Query(q.m, q.w, fn=fn))
        text = f"({bad}) / ({total})"
        return f"1 - {text}" if good else text
    return value


def wilson_bound(bad: str, total: str, z: float, good: bool = False) -> str:
    """PromQL of the Wilson score bound of a share from its (bad, total) event counts, as
    :func:`detectors.rates.wilson_interval` computes it: the lower bound of the bad share, or
    for ``good`` the upper bound of the good share (one minus that lower bound). Written over
    the counts, ``(b + z²/2 - z·sqrt(b·(1 - b/n) + z²/4)) / (n + z²)``, so each evaluation
    reads five series, not seven."""
    z2 = z * z
    lower = (f"clamp((\n  {bad} + {z2 / 2:.17g}\n  - {z:.17g} * sqrt({bad} * (1 - {bad} / "
             f"{total}) + {z2 / 4:.17g})\n) / ({total} + {z2:.17g}), 0, 1)")
    return f"1 - {lower}" if good else lower


def hist_quantile(hist: cat.Metric) -> PromValue:
    def value(q: Query) -> str:
        quant = 0.95 if q.quantile is None else q.quantile
        return (f"histogram_quantile({quant:g}, sum by (le) "
                f"(rate({hist.name}_bucket{q.m}[{q.w}])))")
    return value


def hist_events(hist: cat.Metric) -> PromEvents:
    """Bad = total minus the bucket at the SLI level: exact, because the SDK places a bucket on
    every level the spec names."""
    def events(q: Query) -> tuple[str, str]:
        if q.threshold is None:
            raise ValueError(f"{hist.name} events need a threshold")
        total = f"sum({q.fn}({hist.name}_count{q.m}[{q.w}]))"
        le = with_(q.m, 'le="' + cat.le_value(q.threshold) + '"')
        good = f"sum({q.fn}({hist.name}_bucket{le}[{q.w}]))"
        return f"{total} - {good}", total
    return events


DriftSet = tuple[cat.Metric, cat.Metric, cat.Metric]   # score, effect, adjusted p-value


def drift_source(sdk: DriftSet, dataset: DriftSet, counts: tuple[str, ...] = ()) -> Source:
    """The series a drift objective's no-data alert watches: a dataset file's gauges, or for
    SDK windows the mergeable counts ``counts`` (``__name__`` alternatives), which every replica
    with a reference exports from the first sample on, so the alert fires only when the whole
    service is silent, never while a replica's own window is still filling."""
    def source(q: Query) -> str:
        score, effect, _ = dataset if q.dataset else sdk
        if counts and not q.dataset:
            return counts[0] if len(counts) == 1 else \
                '{__name__=~"' + "|".join(counts) + '"}'
        return (score if q.alpha is None else effect).name
    return source


def select(source: str, matchers: str) -> str:
    """``name`` + ``{a="x"}``, or a ``{__name__=~…}`` selector with the matchers merged in."""
    if source.startswith("{"):
        return with_(source, *([matchers[1:-1]] if matchers else []))
    return source + matchers


def drift_value(sdk: DriftSet, dataset: DriftSet) -> PromValue:
    def value(q: Query) -> str:
        score, effect, p_value = dataset if q.dataset else sdk
        if q.alpha is None:
            return f"max({score.name}{q.m})"
        return f"max({effect.name}{q.m} * ({p_value.name}{q.m} < bool {q.alpha:.10g}))"
    return value


def either(sdk: cat.Metric, dataset: cat.Metric) -> tuple[PromValue, Source]:
    """A share read from the SDK's series or a dataset file's (new categories)."""
    def pick(q: Query) -> cat.Metric:
        return dataset if q.dataset else sdk
    return (lambda q: f"max({pick(q).name}{q.m})"), (lambda q: pick(q).name)


def drift_columns(sdk: DriftSet, dataset: DriftSet, thresholds: tuple[cat.Metric, cat.Metric]
                  ) -> ColumnLevels:
    """For a drift objective judged against thresholds calibrated on the reference: (the
    columns whose effect exceeds their own exported threshold, the threshold series to draw).
    Matched per column with ``on(...)`` over the score's labels, the threshold's ``source``
    aside."""
    def levels(q: Query) -> tuple[str, str]:
        score, effect, p_value = dataset if q.dataset else sdk
        threshold = thresholds[1] if q.dataset else thresholds[0]
        value = f"{score.name}{q.m}" if q.alpha is None else \
            f"({effect.name}{q.m} * ({p_value.name}{q.m} < bool {q.alpha:.10g}))"
        line = f"max without (source) ({threshold.name}{q.m})"
        return f"{value} > on({', '.join(score.labels)}) {line}", line
    return levels
