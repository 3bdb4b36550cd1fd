"""The signal records: every kind walks spec → sidecar value → rule → panel → promtool test and a
missing piece fails by kind and name; every metric a kind's rules and panels read is produced by
a real SDK process or a fed sidecar (a missing producer fails naming the kind and the metric);
a scraped value combines as the record aggregates on every path and is re-exported generically;
an unknown kind cannot be constructed; a kind is named in few production files; the defaults,
units and examples the docs show are the ones the code judges by; and the kind added through the
records alone (time per output token) is judged end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.sidecar.judge._signal_values import TICKS, VALUES
from agent.sidecar.judge.evaluate import Evaluator
from agent.sidecar.state.agent_state import AgentState
from agent.signals import ORDERED, RECORDS, SignalKind, record
from agent.signals.examples import every_kind_spec
from agent.sli import plans
from agent.spec import parse_spec
from agent.spec.errors import SpecError
from agent.spec.signals import SELECTOR_KEYS, SLIType
from agent.units import Unit
from alerts.rules import objective_group
from alerts.unittests import has_unit_tests, objective_tests
from dashboards.detail import detail_dashboard
from detectors.thresholds import Status, classify
from tests.helpers import ROOT
from tests.signal_production import ModelServer, produce

PRODUCTION = ("agent", "alerts", "dashboards", "detectors")
FEW = ("cache_hit_rate", "job_success_ratio", "row_count", "new_category_share",
       "circuit_breaker_state", "time_per_output_token")


def _pieces(spec: Any) -> dict[SignalKind, list[str]]:
    """What is missing per kind, walking each objective of the every-kind spec."""
    missing: dict[SignalKind, list[str]] = {k: [] for k in SignalKind}
    seen: set[SignalKind] = set()
    state = AgentState(slot=1.0, window_size=100, reference_size=100)
    ev = Evaluator(spec, state)
    for p in plans(spec):
        kind = p.o.signal
        seen.add(kind)
        r = record(kind)
        gaps = missing[kind]
        if r.compute.shape not in VALUES:
            gaps.append(f"sidecar value shape {r.compute.shape!r}")
        elif p.o.info.sli is SLIType.EVENTS and p.o.custom is None \
                and r.compute.shape not in TICKS:
            gaps.append(f"sidecar tick events for shape {r.compute.shape!r}")
        else:
            value, detail = ev.value(p.o, 1000.0)
            if value is None and not detail.get("reason") and "total" not in detail \
                    and "count" not in detail and detail != {}:
                gaps.append("sidecar value: no value and no reason")
        try:
            rules = objective_group(p)["rules"]
            if not any(str(rule.get("alert", "")).endswith("Warning") for rule in rules):
                gaps.append("warning alert rule")
        except Exception as exc:
            gaps.append(f"rules ({type(exc).__name__}: {exc})")
        try:
            text = json.dumps(detail_dashboard(p).build(), cls=JSONEncoder)
            if "slo:objective_value" not in text and p.value_expr()[:30] not in text:
                gaps.append("detail panel")
        except Exception as exc:
            gaps.append(f"panel ({type(exc).__name__}: {exc})")
        if p.o.custom is None and has_unit_tests(p):   # a server's series: see production
            if r.inputs is None:
                gaps.append("promtool test inputs")
            elif not objective_tests(p):
                gaps.append("promtool tests")
        if p.o.custom is None and r.panel is None and r.drawn_with is None:
            gaps.append("service dashboard panel")
    for kind in SignalKind:
        r = record(kind)
        if kind not in seen:
            missing[kind].append("spec example")
        if not r.producers:
            missing[kind].append("producers")
        if r.metric is None and kind is not SignalKind.CUSTOM:
            missing[kind].append("metric (its series in the catalogue)")
        if r.reexport and (r.metric is None or len(r.metric.labels) != 2):
            missing[kind].append("re-export series labelled by service and target")
    return {k: v for k, v in missing.items() if v}


def test_every_kind_walks_spec_value_rule_panel_and_promtool_test() -> None:
    spec = parse_spec(every_kind_spec())
    assert _pieces(spec) == {}


def test_a_missing_piece_fails_by_kind_and_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk can fail: drop the cache kind's test inputs and its sidecar shape."""
    from dataclasses import replace

    from agent import signals

    cache = signals.RECORDS[SignalKind.CACHE_HIT_RATE]
    monkeypatch.setitem(signals.RECORDS, SignalKind.CACHE_HIT_RATE,
                        replace(cache, inputs=None, compute=replace(cache.compute, shape="x")))
    got = _pieces(parse_spec(every_kind_spec()))
    assert got == {SignalKind.CACHE_HIT_RATE: ["sidecar value shape 'x'",
                                               "promtool test inputs"]}


# --- production: who really emits what the rules and panels read ---------------------------
def test_every_metric_a_kind_reads_is_produced(tmp_path: Path) -> None:
    """A sidecar fed one reading per source (GPU, dataset file, a model server's exposition)
    and a real SDK process calling through every handle expose, on real /metrics scrapes,
    every metric each kind's rules, detail panels and service panel query."""
    assert produce(tmp_path, lambda gaps: not gaps) == {}


def test_a_missing_producer_fails_naming_the_kind_and_the_metric(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sidecar's GPU families removed: exactly the GPU kinds fail, each naming the series
    nothing produces any more; the rest is still produced."""
    from agent.sidecar import exposition as sidecar_exposition

    monkeypatch.setattr(sidecar_exposition, "gpu_families", lambda spec, readings: [])
    gpu = {r.kind: r.metric.name for r in ORDERED
           if r.metric is not None and r.metric.name.startswith("slo_agent_gpu_")}
    got = produce(tmp_path, lambda gaps: set(gaps) <= set(gpu))
    assert set(got) == set(gpu), got
    for kind, gaps in got.items():
        assert any(g.startswith(gpu[kind] + " (") for g in gaps), (kind, gaps)


def test_scraped_values_combine_as_the_record_aggregates() -> None:
    """Two engines behind one target: each preset's gauge combines as its kind's record says,
    in the sidecar's scrape (a share takes the worst engine, a queue adds) and in the PromQL
    the rules and panels read."""
    from agent.sidecar.collectors.scrape import Scraper
    from agent.signals.presets import PRESETS
    from agent.signals.scraped import scraped_value

    checked = 0
    for preset in PRESETS:
        spec = parse_spec({"service": "s", "models": [{"name": "m"}], "sources": {"scrape": [
            {"name": preset, "url": "http://127.0.0.1:9/metrics", "preset": preset}]}})
        target = spec.scrape_target(preset)
        assert target is not None
        scraper, server = Scraper(target), ModelServer(target)
        scraper.fetch = server.text                   # type: ignore[method-assign]
        values = scraper.scrape(now=0.0).values
        for kind, m in target.mappings().items():
            r = record(kind)
            if m.metric is None or r.quantile or r.unit is Unit.PER_SECOND:
                continue
            assert values[kind] == pytest.approx(r.aggregation.combine([0.3, 0.4])), kind
            assert scraped_value(r, m, "5m").startswith(f"{r.aggregation.value}("), kind
            checked += 1
    assert checked >= 5


def test_scraped_values_are_re_exported_as_each_record_names() -> None:
    """Generic over the records: every kind that re-exports gets the target's value in its
    series, the target's name in the series' last label."""
    from agent.sidecar.exposition import scraped_families

    kinds = [r for r in ORDERED if r.reexport]
    assert kinds
    fams = {f.name: f for f in scraped_families("svc", {r.kind.value: {"vllm": 0.25}
                                                         for r in kinds})}
    for r in kinds:
        assert r.metric is not None
        (sample,) = fams[r.metric.name].samples
        assert sample.value == 0.25
        assert sample.labels == {r.metric.labels[0]: "svc", r.metric.labels[1]: "vllm"}


def test_every_record_has_a_valid_example_and_its_names_elsewhere() -> None:
    """Each record's examples are objectives the spec accepts; its OpenTelemetry and preset
    names are the catalogue's and the presets' own."""
    from agent.signals import Producer, names_elsewhere
    from agent.signals.examples import objective, sources_for
    from agent.signals.presets import PRESETS

    for r in ORDERED:
        assert r.examples, r.kind
        for ex in r.examples:
            o = objective(r, ex)
            if "objective" in ex.selector:       # names another example objective
                continue
            parse_spec({"service": "s", "models": [{"name": "m"}],
                        "sources": sources_for([o]), "objectives": [o]})
        names = names_elsewhere(r.kind)
        assert names.get("otel") == (r.metric.otel_name if r.metric else None)
        assert ("otlp" in names) == (Producer.OTLP in r.producers)
        assert {k for k in names if k not in ("otel", "otlp")} == {
            p for p, table in PRESETS.items() if r.kind in table["metrics"]}


def test_unknown_kind_cannot_be_constructed() -> None:
    with pytest.raises(ValueError):
        SignalKind("bogus")
    with pytest.raises(ValueError):
        record("bogus")
    with pytest.raises(SpecError) as err:
        parse_spec({"service": "s", "models": [{"name": "m"}],
                    "objectives": [{"name": "o", "signal": "bogus"}]})
    assert "objectives[0].signal" in str(err.value) or "objectives.0.signal" in str(err.value)


def _kind_pattern(name: str) -> re.Pattern[str]:
    """The kind as a name of its own (``"cache_hit_rate"``, ``SignalKind.CACHE_HIT_RATE``), not
    a part of a metric name such as ``inference_circuit_breaker_state`` or
    ``gen_ai.server.time_per_output_token`` (which name series, not the kind)."""
    return re.compile(rf"(?<![\w.:]){name}(?!\w)|(?<![\w:]){name.upper()}(?!\w)")


def test_kinds_are_named_in_at_most_three_production_files() -> None:
    files = [p for top in PRODUCTION for p in (ROOT / top).rglob("*.py")
             if "demo" not in p.parts]
    texts = {p: p.read_text(encoding="utf-8") for p in files}
    named = {k: sorted(str(p.relative_to(ROOT)) for p, t in texts.items()
                       if _kind_pattern(k).search(t)) for k in FEW}
    assert {k: v for k, v in named.items() if len(v) > 3} == {}, named


def test_the_grep_sees_a_kind_named_in_a_fourth_file(tmp_path: Path) -> None:
    assert _kind_pattern("row_count").search("if o.signal is SignalKind.ROW_COUNT:")
    assert _kind_pattern("row_count").search('{"signal": "row_count"}')
    assert not _kind_pattern("circuit_breaker_state").search('"inference_circuit_breaker_state"')
    assert not _kind_pattern("time_per_output_token").search(
        '"gen_ai.server.time_per_output_token"')


# --- the docs and defaults the records give ------------------------------------------------
def test_schema_drift_any_change_is_a_warning_more_than_one_critical() -> None:
    spec = parse_spec({"service": "s", "models": [{"name": "m"}],
                       "sources": {"datasets": [{"name": "tx"}]},
                       "objectives": [{"name": "o", "signal": "schema_drift",
                                       "selector": {"dataset": "tx"}}]})
    o = spec.objectives[0]
    warning, critical = o.warning_threshold, o.critical_threshold
    assert warning is not None and critical is not None
    judged = [classify(n, warning.value, critical.value, True) for n in (0.0, 1.0, 2.0)]
    assert judged == [Status.OK, Status.WARNING, Status.CRITICAL]


def test_units_and_meanings_say_what_the_number_is() -> None:
    for kind in (SignalKind.FEATURE_DRIFT, SignalKind.PREDICTION_DRIFT):
        assert record(kind).unit is Unit.EFFECT_SIZE
        assert "effect size" in record(kind).docs_unit
    cost = record(SignalKind.COST_PER_1K)
    assert "1,000 requests" in cost.title and "not tokens" in cost.meaning
    from agent.spec.loader import json_schema

    described = {c["const"]: c["description"] for c in
                 json_schema()["$defs"]["Objective"]["properties"]["signal"]["oneOf"]}
    assert set(described) == {k.value for k in SignalKind}
    assert "default warning 0" in described["schema_drift"]
    assert "unit: effect size" in described["feature_drift"]


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(RECORDS, key=lambda k: k.value)),
       keys=st.lists(st.sampled_from(SELECTOR_KEYS), max_size=3, unique=True),
       warning=st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False), st.text(max_size=8)))
def test_any_objective_of_any_kind_is_accepted_or_refused_by_field(
        kind: SignalKind, keys: list[str], warning: Any) -> None:
    """The spec door for every record: an objective drawn from the records' selectors and
    levels either parses, or is refused with a message naming a field of that objective."""
    o: dict[str, Any] = {"name": "o", "signal": kind.value,
                         "selector": {k: "x" for k in keys}}
    if warning is not None:
        o["warning"] = warning
    if kind is SignalKind.CUSTOM:
        o["custom"] = {"gauge": "g"}
    data = {"service": "s", "models": [{"name": "m"}],
            "sources": {"datasets": [{"name": "x"}]}, "objectives": [o]}
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        assert "objectives" in str(exc)
        return
    got = spec.objectives[0]
    assert got.signal is kind and set(dict(got.selector.items())) <= set(record(kind).selectors)
    p = plans(spec)[0]
    if got.selector.scrape is None and got.custom is None:
        assert p.value_expr()


# --- the kind added through its record: time per output token ------------------------------
_VLLM = """# HELP vllm:time_per_output_token_seconds Histogram of time per output token in seconds.
# TYPE vllm:time_per_output_token_seconds histogram
{buckets}vllm:time_per_output_token_seconds_count{{model_name="llama"}} {count}
vllm:time_per_output_token_seconds_sum{{model_name="llama"}} {total}
"""


def _exposition(per_bucket: dict[float, int]) -> str:
    lines, cum = "", 0
    for le in (0.01, 0.025, 0.05, 0.1, 0.25, float("inf")):
        cum += per_bucket.get(le, 0)
        text = "+Inf" if le == float("inf") else repr(le)
        lines += (f'vllm:time_per_output_token_seconds_bucket{{model_name="llama",'
                  f'le="{text}"}} {cum}\n')
    return _VLLM.format(buckets=lines, count=cum, total=cum * 0.05)


def test_tpot_is_read_from_the_vllm_preset_and_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.sidecar.collectors.scrape import Scraper

    spec = parse_spec({
        "service": "s", "models": [{"name": "m"}], "sources": {"scrape": [
            {"name": "vllm", "url": "http://127.0.0.1:9/metrics", "preset": "vllm",
             "model": "llama"}]},
        "objectives": [{"name": "tpot", "signal": "time_per_output_token",
                        "selector": {"scrape": "vllm"}, "quantile": "p95",
                        "warning": "50ms", "critical": "100ms", "for": "0s"}]})
    target = spec.scrape_target("vllm")
    assert target is not None
    scraper = Scraper(target, quantile=0.95)
    texts = iter([_exposition({0.01: 100}), _exposition({0.01: 100, 0.25: 100})])
    monkeypatch.setattr(scraper, "fetch", lambda: next(texts))
    scraper.scrape(now=0.0)
    result = scraper.scrape(now=10.0)
    value = result.values[SignalKind.TIME_PER_OUTPUT_TOKEN]
    assert 0.1 < value <= 0.25            # every new token took 100-250 ms
    state = AgentState(slot=1.0, window_size=100, reference_size=100)
    state.external.setdefault("time_per_output_token", {})["vllm"] = value
    ev = Evaluator(spec, state)
    results, _ = ev.tick(20.0)
    assert results[0].status is Status.CRITICAL
    p = plans(spec)[0]
    assert "vllm:time_per_output_token_seconds_bucket" in p.value_expr()


def test_tpot_from_the_sdk_histogram_has_rules_panel_and_promtool_tests() -> None:
    spec = parse_spec({"service": "s", "models": [{"name": "m"}], "objectives": [
        {"name": "tpot", "signal": "time_per_output_token", "selector": {"model": "m"},
         "warning": "50ms", "critical": "100ms", "objective": "99%", "window": "28d"}]})
    assert 0.05 in spec.latency_thresholds()     # the SDK places a bucket on each level
    p = plans(spec)[0]
    assert "inference_inter_token_seconds_bucket" in p.value_expr()
    bad, total = p.sli_step_exprs()
    assert 'le="0.05"' in bad and "inference_inter_token_seconds_count" in total
    assert objective_tests(p)
    state = AgentState(slot=1.0, window_size=100, reference_size=100)
    value, detail = Evaluator(spec, state).value(spec.objectives[0], 1.0)
    assert value is None and "sketches" in detail["reason"]   # said why, never a KeyError


def test_docs_table_lists_every_record() -> None:
    from dashboards.docs import signal_table

    table = signal_table()
    for kind in SignalKind:
        assert f"| `{kind.value}` |" in table
    assert "per 1,000 requests" in table
    assert (ROOT / "README.md").read_text(encoding="utf-8").count("time_per_output_token") >= 1
