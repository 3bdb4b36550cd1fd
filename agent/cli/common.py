"""What the CLI's commands share: exit codes, help layout, loading and checking a spec."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from agent.console import Output

if TYPE_CHECKING:
    from agent.spec import Spec

EXIT_SPEC = 2

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def need(out: Output, extra: str, what: str) -> None:
    """One line naming the extra to install (exit 2) instead of an ImportError traceback."""
    from agent.extras import hint, missing

    if missing(extra):
        out.error(hint(extra, what))
        sys.exit(EXIT_SPEC)


def load(out: Output, spec_path: str) -> Spec:
    from agent.spec import SpecError, load_spec

    try:
        return load_spec(spec_path)
    except SpecError as exc:
        out.spec_errors(exc)
        sys.exit(EXIT_SPEC)


def checked(out: Output, spec_path: str) -> Spec:
    """The one validity check that ``validate`` and ``generate`` share: the spec model, then
    promtool over the spec's own PromQL; what either refuses exits 2. Default tiers that had to
    be widened or dropped to fit an objective's window are said."""
    from agent.cli.promtool_check import promtool_problems

    parsed = load(out, spec_path)
    problems = promtool_problems(parsed)
    if problems:
        out.error(f"{spec_path}: {len(problems)} error(s)")
        for field, message in problems:
            out.error(f"  - {field}: promtool cannot parse the query: {message}")
        sys.exit(EXIT_SPEC)
    if problems is None:
        out.warn("promtool not found: custom PromQL queries were checked by slo-agent's parser "
                  "only (install Prometheus's promtool to check them as Prometheus does)")
    for o in parsed.objectives:
        for note in parsed.tier_notes(o):
            out.warn(f"{o.name}: {note}")
    from agent.spec.otlp import source_notes

    for note in source_notes(parsed):
        out.warn(note)
    return parsed


def dataset_files(out: Output, spec: Spec, spec_path: str) -> dict[str, str]:
    """Each dataset file as the sidecar will read it (resolved from the spec's folder); a
    symlink that leads out of its folder is refused (exit 2) unless the dataset allows it."""
    from pathlib import Path

    from agent.spec.paths import resolve

    base = Path(spec_path).resolve().parent
    files: dict[str, str] = {}
    problems: list[str] = []
    for i, d in enumerate(spec.sources.datasets):
        for key in ("path", "reference"):
            written = getattr(d, key)
            if not written:
                continue
            real, problem = resolve(base, written, d.allow_symlinks_out)
            files[d.name if key == "path" else f"{d.name} (reference)"] = str(real)
            if problem:
                problems.append(f"sources.datasets[{i}].{key}: {problem}")
    if problems:
        out.error(f"{spec_path}: {len(problems)} error(s)")
        for p in problems:
            out.error(f"  - {p}")
        sys.exit(EXIT_SPEC)
    return files
