"""The SLO spec: model, loader, units and signal kinds.

Names load on first use: the SDK needs only the light ``signals`` and ``units`` modules, so an
inference process that never parses a spec never imports pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.spec.errors import SpecError, SpecIssue
    from agent.spec.loader import ENV_SPEC, json_schema, load_spec, load_text, parse_spec
    from agent.spec.model import BurnTier, Dataset, Objective, Spec
    from agent.spec.signals import SIGNALS, Direction, SignalKind, SLIType, signal
    from agent.spec.units import Threshold, Unit

_WHERE = {
    "SpecError": "errors", "SpecIssue": "errors",
    "ENV_SPEC": "loader", "json_schema": "loader", "load_spec": "loader", "load_text": "loader",
    "parse_spec": "loader",
    "BurnTier": "model", "Dataset": "model", "Objective": "model", "Spec": "model",
    "SIGNALS": "signals", "Direction": "signals", "SignalKind": "signals", "SLIType": "signals",
    "signal": "signals",
    "Threshold": "units", "Unit": "units",
}

__all__ = [
    "ENV_SPEC", "SIGNALS", "BurnTier", "Dataset", "Direction", "Objective", "SLIType",
    "SignalKind", "Spec", "SpecError", "SpecIssue", "Threshold", "Unit", "json_schema",
    "load_spec", "load_text", "parse_spec", "signal",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'agent.spec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"agent.spec.{module}"), name)
    globals()[name] = value
    return value
