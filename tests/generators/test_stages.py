"""Generation runs in named stages; whatever fails says which objective and which stage
("could not generate SLO x: stage: cause"), from the library and from the CLI alike."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.cli import main
from agent.render.files import render, write
from agent.sli import camel
from agent.spec import load_spec, parse_spec
from agent.stages import STAGES, GenerateError

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "small" / "slo.yaml"


def _doc() -> dict[str, Any]:
    return yaml.safe_load(GOLDEN.read_text())


def test_colliding_alert_names_fail_in_validate() -> None:
    doc = _doc()
    twin = copy.deepcopy(doc["objectives"][0])
    twin["name"] = "clf_latency"                # camel-cases like clf-latency
    doc["objectives"].append(twin)
    with pytest.raises(GenerateError) as err:
        render(parse_spec(doc))
    assert err.value.stage == "validate" and err.value.objective is None
    assert str(err.value).startswith("could not generate the spec: validate: objective names "
                                     "collide")


@pytest.mark.parametrize(("target", "stage_name", "exc"), [
    ("alerts.rules.objective_group", "rules", ValueError("no bad events")),
    ("alerts.unittests.test_file", "unit tests", KeyError("inputs")),
    ("dashboards.detail.detail_dashboard", "dashboards", TypeError("panel")),
    ("alerts.grafana.objective_rules", "grafana rules", ValueError("no query")),
])
def test_a_failing_stage_names_the_objective_and_the_stage(
        monkeypatch: pytest.MonkeyPatch, target: str, stage_name: str, exc: Exception) -> None:
    module, _, name = target.rpartition(".")
    real = getattr(__import__(module, fromlist=[name]), name)

    def fails_on_errors(p: Any, *args: Any, **kwargs: Any) -> Any:
        if p.o.name == "clf-errors":
            raise exc
        return real(p, *args, **kwargs)

    monkeypatch.setattr(f"{module}.{name}", fails_on_errors)
    with pytest.raises(GenerateError) as err:
        render(load_spec(GOLDEN))
    assert (err.value.objective, err.value.stage) == ("clf-errors", stage_name)
    assert err.value.cause is exc and err.value.__cause__ is exc
    assert str(err.value).startswith(f"could not generate SLO clf-errors: {stage_name}: ")
    assert stage_name in STAGES


def test_a_write_that_cannot_happen_fails_in_write(tmp_path: Path) -> None:
    spec = load_spec(GOLDEN)
    (tmp_path / "grafana").write_text("a file where a folder must go")
    with pytest.raises(GenerateError) as err:
        write(spec, tmp_path, render(spec))
    assert err.value.stage == "write"
    assert "could not generate the spec: write: " in str(err.value)


def test_the_cli_says_objective_and_stage(tmp_path: Path) -> None:
    doc = _doc()
    twin = copy.deepcopy(doc["objectives"][1])
    twin["name"] = "clf_errors"
    doc["objectives"].append(twin)
    spec = tmp_path / "slo.yaml"
    spec.write_text(yaml.safe_dump(doc))
    res = CliRunner().invoke(main, ["--no-color", "generate", "-c", str(spec),
                                    "-o", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert "could not generate the spec: validate: objective names collide" in res.output


_NAMES = st.from_regex(r"[a-z][a-z0-9_.\-]{0,10}", fullmatch=True)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_NAMES, min_size=2, max_size=3, unique=True))
def test_any_valid_names_generate_or_fail_naming_the_stage(names: list[str]) -> None:
    """Spec boundary: objective names the spec accepts either generate, or fail as a
    GenerateError in validate (names that collide as alert names); never anything else."""
    doc = _doc()
    base = doc["objectives"][1]
    doc["objectives"] = [{**copy.deepcopy(base), "name": n} for n in names]
    spec = parse_spec(doc)
    try:
        files = render(spec, "prometheus")
    except GenerateError as exc:
        assert exc.stage == "validate" and "collide" in str(exc)
        assert len({camel(n) for n in names}) < len(names)
    else:
        assert all(f"prometheus/rules/golden/{n}.rules.yml" in files for n in names)
