"""Small helpers over grafana-foundation-sdk: queries, thresholds from the spec, panel kinds."""

from __future__ import annotations

from collections.abc import Iterable

from grafana_foundation_sdk.builders import bargauge, stat, statetimeline, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, ReduceDataOptions
from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
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
from agent.sli import ObjectivePlan
from agent.spec.signals import SignalKind

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
GREEN, YELLOW, RED, GREY = "green", "#EAB839", "red", "text"

# dashboard variables every panel narrows by; model/version only where the series has them
VAR_INSTANCE = 'instance=~"$instance"'
VAR_MODEL = ('model=~"$model"', 'version=~"$version"')


def matchers(service: str, selector: Iterable[tuple[str, str]] = (), models: bool = True,
             extra: Iterable[str] = ()) -> str:
    labels = cat.selector_labels(service, selector)
    vars_ = [VAR_INSTANCE, *(VAR_MODEL if models else ())]
    vars_ = [v for v in vars_ if v.split("=")[0] not in labels]
    return cat.label_matchers(labels, [*vars_, *extra])


def signal_matchers(service: str, kind: SignalKind,
                    selector: Iterable[tuple[str, str]] = ()) -> str:
    from agent.spec.signals import SIGNALS

    return matchers(service, selector, models="model" in SIGNALS[kind].selectors)


def query(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> Dataquery:
    q = Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    return q.instant() if instant else q.range()


def thresholds(p: ObjectivePlan | None) -> ThresholdsConfig:
    """Warning (yellow) and critical (red) steps from the spec; green base (red base when lower
    is worse). Levels relative to a learned baseline are not static and are left out."""
    steps = [Threshold(value=None, color=GREEN)]
    if p is not None:
        levels = {lv.severity: lv.constant for lv in p.levels if lv.constant is not None}
        if p.o.info.higher_is_worse:
            steps += [Threshold(value=levels[s], color=c)
                      for s, c in (("warning", YELLOW), ("critical", RED)) if s in levels]
        else:
            steps = [Threshold(value=None, color=RED)]
            steps += [Threshold(value=levels[s], color=c)
                      for s, c in (("critical", YELLOW), ("warning", GREEN)) if s in levels]
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def state_mappings() -> list[ValueMap | RangeMap | RegexMap | SpecialValueMap]:
    return [ValueMap(options={
        str(cat.OBJECTIVE_STATES["no_data"]): ValueMappingResult(text="no data", color=GREY,
                                                                 index=0),
        str(cat.OBJECTIVE_STATES["ok"]): ValueMappingResult(text="ok", color=GREEN, index=1),
        str(cat.OBJECTIVE_STATES["warning"]): ValueMappingResult(text="warning", color=YELLOW,
                                                                 index=2),
        str(cat.OBJECTIVE_STATES["critical"]): ValueMappingResult(text="critical", color=RED,
                                                                  index=3),
    })]


def series_panel(title: str, unit: str, targets: list[Dataquery], description: str = "",
                 p: ObjectivePlan | None = None, width: int = 12) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE)
             .description(description).height(8).span(width).thresholds(thresholds(p)))
    if p is not None and any(lv.constant is not None for lv in p.levels):
        panel = panel.thresholds_style(
            GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
    for t in targets:
        panel = panel.with_target(t)
    return panel


def stat_panel(title: str, unit: str, target: Dataquery, p: ObjectivePlan | None = None,
               width: int = 4, state: bool = False) -> stat.Panel:
    panel = (stat.Panel().title(title).unit(unit).datasource(DATASOURCE).height(4).span(width)
             .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
             .with_target(target))
    if state:
        return panel.mappings(state_mappings()).thresholds(
            ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([
                Threshold(value=None, color=GREY), Threshold(value=0, color=GREEN),
                Threshold(value=1, color=YELLOW), Threshold(value=2, color=RED)]))
    return panel.thresholds(thresholds(p))


def budget_gauge(title: str, targets: list[Dataquery], width: int = 8) -> bargauge.Panel:
    panel = (bargauge.Panel().title(title).unit("percentunit").datasource(DATASOURCE)
             .height(8).span(width).min(-1).max(1)
             .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
             .thresholds(ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([
                 Threshold(value=None, color=RED), Threshold(value=0, color=YELLOW),
                 Threshold(value=0.25, color=GREEN)])))
    for t in targets:
        panel = panel.with_target(t)
    return panel


def state_timeline(title: str, target: Dataquery, width: int = 24) -> statetimeline.Panel:
    return (statetimeline.Panel().title(title).datasource(DATASOURCE).height(6).span(width)
            .mappings(state_mappings()).with_target(target)
            .thresholds(ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([
                Threshold(value=None, color=GREY), Threshold(value=0, color=GREEN),
                Threshold(value=1, color=YELLOW), Threshold(value=2, color=RED)])))


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
