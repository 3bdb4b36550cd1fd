"""The spec: examples validate, every error class is reported with its path, defaults apply."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import pytest
import yaml

from agent.spec import SignalKind, SpecError, load_spec, load_text, parse_spec
from agent.spec.starter import starter_spec
from agent.units import Base
from tests.helpers import EXAMPLE_SPEC, ROOT, require_binary

BASE: dict[str, Any] = {
    "service": "svc",
    "models": [{"name": "fraud", "version": "v3", "features": ["amount", "age"]}],
    "sources": {"datasets": [{"name": "tx", "contract": {"columns": {"amount": "float"}}}]},
    "objectives": [],
}


def spec_with(*objectives: dict[str, Any], **top: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["objectives"] = list(objectives)
    data.update(top)
    return data


def issues(data: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return {i.path: i.message for i in info.value.issues}


def test_example_spec_uses_every_signal_kind() -> None:
    spec = load_spec(EXAMPLE_SPEC)
    assert {o.signal for o in spec.objectives} == set(SignalKind)


def test_starter_spec_is_valid() -> None:
    spec = load_text(starter_spec("svc", "m"))
    assert spec.service == "svc" and spec.objectives


def test_defaults_from_field_practice() -> None:
    spec = parse_spec(spec_with(
        {"name": "lat", "signal": "latency", "selector": {"model": "fraud"}},
        {"name": "err", "signal": "error_rate"},
        {"name": "q", "signal": "queue_depth"},
        {"name": "spend", "signal": "daily_spend", "budget": "$100"},
    ))
    lat, err, q, spend = spec.objectives
    assert lat.quantile == 0.95
    assert lat.warning_threshold is not None and lat.warning_threshold.base is Base.BASELINE
    assert (lat.warning_threshold.value, lat.critical_threshold.value) == (2.0, 5.0)  # type: ignore[union-attr]
    assert (err.warning_threshold.value, err.critical_threshold.value) == (0.01, 0.05)  # type: ignore[union-attr]
    assert (q.warning_threshold.value, q.critical_threshold.value) == (1000, 10000)  # type: ignore[union-attr]
    assert spend.warning_threshold.resolve(spend.daily_budget) == pytest.approx(120)  # type: ignore[union-attr]
    assert spend.critical_threshold.resolve(spend.daily_budget) == pytest.approx(150)  # type: ignore[union-attr]


def test_units_are_resolved_to_base_units() -> None:
    spec = parse_spec(spec_with(
        {"name": "lat", "signal": "latency", "quantile": "p99.9", "warning": "250ms",
         "critical": "2s", "for": "1m30s" if False else "90s", "objective": "99.9%",
         "window": "28d"},
        {"name": "thr", "signal": "throughput", "warning": "300/m", "critical": "1/s"},
    ))
    lat, thr = spec.objectives
    assert lat.quantile == pytest.approx(0.999)
    assert lat.warning_threshold.value == pytest.approx(0.25)  # type: ignore[union-attr]
    assert lat.for_ == 90 and lat.window == 28 * 86400
    assert lat.objective == pytest.approx(0.999) and lat.error_budget == pytest.approx(0.001)
    assert lat.good_threshold == pytest.approx(0.25)   # defaults to the warning level
    assert thr.warning_threshold.value == pytest.approx(5.0)  # type: ignore[union-attr]
    assert not thr.info.higher_is_worse


def test_latency_thresholds_feed_sdk_buckets() -> None:
    spec = load_spec(EXAMPLE_SPEC)
    levels = spec.latency_thresholds()
    for expected in (0.25, 1.0, 0.8, 3.0, 0.1, 0.5):
        assert expected in levels


def test_unknown_key_lists_allowed_keys() -> None:
    found = issues(spec_with({"name": "e", "signal": "error_rate", "warnin": "1%"}))
    assert "objectives[0].warnin" in found
    assert "allowed keys here" in found["objectives[0].warnin"]
    assert "warning" in found["objectives[0].warnin"]


def test_wrong_type_and_bad_enum_name_the_allowed_values() -> None:
    found = issues(spec_with({"name": "e", "signal": "latncy"}, sidecar={"interval": [1]}))
    assert "objectives[0].signal" in found and "'latency'" in found["objectives[0].signal"]
    assert "sidecar.interval" in found


def test_critical_laxer_than_warning() -> None:
    found = issues(spec_with(
        {"name": "a", "signal": "latency", "warning": "1s", "critical": "500ms"},
        {"name": "b", "signal": "throughput", "warning": "1/s", "critical": "5/s"},
    ))
    assert "laxer" in found["objectives[0].critical"]
    assert "laxer" in found["objectives[1].critical"] and "below" in found["objectives[1].critical"]


def test_relative_threshold_without_a_baseline() -> None:
    found = issues(spec_with(
        {"name": "a", "signal": "error_rate", "warning": "2x baseline", "critical": "5%"},
        {"name": "b", "signal": "daily_spend", "warning": "120% budget", "critical": "150% budget"},
    ))
    assert "cannot be learned" in found["objectives[0].warning"]
    assert "budget" in found["objectives[1].warning"]
    # a pinned baseline makes it valid
    parse_spec(spec_with({"name": "a", "signal": "error_rate", "warning": "2x baseline",
                          "critical": "5%", "baseline": "0.5%"}))


def test_selectors_must_name_declared_things() -> None:
    found = issues(spec_with(
        {"name": "a", "signal": "latency", "selector": {"model": "nope"}},
        {"name": "b", "signal": "freshness_lag", "selector": {"dataset": "missing"},
         "warning": "1h"},
        {"name": "c", "signal": "feature_drift", "selector": {"model": "fraud", "feature": "zz"}},
        {"name": "d", "signal": "null_ratio", "selector": {"dataset": "tx", "column": "zz"},
         "warning": "1%"},
    ))
    assert "declared models: fraud" in found["objectives[0].selector.model"]
    assert "declared datasets: tx" in found["objectives[1].selector.dataset"]
    assert "amount, age" in found["objectives[2].selector.feature"]
    assert "amount" in found["objectives[3].selector.column"]


def test_selector_keys_per_signal_and_required_ones() -> None:
    found = issues(spec_with(
        {"name": "a", "signal": "gpu_temperature", "selector": {"model": "fraud"},
         "warning": 80},
        {"name": "b", "signal": "freshness_lag", "warning": "1h"},
        {"name": "c", "signal": "error_rate", "quantile": 0.9},
    ))
    assert "allowed selector keys: gpu" in found["objectives[0].selector.model"]
    assert "needs selector.dataset" in found["objectives[1].selector.dataset"]
    assert "takes no quantile" in found["objectives[2].quantile"]


def test_inline_token_is_refused_and_not_echoed() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(spec_with(sidecar={"token": "s3cret"}))
    text = str(info.value)
    assert "token_env" in text and "s3cret" not in text


def test_all_errors_at_once() -> None:
    found = issues(spec_with(
        {"name": "a", "signal": "latency", "warning": "fast"},
        {"name": "b", "signal": "error_rate", "warning": "2%", "critical": "1%"},
        {"name": "c", "signal": "queue_depth", "for": "soon"},
    ))
    assert {"objectives[0].warning", "objectives[1].critical", "objectives[2].for"} <= set(found)


def test_duplicate_names_and_unknown_tiers() -> None:
    found = issues(spec_with(
        {"name": "a", "signal": "error_rate"},
        {"name": "a", "signal": "error_rate", "tiers": ["nope"]},
    ))
    assert "declared twice" in found["objectives[1].name"]
    assert "unknown burn-rate tier" in found["objectives[1].tiers[0]"]


def test_target_needs_a_level_for_non_ratio_signals() -> None:
    found = issues(spec_with({"name": "a", "signal": "latency", "objective": "99%"}))
    assert "sli_threshold" in found["objectives[0].sli_threshold"]


def test_yaml_and_top_level_errors() -> None:
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_text("service: [unclosed\n")
    with pytest.raises(SpecError, match="mapping at the top level"):
        load_text("- a\n- b\n")
    with pytest.raises(SpecError, match="cannot read"):
        load_spec("/nonexistent/slo.yaml")


def test_schema_round_trip(tmp_path: Any) -> None:
    import jsonschema

    from agent.spec.loader import json_schema

    schema = json_schema()
    data = yaml.safe_load(EXAMPLE_SPEC.read_text())
    jsonschema.validate(data, schema)
    dumped = load_spec(EXAMPLE_SPEC).model_dump(mode="json", by_alias=True)
    jsonschema.validate(dumped, schema)
    again = parse_spec(dumped)
    assert again.model_dump(mode="json", by_alias=True) == dumped
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"service": "x", "models": [], "bogus": 1}, schema)


def _cli(*args: str, cwd: Any = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60)


def test_cli_validate_prints_resolved_table() -> None:
    res = _cli("validate", str(EXAMPLE_SPEC))
    assert res.returncode == 0, res.stderr
    assert "fraud-latency-p95" in res.stdout and "250ms" in res.stdout
    assert "2× baseline (learned)" in res.stdout and "120% budget (= $480)" in res.stdout
    assert "\x1b[" not in res.stdout   # piped: plain text, no colour codes


def test_cli_validate_json() -> None:
    res = _cli("validate", "--json", str(EXAMPLE_SPEC))
    rows = json.loads(res.stdout)["objectives"]
    assert len(rows) == len(load_spec(EXAMPLE_SPEC).objectives) and rows[0]["warning"] == "250ms"


def test_cli_broken_spec_exits_2_with_every_error(tmp_path: Any) -> None:
    bad = spec_with(
        {"name": "a", "signal": "latency", "warning": "1s", "critical": "1ms"},
        {"name": "b", "signal": "latency", "selector": {"model": "ghost"}},
    )
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(bad))
    res = _cli("validate", str(path))
    assert res.returncode == 2
    assert "objectives[0].critical" in res.stderr
    bad["objectives"] = bad["objectives"][1:]
    path.write_text(yaml.safe_dump(bad))
    res = _cli("validate", str(path))
    assert res.returncode == 2 and "objectives[0].selector.model" in res.stderr


def test_cli_init_and_schema(tmp_path: Any) -> None:
    res = _cli("init", "slo.yaml", "--service", "checkout", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert load_spec(tmp_path / "slo.yaml").service == "checkout"
    assert _cli("init", "slo.yaml", cwd=tmp_path).returncode == 1   # no silent overwrite
    res = _cli("schema", "-o", "schema.json", cwd=tmp_path)
    assert res.returncode == 0
    assert json.loads((tmp_path / "schema.json").read_text())["title"].startswith("slo-agent")


@pytest.mark.parametrize("cmd", [[], ["validate"], ["init"], ["schema"]])
def test_help_everywhere(cmd: list[str]) -> None:
    res = _cli(*cmd, "--help")
    assert res.returncode == 0 and "Usage:" in res.stdout


def test_import_agent_is_light() -> None:
    """An inference process pays for prometheus_client only: no pydantic, numpy, scipy, GX."""
    code = ("import sys, agent; from agent import monitor; monitor.service; "
            "heavy = [m for m in ('scipy', 'pandas', 'great_expectations', "
            "'pydantic', 'numpy', 'opentelemetry.exporter') if m in sys.modules]; print(heavy)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "[]", res.stdout + res.stderr


def test_near_misses_get_did_you_mean() -> None:
    found = issues(spec_with({"name": "a", "signal": "eror_rate", "selector": {"modle": "m"},
                              "objectiv": "99%"}))
    assert "did you mean 'error_rate'?" in found["objectives[0].signal"]
    assert "did you mean 'model'?" in found["objectives[0].selector.modle"]
    assert "did you mean 'objective'?" in found["objectives[0].objectiv"]
    far = issues(spec_with({"name": "a", "signal": "zzzz"}))
    assert "did you mean" not in far["objectives[0].signal"]


def test_bad_yaml_shows_the_line_with_a_caret() -> None:
    with pytest.raises(SpecError) as info:
        load_text("service: svc\nmodels:\n  - name: m\n   version: v1\n", "slo.yaml")
    message = info.value.issues[0].message
    assert "line 4, column 4" in message
    lines = message.splitlines()
    assert lines[-2].endswith("|    version: v1") and lines[-1].endswith("|    ^")
    assert lines[-3].endswith("|   - name: m")                 # the line before, for context


def test_cli_validate_takes_config_like_generate(tmp_path: Any) -> None:
    res = _cli("validate", "-c", str(EXAMPLE_SPEC))
    assert res.returncode == 0 and "is valid" in res.stdout, res.stderr


def _custom(**custom: Any) -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE_SPEC.read_text())
    data["objectives"] = [{"name": "mine", "signal": "custom", "custom": custom,
                           "warning": "1%", "critical": "5%"}]
    return data


@pytest.mark.parametrize(("custom", "path", "words"), [
    ({}, "objectives[0].custom.value", "needs a query"),
    ({"bad": "sum(rate(x[5m]))", "total": "sum(rate(y[{{.window}}]))"},
     "objectives[0].custom.bad", "{{.window}}"),
    ({"good": "a[{{.window}}]", "bad": "b[{{.window}}]", "total": "c[{{.window}}]"},
     "objectives[0].custom.good", "not both"),
    ({"value": "sum(rate(x[5m])"}, "objectives[0].custom.value", "unclosed left parenthesis"),
    ({"gauge": "queue age"}, "objectives[0].custom.gauge", "metric name"),
    ({"value": "up", "gauge": "a", "counter": "b"}, "objectives[0].custom.counter", "not both"),
])
def test_custom_sli_errors_name_the_field(custom: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(_custom(**custom))
    found = [e for e in err.value.issues if e.path == path]
    assert found and words in found[0].message, err.value.issues


def test_custom_sli_takes_unit_and_direction() -> None:
    spec = parse_spec(_custom(gauge="store_age_seconds", unit="seconds", higher_is_worse=True)
                      | {"objectives": [{"name": "age", "signal": "custom", "warning": "10m",
                                         "custom": {"gauge": "store_age_seconds",
                                                    "unit": "seconds"}}]})
    o = spec.objectives[0]
    assert o.info.unit.value == "seconds" and o.warning_threshold.value == 600
    events = parse_spec(_custom(good="a[{{.window}}]", total="b[{{.window}}]")).objectives[0]
    assert events.info.sli.value == "events" and events.info.unit.value == "ratio"


def test_validate_has_promtool_parse_custom_queries(tmp_path: Any) -> None:
    require_binary("promtool")
    data = _custom(bad='sum(rat(http_requests_total{code=~"5.."}[{{.window}}]))',
                   total="sum(rate(http_requests_total[{{.window}}]))")
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    res = _cli("validate", str(path))
    assert res.returncode == 2
    assert "objectives[0].custom.bad" in res.stderr + res.stdout
    # the spec's PromQL parser names it where the spec loads (promtool checks after it)
    assert "unknown function with name 'rat'" in res.stderr + res.stdout


def test_drift_detection_time_must_name_a_drift_objective() -> None:
    data = yaml.safe_load(EXAMPLE_SPEC.read_text())
    data["objectives"].append({"name": "caught", "signal": "drift_detection_time",
                               "selector": {"objective": "fraud-errors"}, "warning": "15m"})
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    path = f"objectives[{len(data['objectives']) - 1}].selector.objective"
    found = [e for e in err.value.issues if e.path == path]
    assert found and "fraud-input-drift" in found[0].message


def test_init_commented_examples_validate_when_uncommented(tmp_path: Any) -> None:
    text = starter_spec("svc", "m")
    uncommented = "\n".join(
        line.replace("  # - name", "  - name", 1) if line.startswith("  # - name")
        else ("    " + line[len("  #   "):] if line.startswith("  #   ") else line)
        for line in text.splitlines())
    spec = load_text(uncommented)
    kinds = {o.signal for o in spec.objectives}
    assert {SignalKind.TIME_SINCE_SUCCESS, SignalKind.CUSTOM} <= kinds
    customs = [o.custom for o in spec.objectives if o.custom is not None]
    assert {c.events for c in customs} == {True, False}
    path = tmp_path / "slo.yaml"
    path.write_text(uncommented)
    res = _cli("validate", str(path))
    assert res.returncode == 0, res.stdout + res.stderr
