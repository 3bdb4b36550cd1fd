"""Per-objective SLI plan: the PromQL, recorded series and names that both generators share.

Alert rules and dashboards read the same plan, so a panel shows exactly what an alert evaluates and
an alert links to exactly the panel that shows it. Pure functions of the spec and the catalogue.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from agent import catalogue as cat
from agent.custom_queries import (
    custom_events_expr,
    custom_metric_series,
    custom_value_expr,
)
from agent.signals import Judge, Query, record, scraped
from agent.signals.fleet import Fleet, fleet_of
from agent.signals.query_shapes import select, wilson_bound
from agent.spec.custom import WINDOW
from agent.spec.document import Objective, Spec, TierWindows
from agent.spec.promql_syntax import counting_function
from agent.spec.signals import SLIType
from agent.units import Base, Threshold, format_duration
from detectors.quality import NULL_MIN_ROWS
from detectors.rates import MIN_EVENTS, Z_99


def prom_duration(seconds: float) -> str:
    return format_duration(seconds)


_WORD_BREAK = re.compile(r"[^A-Za-z0-9]+")


@lru_cache(maxsize=4096)        # asked five times per objective by one generate
def camel(name: str) -> str:
    """``fraud-latency-p95`` → ``FraudLatencyP95``: a valid, readable alert name."""
    parts = [p for p in _WORD_BREAK.split(name) if p]
    out = "".join(p[:1].upper() + p[1:] for p in parts) or "Objective"
    return out if out[0].isalpha() else "Slo" + out


@lru_cache(maxsize=4096)
def _uid(*parts: str) -> str:
    """Grafana uids are at most 40 characters; long names keep a readable prefix plus a hash.
    Memoised (bounded): every alert of an objective links to its dashboard by uid."""
    text = "-".join(re.sub(r"[^a-zA-Z0-9_-]+", "-", p).strip("-").lower() for p in parts)
    if len(text) <= 40:
        return text
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return text[:31].rstrip("-") + "-" + digest


def dashboard_uid(spec: Spec) -> str:
    return _uid("slo", spec.service)


def detail_uid(spec: Spec, o: Objective) -> str:
    return _uid("slo", spec.service, o.name)


def panel_url(spec: Spec, o: Objective, panel_id: int = 1) -> str:
    base = spec.alerting.grafana_url.rstrip("/")
    return f"{base}/d/{detail_uid(spec, o)}?viewPanel={panel_id}"


def runbook_url(spec: Spec, o: Objective) -> str | None:
    if o.runbook:
        return o.runbook
    template = spec.alerting.runbook_url
    if not template:
        return None
    return template.replace("{objective}", o.name).replace("{service}", spec.service)


@dataclass(frozen=True)
class Level:
    """One threshold as PromQL: a constant, or the sidecar's resolved (learned-baseline) series."""

    severity: str          # warning | critical
    threshold: Threshold
    constant: float | None  # None: compare with the sidecar's exported threshold series
    text: str              # human text, e.g. "250ms" or "2x baseline"
    #: calibrated per column: PromQL of the columns past their own level, and of the levels
    per_column: str | None = None
    line: str | None = None


@dataclass(frozen=True)
class ObjectivePlan:
    spec: Spec
    objective: Objective

    # -- names and labels -----------------------------------------------------------------
    @property
    def o(self) -> Objective:
        return self.objective

    @property
    def alert_base(self) -> str:
        return camel(self.o.name)

    @property
    def burn_alert_name(self) -> str:
        """The team's own name (Sloth's alerting.name) or one derived from the objective."""
        return self.o.alert_name or f"{self.alert_base}ErrorBudgetBurn"

    @property
    def labels(self) -> dict[str, str]:
        return {cat.SERVICE_LABEL: self.spec.service, "objective": self.o.name,
                "signal": self.o.signal.value}

    @cached_property
    def rec_matchers(self) -> str:
        return cat.label_matchers({cat.SERVICE_LABEL: self.spec.service,
                                   "objective": self.o.name})

    @property
    def raw_labels(self) -> dict[str, str]:
        return cat.selector_labels(self.spec.service, self.o.selector.items())

    @cached_property
    def matchers(self) -> str:
        return cat.label_matchers(self.raw_labels)

    @cached_property
    def step(self) -> str:
        return prom_duration(self.spec.alerting.rate_window)

    # -- expressions ----------------------------------------------------------------------
    def value_expr(self, matchers: str | None = None, window: str | None = None) -> str:
        if self.o.custom is not None:
            return custom_value_expr(self.o.custom, self.spec.service, window or self.step)
        if self.scraped is not None:
            return scraped.scraped_value(self.record, self.scraped, window or self.step,
                                         self.o.quantile)
        value = self.record.value
        if value is None:
            raise ValueError(f"{self.o.signal.value}: no value PromQL in its record")
        return value(self.query(self.matchers if matchers is None else matchers,
                                window or self.step))

    @cached_property
    def record(self) -> Any:
        """The record of the objective's kind (:mod:`agent.signals`)."""
        return record(self.o.signal)

    def query(self, matchers: str, window: str, fn: str = "rate") -> Query:
        """What the record's PromQL builders are given for this objective."""
        return Query(matchers, window, self.o.quantile, self.o.selector.dataset is not None,
                     self.o.alpha, self.o.good_threshold, fn, self.fleet)

    @cached_property
    def fleet(self) -> Fleet:
        """The spec's drift settings the fleet drift rules of a record read."""
        return fleet_of(self.spec.drift, self.o, self.raw_labels, self.rec_matchers)

    def recordings(self) -> list[tuple[str, str]]:
        """Intermediate series the record's value reads (the fleet drift statistics), recorded
        before the value in the objective's rule group."""
        build = None if self.o.custom or self.scraped else self.record.recordings
        return [] if build is None else build(self.query(self.matchers, self.step))

    @property
    def settle(self) -> float | None:
        """Seconds an input change takes to leave the value (longer than a rate window)."""
        s = self.record.settle if self.o.custom is None else None
        return s(self.query(self.matchers, self.step)) if callable(s) else s

    def events(self, window: str) -> tuple[str, str]:
        """(bad, total) increases over ``window`` from the record."""
        events = self.record.events
        if events is None:
            raise ValueError(f"{self.o.signal.value} is not an event-based signal")
        return events(self.query(self.matchers, window, "increase"))

    @property
    def value_series(self) -> str:
        return f"{cat.RULE_VALUE}{self.rec_matchers}"

    @cached_property
    def levels(self) -> list[Level]:
        out = []
        unit = self.o.info.unit
        for severity, t in (("warning", self.o.warning_threshold),
                            ("critical", self.o.critical_threshold)):
            if t is None:
                continue
            if t.base is None:
                constant: float | None = t.value
            elif t.base is Base.BUDGET:
                constant = t.resolve(self.o.daily_budget)
            else:
                constant = t.resolve(self.o.pinned_baseline)
            columns = self.record.column_levels if severity == "warning" else None
            if columns is not None and self.o.custom is None \
                    and self.o.drift_calibration(self.spec.drift.calibration) is not None:
                past, line = columns(self.query(self.matchers, self.step))
                out.append(Level(severity, t, None, "(calibrated per column)", past,
                                 line))
                continue
            out.append(Level(severity, t, constant, t.describe(unit)))
        return out

    @property
    def comparator(self) -> str:
        return ">" if self.o.info.higher_is_worse else "<"

    def level_expr(self, level: Level) -> str:
        if level.constant is not None:
            return f"{level.constant:.10g}"
        metric = cat.OBJECTIVE_WARNING if level.severity == "warning" else cat.OBJECTIVE_CRITICAL
        return (f"max by ({cat.SERVICE_LABEL}, objective, signal) "
                f"({metric.name}{self.rec_matchers})")

    def threshold_expr(self, level: Level) -> str:
        """The value past the level, judged as the sidecar judges it: a ratio on its Wilson
        bound with at least :data:`MIN_EVENTS` events in the rate window (the value stays the
        alert's ``$value``); a lower-is-worse rate once its rate window is covered by data."""
        if level.per_column is not None:     # any column past its own calibrated level
            return f"{self.value_series} and on() (count({level.per_column}) > 0)"
        rhs = self.level_expr(level)
        on = "" if level.constant is not None else \
            f" on({cat.SERVICE_LABEL}, objective, signal)"
        rows = None if self.o.custom is not None or self.scraped else self.record.rows
        if self.record.judge is Judge.ROWS_RATIO and rows is not None:
            return self.rows_share_past(f"{on} {rhs}".lstrip(),
                                        rows(self.query(self.matchers, self.step)))
        if self.bounded:
            return (f"{self.value_series}\nand\n({self.bound_series} {self.comparator}{on} "
                    f"{rhs})\nand\n({self.total_name}{self.rec_matchers} >= {MIN_EVENTS})")
        return f"{self.value_series} {self.comparator}{on} {rhs}{self.covered_guard}"

    @property
    def covered_guard(self) -> str:
        """What a lower-is-worse rate's levels and time slices are judged under: its rate
        window is covered (its series held a sample one window ago), as the sidecar judges
        (a window after its first counted event); '' for every other kind."""
        if not self.o.info.judged_once_covered:
            return ""
        return f"\nand on()\ncount({self.absent_selector} offset {self.step})"

    def rows_share_past(self, level: str, rows: str) -> str:
        """A share of rows past ``level`` as the sidecar judges it
        (:func:`detectors.rates.ratio_status`): the bound of its 99 % Wilson interval on the
        side that matters passes the level, on at least
        :data:`detectors.quality.NULL_MIN_ROWS` rows. The alert's value stays the share."""
        p, n = self.value_series, f"scalar({rows})"
        # the same bound as the event ratios', over the batch's counts (share times rows)
        bound = (wilson_bound(f"({p} * {n})", n, Z_99) if self.o.info.higher_is_worse
                 else wilson_bound(f"((1 - {p}) * {n})", n, Z_99, good=True))
        return (f"{p} and ({bound} {self.comparator} {level}) "
                f"and on() ({rows} >= {NULL_MIN_ROWS})")

    # -- a ratio's confidence bound (what the sidecar judges) -------------------------------
    @property
    def bounded(self) -> bool:
        """Judged on the Wilson bound of its event share (not a team's own query)."""
        return self.o.custom is None and self.record.bounded

    @property
    def bound_series(self) -> str:
        return f"{cat.RULE_BOUND}{self.rec_matchers}"

    def bound_expr(self) -> str:
        """The 99 % Wilson bound (z as the sidecar's) of the recorded step's share on the side
        that matters: the lower bound of a bad share, the upper bound of a good share."""
        return wilson_bound(f"{self.bad_name}{self.rec_matchers}",
                            f"{self.total_name}{self.rec_matchers}", Z_99,
                            good=self.record.judge is Judge.GOOD_RATIO)

    # -- error-budget SLI -------------------------------------------------------------------
    @property
    def sli_type(self) -> SLIType:
        return self.o.info.sli

    @property
    def bad_name(self) -> str:
        return f"{cat.RULE_SLI_BAD}{self.step}"

    @property
    def total_name(self) -> str:
        return f"{cat.RULE_SLI_TOTAL}{self.step}"

    def sli_step_exprs(self) -> tuple[str, str]:
        """(bad, total) recorded at the step; windows are ratios of their sums."""
        if self.o.custom is not None and self.o.custom.events:
            return custom_events_expr(self.o.custom, self.step)
        if self.scraped is not None and self.sli_type is SLIType.EVENTS:
            return scraped.scraped_events(self.record, self.scraped, self.step,
                                          threshold=self.o.good_threshold)
        if self.sli_type is SLIType.EVENTS:
            return self.events(self.step)
        level = self.o.good_threshold
        assert level is not None
        cmp = ">" if self.o.info.higher_is_worse else "<"
        # a slice while the rate window fills is unknown (neither good nor bad): recorded not
        guard = self.covered_guard
        return (f"{self.value_series} {cmp} bool {level:.10g}{guard}",
                f"{self.value_series} * 0 + 1{guard}")

    @property
    def window_seconds(self) -> list[float]:
        """Every window an error ratio is needed for: tiers' long and short, and compliance."""
        seen = {self.spec.alerting.rate_window, self.o.window}
        for t in self.tiers:
            seen.update((t.long, t.short))
        return sorted(s for s in seen if s >= self.spec.alerting.rate_window)

    def ratio_name(self, seconds: float) -> str:
        return f"{cat.RULE_ERROR_RATIO}{prom_duration(seconds)}"

    @property
    def coverage_seconds(self) -> list[float]:
        """Burn windows longer than the SLI step: each may hold less data than its length."""
        step = self.spec.alerting.rate_window
        return sorted({w for t in self.tiers for w in (t.long, t.short) if w > step})

    @property
    def history_name(self) -> str:
        return cat.RULE_HISTORY

    @property
    def coverage_selector(self) -> str:
        """The series whose samples show how much history there is: the raw series the events
        are counted from (so history that predates the rules counts), else the recorded step
        total (time slices, a custom query)."""
        if self.sli_type is SLIType.EVENTS and self.o.custom is None:
            return self.absent_selector
        return f"{self.total_name}{self.rec_matchers}"

    def window_events(self, seconds: float) -> tuple[str, str] | None:
        """(bad, total) taken directly over a window, as Sloth records each window: no lag from
        summing step recordings. None where the SLI is only known per step (time slices, a raw
        error ratio without {{.window}})."""
        w = prom_duration(seconds)
        c = self.o.custom
        if c is not None:
            if c.error_ratio is not None and WINDOW not in c.error_ratio:
                return None
            return custom_events_expr(c, w) if c.events else None
        if self.sli_type is not SLIType.EVENTS:
            return None
        if self.scraped is not None:
            return scraped.scraped_events(self.record, self.scraped, w,
                                          threshold=self.o.good_threshold)
        return self.events(w)

    @property
    def slices(self) -> bool:
        """The SLI step records one time slice per evaluation (not the step's events)."""
        c = self.o.custom
        return not (c is not None and c.events) and self.sli_type is not SLIType.EVENTS

    def ratio_expr(self, seconds: float) -> str:
        # the step's own ratio is the window's only where it counts the step's events: a time
        # slice is one evaluation, so a window of time slices sums them, the step's included
        if seconds == self.spec.alerting.rate_window and not self.slices:
            return (f"{self.bad_name}{self.rec_matchers} / {self.total_name}{self.rec_matchers}")
        direct = self.window_events(seconds) if seconds != self.o.window else None
        c = self.o.custom
        if direct is not None and c is not None and c.error_ratio is not None:
            return direct[0]            # the team's error ratio over this very window
        if direct is not None:
            bad, total = direct
            return f"({bad})\n/\n({total})"
        # the compliance window (and step-only SLIs): events summed over the step recordings
        w = prom_duration(seconds)
        return (f"sum_over_time({self.bad_name}{self.rec_matchers}[{w}]) / "
                f"sum_over_time({self.total_name}{self.rec_matchers}[{w}])")

    def bad_events_expr(self, seconds: float) -> str | None:
        """Bad events in a window, for the page tiers' minimum-events guard; None where the SLI
        carries no event counts (a raw error ratio, time slices, a query that is neither a rate
        nor an increase)."""
        c = self.o.custom
        w = prom_duration(seconds)
        if c is not None:
            if c.bad is None and c.good is None:
                return None
            fn = counting_function(c.bad if c.bad is not None else c.total or "")
            if fn is None:
                return None
            bad, _ = custom_events_expr(c, w)
            return f"({bad}) * {seconds:g}" if fn == "rate" else f"({bad})"
        if self.sli_type is not SLIType.EVENTS:
            return None
        pair = self.window_events(seconds)
        if pair is None or self.scraped is not None:
            return None
        return pair[0]

    @cached_property
    def tiers(self) -> list[TierWindows]:
        """Fitted once per plan (a plan lives for one generation): the rule, test and dashboard
        builders read them tens of times per objective."""
        return self.spec.tiers_for(self.o)

    def tier_threshold(self, tier: TierWindows) -> float:
        """Error-ratio level of a tier: factor × error budget."""
        return tier.factor * self.o.error_budget

    def burn_expr(self, seconds: float) -> str:
        return f"{self.ratio_name(seconds)}{self.rec_matchers} / {self.o.error_budget:.10g}"

    @property
    def scraped(self) -> Any:
        """The scrape target's mapping when the objective reads a server's own series."""
        if self.o.selector.scrape is None:
            return None
        target = self.spec.scrape_target(self.o.selector.scrape)
        return None if target is None else target.mappings().get(self.o.signal)

    @property
    def absent_selector(self) -> str:
        """What the no-data alert watches: the raw series, or for a custom query its recorded
        value (a query over the team's own series returns nothing when they are missing)."""
        m = self.scraped
        if m is not None:
            name = m.series() + ("_count" if m.metric is not None and self.o.info.quantile
                                 else "")
            return name + cat.label_matchers(m.labels)
        c = self.o.custom
        if c is not None:
            if c.value is None and not c.events:
                return custom_metric_series(c) + cat.label_matchers(
                    {cat.SERVICE_LABEL: self.spec.service})
            return self.value_series
        return select(self.source_series, self.matchers)

    @property
    def source_series(self) -> str:
        if self.scraped is not None:
            return str(self.scraped.series())
        if self.o.custom is not None:
            return custom_metric_series(self.o.custom) if self.o.custom.value is None \
                and not self.o.custom.events else cat.RULE_VALUE
        source = self.record.source
        if source is None:
            raise ValueError(f"{self.o.signal.value}: no source series in its record")
        return str(source(self.query(self.matchers, self.step)))


def plans(spec: Spec) -> list[ObjectivePlan]:
    """One plan per objective; alert base names are made unique."""
    out = [ObjectivePlan(spec, o) for o in spec.objectives]
    names = [p.alert_base for p in out]
    if len(set(names)) != len(names):
        raise ValueError("objective names collide once turned into alert names: "
                         + ", ".join(sorted({n for n in names if names.count(n) > 1})))
    return out


__all__ = ["Level", "ObjectivePlan", "camel", "custom_events_expr", "custom_metric_series",
           "custom_value_expr", "dashboard_uid", "detail_uid", "panel_url", "plans",
           "prom_duration", "runbook_url"]
