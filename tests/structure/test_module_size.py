"""No production module over 400 lines: a module that grows past it holds more than one
concern and is split by concern (the house rule in DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 400


def oversized(root: Path = ROOT) -> dict[str, int]:
    out = {}
    for pkg in ("agent", "detectors", "dashboards", "alerts"):
        for path in sorted((root / pkg).rglob("*.py")):
            n = len(path.read_text().splitlines())
            if n > LIMIT:
                out[str(path.relative_to(root))] = n
    return out


def test_the_count_sees_a_long_module(tmp_path: Path) -> None:
    (tmp_path / "agent").mkdir()
    for p in ("detectors", "dashboards", "alerts"):
        (tmp_path / p).mkdir()
    (tmp_path / "agent" / "long.py").write_text("x = 1\n" * (LIMIT + 1))
    (tmp_path / "alerts" / "short.py").write_text("x = 1\n" * LIMIT)
    assert oversized(tmp_path) == {"agent/long.py": LIMIT + 1}


def test_no_production_module_over_400_lines() -> None:
    assert oversized() == {}
