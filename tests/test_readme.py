"""Every fenced block of the README is checked: YAML is validated by the real spec loader (a
fragment inside the smallest spec it belongs to), shell commands are run where cheap (`--help`,
`validate`, `generate`, `import`, `export`, `tiers` into a temporary folder) and their options are
checked against the command's own `--help`, the validation example is reproduced byte for byte
(save its "…"), the Python example parses and names only what the SDK has, and the ingest JSON is
accepted by the sidecar's door. A new block with no rule here fails by its line number."""

from __future__ import annotations

import ast
import inspect
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.spec import load_text, parse_spec
from tests.helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
#: the smallest spec a fragment can sit in
BASE: dict[str, Any] = {"version": 1, "service": "fraud-api",
                        "models": [{"name": "fraud", "version": "v3",
                                    "features": ["amount", "age", "country"]}]}


def blocks(lang: str | None = None) -> list[tuple[int, str, str]]:
    out = []
    for m in BLOCK.finditer(README):
        line = README[:m.start()].count("\n") + 1
        if lang is None or m.group(1) == lang:
            out.append((line, m.group(1), m.group(2)))
    return out


def _id(b: tuple[int, str, str]) -> str:
    return f"README.md:{b[0]}"


def cli(*args: str, cwd: Path = ROOT, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=180,
                          env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    if ok:
        assert done.returncode == 0, f"slo-agent {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done


# -- YAML ----------------------------------------------------------------
def as_spec(text: str) -> dict[str, Any]:
    """The spec a README YAML block stands for: a whole spec as it is, a fragment inside BASE by
    its first line. An unknown shape fails, so a new block needs a rule here."""
    first = text.lstrip("\n").splitlines()[0]
    if first.startswith("  datasets:"):               # the datasets of sources, then objectives
        return {**BASE, **yaml.safe_load("sources:\n" + text)}
    data = yaml.safe_load(text)
    if first.startswith("version:"):
        return data  # type: ignore[no-any-return]
    if first.startswith("  - name:"):                 # objectives (list items)
        return {**BASE, "objectives": data}
    if first.startswith("    tiers:"):                # one objective's tiers
        return {**BASE, "objectives": [{"name": "with-tiers", "signal": "error_rate",
                                        "selector": {"model": "fraud"}, "objective": "99.9%",
                                        **data}]}
    if first.startswith(("sources:", "models:")):    # top-level sections of a spec
        return {**BASE, **data}
    raise AssertionError(f"no rule for a README YAML block starting {first!r}")


@pytest.mark.parametrize("block", blocks("yaml"), ids=_id)
def test_every_yaml_block_is_a_valid_spec(block: tuple[int, str, str]) -> None:
    data = as_spec(block[2])
    parse_spec(data, f"README.md:{block[0]}")          # raises SpecError naming every problem


def test_the_spec_in_short_validates_and_generates_through_the_cli(tmp_path: Path) -> None:
    """The README's own spec, as a user saves it: `validate` passes and `generate` writes."""
    text = next(b[2] for b in blocks("yaml") if b[2].startswith("version:"))
    spec = tmp_path / "slo.yaml"
    spec.write_text(text)
    load_text(text, "README")
    out = cli("validate", str(spec)).stdout
    assert "is valid" in out and "fraud-latency-p95" in out
    cli("generate", "-c", str(spec), "-o", str(tmp_path / "out"))
    assert (tmp_path / "out" / "prometheus" / "rules").is_dir()


# -- the validation example ----------------------------------------------------------------
BROKEN = """\
service: fraud-api
models: [{name: fraud}]
objectives:
  - {name: slow, signal: latency, selector: {model: fraud}, warning: 250ms, critical: 100ms}
  - {name: stale, signal: freshness_lag, selector: {dataset: tx}, warning: 10m, critical: 800}
sources: {datasets: [{name: tx}]}
"""


def test_the_validation_example_is_what_validate_prints(tmp_path: Path) -> None:
    block = next(b[2] for b in blocks("") if b[2].startswith("$ slo-agent validate"))
    command, *expected = block.rstrip("\n").splitlines()
    (tmp_path / "broken.yaml").write_text(BROKEN)
    done = cli(*shlex.split(command.removeprefix("$ slo-agent ")), cwd=tmp_path, ok=False)
    assert done.returncode == 2
    got = (done.stdout + done.stderr).rstrip("\n").splitlines()
    assert len(got) == len(expected), got
    for want, line in zip(expected, got, strict=True):
        pattern = ".*".join(re.escape(part) for part in want.split("…"))
        assert re.fullmatch(pattern, line), f"README: {want!r}\nvalidate: {line!r}"


# -- shell ----------------------------------------------------------------
def commands() -> list[tuple[int, str]]:
    out = []
    for line, _, text in blocks("sh"):
        for cmd in text.splitlines():
            cmd = re.sub(r"\s+#.*$", "", cmd).strip()
            if cmd:
                out.append((line, cmd))
    return out


def _options(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", help_text))


@pytest.mark.parametrize("item", commands(), ids=lambda c: f"README.md:{c[0]}:{c[1][:40]}")
def test_every_command_exists_with_the_options_it_shows(item: tuple[int, str],
                                                        tmp_path: Path) -> None:
    """Each `slo-agent …` in a shell block: the command exists and knows every option the
    README gives it; the cheap ones run for real (inputs from the repository)."""
    line, text = item
    if re.match(r"^[A-Z][A-Z0-9_]*=", text):
        _check_environment(text)
        return
    parts = [p for part in text.split("&&") for p in [shlex.split(part)] if p]
    for argv in parts:
        program = Path(argv[0]).name
        if program == "slo-agent":
            _check_slo_agent(argv[1:], tmp_path)
        elif program == "bash":
            assert subprocess.run(["bash", "-n", str(ROOT / argv[1])]).returncode == 0
        elif program == "docker":
            assert argv[1:] == ["compose", "up"] and (ROOT / "docker-compose.yml").exists()
        elif program in ("python3", "pip") or argv[0].endswith("/pip"):
            continue       # installing: what CI itself does before these tests run
        else:
            raise AssertionError(f"README.md:{line}: no rule for {program!r}")


def _check_environment(text: str) -> None:
    """``OTEL_…=value``: a variable the OpenTelemetry SDK reads, and where its value is the
    sidecar's address, a path the sidecar serves."""
    from opentelemetry.sdk import environment_variables

    name, _, value = text.partition("=")
    assert hasattr(environment_variables, name), f"{name} is not an OpenTelemetry variable"
    url = re.match(r"https?://[^/\s]+(/\S*)", value)
    if url:
        server = (ROOT / "agent" / "sidecar" / "http" / "server.py").read_text()
        assert f'"{url.group(1)}"' in server, f"the sidecar serves no {url.group(1)}"


#: inputs a README command names, from the repository or written by the test
INPUTS = {"slo.yaml": None, "slos.yaml": ROOT / "tests" / "interop" / "openslo.yaml",
          "sloth.yaml": ROOT / "tests" / "interop" / "sloth.yaml",
          "slos/latency.yaml": ROOT / "tests" / "interop" / "fixtures" / "pyrra_latency.yaml",
          "slos/errors.yaml": ROOT / "tests" / "interop" / "fixtures" /
          "pyrra_ratio_grouping.yaml"}
RUNS = {"validate", "generate", "import", "export", "tiers", "schema"}


def _check_slo_agent(args: list[str], tmp: Path) -> None:
    words = [a for a in args if not a.startswith("-")]
    sub = words[:2] if words and words[0] in ("import", "export") else words[:1]
    help_text = cli(*sub, "--help").stdout
    for opt in (a.split("=")[0] for a in args if a.startswith("-")):
        assert opt in _options(help_text), f"slo-agent {' '.join(sub)} has no {opt}"
    if not sub or sub[0] not in RUNS:
        return           # run, demo, report: started elsewhere (sidecar, demo, report tests)
    spec_text = next(b[2] for b in blocks("yaml") if b[2].startswith("version:"))
    (tmp / "slo.yaml").write_text(spec_text)
    (tmp / "deploy").mkdir(exist_ok=True)
    (tmp / "deploy" / "slo.yaml").write_text((ROOT / "deploy" / "slo.yaml").read_text())
    for name, src in INPUTS.items():
        if src is not None:
            (tmp / name).parent.mkdir(exist_ok=True)
            (tmp / name).write_text(src.read_text())
    expanded = [x for a in args for x in (sorted(str(p.relative_to(tmp))
                                                for p in tmp.glob(a)) if "*" in a else [a])]
    cli(*expanded, cwd=tmp)


# -- Python ----------------------------------------------------------------
@pytest.mark.parametrize("block", blocks("python"), ids=_id)
def test_every_python_block_parses_and_names_only_what_exists(
        block: tuple[int, str, str]) -> None:
    """Each Python block parses; what it imports exists; on ``monitor`` it calls only what the
    SDK has, with decorator options the decorator takes."""
    import importlib

    from agent import monitor

    line, _, text = block
    tree = ast.parse(text, f"README.md:{line}")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "monitor"}
    assert all(hasattr(monitor, a) for a in used), used - set(dir(monitor))
    options = set(inspect.signature(monitor.inference).parameters)
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                and call.func.attr == "inference":
            given = {k.arg for k in call.keywords}
            assert given <= options, given - options


# -- JSON ----------------------------------------------------------------
def test_the_ingest_example_is_accepted_by_the_door() -> None:
    """The payload as documented parses at the sidecar's door (its one placeholder, the TTFT
    sketch, filled with the latency sketch beside it)."""
    from agent.sidecar.ingest import payload

    (line, _, text), = blocks("json")
    doc = json.loads(text)
    for item in doc["items"]:
        if "ttft" in item:
            item["ttft"] = item["latency"]
    batch = payload.parse(json.dumps(doc).encode())
    assert len(batch.items) == len(doc["items"]), f"README.md:{line}"


@pytest.mark.slow
@pytest.mark.parametrize("block", blocks("sql"), ids=_id)
def test_every_sql_block_runs_in_a_real_postgresql(block: tuple[int, str, str]) -> None:
    """The grants as the README gives them, in a real PostgreSQL holding the table they name:
    the role they make can read the table and nothing more."""
    import psycopg

    from tests.postgres import serve

    text = block[2]
    password = "readme-pw-1"
    statements = [s.strip() for s in text.replace("'...'", f"'{password}'").split(";")
                  if s.strip()]
    for server in serve():
        server.sql("CREATE DATABASE shop")
        server.sql("CREATE TABLE public.features (id int, amount float8)",
                   "INSERT INTO public.features VALUES (1, 2.5)", db="shop")
        with server.admin("shop") as con:
            for statement in statements:
                con.execute(statement)
        with psycopg.connect(server.url("monitor", password, "shop")
                             .replace("postgresql+psycopg", "postgresql")) as con:
            assert con.execute("SELECT amount FROM public.features").fetchall() == [(2.5,)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute("INSERT INTO public.features VALUES (2, 1.0)")


def test_every_block_has_a_checked_language() -> None:
    """A block in a language no test here reads would go unchecked."""
    langs = {b[1] for b in blocks()}
    assert langs <= {"yaml", "sh", "python", "json", "sql", ""}, langs
    assert len([b for b in blocks("") if not b[2].startswith("$ slo-agent")]) == 0
