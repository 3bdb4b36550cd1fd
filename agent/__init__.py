"""slo-agent: SLO monitoring for AI inference services.

``import agent`` stays light: the SDK, the spec and everything heavy load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "monitor": ("agent.sdk", "monitor"),
    "Monitor": ("agent.sdk", "Monitor"),
    "load_spec": ("agent.spec", "load_spec"),
    "Spec": ("agent.spec", "Spec"),
    "SpecError": ("agent.spec", "SpecError"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
