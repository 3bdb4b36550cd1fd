"""Shared building blocks of the spec model: strict models, text quantities and name rules.

Field validators parse text quantities against a unit, so an error carries the exact field path;
``problems_error`` carries several problems from one cross-field check, reported all at once.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from agent.units import QuantityError, Unit, parse_duration, parse_quantity

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,62}$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# Text forms are accepted on input, so the published schema says so too.
Duration = Annotated[float, Field(ge=0), WithJsonSchema({
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
    "description": "a duration: seconds, or text like 250ms, 15s, 5m, 30d"})]
Ratio = Annotated[float, Field(ge=0, le=1), WithJsonSchema({
    "anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "string"}],
    "description": "a ratio 0-1, or a percentage like 1% or 99.9%"})]


def problems_error(problems: list[tuple[str, str, Any]]) -> PydanticCustomError:
    """One error that carries several (sub-path, message, value) problems; expanded on report."""
    return PydanticCustomError(
        "spec_problems", "{summary}",
        {"summary": "; ".join(f"{p}: {m}" for p, m, _ in problems), "problems": problems},
    )


def as_duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except QuantityError as exc:
        raise PydanticCustomError("spec_value", str(exc)) from None


def as_ratio(value: Any) -> float:
    try:
        return parse_quantity(value, Unit.RATIO)
    except QuantityError as exc:
        raise PydanticCustomError("spec_value", str(exc)) from None


def check_name(value: str, what: str) -> str:
    if not NAME_RE.match(value):
        raise PydanticCustomError(
            "spec_value",
            "{what} must start with a letter and use only letters, digits, '_', '.', '-' "
            "(at most 63 characters)", {"what": what},
        )
    return value


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo must not silently disable a check."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


def check_url(data: Any) -> Any:
    """A model's ``url`` must be http(s); a bad one is reported redacted (URLs can carry
    credentials). Used as a before-validator of the model, so the issue's path is ``...url``."""
    from agent.redact import redact_url

    value = data.get("url") if isinstance(data, dict) else None
    if isinstance(value, str) and not re.match(r"^https?://", value):
        raise problems_error([("url", "expected an http:// or https:// URL", redact_url(value))])
    return data
