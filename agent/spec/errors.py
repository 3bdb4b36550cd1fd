"""Validation failures as errors a user can act on: field path, bad value, what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class SpecIssue:
    path: str       # e.g. objectives[3].warning
    message: str
    value: Any = None

    def __str__(self) -> str:
        shown = "" if self.value is None else f" (got {_show(self.value)})"
        return f"{self.path or '<spec>'}: {self.message}{shown}"


class SpecError(ValueError):
    """The only exception the spec loader raises: every problem found, each with its path."""

    def __init__(self, issues: list[SpecIssue], source: str = "spec") -> None:
        self.issues = issues
        self.source = source
        lines = "\n".join(f"  - {i}" for i in issues)
        super().__init__(f"{source}: {len(issues)} error(s)\n{lines}")


def did_you_mean(word: Any, choices: list[str]) -> str:
    """``; did you mean 'error_rate'?`` for a near miss, else empty."""
    import difflib

    if not isinstance(word, str) or not choices:
        return ""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _join(base: str, sub: str) -> str:
    if not base:
        return sub
    return base + ("" if sub.startswith("[") else ".") + sub


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class reached by following ``loc`` from ``root`` (for listing allowed keys)."""
    import typing

    current: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            field = next((f for f in current.model_fields.values() if f.alias == part), None)
        if field is None:
            return None
        ann = field.annotation
        while True:
            args = typing.get_args(ann)
            origin = typing.get_origin(ann)
            if origin in (list, dict) or (origin is not None and args):
                candidates = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
                ann = candidates[0] if candidates else (args[-1] if args else None)
                if candidates:
                    break
                if ann is None:
                    break
            else:
                break
        current = ann
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def issues_from_validation(exc: ValidationError, root: type[BaseModel]) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = format_path(loc)
        ctx = err.get("ctx") or {}
        kind = err["type"]
        if kind == "spec_problems":
            for sub, message, value in ctx["problems"]:
                issues.append(SpecIssue(sub if ctx.get("absolute") else _join(path, sub),
                                        message, value))
            continue
        value = err.get("input")
        if kind == "extra_forbidden":
            parent = _model_at(root, loc[:-1])
            allowed = sorted(f.alias or n for n, f in parent.model_fields.items()) if parent else []
            msg = "unknown key" + did_you_mean(loc[-1] if loc else None, allowed) + (
                f"; allowed keys here: {', '.join(allowed)}" if allowed else "")
            if loc and loc[-1] == "token":
                msg = ("a token is never written in the spec; put it in an environment variable "
                       "and name that variable in token_env")
                value = "<redacted>"
            issues.append(SpecIssue(path, msg, value))
            continue
        if kind == "missing":
            issues.append(SpecIssue(path, "required field is missing"))
            continue
        msg = err["msg"]
        if kind == "enum":
            import re

            choices = re.findall(r"'([^']+)'", str(ctx.get("expected", "")))
            msg = (f"not an allowed value{did_you_mean(value, choices)}; allowed: "
                   f"{', '.join(choices)}")
        if kind.startswith("model_type") or kind.startswith("dict_type"):
            msg = "expected a mapping of keys to values"
        issues.append(SpecIssue(path, msg, value))
    return issues
