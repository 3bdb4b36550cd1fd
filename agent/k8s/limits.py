"""What the Kubernetes API server accepts, checked at ``generate`` rather than at ``kubectl apply``.

A ConfigMap holds at most 1 MiB of data (keys and values); any object at most what etcd takes in
one request (1.5 MiB); and ``kubectl apply`` without ``--server-side`` copies the whole object
into its ``last-applied-configuration`` annotation, and annotations hold at most 256 KiB. The
Grafana alert rules of a large spec are split over several ConfigMaps below that; one dashboard
or one rule group past a hard limit is an error that says which and by how much.
"""

from __future__ import annotations

import json
from typing import Any

from agent.stages import GenerateError

CONFIGMAP_DATA = 1 << 20          # core/v1 ConfigMap: data + binaryData
OBJECT = 3 << 19                  # etcd's default --max-request-bytes (1.5 MiB)
LAST_APPLIED = 1 << 18            # metadata.annotations in total (client-side apply)
#: room left in a split ConfigMap for its metadata and the JSON escaping of its data
_MARGIN = 16 << 10


def json_size(obj: Any) -> int:
    """Bytes of ``obj`` as JSON (what the API server and the last-applied annotation hold)."""
    return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())


def configmap_data(obj: dict[str, Any]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in obj.get("data", {}).items())


def check(obj: dict[str, Any], where: str) -> bool:
    """Raise where the API server would refuse ``obj``; True where it fits only a
    server-side apply (past the last-applied annotation's room)."""
    meta = obj.get("metadata", {})
    what = f"{obj.get('kind')} {meta.get('name')} in {where}"
    if obj.get("kind") == "ConfigMap":
        size = configmap_data(obj)
        if size > CONFIGMAP_DATA:
            raise GenerateError(None, "kubernetes", (
                f"{what} holds {size:,} bytes of data; Kubernetes refuses a ConfigMap over "
                f"{CONFIGMAP_DATA:,} bytes (1 MiB). Shorten what it holds (fewer panels in "
                "that dashboard) or use --format files"))
    size = json_size(obj)
    if size > OBJECT:
        raise GenerateError(None, "kubernetes", (
            f"{what} is {size:,} bytes as JSON; the API server takes at most {OBJECT:,} bytes "
            "(1.5 MiB) per object. Split the objective's rules or use --format files"))
    return size > LAST_APPLIED - _MARGIN


def split_provisioning(text: str, limit: int = LAST_APPLIED - _MARGIN) -> list[str]:
    """Grafana alert-rule provisioning YAML (one group, as alerts.grafana writes it) as one or
    more documents of at most ``limit`` bytes as JSON strings, each a group of its own
    (``<name>-1-of-3``...: Grafana keys a file's groups by name). The rules are kept verbatim:
    each starts with a line ``  - `` (the only lines so indented: nested items and literal
    lines are deeper)."""
    if _json_text(text) <= limit:
        return [text]
    head, sep, body = text.partition("\n  rules:\n")
    if not sep or not body.startswith("  - "):
        raise GenerateError(None, "kubernetes", "the Grafana alert rules cannot be split: "
                            "not the provisioning layout alerts/grafana.py writes")
    pieces = body[4:].split("\n  - ")
    rules = ["  - " + r + "\n" for r in pieces[:-1]] + ["  - " + pieces[-1]]
    chunks: list[list[str]] = [[]]
    size = 0
    room = limit - _json_text(head + sep) - 64
    for rule in rules:
        n = _json_text(rule)
        if n > room:
            raise GenerateError(None, "kubernetes", f"one Grafana alert rule is {n:,} bytes, "
                                f"more than a ConfigMap may hold ({room:,})")
        if chunks[-1] and size + n > room:
            chunks.append([])
            size = 0
        chunks[-1].append(rule)
        size += n
    out = []
    for i, chunk in enumerate(chunks, start=1):
        named = _rename(head, f"-{i}-of-{len(chunks)}")
        out.append(named + sep + "".join(chunk))
    return out


def _rename(head: str, suffix: str) -> str:
    """The group's ``  name:`` line with ``suffix`` added."""
    lines = head.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("  name: "):
            lines[i] = line + suffix
            return "\n".join(lines)
    raise GenerateError(None, "kubernetes", "the Grafana alert rules have no group name")


def _json_text(text: str) -> int:
    """Bytes of ``text`` as a JSON string (quotes, backslashes and line breaks escaped)."""
    return (len(text.encode()) + text.count('"') + text.count("\\") + text.count("\n")
            + text.count("\t") + 2)
