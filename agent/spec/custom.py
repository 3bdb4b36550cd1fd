"""Custom SLIs: an objective on the team's own queries (Sloth/Pyrra/OpenSLO style) or on a metric
the team records with the SDK (``monitor.gauge``/``monitor.counter``).

Every query is parsed as PromQL where the spec loads (:mod:`agent.spec.promql_syntax`), so
``validate``, ``generate`` and the sidecar refuse the same queries. PromQL drives the generated
rules and dashboards; an SDK metric is what the sidecar evaluates. With only an SDK metric, the
PromQL is derived from it, so both sides read the same series.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from agent.spec.fields import StrictModel, problems_error
from agent.spec.promql_syntax import WINDOW
from agent.spec.promql_syntax import problem as query_problem
from agent.spec.signals import SIGNALS, Direction, SignalInfo, SignalKind, SLIType
from agent.units import Unit

METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class CustomSLI(StrictModel):
    """``signal: custom``: give ``value`` (a gauge-like query), or ``bad``/``good`` with ``total``
    (event queries over ``{{.window}}``, as in Sloth), and/or an SDK ``gauge``/``counter``."""

    value: str | None = Field(default=None, description="PromQL for the current value")
    bad: str | None = Field(default=None, description="PromQL: bad events over {{.window}}")
    good: str | None = Field(default=None, description="PromQL: good events over {{.window}}")
    total: str | None = Field(default=None, description="PromQL: all events over {{.window}}")
    error_ratio: str | None = Field(default=None, description="PromQL: the error ratio itself "
                                    "(Sloth's raw SLI), over {{.window}} or a fixed range; the "
                                    "budget is its average over the window")
    gauge: str | None = Field(default=None, description="an SDK gauge (monitor.gauge(name)) the "
                              "sidecar evaluates: its latest value")
    counter: str | None = Field(default=None, description="an SDK counter (monitor.counter("
                                "name)) the sidecar evaluates: its rate per second")
    unit: Unit = Field(default=Unit.COUNT, description="unit of the value and the thresholds")
    higher_is_worse: bool = True
    title: str | None = None

    @field_validator("value", "bad", "good", "total", "error_ratio", mode="after")
    @classmethod
    def _query(cls, v: str | None) -> str | None:
        if v is not None and (problem := query_problem(v)):
            raise PydanticCustomError("spec_value", "not a PromQL query: {problem}",
                                      {"problem": problem})
        return v

    @field_validator("gauge", "counter", mode="after")
    @classmethod
    def _metric(cls, v: str | None) -> str | None:
        if v is not None and not METRIC_NAME_RE.match(v):
            raise PydanticCustomError("spec_value", "a Prometheus metric name such as "
                                      "checkout_queue_age_seconds ([a-zA-Z_:][a-zA-Z0-9_:]*)")
        return v

    @model_validator(mode="after")
    def _shape(self) -> CustomSLI:
        problems: list[tuple[str, str, Any]] = []
        events = self.bad is not None or self.good is not None
        if self.error_ratio is not None and (events or self.total is not None
                                             or self.value is not None):
            problems.append(("error_ratio", "give error_ratio alone: it is the whole SLI",
                             self.error_ratio))
        if self.bad is not None and self.good is not None:
            problems.append(("good", "give bad or good, not both", self.good))
        if events and self.total is None:
            problems.append(("total", "bad/good events need total (all events over "
                             "{{.window}})", None))
        if self.total is not None and not events:
            problems.append(("total", "total needs bad or good", self.total))
        for key in ("bad", "good", "total"):
            q = getattr(self, key)
            if q is not None and WINDOW not in q:
                problems.append((key, "an events query must use the {{.window}} placeholder, "
                                 "e.g. sum(rate(http_requests_total[{{.window}}]))", q))
        if events and self.value is not None:
            problems.append(("value", "give value or bad/good with total, not both", self.value))
        if self.gauge is not None and self.counter is not None:
            problems.append(("counter", "give gauge or counter, not both", self.counter))
        events = events or self.error_ratio is not None
        if not (events or self.value or self.gauge or self.counter):
            problems.append(("value", "a custom SLI needs a query (value, or bad/good with "
                             "total) or an SDK metric (gauge or counter)", None))
        if events and self.unit is not Unit.RATIO:
            if "unit" in self.model_fields_set:
                problems.append(("unit", "an events SLI is a ratio of bad to total events; "
                                 "its unit is ratio", self.unit.value))
            self.unit = Unit.RATIO
        if events and not self.higher_is_worse:
            problems.append(("higher_is_worse", "an events SLI is the bad share, higher is "
                             "worse", False))
        if problems:
            raise problems_error(problems)
        return self

    @property
    def events(self) -> bool:
        """An events SLI: bad/good with total, or a raw error ratio (a ratio of events too)."""
        return self.total is not None or self.error_ratio is not None

    def signal_info(self) -> SignalInfo:
        base = SIGNALS[SignalKind.CUSTOM]
        return replace(base, title=self.title or base.title, unit=self.unit,
                       direction=Direction.HIGHER_IS_WORSE if self.higher_is_worse
                       else Direction.LOWER_IS_WORSE,
                       sli=SLIType.EVENTS if self.events else SLIType.TIMESLICES,
                       grafana_unit={Unit.SECONDS: "s", Unit.RATIO: "percentunit",
                                     Unit.USD: "currencyUSD", Unit.CELSIUS: "celsius",
                                     Unit.PER_SECOND: "reqps"}.get(self.unit, "short"))


def at_window(query: str, window: str) -> str:
    return query.replace(WINDOW, window)
