"""The import contract (docs/architecture.md, "Import contract"): edges that must never exist.

Each rule names the modules it binds, the modules they must never import and why. The graph is
the one ``test_import_graph`` builds (every import, inside functions and under ``TYPE_CHECKING``
included). Each rule carries one forbidden edge of its own as an example, and a test proves the
rule catches it, so a rule whose predicate stopped matching anything fails here instead of
passing forever.

The sidecar's rooms are ordered; a room imports only rooms before it. Each room's package
docstring states the rooms it never imports, and a test holds the docstring to the order below.
A module whose name starts with ``_`` is private to its own folder.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.structure.test_import_graph import ROOT, graph, modules

#: the sidecar's rooms, lowest first; "lifecycle" is the modules directly in agent/sidecar/
ROOMS = ("state", "ingest", "judge", "collectors", "lifecycle", "http")
_SUBPACKAGES = frozenset(ROOMS) - {"lifecycle"}
#: agent/ packages that compose the generators (and may import them)
COMPOSERS = ("agent.cli", "agent.demo", "agent.k8s", "agent.render")
#: what the spec, records, catalogue and plans are read by, and so never read
RUNTIME_AND_COMPOSERS = ("agent.sdk", "agent.sidecar", *COMPOSERS, "agent.interop",
                         "agent.report")
BASE = ("agent.spec", "agent.signals", "agent.catalogue", "agent.units", "agent.sli")

Pred = Callable[[str], bool]


def under(*prefixes: str) -> Pred:
    return lambda m: any(m == p or m.startswith(p + ".") for p in prefixes)


def room(module: str) -> str | None:
    """The sidecar room a module belongs to, or None outside the sidecar."""
    parts = module.split(".")
    if parts[:2] != ["agent", "sidecar"]:
        return None
    return parts[2] if len(parts) > 2 and parts[2] in _SUBPACKAGES else "lifecycle"


def in_room(name: str) -> Pred:
    return lambda m: room(m) == name


def in_rooms(names: tuple[str, ...]) -> Pred:
    return lambda m: room(m) in names


@dataclass(frozen=True)
class Never:
    name: str
    source: Pred
    target: Pred
    why: str
    example: tuple[str, str]     # one edge the rule must refuse (source, target)

    def broken(self, g: dict[str, set[str]]) -> list[str]:
        return [f"{m} -> {d}" for m, deps in sorted(g.items()) for d in sorted(deps)
                if self.source(m) and self.target(d)]


def _room_rules() -> list[Never]:
    out = []
    for i, r in enumerate(ROOMS[:-1]):
        later = ROOMS[i + 1:]
        src = f"agent.sidecar.{r}.x" if r != "lifecycle" else "agent.sidecar.engine"
        dst = f"agent.sidecar.{later[-1]}.x"
        out.append(Never(f"sidecar room {r} never imports {', '.join(later)}", in_room(r),
                         in_rooms(later), f"a room imports only the rooms before it "
                         f"({' < '.join(ROOMS)})", (src, dst)))
    return out


RULES = [
    Never("detectors import nothing of ours", under("detectors"),
          lambda d: not under("detectors")(d),
          "pure functions on arrays: no I/O, no spec, testable and benchmarkable alone",
          ("detectors.drift", "agent.units")),
    Never("generators never import the SDK, the sidecar or a composer",
          under("dashboards", "alerts"), under("agent.sdk", "agent.sidecar", *COMPOSERS),
          "generators are pure functions of the spec, the records and the catalogue",
          ("dashboards.panels", "agent.sidecar.engine")),
    Never("only the composers import the generators",
          lambda m: under("agent")(m) and not under(*COMPOSERS)(m), under("dashboards", "alerts"),
          "the runtime (SDK, sidecar) installs without the generate extra",
          ("agent.sli", "alerts.rules")),
    Never("the demo never imports the CLI", under("agent.demo"), under("agent.cli"),
          "the CLI composes the demo, not the reverse; what both need lives below them",
          ("agent.demo.runner", "agent.cli")),
    Never("the signal records never import the spec", under("agent.signals"), under("agent.spec"),
          "the spec model reads the records; the records read only units and the catalogue",
          ("agent.signals.record", "agent.spec.document")),
    Never("the SDK never imports the sidecar or a composer", under("agent.sdk"),
          under("agent.sidecar", *COMPOSERS),
          "an inference process imports the SDK with the base install only",
          ("agent.sdk.transport", "agent.sidecar.ingest.columnar")),
    Never("the base (spec, records, catalogue, units, plans) never imports the runtime or a "
          "composer", under(*BASE), under(*RUNTIME_AND_COMPOSERS),
          "everything reads the base; the base reads nothing above it",
          ("agent.spec.loader", "agent.sdk.monitor")),
    Never("the review never imports the sidecar, the SDK or a composer", under("agent.report"),
          under("agent.sidecar", "agent.sdk", *COMPOSERS),
          "the sidecar's /report and the CLI render one document the same way; the review "
          "reads the spec and the plans, never the runtime that serves it",
          ("agent.report.render", "agent.sidecar.engine")),
    *_room_rules(),
]


def _package(module: str, packages: set[str]) -> str:
    return module if module in packages else module.rpartition(".")[0]


def private_imports(g: dict[str, set[str]], packages: set[str]) -> list[str]:
    """Imports of a ``_module`` from outside the folder it lives in."""
    out = []
    for m, deps in sorted(g.items()):
        for d in sorted(deps):
            last = d.rpartition(".")[2]
            if last.startswith("_") and not last.startswith("__") \
                    and _package(m, packages) != d.rpartition(".")[0]:
                out.append(f"{m} -> {d}")
    return out


def _packages() -> set[str]:
    return {name for name, path in modules().items() if path.name == "__init__.py"}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_never(rule: Never) -> None:
    broken = rule.broken(graph())
    assert not broken, f"{rule.name} ({rule.why}); see docs/architecture.md: " + "; ".join(broken)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_each_rule_refuses_its_example(rule: Never) -> None:
    src, dst = rule.example
    assert rule.broken({src: {dst}}) == [f"{src} -> {dst}"]


def test_private_modules_stay_in_their_folder() -> None:
    wrong = private_imports(graph(), _packages())
    assert not wrong, "a _module is private to its folder (docs/architecture.md): " + \
        "; ".join(wrong)


def test_the_private_rule_sees_a_neighbour_room_and_the_parent() -> None:
    pk = {"agent", "agent.sidecar", "agent.sidecar.http", "agent.sidecar.state"}
    g = {"agent.sidecar.http.server": {"agent.sidecar._tick", "agent.sidecar.http._page"},
         "agent.sidecar.engine": {"agent.sidecar._tick", "agent.sidecar.state._slots"},
         "agent.sidecar.state": {"agent.sidecar.state._slots"}}
    assert private_imports(g, pk) == ["agent.sidecar.engine -> agent.sidecar.state._slots",
                                      "agent.sidecar.http.server -> agent.sidecar._tick"]


def _never_clause(doc: str) -> set[str]:
    m = re.search(r"\bnever\b(.*?)(?:[.;:(]|$)", doc, re.S)
    assert m, "the docstring states no 'never' clause"
    clause = m.group(1)
    names = set(re.findall(r"``(\w+)``", clause))
    if "the lifecycle" in clause:
        names.add("lifecycle")
    return names


@pytest.mark.parametrize("name", ROOMS[:-1])
def test_each_room_docstring_states_the_rule_the_graph_keeps(name: str) -> None:
    """The first 'never' clause of a room's docstring names exactly the rooms after it."""
    folder = ROOT / "agent" / "sidecar" / ("" if name == "lifecycle" else name)
    doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text())) or ""
    assert _never_clause(doc) == set(ROOMS[ROOMS.index(name) + 1:])


def test_every_sidecar_folder_is_a_known_room() -> None:
    found = {p.parent.name for p in (ROOT / "agent" / "sidecar").glob("*/__init__.py")}
    assert found == _SUBPACKAGES, "a new sidecar sub-package takes its place in ROOMS"
