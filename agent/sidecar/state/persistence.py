"""Durable state: atomic, checksummed snapshots with the previous good one kept.

A snapshot is one JSON document, ``{"service", "saved_at", "sha256", "state"}``, whose
``sha256`` covers the exact bytes of ``state``: a torn write or a flipped bit is found on load,
not restored as a wrong state. Writing goes to a temp file (removed on any failure: a full disk
leaves nothing behind), is fsynced and renamed over ``state.json``; the snapshot it replaces,
when it was known good, is first renamed to ``state.prev.json``. On load the newest is tried,
then the previous, and the log says which was used and what span of time was lost. A snapshot
that cannot be used is renamed ``*.corrupt-<ms>`` when the folder allows it (the log says
whether it moved); the newest three such files are kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("slo_agent.sidecar")

SNAPSHOT = "state.json"
PREVIOUS = "state.prev.json"
KEEP_CORRUPT = 3
_STATE_KEY = b',"state":'
_KEYS = {"service", "saved_at", "sha256", "state"}


def _tmp_name(path: Path, pid: int) -> Path:
    return path.with_name(f".{path.name}.{pid}.tmp")


def _keep(path: Path, previous: Path) -> None:
    """``previous`` becomes what ``path`` holds now, ``path`` untouched."""
    link = _tmp_name(previous, os.getpid())
    try:
        if previous.exists() and os.path.samefile(path, previous):
            return                   # a write killed before its last step: kept already
        link.unlink(missing_ok=True)
        os.link(path, link)
    except OSError:                  # no hard links here: the old rename
        os.replace(path, previous)
        return
    os.replace(link, previous)


def write_atomic(path: Path, data: bytes, keep_previous: Path | None = None) -> None:
    """Write ``data`` to ``path`` through a temp file that never outlives a failure; with
    ``keep_previous``, the file being replaced becomes that one first. ``path`` exists at every
    instant (a kill between the two steps leaves the newest, not only the previous): the
    previous is a second name for it, made by a hard link and an atomic rename, where the file
    system has hard links (else it is renamed, as a file system without them allows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path, os.getpid())
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if keep_previous is not None and path.exists():
            _keep(path, keep_previous)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:   # some filesystems cannot fsync a directory
        pass


def encode(service: str, state: dict[str, Any], saved_at: float) -> bytes:
    """The snapshot document, its checksum over the exact bytes of ``state``."""
    from agent.sidecar.state.jsonsafe import dumps

    body = dumps(state, "state snapshot", default=str)
    head = json.dumps({"service": service, "saved_at": saved_at,
                       "sha256": _digest(service, saved_at, body)}, separators=(",", ":"))
    return head[:-1].encode() + _STATE_KEY + body + b"}"


def _digest(service: Any, saved_at: Any, body: bytes) -> str:
    """The checksum: over the service, the save time and the state's exact bytes."""
    head = f"{json.dumps(service)}\n{json.dumps(saved_at)}\n".encode()
    return hashlib.sha256(head + body).hexdigest()


def decode(data: bytes, service: str) -> tuple[dict[str, Any], float | None]:
    """(state, saved_at) of a snapshot; ValueError naming what is wrong with it. A snapshot
    without ``sha256`` (written before checksums) is read unverified; an unknown key is refused
    (a flipped bit in a key name must not pass as such an older snapshot)."""
    doc = json.loads(data)
    if not isinstance(doc, dict) or "state" not in doc or set(doc) - _KEYS:
        raise ValueError("not an slo-agent snapshot")
    if doc.get("service") != service:
        raise ValueError(f"snapshot of service {doc.get('service')!r}, not {service!r}")
    if "sha256" in doc:
        at = data.find(_STATE_KEY)
        body = data[at + len(_STATE_KEY):data.rstrip().rfind(b"}")] if at >= 0 else b""
        if _digest(doc["service"], doc.get("saved_at"), body) != doc["sha256"]:
            raise ValueError("checksum mismatch (torn or altered on disk)")
    state = doc["state"]
    if not isinstance(state, dict):
        raise ValueError("state is not an object")
    saved = doc.get("saved_at")
    return state, float(saved) if isinstance(saved, (int, float)) else None


def save(state_dir: Path, service: str, state: dict[str, Any],
         keep_previous: bool = False, saved_at: float | None = None) -> int:
    """Write the snapshot; ``keep_previous`` when the one on disk is known good; ``saved_at``:
    the time up to which it holds everything acknowledged (default: now)."""
    body = encode(service, state, time.time() if saved_at is None else saved_at)
    write_atomic(state_dir / SNAPSHOT, body, state_dir / PREVIOUS if keep_previous else None)
    return len(body)


@dataclass
class Restore:
    """What a start-up restore found: which snapshot was used and what was lost."""

    which: str | None = None                 # "newest", "previous" or None (fresh)
    saved_at: float | None = None
    lost_from: float | None = None           # the span lost when the previous one was used
    lost_to: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def newest_good(self) -> bool:
        return self.which == "newest"

    def summary(self) -> dict[str, Any]:
        return {"restored_from": self.which, "restored_saved_at": self.saved_at,
                "lost_from": self.lost_from, "lost_to": self.lost_to,
                "problems": self.problems[:5]}


def load(state_dir: Path, service: str) -> dict[str, Any] | None:
    """The newest usable saved state (newest, else previous), or None."""
    out: list[dict[str, Any]] = []
    restore(state_dir, service, out.append)
    return out[0] if out else None


def restore(state_dir: Path, service: str, use: Callable[[dict[str, Any]], object]
            ) -> Restore:
    """Hand the newest usable snapshot to ``use`` (which raises when it cannot use it): the
    newest, else the previous good one. Every step is logged as it happened."""
    result = Restore()
    newest, previous = state_dir / SNAPSHOT, state_dir / PREVIOUS
    newest_time: float | None = None
    for which, path in (("newest", newest), ("previous", previous)):
        if not path.exists():
            continue
        try:
            mtime = path.stat().st_mtime
            state, saved_at = decode(path.read_bytes(), service)
            use(state)
        except Exception as exc:   # unreadable, foreign, or rejected by ``use``
            reason = f"{type(exc).__name__}: {exc}"[:200]
            result.problems.append(f"{path.name}: {reason}")
            if which == "newest":
                newest_time = _saved_at_hint(path)
            move_aside(path, reason)
            continue
        result.which, result.saved_at = which, saved_at if saved_at is not None else mtime
        if which == "previous":
            result.lost_from, result.lost_to = result.saved_at, newest_time
            span = (f"from {_when(result.lost_from)} to {_when(newest_time)} "
                    f"({newest_time - result.saved_at:.1f}s)" if newest_time is not None
                    else f"after {_when(result.lost_from)}")
            log.error("state restored from the PREVIOUS snapshot %s (saved %s): the newest "
                      "could not be used, so what was recorded %s is lost", path,
                      _when(result.saved_at), span)
        else:
            log.info("state restored from %s (saved %s)", path, _when(result.saved_at))
        return result
    if result.problems:
        log.error("no usable state snapshot in %s (%s); starting fresh", state_dir,
                  "; ".join(result.problems))
    return result


def _saved_at_hint(path: Path) -> float | None:
    """When an unusable snapshot was saved: its ``saved_at`` if the head still reads, else the
    file's modification time (the end of the span the previous snapshot cannot cover)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
        m = re.search(rb'"saved_at":([0-9][0-9.eE+]*)[,}]', head)
        if m:
            return float(m.group(1))
        return path.stat().st_mtime
    except (OSError, ValueError):
        return None


def _when(t: float | None) -> str:
    if t is None:
        return "at an unknown time"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


def move_aside(path: Path, reason: str) -> Path | None:
    """Rename an unusable snapshot ``*.corrupt-<ms>``; returns where it went, or None (and
    says so) when the folder does not allow it. Only the newest KEEP_CORRUPT are kept."""
    target = path.with_name(f"{path.name}.corrupt-{int(time.time() * 1000)}")
    try:
        os.replace(path, target)
    except OSError as exc:
        log.error("state snapshot %s unusable (%s); it could NOT be moved aside (%s), so it "
                  "stays where it is until a snapshot replaces it", path, reason[:200],
                  exc.strerror or exc)
        return None
    log.error("state snapshot %s unusable (%s); moved aside to %s", path, reason[:200],
              target.name)
    old = sorted(path.parent.glob(f"{path.name}.corrupt-*"))
    for stale in old[:-KEEP_CORRUPT]:
        try:
            stale.unlink()
        except OSError:
            pass
    return target


def sweep(state_dir: Path) -> list[str]:
    """Remove temp files a killed or failed writer left (their process is gone); returns
    their names. A leftover on a full disk would otherwise keep the next write from fitting."""
    removed: list[str] = []
    for tmp in state_dir.glob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        try:
            tmp.unlink()
            removed.append(tmp.name)
        except OSError as exc:
            log.error("could not remove the stale temp file %s: %s", tmp, exc.strerror or exc)
    if removed:
        log.warning("removed %d stale snapshot temp file(s) in %s: %s", len(removed), state_dir,
                    ", ".join(removed[:5]))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Health:
    """How snapshots are going, for ``/status``, ``/metrics`` and the log: the last good one,
    failures in a row (the first logged at once, then one line a minute while they last) and
    what the start-up restore found."""

    LOG_EVERY = 60.0

    def __init__(self) -> None:
        self.last_good_at: float | None = None
        self.failures = 0
        self.failures_total = 0
        self.last_error: str | None = None
        self.failing_since: float | None = None
        self.newest_good = False          # the file at state.json is one we know is good
        self.restore = Restore()
        self._logged_at = 0.0

    def restored(self, result: Restore) -> None:
        self.restore = result
        self.newest_good = result.newest_good
        self.last_good_at = result.saved_at

    def ok(self, now: float) -> None:
        if self.failures:
            log.warning("snapshots written again after %d failed attempt(s) since %s",
                        self.failures, _when(self.failing_since))
        self.failures, self.failing_since = 0, None
        self.last_good_at, self.newest_good = now, True

    def failed(self, exc: BaseException, now: float) -> None:
        self.failures += 1
        self.failures_total += 1
        self.last_error = (f"{type(exc).__name__}: "
                           f"{getattr(exc, 'strerror', None) or exc}")[:200]
        if self.failing_since is None:
            self.failing_since = now
        if self.failures == 1 or now - self._logged_at >= self.LOG_EVERY:
            self._logged_at = now
            log.error("snapshot failed (%s); %d in a row; the last good snapshot is %s",
                      self.last_error, self.failures, self.age_text(now))

    def age(self, now: float) -> float | None:
        return None if self.last_good_at is None else max(0.0, now - self.last_good_at)

    def age_text(self, now: float) -> str:
        age = self.age(now)
        return "none yet" if age is None else f"{age:.1f}s old ({_when(self.last_good_at)})"

    def report(self, now: float) -> dict[str, Any]:
        return {"last_good_at": self.last_good_at, "last_good_age": self.age(now),
                "failures": self.failures, "failures_total": self.failures_total,
                "last_error": self.last_error, "failing_since": self.failing_since,
                **self.restore.summary()}


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
