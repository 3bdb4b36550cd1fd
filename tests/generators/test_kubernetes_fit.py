"""``--format kubernetes`` rides the plain files' shapes (agent/k8s/templates.py) and fits what the
API server takes (agent/k8s/limits.py): the templated objects are byte for byte the ones the
builders and PyYAML write, a ConfigMap past 1 MiB is an error naming it, and the Grafana alert
rules of a large spec are split over ConfigMaps a client-side ``kubectl apply`` accepts."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from agent.k8s import limits
from agent.k8s.objects import kubernetes_objects
from agent.k8s.render import render_kubernetes as builders_only
from agent.k8s.templates import YamlTemplate
from agent.render import shapes
from agent.render.files import render, render_kubernetes
from agent.signals.examples import every_kind_spec
from agent.spec import parse_spec
from agent.spec.document import Spec
from agent.stages import GenerateError
from tests.generators.test_render_by_shape import copies_spec, specs


@pytest.fixture(scope="module")
def copies() -> Spec:
    return parse_spec(copies_spec())


@pytest.mark.parametrize("alerts", ["prometheus", "both"])
def test_templated_objects_are_the_builders(copies: Spec, alerts: Any) -> None:
    files = render(copies, alerts)
    seen: list[bool] = []
    real = shapes.Shapes._template

    def spy(self: Any, g: Any, build: Any, kind: Any) -> Any:
        tpl = real(self, g, build, kind)
        if kind is YamlTemplate:
            seen.append(tpl is not None)
        return tpl

    shapes.Shapes._template = spy  # type: ignore[method-assign]
    try:
        got = render_kubernetes(copies, files, alerts, "ml", {"release": "x"})
    finally:
        shapes.Shapes._template = real  # type: ignore[method-assign]
    assert seen and all(seen)          # every shape's PrometheusRule and ConfigMap templated
    assert list(got.items()) == list(builders_only(copies, files, "ml",
                                                   {"release": "x"}).items())
    if alerts != "both":        # prometheus's objects are both's less the Grafana rules
        return
    # and the builders' objects are what PyYAML writes for kubernetes_objects' dicts: every
    # fifth document of each file and its last (PyYAML's pure-Python dump of all 945 was half
    # this module's time; tests/generators/test_k8s_emitter.py holds the writers to PyYAML's)
    objects = kubernetes_objects(copies, files, "ml", {"release": "x"})
    for name, docs in objects.items():
        text = got[f"kubernetes/{copies.service}/{name}"][1]
        written = text.split("\n", 1)[1].split("\n---\n")
        assert len(written) == len(docs)
        for i in sorted({*range(0, len(docs), 5), len(docs) - 1}):
            mine = written[i] + ("\n" if i < len(docs) - 1 else "")
            assert mine == yaml.dump(docs[i], Dumper=yaml.SafeDumper, sort_keys=False,
                                     width=100), (name, i)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_random_specs_give_the_builders_objects(doc: dict[str, Any]) -> None:
    try:
        spec = parse_spec(doc)
        files = render(spec, "both")
    except ValueError:
        return
    assert render_kubernetes(spec, files, "both") == builders_only(spec, files)


def _big_alerting_spec(n: int) -> Spec:
    base = every_kind_spec()
    o = next(x for x in base["objectives"] if x["signal"] == "error_rate")
    base["objectives"] = [dict(copy.deepcopy(o), name=f"errors-{i}") for i in range(n)]
    return parse_spec(base)


def test_grafana_alert_rules_are_split_below_the_apply_limit() -> None:
    spec = _big_alerting_spec(160)
    files = render(spec, "both")
    whole = files[f"grafana/provisioning/alerting/{spec.service}.yml"][1]
    assert len(whole) > limits.LAST_APPLIED                  # one ConfigMap would not apply
    server_side: list[str] = []
    out = render_kubernetes(spec, files, "both", "ml", {}, server_side)
    cms = [d for d in yaml.safe_load_all(out["kubernetes/every-kind/grafana-alerting.yaml"][1])
           if d]
    assert len(cms) > 1 and not server_side
    names, keys, rules, groups = set(), set(), [], set()
    for cm in cms:
        assert limits.json_size(cm) <= limits.LAST_APPLIED
        names.add(cm["metadata"]["name"])
        ((key, text),) = cm["data"].items()
        keys.add(key)
        doc = yaml.safe_load(text)
        (group,) = doc["groups"]
        groups.add(group["name"])
        rules += group["rules"]
        assert text.startswith(whole.split("\n", 1)[0])      # the header kept
    assert len(names) == len(keys) == len(groups) == len(cms)
    assert rules == yaml.safe_load(whole)["groups"][0]["rules"]   # every rule, in order, once
    assert kubernetes_objects(spec, files, "ml", {})["grafana-alerting.yaml"] == cms


def test_a_small_alerting_configmap_is_not_split() -> None:
    spec = _big_alerting_spec(3)
    files = render(spec, "both")
    out = render_kubernetes(spec, files, "both")
    (cm,) = [d for d in yaml.safe_load_all(out["kubernetes/every-kind/grafana-alerting.yaml"][1])
             if d]
    assert cm["metadata"]["name"] == "every-kind-grafana-alerting"
    assert cm["data"] == {"every-kind-alerting.yaml":
                          files["grafana/provisioning/alerting/every-kind.yml"][1]}


def test_a_dashboard_past_a_mebibyte_is_refused_by_name() -> None:
    spec = _big_alerting_spec(1)
    files = render(spec, "prometheus")
    rel = "grafana/dashboards/every-kind--errors-0.json"
    dash = json.loads(files[rel][1])
    dash["description"] = "x" * (1 << 20)
    files[rel] = (files[rel][0], json.dumps(dash, indent=2) + "\n")
    with pytest.raises(GenerateError) as err:
        render_kubernetes(spec, files, "prometheus")
    msg = str(err.value)
    assert err.value.stage == "kubernetes"
    assert "ConfigMap dashboard-slo-every-kind-errors-0" in msg and "1 MiB" in msg
    assert f"{len(files[rel][1]) + len('slo-every-kind-errors-0.json'):,} bytes" in msg


def test_a_dashboard_past_the_annotation_room_asks_for_a_server_side_apply() -> None:
    spec = _big_alerting_spec(1)
    files = render(spec, "prometheus")
    rel = "grafana/dashboards/every-kind--errors-0.json"
    dash = json.loads(files[rel][1])
    dash["description"] = "x" * (300 << 10)
    files[rel] = (files[rel][0], json.dumps(dash, indent=2) + "\n")
    server_side: list[str] = []
    render_kubernetes(spec, files, "prometheus", None, None, server_side)
    assert server_side == ["dashboard-slo-every-kind-errors-0"]


def test_the_cli_says_to_apply_server_side_only_when_needed(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from agent.cli import main

    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(every_kind_spec()))
    res = CliRunner().invoke(main, ["generate", "-c", str(path), "-o", str(tmp_path / "out"),
                                    "--format", "kubernetes"])
    assert res.exit_code == 0, res.output
    assert "kubectl apply -k" in res.output and "--server-side" not in res.output
