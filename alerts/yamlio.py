"""Deterministic YAML for generated files: no anchors, stable order, wide lines."""

from __future__ import annotations

from typing import Any

import yaml

# libyaml's C emitter is ~10x faster; the output is the same YAML document.
_Base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _NoAliases(_Base):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: Any, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_NoAliases.add_representer(str, _str)


def dump(data: Any, header: str | None = None) -> str:
    text = yaml.dump(data, Dumper=_NoAliases, sort_keys=False, width=4096, allow_unicode=True)
    return (f"# {header}\n" if header else "") + text
