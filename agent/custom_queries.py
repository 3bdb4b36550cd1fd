"""PromQL of a custom SLI: the team's own queries placed at a window (Sloth's ``{{.window}}``),
events as a ratio, or a value derived from a custom SDK metric. The plan asks here for custom
objectives; pure functions of the spec's custom block and the catalogue."""

from __future__ import annotations

from agent import catalogue as cat
from agent.spec.custom import CustomSLI, at_window


def custom_metric_series(c: CustomSLI) -> str:
    """The exported name of a custom SDK metric (counters gain ``_total``)."""
    if c.counter is not None:
        return c.counter if c.counter.endswith("_total") else c.counter + "_total"
    assert c.gauge is not None
    return c.gauge


def custom_value_expr(c: CustomSLI, service: str, window: str) -> str:
    """The team's value query; bad/total as a ratio; or one derived from the SDK metric."""
    if c.error_ratio is not None:
        return at_window(c.error_ratio, window)
    if c.events:
        bad, total = custom_events_expr(c, window)
        return f"({bad}) / ({total})"
    if c.value is not None:
        return at_window(c.value, window)
    m = cat.label_matchers({cat.SERVICE_LABEL: service})
    if c.counter is not None:
        return f"sum(rate({custom_metric_series(c)}{m}[{window}]))"
    return f"max({custom_metric_series(c)}{m})"


def custom_events_expr(c: CustomSLI, window: str) -> tuple[str, str]:
    if c.error_ratio is not None:
        # a raw error ratio counts as one event per evaluation: windows average it (Sloth's
        # budget is the mean error ratio over the period)
        ratio = at_window(c.error_ratio, window)
        return f"({ratio})", f"({ratio}) * 0 + 1"
    assert c.total is not None
    total = at_window(c.total, window)
    if c.bad is not None:
        return at_window(c.bad, window), total
    assert c.good is not None
    return f"({total}) - ({at_window(c.good, window)})", total
