"""Bad specs never crash anything: mutations of real specs (keys dropped, values replaced, keys
added, anywhere in the tree) and arbitrary YAML text only ever produce the spec's own error."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.cli import main
from agent.spec import SpecError, parse_spec
from agent.spec.starter import starter_spec
from tests.helpers import EXAMPLE_SPEC

BASES = [yaml.safe_load(EXAMPLE_SPEC.read_text()), yaml.safe_load(starter_spec())]
junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                 st.text(max_size=12), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
                 st.sampled_from(["1%", "2x baseline", "-5ms", "p101", "nan", "1e999", "$-1",
                                  "120% budget", "0s", "ok", "latency", ""]))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    if not path:
        return value
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "replace":
        parent[key] = value
    elif isinstance(parent[key], dict):
        parent[key]["unexpected_key"] = value
    return doc


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), action=st.sampled_from(["delete", "replace", "add"]), value=junk,
       base=st.sampled_from(range(len(BASES))))
def test_mutated_specs_raise_only_spec_errors(data: st.DataObject, action: str, value: Any,
                                              base: int) -> None:
    doc = BASES[base]
    path = data.draw(st.sampled_from(_paths(doc)))
    mutated = _mutate(doc, path, action, value)
    try:
        parse_spec(mutated)
    except SpecError as exc:
        assert exc.issues and all(str(i) for i in exc.issues)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.one_of(st.text(max_size=200), st.sampled_from([
    "service: [", "objectives: {}", "{{{", "- - -", "service: x\nmodels: [{name: m}]\n"
    "objectives: [{name: a, signal: latency, warning: '1s', critical: '0.5s'}]"])))
def test_cli_validate_never_tracebacks(tmp_path_factory: Any, text: str) -> None:
    path = tmp_path_factory.mktemp("spec") / "slo.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
