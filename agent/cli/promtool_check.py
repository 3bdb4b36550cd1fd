"""promtool parses a spec's own PromQL (custom SLIs) at validate time, so a typo in a query is
an error naming its field instead of a rule Prometheus refuses to load later."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from agent.spec.custom import at_window
from agent.spec.document import Spec


def custom_queries(spec: Spec) -> list[tuple[str, str]]:
    """(field path, query with the window filled in) for every custom SLI query."""
    out = []
    for i, o in enumerate(spec.objectives):
        if o.custom is None:
            continue
        for key in ("value", "bad", "good", "total"):
            q = getattr(o.custom, key)
            if q:
                out.append((f"objectives[{i}].custom.{key}", at_window(q, "5m")))
    return out


def promtool_problems(spec: Spec) -> list[tuple[str, str]] | None:
    """(field path, promtool's message) per query it refuses; None without promtool."""
    queries = custom_queries(spec)
    promtool = shutil.which("promtool")
    if not queries:
        return []
    if promtool is None:
        return None
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "query.rules.yml"
        for field, query in queries:      # one file per query: each error names its field
            path.write_text(yaml.safe_dump({"groups": [{"name": "check", "rules": [
                {"record": "slo:custom_check", "expr": query}]}]}))
            res = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                                 text=True, timeout=60)
            if res.returncode != 0:
                lines = [ln.strip() for ln in (res.stderr + res.stdout).splitlines()
                         if ln.strip() and "FAILED" not in ln and "Checking" not in ln]
                problems.append((field, lines[-1] if lines else "promtool refused the query"))
    return problems
