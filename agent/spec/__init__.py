"""The SLO spec: model, loader, units and signal kinds.

Names load on first use: the SDK needs only the light ``signals`` module and ``agent.units``, so
an inference process that never parses a spec never imports pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.spec.document import BurnTier, Dataset, Objective, Spec
    from agent.spec.errors import SpecError, SpecIssue
    from agent.spec.loader import ENV_SPEC, json_schema, load_spec, load_text, parse_spec
    from agent.spec.signals import SIGNALS, Direction, SignalKind, SLIType, signal
    from agent.units import Threshold, Unit

_WHERE = {
    "SpecError": "agent.spec.errors", "SpecIssue": "agent.spec.errors",
    "ENV_SPEC": "agent.spec.loader", "json_schema": "agent.spec.loader",
    "load_spec": "agent.spec.loader", "load_text": "agent.spec.loader",
    "parse_spec": "agent.spec.loader",
    "BurnTier": "agent.spec.document", "Dataset": "agent.spec.document",
    "Objective": "agent.spec.document", "Spec": "agent.spec.document",
    "SIGNALS": "agent.spec.signals", "Direction": "agent.spec.signals",
    "SignalKind": "agent.spec.signals", "SLIType": "agent.spec.signals",
    "signal": "agent.spec.signals",
    "Threshold": "agent.units", "Unit": "agent.units",
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
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
