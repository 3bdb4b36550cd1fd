"""bench/all.py holds a run to the README's performance table: every row of that table has a key
the check reads, and a row worse than its key by more than the tolerance fails the run (in the
row's own direction), while one within it passes. No benchmark runs here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench_all() -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location("bench_all", ROOT / "bench" / "all.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_all"] = module          # its dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "bench"))


def _table(readme: str) -> dict[str, str]:
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 6 and cells[0] not in ("what", "---"):
            rows[cells[0]] = cells[3]
    return rows


def test_every_row_of_the_readme_table_has_a_key(bench_all: ModuleType) -> None:
    table = _table((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(table) >= 10, "the README's performance table (bench/all.py's output) is gone"
    for what, key in table.items():
        assert bench_all._parse(key) is not None, f"{what}: key {key!r} does not parse"


@pytest.mark.parametrize(("better", "key", "fails"), [
    ("lower", 1.30, True), ("lower", 1.20, False), ("lower", 0.50, False),
    ("higher", 0.79, True), ("higher", 0.81, False), ("higher", 3.0, False)])
def test_a_row_worse_than_its_key_fails_the_run(bench_all: ModuleType, tmp_path: Path,
                                                better: str, key: float, fails: bool) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("| what | measured | anchor | key | goal | met |\n"
                      "| --- | --- | --- | --- | --- | --- |\n"
                      "| a row | 1 | 1 | 1.00 | x | yes |\n", encoding="utf-8")
    row = bench_all.Row("a row", "", "", key, better, "", True)
    assert bool(bench_all.check([row], readme, 0.25)) is fails


def test_a_row_the_readme_lacks_fails_the_run(bench_all: ModuleType, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("| what | measured | anchor | key | goal | met |\n"
                      "| --- | --- | --- | --- | --- | --- |\n"
                      "| a row | 1 | 1 | 1.00 | x | yes |\n", encoding="utf-8")
    row = bench_all.Row("a renamed row", "", "", 1.0, "lower", "", True)
    assert bench_all.check([row], readme, 0.25)
