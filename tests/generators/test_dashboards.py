"""Structural proof of every generated dashboard, for the example spec and for a spec with one
objective of every kind: units, descriptions, thresholds equal to the spec's, state mappings,
links that resolve, runbooks, annotations, variables that filter something, SLO views."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from agent import catalogue as cat
from agent.signals.examples import every_kind_spec
from agent.sli import ObjectivePlan, dashboard_uid, detail_uid, plans, runbook_url
from agent.spec import load_spec, parse_spec
from agent.spec.document import Spec
from agent.spec.signals import BREAKER_STATES, DEGRADATION_LEVELS, SignalKind
from agent.units import format_duration
from dashboards.detail import detail_dashboard, fastest
from dashboards.panels import RED, STATE_NAMES, STATUS_COLOR, YELLOW, levels
from dashboards.service_dashboard import service_dashboard
from detectors.thresholds import classify
from tests.helpers import EXAMPLE_SPEC

SPECS = {"example": lambda: load_spec(EXAMPLE_SPEC),
         "every-kind": lambda: parse_spec(every_kind_spec())}
Dash = dict[str, Any]


def _json(builder: Any) -> Dash:
    return dict(json.loads(JSONEncoder().encode(builder.build())))


@pytest.fixture(scope="module", params=sorted(SPECS))
def built(request: pytest.FixtureRequest) -> tuple[Spec, Dash, dict[str, Dash]]:
    spec = SPECS[request.param]()
    return spec, _json(service_dashboard(spec)), {
        p.o.name: _json(detail_dashboard(p)) for p in plans(spec)}


def _all(built: tuple[Spec, Dash, dict[str, Dash]]) -> list[Dash]:
    return [built[1], *built[2].values()]


def _panels(dash: Dash) -> Iterator[Dash]:
    return (p for p in dash["panels"] if p["type"] != "row")


def _steps(cfg: Dash) -> list[float]:
    return [s["value"] for s in cfg.get("thresholds", {}).get("steps", [])[1:]]


def _override_steps(panel: Dash) -> dict[str, list[float]]:
    """matcher option → threshold values, for every override that sets thresholds."""
    out = {}
    for o in panel["fieldConfig"].get("overrides", []):
        for prop in o["properties"]:
            if prop["id"] == "thresholds":
                out[o["matcher"]["options"]] = [s["value"] for s in prop["value"]["steps"][1:]]
    return out


def _burn_legend(p: ObjectivePlan) -> str:
    """How the overview names an objective's burn line: its fastest tier's long window, the
    compliance window, and the thresholds the line is coloured by."""
    tier = fastest(p)
    assert tier is not None
    low = min(t.factor for t in p.tiers)
    does = (f"pages above {tier.factor:g}×" + (f", alerts from {low:g}×" if low < tier.factor
                                               else "")
            if tier.severity == "critical" else f"tickets above {low:g}×")
    return f"{format_duration(tier.long)} ({format_duration(p.o.window)} window, {does})"


def _expected(p: ObjectivePlan) -> list[float]:
    warning, critical = levels(p)
    pair = [warning, critical] if p.o.info.higher_is_worse else [critical, warning]
    return [v for v in pair if v is not None]


def test_every_panel_has_a_unit_and_a_description(built: Any) -> None:
    missing = [(d["uid"], p["title"], what) for d in _all(built) for p in _panels(d)
               for what, ok in (("unit", p["fieldConfig"]["defaults"].get("unit")),
                                ("description", p.get("description", "").strip()))
               if not ok]
    assert not missing, missing


def test_detail_thresholds_equal_the_spec(built: Any) -> None:
    spec, _, details = built
    for p in plans(spec):
        sli = details[p.o.name]["panels"][0]
        assert sli["id"] == 1 and p.o.name in sli["title"]
        if p.o.signal in STATE_NAMES:
            _assert_states_as_judged(sli, p)
        else:
            assert _steps(sli["fieldConfig"]["defaults"]) == _expected(p), p.o.name


def _assert_states_as_judged(panel: Dash, p: ObjectivePlan) -> None:
    """Each named state (value mapping) and the threshold step at it carry the colour the
    evaluator's classify gives that value: the healthy 0 is green, never 'off by one'."""
    got = {lv.severity: lv.constant for lv in p.levels}
    names = STATE_NAMES[p.o.signal]
    options = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    judged = [STATUS_COLOR[classify(float(i), got.get("warning"), got.get("critical"))]
              for i in range(len(names))]
    assert [options[str(i)]["color"] for i in range(len(names))] == judged, p.o.name
    assert [s["color"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]] == judged
    assert judged[0] == "green"


def _levels_of(panel: Dash) -> set[str]:
    """The signal kinds whose sidecar-resolved levels a panel draws (label-set queries)."""
    out: set[str] = set()
    for t in panel.get("targets", []):
        if cat.OBJECTIVE_WARNING.name in t["expr"] or cat.OBJECTIVE_CRITICAL.name in t["expr"]:
            m = re.search(r'signal=~?"([^"]+)"', t["expr"])
            assert m, t["expr"]
            out.update(m.group(1).split("|"))
    return out


def test_service_levels_are_label_sets(built: Any) -> None:
    """Every objective's kind (custom SLIs and state-like kinds aside) has its levels drawn as
    the sidecar's resolved warning and critical series over label sets, dashed yellow and red;
    no line panel's defaults carry levels borrowed from one objective for all series, and no
    query names one objective."""
    spec, service, _ = built
    panels = list(_panels(service))
    drawn = set().union(*(_levels_of(p) for p in panels))
    skip = (SignalKind.DEGRADATION_LEVEL, SignalKind.CIRCUIT_BREAKER_STATE)
    for p in plans(spec):
        panel = p.record.panel if p.o.custom is None else None
        if panel is not None and panel.sdk_only and p.o.selector.dataset:
            continue        # drawn on the dataset file's panel, as its drift
        if p.o.custom is None and p.o.signal not in skip:
            assert p.o.signal.value in drawn, p.o.name
    for panel in panels:
        if _levels_of(panel):
            colours = {o["matcher"]["options"]: {x["id"]: x["value"] for x in o["properties"]}
                       for o in panel["fieldConfig"].get("overrides", [])}
            assert colours["^.* warning$"]["color"]["fixedColor"] == YELLOW, panel["title"]
            assert colours["^.* critical$"]["color"]["fixedColor"] == RED, panel["title"]
        if panel["type"] == "timeseries" and panel["title"] not in {
                "Degradation level", "Circuit breakers"}:
            assert _steps(panel["fieldConfig"]["defaults"]) == [], panel["title"]
        for t in panel.get("targets", []):
            assert 'objective="' not in t["expr"], (panel["title"], t["expr"])


def test_the_service_dashboard_does_not_grow_with_the_objectives() -> None:
    """Ten times the objectives of the same kinds, windows and tiers: the same bytes."""
    from dashboards.jsonio import dumps

    base = every_kind_spec()
    more = dict(base, objectives=[dict(o, name=f"{o['name']}-{i}") for i in range(10)
                                  for o in base["objectives"]
                                  if o["signal"] != "drift_detection_time"])
    one = dict(base, objectives=[o for o in base["objectives"]
                                 if o["signal"] != "drift_detection_time"])
    small, big = (dumps(service_dashboard(parse_spec(d)).build()) for d in (one, more))
    assert small == big


def test_counts_and_schema_changes_borrow_no_levels(built: Any) -> None:
    spec, service, _ = built
    panels = {p["title"]: p for p in _panels(service)}
    runs = panels["Job runs by result (last hour)"]
    assert _steps(runs["fieldConfig"]["defaults"]) == [] and not _override_steps(runs)
    assert not _levels_of(runs)
    schema = [p for p in plans(spec) if p.o.signal is SignalKind.SCHEMA_DRIFT]
    if schema:
        assert _levels_of(panels["Schema changes"]) == {SignalKind.SCHEMA_DRIFT.value}


@pytest.mark.parametrize("kind,names,title", [
    (SignalKind.DEGRADATION_LEVEL, DEGRADATION_LEVELS, "Degradation level"),
    (SignalKind.CIRCUIT_BREAKER_STATE, BREAKER_STATES, "Circuit breakers")])
def test_state_like_panels_map_states_as_the_evaluator_judges(built: Any, kind: SignalKind,
                                                               names: tuple[str, ...],
                                                               title: str) -> None:
    spec, service, _ = built
    panel = next(p for p in _panels(service) if p["title"] == title)
    p = next((x for x in plans(spec) if x.o.signal is kind), None)
    got = {lv.severity: lv.constant for lv in p.levels} if p else {}
    warning, critical = got.get("warning", 0.0), got.get("critical", 1.0)
    options = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert [options[str(i)]["text"] for i in range(len(names))] == [
        n.replace("_", "-") for n in names]
    colors = [options[str(i)]["color"] for i in range(len(names))]
    assert colors == [STATUS_COLOR[classify(float(i), warning, critical)]
                      for i in range(len(names))]
    assert colors[0] == "green"
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["color"] for s in steps] == colors   # the line colours as the mapping does


def _urls(dash: Dash) -> Iterator[str]:
    for link in dash.get("links", []):
        if link["type"] == "link":
            yield link["url"]
    for p in _panels(dash):
        for link in p.get("links", []) or []:
            yield link["url"]
        cfgs = [p["fieldConfig"]["defaults"], *(
            {prop["id"]: prop["value"] for prop in o["properties"]}
            for o in p["fieldConfig"].get("overrides", []))]
        for cfg in cfgs:
            for link in cfg.get("links", []) or []:
                yield link["url"]


def test_links_resolve_to_generated_uids_and_runbooks(built: Any) -> None:
    """Fixed links name generated uids; the overview's links take the uid from the info series,
    which every objective's rules record with its detail dashboard's uid."""
    from alerts.rules import rule_groups

    spec, _, details = built
    uids = {dashboard_uid(spec), *(detail_uid(spec, p.o) for p in plans(spec))}
    assert {d["uid"] for d in _all(built)} == uids
    templated = {f"${{__data.fields.{cat.INFO_DASHBOARD_LABEL}}}",
                 f"${{__field.labels.{cat.INFO_DASHBOARD_LABEL}}}"}
    seen = set()
    for dash in _all(built):
        for url in _urls(dash):
            if url.startswith("/d/"):
                target = url[3:].split("?")[0]
                seen.add(target)
                assert target in uids | templated, url
    assert templated <= seen
    info = {r["labels"]["objective"]: r["labels"] for g in rule_groups(spec)["groups"]
            for r in g["rules"] if r.get("record") == cat.RULE_INFO}
    for p in plans(spec):
        assert info[p.o.name][cat.INFO_DASHBOARD_LABEL] == detail_uid(spec, p.o)
        assert info[p.o.name].get(cat.INFO_WINDOW_LABEL) == (
            format_duration(p.o.window) if p.o.has_target else None)
        rb = runbook_url(spec, p.o)
        assert rb is not None
        assert rb in list(_urls(details[p.o.name])), p.o.name


def test_overview_table_lists_every_objective_worst_first(built: Any) -> None:
    spec, service, _ = built
    table = next(p for p in _panels(service) if p["type"] == "table")
    assert table["options"]["sortBy"] == [{"displayName": "Status", "desc": True}]
    index = next(t["expr"] for t in table["targets"] if t["refId"] == "U")
    assert index == (f"max by (objective, {cat.INFO_DASHBOARD_LABEL}, {cat.INFO_WINDOW_LABEL}, "
                     f'signal) ({cat.RULE_INFO}{{{cat.SERVICE_LABEL}="{spec.service}"}})')
    assert all(t.get("instant") and t.get("format") == "table" for t in table["targets"])


def test_shared_crosshair_annotations_and_used_variables(built: Any) -> None:
    for dash in _all(built):
        assert dash["graphTooltip"] == 1
        exprs = [a["expr"] for a in dash["annotations"]["list"]]
        assert any(e.startswith("ALERTS{") and 'alertstate="firing"' in e for e in exprs)
        assert any(cat.OBJECTIVE_TRANSITIONS.name in e for e in exprs)
        assert any(cat.OBJECTIVE_PENDING.name in e for e in exprs)
        text = json.dumps([dash["panels"], dash["annotations"]])
        for var in dash["templating"]["list"]:
            assert re.search(r"\$\{?" + var["name"] + r"\b", text), (dash["uid"], var["name"])


def test_detail_dashboards_show_the_slo_views(built: Any) -> None:
    spec, _, details = built
    for p in plans(spec):
        dash = details[p.o.name]
        panels = {x["title"]: x for x in _panels(dash)}
        if not p.o.has_target:
            assert dash["time"]["from"] == "now-24h"
            continue
        window = format_duration(p.o.window)
        assert dash["time"]["from"] == f"now-{window}"      # the range fits the window
        for title in ("Target", f"SLI ({window})", "Error budget remaining",
                      "SLI against the target", f"Error budget remaining over {window}"):
            assert title in panels, (p.o.name, title)
        history = panels[f"Error budget remaining over {window}"]["targets"][0]["expr"]
        assert history == f"{cat.RULE_BUDGET_REMAINING}{p.rec_matchers}"
        burn = panels["Burn rate per tier"]
        assert burn["fieldConfig"]["defaults"]["unit"] == "suffix:×"
        legends = [t["legendFormat"] for t in burn["targets"]]
        for tier in p.tiers:
            assert f"{tier.name} factor {tier.factor:g}× ({tier.severity})" in legends
            assert f"vector({tier.factor:.10g})" in [t["expr"] for t in burn["targets"]]
        ratio = panels["Error ratio per window"]
        assert any(t["legendFormat"] == "error budget" for t in ratio["targets"])
        tier = fastest(p)
        assert tier is not None and f"Burn rate ({format_duration(tier.long)})" in panels


def test_time_to_exhaustion_is_a_stat_of_instant_queries(built: Any) -> None:
    """One query per burn group (window, fastest tier): each targeted objective's group is
    queried over its fastest tier's long window, filtered to its compliance window."""
    spec, service, _ = built
    panel = next(p for p in _panels(service)
                 if p["title"] == "Time to budget exhaustion at the current burn")
    assert panel["type"] == "stat"
    assert all(t.get("instant") for t in panel["targets"])
    legends = {t["legendFormat"]: t["expr"] for t in panel["targets"]}
    for p in plans(spec):
        tier = fastest(p)
        if not p.o.has_target or tier is None:
            continue
        window = format_duration(p.o.window)
        expr = legends[f"{{{{objective}}}} (burn over {format_duration(tier.long)}, "
                       f"{window} window)"]
        assert p.ratio_name(tier.long) in expr and f'{cat.INFO_WINDOW_LABEL}="{window}"' in expr
        assert f" * {p.o.window:g} / " in expr
    burn = next(p for p in _panels(service)
                if p["title"] == "Burn rate now (fastest tier per objective)")
    assert burn["fieldConfig"]["defaults"]["unit"] == "suffix:×"
    assert all(t["legendFormat"] != "__auto" for t in burn["targets"])
    for p in plans(spec):
        tier = fastest(p)
        if p.o.has_target and tier is not None:
            suffix = f" over {_burn_legend(p)}"
            assert any(t["legendFormat"] == "{{objective}}" + suffix for t in burn["targets"])
            red = [o for o in burn["fieldConfig"]["overrides"]
                   if re.match(o["matcher"]["options"], p.o.name + suffix)]
            assert len(red) == 1
            steps = red[0]["properties"][0]["value"]["steps"]
            assert steps[-1] == {"value": tier.factor, "color": RED}


def test_readme_signal_table_and_signal_docs_are_generated_from_the_records() -> None:
    from dashboards.docs import README, SIGNALS_DOC, render_readme, signals_doc

    text = README.read_text(encoding="utf-8")
    assert render_readme(text) == text, "run: python -m dashboards.docs"
    assert SIGNALS_DOC.read_text(encoding="utf-8") == signals_doc(), \
        "run: python -m dashboards.docs"


def test_rules_and_dashboards_read_the_same_defaults() -> None:
    """An objective that names no levels gets the kind's defaults in the alert rules, the
    dashboards and (through the generated table) the README alike."""
    from agent.spec.signals import SIGNALS
    from alerts.rules import rule_groups

    base = every_kind_spec()
    kinds = {o["signal"]: o for o in base["objectives"]}
    objectives = []
    for kind, info in SIGNALS.items():
        if (info.default_critical and "baseline" not in info.default_critical
                and kind.value in kinds):
            o = {k: v for k, v in kinds[kind.value].items() if k not in ("warning", "critical")}
            objectives.append(o)
    spec = parse_spec({**base, "objectives": objectives})
    exprs = {r["alert"]: r["expr"] for g in rule_groups(spec)["groups"] for r in g["rules"]
             if "alert" in r}
    explicit = parse_spec({**base, "objectives": [
        {**o, "warning": SIGNALS[SignalKind(o["signal"])].default_warning,
         "critical": SIGNALS[SignalKind(o["signal"])].default_critical} for o in objectives]})
    for p, q in zip(plans(spec), plans(explicit), strict=True):
        if p.o.info.unit.value == "effect_size":
            # drift without `warning:` is judged per column against the calibrated threshold
            # the sidecar exports; an explicit warning keeps the fixed floor
            assert p.levels[0].per_column and q.levels[0].per_column is None, p.o.name
            assert p.levels[1].constant == q.levels[1].constant, p.o.name
            continue
        assert [lv.constant for lv in p.levels] == [lv.constant for lv in q.levels], p.o.name
        crit = next(lv.constant for lv in p.levels if lv.severity == "critical")
        assert crit is not None
        # the level closes the comparison (of the value, or of a ratio's Wilson bound)
        assert re.search(rf" {re.escape(f'{crit:.10g}')}\)?(\n|$)",
                         exprs[f"{p.alert_base}Critical"]), p.o.name
        sli = _json(detail_dashboard(p))["panels"][0]
        if p.o.signal in STATE_NAMES:
            _assert_states_as_judged(sli, p)
        else:
            assert _steps(sli["fieldConfig"]["defaults"]) == _expected(p)


def test_burn_colours_follow_each_objectives_own_tiers() -> None:
    """Issue 34: a burn stat turned red at 6x while its objective paged at 2.88x. Each burn stat
    and overview line is red from its own objective's fastest paging factor and yellow from its
    lowest tier factor; an objective that only tickets never turns red."""
    def objective(name: str, tiers: list[Any] | None) -> dict[str, Any]:
        o = {"name": name, "signal": "error_rate", "selector": {"model": "m"},
             "objective": "99.9%", "window": "30d"}
        return o if tiers is None else {**o, "tiers": tiers}

    spec = parse_spec({"service": "svc", "models": [{"name": "m"}], "objectives": [
        objective("gentle", [{"name": "page-fast", "budget_share": "0.4%"}, "page-slow",
                             "ticket-fast", "ticket-slow"]),          # pages above 2.88x
        objective("plain", None),                                      # pages above 14.4x
        objective("tickets", [{"name": "page-fast", "enabled": False},
                              {"name": "page-slow", "enabled": False}, "ticket-fast",
                              "ticket-slow"])]})
    want = {"gentle": [(YELLOW, 1.0), (RED, 2.88)], "plain": [(YELLOW, 1.0), (RED, 14.4)],
            "tickets": [(YELLOW, 1.0)]}
    overview = next(p for p in _panels(_json(service_dashboard(spec)))
                    if p["title"] == "Burn rate now (fastest tier per objective)")
    steps_by_regex = _override_steps(overview)
    lines = {p.o.name: [v for rx, v in steps_by_regex.items()
                        if re.match(rx, f"{p.o.name} over {_burn_legend(p)}")]
             for p in plans(spec)}
    assert all(len(v) == 1 for v in lines.values()), lines
    for p in plans(spec):
        tier = fastest(p)
        assert tier is not None
        stat = {x["title"]: x for x in _panels(_json(detail_dashboard(p)))}[
            f"Burn rate ({format_duration(tier.long)})"]
        steps = stat["fieldConfig"]["defaults"]["thresholds"]["steps"][1:]
        assert [(s["color"], s["value"]) for s in steps] == want[p.o.name], p.o.name
        assert lines[p.o.name][0] == [v for _, v in want[p.o.name]], p.o.name
