"""Golden files: the generated output of a small spec, checked in so a reviewer sees exactly
what a change to the generators does. Refresh with UPDATE_GOLDEN=1 after reviewing the diff."""

from __future__ import annotations

import os
from pathlib import Path

from agent.render.files import render
from agent.spec import load_spec

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "small"


def test_generated_output_matches_golden_files() -> None:
    files = render(load_spec(GOLDEN / "slo.yaml"))
    out = GOLDEN / "out"
    if os.environ.get("UPDATE_GOLDEN"):
        for rel, (_, text) in files.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(text, encoding="utf-8")
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert on_disk == set(files), "file set changed; rerun with UPDATE_GOLDEN=1 and review"
    for rel, (_, text) in sorted(files.items()):
        assert (out / rel).read_text(encoding="utf-8") == text, f"{rel} differs from golden"
