"""The SLO spec: model, loader, units and signal kinds."""

from agent.spec.errors import SpecError, SpecIssue
from agent.spec.loader import ENV_SPEC, json_schema, load_spec, load_text, parse_spec
from agent.spec.model import BurnTier, Dataset, Objective, Spec
from agent.spec.signals import SIGNALS, Direction, SignalKind, SLIType, signal
from agent.spec.units import Threshold, Unit

__all__ = [
    "ENV_SPEC", "SIGNALS", "BurnTier", "Dataset", "Direction", "Objective", "SLIType",
    "SignalKind", "Spec", "SpecError", "SpecIssue", "Threshold", "Unit", "json_schema",
    "load_spec", "load_text", "parse_spec", "signal",
]
