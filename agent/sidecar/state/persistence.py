"""Durable state: atomic snapshots (temp file, fsync, rename, fsync of the folder) and a restore
that moves a corrupt or foreign snapshot aside with a log line instead of failing start-up."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("slo_agent.sidecar")

SNAPSHOT = "state.json"


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:   # some filesystems cannot fsync a directory
        pass


def save(state_dir: Path, service: str, state: dict[str, Any]) -> int:
    from agent.sidecar.state.jsonsafe import dumps

    body = dumps({"service": service, "saved_at": time.time(), "state": state}, "state snapshot",
                 default=str)
    write_atomic(state_dir / SNAPSHOT, body)
    return len(body)


def load(state_dir: Path, service: str) -> dict[str, Any] | None:
    """The saved state, or None; a snapshot that cannot be used is renamed *.corrupt-<time>."""
    path = state_dir / SNAPSHOT
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_bytes())
        if not isinstance(doc, dict) or "state" not in doc:
            raise ValueError("not an slo-agent snapshot")
        if doc.get("service") != service:
            raise ValueError(f"snapshot of service {doc.get('service')!r}, not {service!r}")
        state = doc["state"]
        if not isinstance(state, dict):
            raise ValueError("state is not an object")
        return state
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        move_aside(path, str(exc))
        return None


def move_aside(path: Path, reason: str) -> Path:
    target = path.with_name(f"{path.name}.corrupt-{int(time.time() * 1000)}")
    try:
        os.replace(path, target)
    except OSError:
        pass
    log.error("state snapshot %s unusable (%s); moved aside to %s, starting fresh", path,
              reason[:200], target.name)
    return target


def restore_part(name: str, dropped: list[str], load: Callable[..., object],
                 *args: Any) -> None:
    """Run one part of a restore (``load(*args)``); a part that cannot be read is dropped with a
    log line naming it, and the rest of the snapshot still restores."""
    try:
        load(*args)
    except Exception as exc:
        dropped.append(name)
        log.error("state snapshot: part %s unreadable, dropped (%s: %s)", name,
                  type(exc).__name__, str(exc)[:200])


def put(table: dict[Any, Any], key: Any, make: Callable[[Any], Any], raw: Any) -> None:
    """``table[key] = make(raw)``, for ``restore_part``: the table changes only on success."""
    table[key] = make(raw)


def pairs(raw: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """``{name: [value, time]}`` as read back from JSON."""
    return {str(k): (float(v[0]), float(v[1])) for k, v in raw.items()}
