"""Render by shape (agent/render/shapes.py): objectives of one shape are filled from a template the
builders made for two scrambled probes. The proof is byte identity with the builders run for
every objective: over every kind and shape, over random specs, over every spec in the
repository; plus failures that still name the objective and the stage, and templates that
refuse values they cannot carry."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.render.files import render
from agent.render.shapes import Shapes, TextTemplate, TreeTemplate, safe
from agent.signals.examples import every_kind_spec
from agent.sli import plans
from agent.spec import load_spec, parse_spec
from agent.spec.document import Spec
from agent.spec.signals import SIGNALS, SignalKind
from agent.stages import GenerateError
from alerts import grafana

ROOT = Path(__file__).resolve().parents[2]
#: every spec file of the repository that is ours (the importers' fixtures are foreign)
REPO_SPECS = sorted(str(p.relative_to(ROOT)) for p in (
    ROOT / "examples" / "slo.yaml", ROOT / "deploy" / "slo.yaml",
    ROOT / "deploy" / "kubernetes" / "slo.yaml", ROOT / "tests" / "golden" / "small" / "slo.yaml"))
#: same classes of characters within a family, so each family is one shape per kind
NAMES = (("a", "bc", "defg"), ("Q_x.1", "Rz_y.22", "Sab_c.333"))
MODELS = ("m", "mx", "mxyz")


def copies_spec() -> dict[str, Any]:
    """Every objective of every_kind_spec, with and without its target, three times in each
    family of names and selector values: every kind and shape gets a template."""
    base = every_kind_spec()
    objectives = []
    for o in base["objectives"]:
        for v in (o, {k: v for k, v in o.items()
                      if k not in ("objective", "window", "sli_threshold")}):
            targeted = "objective" in v
            for family in NAMES:
                for i, suffix in enumerate(family):
                    c = copy.deepcopy(v)
                    c["name"] = f"{v['name']}-{'t' if targeted else 'n'}-{suffix}"
                    sel = c.get("selector", {})
                    if "model" in sel:
                        sel["model"] = MODELS[i]
                    for key in ("queue", "job", "cache", "breaker"):
                        if key in sel:
                            sel[key] = f"{sel[key]}{'x' * i}"
                    if "objective" in sel:
                        sel["objective"] = "k-feature-drift-t-a"
                    objectives.append(c)
    return {**base, "models": [{"name": m, "version": "v1"} for m in MODELS],
            "objectives": objectives}


@pytest.fixture(scope="module")
def copies() -> Spec:
    return parse_spec(copies_spec())


#: the kinds of the cheap spec the failure and mutation tests render (twice each, both ways)
FEW = (SignalKind.ERROR_RATE, SignalKind.LATENCY)


@pytest.fixture(scope="module")
def few() -> Spec:
    """``copies`` cut to two kinds: every shape of them, a twentieth of the renders' cost."""
    doc = copies_spec()
    doc["objectives"] = [o for o in doc["objectives"] if SignalKind(o["signal"]) in FEW]
    return parse_spec(doc)


@pytest.fixture(scope="module")
def builders(copies: Spec) -> Callable[[str], dict[str, tuple[str, str]]]:
    """The builders' output of ``copies`` per alerts backend, rendered once for the module
    (the slow side: objective by objective)."""
    done: dict[str, dict[str, tuple[str, str]]] = {}

    def get(alerts: str) -> dict[str, tuple[str, str]]:
        if alerts not in done:
            done[alerts] = render(copies, alerts, by_shape=False)  # type: ignore[arg-type]
        return done[alerts]

    return get


@pytest.fixture(scope="module")
def shaped(copies: Spec) -> Callable[[str], tuple[dict[str, tuple[str, str]],
                                                   list[tuple[str, int, bool]]]]:
    """The by-shape render of ``copies`` per backend and what it templated, once per module:
    the identity and the every-shape tests read the same render."""
    done: dict[str, tuple[dict[str, tuple[str, str]], list[tuple[str, int, bool]]]] = {}

    def get(alerts: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, int, bool]]]:
        if alerts not in done:
            out: dict[str, Any] = {}
            seen = _templates(copies, alerts, out)
            done[alerts] = (out, seen)
        return done[alerts]

    return get


def _templates(spec: Spec, alerts: Any = "both", out: dict[str, Any] | None = None
               ) -> list[tuple[str, int, bool]]:
    """(stage, members, templated) of every group render() probed; what it rendered goes
    into ``out``."""
    seen: list[tuple[str, int, bool]] = []
    real = Shapes._template

    def spy(self: Shapes, g: Any, build: Any, kind: Any) -> Any:
        tpl = real(self, g, build, kind)
        seen.append((build.__qualname__, len(g.members), tpl is not None))
        return tpl

    Shapes._template = spy  # type: ignore[method-assign]
    try:
        rendered = render(spec, alerts)
    finally:
        Shapes._template = real  # type: ignore[method-assign]
    if out is not None:
        out.update(rendered)
    return seen


@pytest.mark.parametrize("alerts", ["grafana", "both"])
def test_templates_are_the_builders_for_every_kind_and_shape(shaped: Any, builders: Any,
                                                            alerts: Any) -> None:
    """``both`` holds every builder's output (rules with alerts, promtool tests, Alertmanager,
    dashboards, Grafana rules) and ``grafana`` the recording-only rules; ``prometheus`` is
    ``both`` less the Grafana rules, rendered with fewer name forms (the repository specs
    below and the mutation test render it)."""
    # the same files with the same bytes, in the same order
    assert list(shaped(alerts)[0].items()) == list(builders(alerts).items())


def test_every_shape_of_every_kind_is_templated(copies: Spec, shaped: Any) -> None:
    """No shape falls back to objective-by-objective: a builder that spells a name in a form
    agent/render/shapes.py does not know makes this fail (add the form to NAME_FORMS)."""
    groups = Shapes(copies, plans(copies), grafana.NAME_FORMS).groups
    assert len(groups) >= len(SIGNALS)
    seen = shaped("both")[1]
    assert len(seen) == 4 * len(groups)             # rules, tests, dashboards, grafana rules
    assert all(ok for _, _, ok in seen), [s for s in seen if not s[2]]


@pytest.mark.parametrize("path", REPO_SPECS)
def test_the_repository_specs_render_as_the_builders_do(path: str) -> None:
    spec = load_spec(ROOT / path)
    for alerts in ("prometheus", "both"):
        assert render(spec, alerts) == render(spec, alerts, by_shape=False)


# -- random specs --------------------------------------------------------------------------
_KINDS = sorted((k for k in SIGNALS if k not in (SignalKind.CUSTOM,
                                                 SignalKind.DRIFT_DETECTION_TIME)),
                key=lambda k: k.value)
_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_VALUE = st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True) | st.sampled_from(
    ["on", "no", "n", "1", "0x1", "v1.2", "q", "t"])


def _selector(kind: SignalKind, value: str, model: str) -> dict[str, str]:
    info = SIGNALS[kind]
    if "dataset" in info.required or ("dataset" in info.selectors and "model" not in
                                      info.selectors):
        return {"dataset": "tx", **({"column": value} if "column" in info.selectors else {})}
    if "model" in info.selectors:
        return {"model": model}
    for key in ("queue", "job", "cache", "breaker", "gpu"):
        if key in info.selectors:
            return {key: value}
    return {}


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """A few kinds, several objectives each: random names (any case, '_', '.', '-'), selector
    values (some that YAML reads as booleans or numbers), with or without a target."""
    kinds = draw(st.lists(st.sampled_from(_KINDS), min_size=1, max_size=3, unique=True))
    names = draw(st.lists(_NAME, min_size=3, max_size=9, unique_by=str.lower))
    models = ["m", "Mod_1", "x.y"]
    objectives = []
    for i, name in enumerate(names):
        kind = kinds[i % len(kinds)]
        info = SIGNALS[kind]
        o: dict[str, Any] = {"name": name, "signal": kind.value,
                             "selector": _selector(kind, draw(_VALUE), models[i % 3])}
        if info.default_warning is None and info.default_critical is None:
            o["critical"] = "1"
        if draw(st.booleans()) and info.sli.value == "events":
            o.update(objective="99%", window="28d")
        objectives.append(o)
    return {"service": "prop", "models": [{"name": m, "version": "v1"} for m in models],
            "sources": {"datasets": [{"name": "tx"}]},
            "alerting": {"runbook_url": "https://rb.example/{objective}/{service}"},
            "objectives": objectives}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_random_specs_render_as_the_builders_do(doc: dict[str, Any]) -> None:
    try:
        spec = parse_spec(doc)
        plans(spec)
    except ValueError:          # a spec the schema refuses (alert names that collide, ...)
        return
    assert render(spec, "both") == render(spec, "both", by_shape=False)


# -- what a template refuses ----------------------------------------------------------------
@pytest.mark.parametrize("value", ["on", "No", "tru", "ull", "1x", "a b", "é", "a:b", "", "n"])
def test_values_yaml_would_read_otherwise_are_no_holes(value: str) -> None:
    assert not safe(value)


@pytest.mark.parametrize("value", ["b", "ab-c", "Model_1.2", "x" * 63, "offset", "nullable"])
def test_plain_values_are_holes(value: str) -> None:
    assert safe(value)


def test_a_name_yaml_reads_as_a_boolean_renders_on_its_own() -> None:
    doc = every_kind_spec()
    base = next(o for o in doc["objectives"] if o["signal"] == "error_rate")
    doc["objectives"] = [dict(base, name=n) for n in ("On", "abc", "defg", "hijkl")]
    spec = parse_spec(doc)
    sh = Shapes(spec, plans(spec))
    assert sh.forms[0] is None and all(sh.forms[1:])
    assert render(spec) == render(spec, by_shape=False)
    rules = render(spec)["prometheus/rules/every-kind/On.rules.yml"][1]
    assert "objective: 'On'" in rules


def test_a_form_the_template_does_not_know_is_caught(monkeypatch: pytest.MonkeyPatch,
                                                     few: Spec) -> None:
    """A builder that spells the name upper-cased: the second probe's output differs from the
    template filled with its forms, so the shape is built objective by objective."""
    import alerts.rules as rules

    real = rules.objective_group

    def shouting(p: Any, alerts: bool = True) -> dict[str, Any]:
        group = real(p, alerts)
        group["name"] += ":" + p.o.name.upper()
        return group

    monkeypatch.setattr(rules, "objective_group", shouting)
    by_shape: dict[str, Any] = {}
    seen = _templates(few, "prometheus", by_shape)
    assert any("_rules" in stage for stage, _, _ in seen)
    assert not any(ok for stage, _, ok in seen if "_rules" in stage)
    assert by_shape == render(few, "prometheus", by_shape=False)


def test_text_templates_cut_and_fill() -> None:
    forms = {"name": "ab-c", "camel": "AbC", "uid": "slo-s-ab-c"}
    tpl = TextTemplate.cut("x slo-s-ab-c ab-c {AbC} }", forms)
    assert tpl is not None and tpl.tokens == ["uid", "name", "camel"]
    assert tpl.fill({"name": "q", "camel": "Q", "uid": "u"}) == "x u q {Q} }"
    tree = TreeTemplate.cut({"ab-c": ["ab-c 1", 2, None, {"k": "AbC"}]}, forms)
    assert tree is not None
    assert tree.fill({"name": "z", "camel": "Z", "uid": "u"}) == {"z": ["z 1", 2, None,
                                                                      {"k": "Z"}]}
    assert TreeTemplate.cut({"k": object()}, forms) is None


# -- failures name the objective and the stage ------------------------------------------------
def _fail(monkeypatch: pytest.MonkeyPatch, target: str, exc: Exception, when: Any) -> None:
    module, _, name = target.rpartition(".")
    real = getattr(__import__(module, fromlist=[name]), name)

    def fails(p: Any, *args: Any, **kwargs: Any) -> Any:
        if when(p):
            raise exc
        return real(p, *args, **kwargs)

    monkeypatch.setattr(f"{module}.{name}", fails)


@pytest.mark.parametrize(("target", "stage_name"), [
    ("dashboards.detail.detail_dashboard", "dashboards"),
    ("alerts.rules.objective_group", "rules"),
    ("alerts.unittests.test_file", "unit tests"),
    ("alerts.grafana.objective_rules", "grafana rules"),
])
def test_a_shape_that_fails_names_its_first_objective(
        monkeypatch: pytest.MonkeyPatch, few: Spec, target: str, stage_name: str) -> None:
    """A builder failing for a whole shape (its probes included): the members are built one by
    one, and the first in the spec's order is named, as without templates."""
    first = next(p.o.name for p in plans(few) if p.o.signal is SignalKind.ERROR_RATE
                 and p.o.has_target)
    assert plans(few)[0].o.signal is not SignalKind.ERROR_RATE     # others render before it
    _fail(monkeypatch, target, ValueError("no query"),
          lambda p: p.o.signal is SignalKind.ERROR_RATE and p.o.has_target)
    for by_shape in (True, False):
        with pytest.raises(GenerateError) as err:
            render(few, "both", by_shape=by_shape)
        assert (err.value.objective, err.value.stage) == (first, stage_name)
        assert str(err.value) == f"could not generate SLO {first}: {stage_name}: no query"


def test_a_failure_of_one_member_alone_is_not_seen_by_its_template(
        monkeypatch: pytest.MonkeyPatch, few: Spec) -> None:
    """The template stands for the builders on the shape: a fault keyed on one real name (no
    real builder does that) is not reproduced, which is why names are holes only after the
    probes agreed."""
    victim = plans(few)[5].o.name
    _fail(monkeypatch, "alerts.rules.objective_group", ValueError("x"),
          lambda p: p.o.name == victim)
    with pytest.raises(GenerateError):
        render(few, "prometheus", by_shape=False)
    render(few, "prometheus")


def test_the_cli_writes_what_render_gives(tmp_path: Path, few: Spec) -> None:
    from click.testing import CliRunner

    from agent.cli import main

    path = tmp_path / "slo.yaml"
    doc = copies_spec()
    doc["objectives"] = [o for o in doc["objectives"] if SignalKind(o["signal"]) in FEW]
    path.write_text(yaml.safe_dump(doc))
    res = CliRunner().invoke(main, ["generate", "-c", str(path), "-o", str(tmp_path / "out"),
                                    "--alerts", "both"])
    assert res.exit_code == 0, res.output
    files = render(few, "both", by_shape=False)
    on_disk = {str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")
               if p.is_file()}
    assert on_disk == set(files)
    for rel, (_, text) in files.items():
        assert (tmp_path / "out" / rel).read_text(encoding="utf-8") == text, rel
