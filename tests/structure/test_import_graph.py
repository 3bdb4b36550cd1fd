"""No import cycle anywhere in the project (the directions are test_import_contract.py's).

Every module of agent/, detectors/, dashboards/ and alerts/ is parsed with ``ast``; every import
counts, including those inside functions and under ``TYPE_CHECKING`` (a cycle that only a type
checker sees is still two modules that each need the other). ``from pkg import name`` counts as
importing ``pkg.name`` when that is a module, else ``pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "detectors", "dashboards", "alerts")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages (a compiled one
    by its stub, ``.pyi``)."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        stubs = [p for p in (root / pkg).rglob("*.pyi") if not p.with_suffix(".py").exists()]
        for path in sorted([*(root / pkg).rglob("*.py"), *stubs]):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(module: str, is_pkg: bool, level: int, target: str | None) -> str:
    if not level:
        return target or ""
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules that ``name`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_pkg, node.level, node.module)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:      # `import a.b.attr` style: the nearest module
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    pkg = tmp_path / "agent"
    (pkg / "sub").mkdir(parents=True)
    for p in ("detectors", "dashboards", "alerts"):
        (tmp_path / p).mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "sub" / "b.py").write_text("from agent.sub.c import thing\n")
    (pkg / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..sub import a\n")
    g = graph(tmp_path)
    assert g["agent.sub.a"] == {"agent.sub.b"}
    assert g["agent.sub.b"] == {"agent.sub.c"}
    assert g["agent.sub.c"] == {"agent.sub.a"}
    assert cycles(g) == [["agent.sub.a", "agent.sub.b", "agent.sub.c"]]


def test_no_import_cycle_in_the_project() -> None:
    found = cycles(graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)

