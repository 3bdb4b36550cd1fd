"""The CLI renders a large spec's dashboards, Grafana rules and last unit tests in a forked child
(agent/render/files.py render_split): the same files in the same order, and the same error, as
the serial render — including a failure on each side at once (the first in stage order wins)
and a cause that does not pickle."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from agent.cli import main
from agent.render.files import PARALLEL_MIN_OBJECTIVES, _tests_here, render, render_split
from agent.spec import parse_spec
from agent.spec.document import Spec
from agent.stages import STAGES, GenerateError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX only")

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "small" / "slo.yaml"
VICTIM = "o7-clf-errors"


def _doc() -> dict[str, Any]:
    """The golden spec's objectives, copied under new names up to the parallel threshold."""
    doc = yaml.safe_load(GOLDEN.read_text())
    base = doc["objectives"]
    doc["objectives"] = [dict(base[i % len(base)], name=f"o{i}-{base[i % len(base)]['name']}")
                         for i in range(PARALLEL_MIN_OBJECTIVES)]
    return doc


def _tail() -> str:
    """VICTIM's objective copied last: its unit tests render in the child."""
    names = [o["name"] for o in _doc()["objectives"]]
    return next(n for n in reversed(names) if n.endswith(VICTIM.partition("-")[2]))


TAIL = _tail()


@pytest.fixture(scope="module")
def spec() -> Spec:
    return parse_spec(_doc())


@pytest.mark.parametrize("alerts", ["prometheus", "grafana", "both"])
def test_the_split_render_is_the_serial_render(spec: Spec, alerts: Any) -> None:
    serial = render_split(spec, alerts, parallel=False)
    split = render_split(spec, alerts, parallel=True)
    assert list(split.items()) == list(serial.items())      # same files, same order
    assert serial == render(spec, alerts)


def _fail(monkeypatch: pytest.MonkeyPatch, target: str, exc: Exception,
          victim: str = VICTIM) -> None:
    """``target`` raises ``exc`` for ``victim`` (a forked child inherits the patch)."""
    module, _, name = target.rpartition(".")
    real = getattr(__import__(module, fromlist=[name]), name)

    def fails(p: Any, *args: Any, **kwargs: Any) -> Any:
        if p.o.name == victim:
            raise exc
        return real(p, *args, **kwargs)

    monkeypatch.setattr(f"{module}.{name}", fails)


def _errors(spec: Spec, alerts: Any = "both") -> tuple[GenerateError, GenerateError]:
    got = []
    for parallel in (False, True):
        with pytest.raises(GenerateError) as err:
            render_split(spec, alerts, parallel=parallel)
        got.append(err.value)
    return got[0], got[1]


class Unpicklable(Exception):
    def __init__(self, what: str, extra: int) -> None:    # pickles, but cannot be rebuilt
        super().__init__(what)
        self.extra = extra


@pytest.mark.parametrize(("targets", "stage_name"), [
    (["dashboards.detail.detail_dashboard"], "dashboards"),
    (["dashboards.detail.detail_dashboard", "alerts.grafana.objective_rules"], "dashboards"),
    (["dashboards.detail.detail_dashboard", "alerts.rules.objective_group"], "rules"),
    (["alerts.unittests.test_file"], "unit tests"),
    (["alerts.grafana.objective_rules"], "grafana rules"),
])
@pytest.mark.parametrize("exc", [TypeError("panel"), ValueError("no query"),
                                 Unpicklable("odd", 1)])
def test_the_split_render_fails_as_the_serial_one(
        spec: Spec, monkeypatch: pytest.MonkeyPatch, targets: list[str], stage_name: str,
        exc: Exception) -> None:
    for target in targets:
        _fail(monkeypatch, target, exc)
    serial, split = _errors(spec)
    assert (split.objective, split.stage, str(split)) == (VICTIM, stage_name, str(serial))
    assert str(serial).startswith(f"could not generate SLO {VICTIM}: {stage_name}: ")
    if not isinstance(exc, Unpicklable):
        assert type(split.cause) is type(exc) and str(split.cause) == str(exc)


def test_without_a_fork_the_render_is_serial(spec: Spec, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    """A fork refused (process limit, memory) renders in this process: the same files, and
    the pipe meant for the child is closed."""
    def refused() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    monkeypatch.setattr(os, "fork", refused)
    assert render_split(spec, "prometheus", parallel=True) == render(spec, "prometheus")
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds


def test_the_child_renders_the_last_unit_tests() -> None:
    """With Prometheus alerts only, the child takes the tail of the unit tests (TAIL among
    them) to finish with the parent; with Grafana rules too, the parent keeps them all."""
    mine = _tests_here(PARALLEL_MIN_OBJECTIVES, True, False)
    names = [o["name"] for o in _doc()["objectives"]]
    assert 0 < mine <= names.index(TAIL)
    assert _tests_here(PARALLEL_MIN_OBJECTIVES, False, True) == PARALLEL_MIN_OBJECTIVES


@pytest.mark.parametrize(("failing", "expected"), [
    ([("alerts.unittests.test_file", TAIL)], (TAIL, "unit tests")),
    ([("alerts.unittests.test_file", TAIL), ("alerts.unittests.test_file", VICTIM)],
     (VICTIM, "unit tests")),
    ([("alerts.unittests.test_file", TAIL), ("dashboards.detail.detail_dashboard", VICTIM)],
     (TAIL, "unit tests")),
    ([("alerts.rules.objective_group", TAIL), ("alerts.unittests.test_file", TAIL)],
     (TAIL, "rules")),
])
def test_unit_tests_split_between_both_processes_fail_in_stage_order(
        spec: Spec, monkeypatch: pytest.MonkeyPatch, failing: list[tuple[str, str]],
        expected: tuple[str, str]) -> None:
    for target, victim in failing:
        _fail(monkeypatch, target, ValueError(f"broken {victim}"), victim)
    serial, split = _errors(spec, "prometheus")
    assert (split.objective, split.stage, str(split)) == (*expected, str(serial))


def test_the_cli_writes_what_render_gives(spec: Spec, tmp_path: Path) -> None:
    """Whichever path the CLI picks (it forks only while a core is idle)."""
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(_doc()))
    res = CliRunner().invoke(main, ["generate", "-c", str(path), "-o", str(tmp_path / "out"),
                                    "--alerts", "both"])
    assert res.exit_code == 0, res.output
    files = render(spec, "both")
    on_disk = {str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")
               if p.is_file()}
    assert on_disk == set(files)
    for rel, (_, text) in files.items():
        assert (tmp_path / "out" / rel).read_text(encoding="utf-8") == text, rel


@given(objective=st.none() | st.text(max_size=40), stage_name=st.sampled_from(STAGES),
       cause=st.text(max_size=80) | st.builds(KeyError, st.text(max_size=20))
       | st.builds(ValueError, st.text(max_size=20)))
def test_a_generate_error_survives_pickling(objective: str | None, stage_name: Any,
                                            cause: Exception | str) -> None:
    err = GenerateError(objective, stage_name, cause)
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, GenerateError) and isinstance(back, ValueError)
    assert (back.objective, back.stage, str(back)) == (objective, stage_name, str(err))
    assert type(back.cause) is type(cause) and str(back.cause) == str(cause)
    text = GenerateError.with_text(err)
    assert (text.objective, text.stage, str(text)) == (objective, stage_name, str(err))
