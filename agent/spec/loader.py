"""Reading ``slo.yaml``: YAML → :class:`Spec`, raising only :class:`SpecError`."""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

from agent.spec.document import Spec
from agent.spec.errors import SpecError, SpecIssue, issues_from_validation

ENV_SPEC = "SLO_AGENT_SPEC"


def parse_spec(data: Any, source: str = "spec") -> Spec:
    """Validate already-parsed data; every problem is reported at once in one SpecError."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise SpecError([SpecIssue("", "the spec must be a mapping at the top level "
                                   "(service:, models:, objectives:, ...)",
                                   type(data).__name__)], source)
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(issues_from_validation(exc, Spec), source) from None
    except (TypeError, ValueError, RecursionError) as exc:  # defensive: never leak other errors
        raise SpecError([SpecIssue("", f"invalid spec: {exc}")], source) from None


@cache
def _loader(fast: bool = False) -> Any:
    """A safe loader that reads booleans as YAML 1.2 does (true/false only): YAML 1.1 turns
    ``mode: off`` into False and ``on:`` keys into True, which no string field can accept. Bool
    fields still take yes/no/on/off, as pydantic parses those words itself. ``fast``: libyaml's
    parser (~10x faster on a 1,000-objective spec) under the same constructor and resolvers."""
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if fast else yaml.SafeLoader

    class SpecLoader(base):
        pass

    SpecLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    SpecLoader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                     re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                     list("tTfF"))
    return SpecLoader


def _parse(text: str) -> Any:
    """libyaml's parse; where it refuses the text, or the text holds a tab or a ``!`` (PyYAML
    refuses tabs in places libyaml takes them, and reads an empty ``!`` tag differently),
    PyYAML's parse decides: its results, messages and marks are the ones users and tests know."""
    import yaml

    if "\t" in text or "!" in text:
        return yaml.load(text, Loader=_loader())  # a SafeLoader subclass
    try:
        return yaml.load(text, Loader=_loader(fast=True))
    except (yaml.YAMLError, ValueError, RecursionError):
        return yaml.load(text, Loader=_loader())  # a SafeLoader subclass


def load_text(text: str, source: str = "spec") -> Spec:
    import yaml

    try:
        data = _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([SpecIssue("", f"not valid YAML{where}: {problem}"
                                   + (_caret(text, mark.line, mark.column) if mark else ""))],
                        source) from None
    except (ValueError, RecursionError) as exc:
        raise SpecError([SpecIssue("", f"not valid YAML: {exc}")], source) from None
    return parse_spec(data, source)


def _caret(text: str, line: int, column: int) -> str:
    """The offending line (and the one before, where indentation errors usually start) with a
    caret under the column, as compilers show it."""
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return ""
    width = len(str(line + 1))
    out = [""]
    if line > 0:
        out.append(f"    {line:>{width}} | {lines[line - 1]}")
    out.append(f"    {line + 1:>{width}} | {lines[line]}")
    out.append(f"    {'':>{width}} | {' ' * column}^")
    return "\n".join(out)


def load_spec(path: str | os.PathLike[str]) -> Spec:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([SpecIssue("", f"cannot read the spec: {exc.strerror or exc}")],
                        str(p)) from None
    except UnicodeDecodeError:
        raise SpecError([SpecIssue("", "the spec is not UTF-8 text")], str(p)) from None
    return load_text(text, str(p))


def json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "slo-agent spec (slo.yaml)"
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
