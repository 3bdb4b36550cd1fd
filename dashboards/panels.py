"""Small helpers over grafana-foundation-sdk: queries, thresholds and value mappings from the spec,
panel kinds. Every builder takes a description: a panel nobody can read is a panel nobody keeps."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from grafana_foundation_sdk.builders import stat, statetimeline, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, ReduceDataOptions
from grafana_foundation_sdk.builders.dashboard import DashboardLink, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    DynamicConfigValue,
    GridPos,
    RangeMap,
    RegexMap,
    SpecialValueMap,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
)

from agent import catalogue as cat
from agent.signals import STATE_NAMES
from agent.sli import ObjectivePlan
from agent.spec.signals import SIGNALS, SignalKind
from detectors.thresholds import Status, classify

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
GREEN, YELLOW, RED, GREY = "green", "#EAB839", "red", "text"
STATUS_COLOR = {Status.OK: GREEN, Status.WARNING: YELLOW, Status.CRITICAL: RED,
                Status.NO_DATA: GREY}
#: Grafana's custom-unit syntax: burn rates are multiples of the sustainable spend
BURN_UNIT = "suffix:×"

# dashboard variables every panel narrows by; model/version only where the series has them
VAR_INSTANCE = 'instance=~"$instance"'
VAR_MODEL = ('model=~"$model"', 'version=~"$version"')
Mapping = ValueMap | RangeMap | RegexMap | SpecialValueMap
Levels = tuple[float | None, float | None]


def matchers(service: str, selector: Iterable[tuple[str, str]] = (), models: bool = True,
             extra: Iterable[str] = ()) -> str:
    labels = cat.selector_labels(service, selector)
    vars_ = [VAR_INSTANCE, *(VAR_MODEL if models else ())]
    vars_ = [v for v in vars_ if v.split("=")[0] not in labels]
    return cat.label_matchers(labels, [*vars_, *extra])


def signal_matchers(service: str, kind: SignalKind,
                    selector: Iterable[tuple[str, str]] = ()) -> str:
    return matchers(service, selector, models="model" in SIGNALS[kind].selectors)


def label_lit(value: str) -> str:
    """A replacement string for label_replace: quote-escaped, ``$`` doubled."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")


def query(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> Dataquery:
    q = Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    return q.instant() if instant else q.range()


def levels(p: ObjectivePlan) -> Levels:
    """(warning, critical) constants of an objective; a warning equal to the critical level is
    dropped (it can never show), and levels relative to a learned baseline are None."""
    got = {lv.severity: lv.constant for lv in p.levels}
    warning, critical = got.get("warning"), got.get("critical")
    return (None if warning == critical else warning), critical


def steps(lv: Levels, higher_is_worse: bool) -> list[Threshold]:
    """Grafana threshold steps (colour from a value upwards) for warning/critical levels."""
    warning, critical = lv
    if higher_is_worse:
        out = [Threshold(value=None, color=GREEN)]
        out += [Threshold(value=v, color=c) for v, c in ((warning, YELLOW), (critical, RED))
                if v is not None]
        return out
    out = [Threshold(value=None, color=RED)]
    out += [Threshold(value=v, color=c) for v, c in ((critical, YELLOW), (warning, GREEN))
            if v is not None]
    return out


def thresholds(p: ObjectivePlan | None) -> ThresholdsConfig:
    """The objective's warning (yellow) and critical (red) levels; just green without one.
    State-like kinds get one step per state, coloured as the evaluator judges it."""
    if p is not None and p.o.signal in STATE_NAMES:
        return discrete_thresholds(p.o.signal, discrete_levels(p.o.signal, p))
    got = [Threshold(value=None, color=GREEN)] if p is None else steps(
        levels(p), p.o.info.higher_is_worse)
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(got)


def plan_mappings(p: ObjectivePlan | None) -> list[Mapping]:
    """Named, coloured states for a state-like objective; none for the others."""
    if p is None or p.o.signal not in STATE_NAMES:
        return []
    return discrete_mappings(p.o.signal, discrete_levels(p.o.signal, p))


def threshold_properties(p: ObjectivePlan) -> list[DynamicConfigValue]:
    """Field-override properties that colour and draw one series against one objective."""
    st = [{"value": s.value, "color": s.color} for s in steps(levels(p), p.o.info.higher_is_worse)]
    return [DynamicConfigValue("thresholds", {"mode": "absolute", "steps": st}),
            DynamicConfigValue("custom.thresholdsStyle", {"mode": "dashed"})]


def legend_regex(legend: str, p: ObjectivePlan) -> str:
    """A regex for the display names an objective's series get under ``legend``: each
    ``{{label}}`` the objective's selector pins becomes its value, the rest match anything."""
    pinned = cat.selector_labels(p.spec.service, p.o.selector.items())
    out, pos = "", 0
    for m in re.finditer(r"\{\{\s*(\w+)\s*\}\}", legend):
        out += re.escape(legend[pos:m.start()])
        value = pinned.get(m.group(1))
        out += re.escape(value) if value is not None else ".*"
        pos = m.end()
    return "^" + out + re.escape(legend[pos:]) + "$"


def state_mappings() -> list[Mapping]:
    return [ValueMap(options={
        str(cat.OBJECTIVE_STATES[s.value]): ValueMappingResult(
            text=s.value.replace("_", " "), color=STATUS_COLOR[s], index=i)
        for i, s in enumerate((Status.NO_DATA, Status.OK, Status.WARNING, Status.CRITICAL))})]




def discrete_levels(kind: SignalKind, p: ObjectivePlan | None) -> Levels:
    """The levels a state-like panel is judged by: the objective's, else the kind's defaults."""
    if p is not None:
        got = {lv.severity: lv.constant for lv in p.levels}
        return got.get("warning"), got.get("critical")
    info = SIGNALS[kind]
    return (None if info.default_warning is None else float(info.default_warning),
            None if info.default_critical is None else float(info.default_critical))


def discrete_mappings(kind: SignalKind, lv: Levels) -> list[Mapping]:
    """Named states coloured as the evaluator judges them (a breach is strictly past a level)."""
    return [ValueMap(options={
        str(i): ValueMappingResult(text=name.replace("_", "-"), index=i,
                                   color=STATUS_COLOR[classify(float(i), lv[0], lv[1])])
        for i, name in enumerate(STATE_NAMES[kind])})]


def discrete_thresholds(kind: SignalKind, lv: Levels) -> ThresholdsConfig:
    """One step per integer state, so a line or stat colours exactly as the mapping does."""
    st = [Threshold(value=None, color=GREEN)]
    st += [Threshold(value=float(i), color=STATUS_COLOR[classify(float(i), lv[0], lv[1])])
           for i in range(1, len(STATE_NAMES[kind]))]
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(st)


def series_panel(title: str, unit: str, targets: Sequence[Dataquery], description: str,
                 p: ObjectivePlan | None = None, width: int = 12,
                 per_series: Sequence[tuple[str, ObjectivePlan]] = ()) -> timeseries.Panel:
    """A time series; ``p`` colours every series by one objective, ``per_series`` colours the
    series whose display name matches each regex by that objective (field overrides)."""
    panel = (timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE)
             .description(description).height(8).span(width).thresholds(thresholds(p)))
    if plan_mappings(p):
        panel = panel.mappings(plan_mappings(p)).decimals(0)
    if p is not None and any(v is not None for v in levels(p)):
        panel = panel.thresholds_style(
            GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
    for regex, plan in per_series:
        if any(v is not None for v in levels(plan)):
            panel = panel.override_by_regexp(regex, threshold_properties(plan))
    for t in targets:
        panel = panel.with_target(t)
    return panel


def state_series_panel(title: str, kind: SignalKind, target: Dataquery, description: str,
                       p: ObjectivePlan | None) -> timeseries.Panel:
    """A state-like signal (degradation level, breaker): named states, stepped line, 0 green."""
    lv = discrete_levels(kind, p)
    return (timeseries.Panel().title(title).unit("none").datasource(DATASOURCE)
            .description(description).height(8).span(12).decimals(0).min(0)
            .max(len(STATE_NAMES[kind]) - 1).mappings(discrete_mappings(kind, lv))
            .thresholds(discrete_thresholds(kind, lv))
            .thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.AREA))
            .with_target(target))


def stat_panel(title: str, unit: str, target: Dataquery, description: str,
               p: ObjectivePlan | None = None, width: int = 4, state: bool = False,
               steps_: list[Threshold] | None = None) -> stat.Panel:
    panel = (stat.Panel().title(title).unit(unit).datasource(DATASOURCE).height(4).span(width)
             .description(description)
             .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
             .with_target(target))
    if state:
        return panel.mappings(state_mappings()).thresholds(state_thresholds())
    if steps_ is not None:
        return panel.thresholds(ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps_))
    if plan_mappings(p):
        panel = panel.mappings(plan_mappings(p))
    return panel.thresholds(thresholds(p))


def state_thresholds() -> ThresholdsConfig:
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([
        Threshold(value=None, color=GREY), Threshold(value=0, color=GREEN),
        Threshold(value=1, color=YELLOW), Threshold(value=2, color=RED)])


def budget_steps() -> list[Threshold]:
    """Budget left: red once spent, yellow under a quarter, green otherwise."""
    return [Threshold(value=None, color=RED), Threshold(value=0, color=YELLOW),
            Threshold(value=0.25, color=GREEN)]


def state_timeline(title: str, target: Dataquery, description: str,
                   width: int = 24) -> statetimeline.Panel:
    return (statetimeline.Panel().title(title).datasource(DATASOURCE).height(6).span(width)
            .description(description).unit("none")
            .mappings(state_mappings()).with_target(target).thresholds(state_thresholds()))


def link(title: str, url: str, keep_time: bool = True) -> DashboardLink:
    return (DashboardLink(title).type(DashboardLinkType.LINK).url(url).keep_time(keep_time)
            .include_vars(False).target_blank(not url.startswith("/")))


def used_variables(dashboard: Any) -> set[str]:
    """Names of the ``$var`` / ``${var}`` a dashboard's panels and annotations use, so a
    dashboard offers only variables that filter something on it."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    built = dashboard.build()
    text = JSONEncoder().encode([built.panels, built.annotations])
    return set(re.findall(r"\$\{?(\w+)", text))


class Grid:
    """Left-to-right, top-to-bottom placement on Grafana's 24-column grid (wraps full rows)."""

    WIDTH = 24

    def __init__(self) -> None:
        self.x = self.y = self.line = 0

    def place(self, panel: object) -> GridPos:
        built = panel.build()  # type: ignore[attr-defined]
        w = built.grid_pos.w if built.grid_pos and built.grid_pos.w else 12
        h = built.grid_pos.h if built.grid_pos and built.grid_pos.h else 8
        if self.x + w > self.WIDTH:
            self.x, self.y, self.line = 0, self.y + self.line, 0
        pos = GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.line = max(self.line, h)
        return pos

    def row(self) -> GridPos:
        self.y += self.line
        pos = GridPos(h=1, w=self.WIDTH, x=0, y=self.y)
        self.x, self.y, self.line = 0, self.y + 1, 0
        return pos
