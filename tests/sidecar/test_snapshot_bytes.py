"""Issue 31: whatever happens to a snapshot's bytes on disk (cut short anywhere, bits flipped
anywhere), a restart restores either the newest state or the previous good one, exactly, and
says which; with both damaged it starts fresh and says so. Never a wrong state, never a crash."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.sidecar.engine import Engine
from agent.sidecar.ingest import payload as ingest
from agent.sidecar.state import persistence
from agent.spec import parse_spec
from tests.sidecar.conftest import make_spec

SPEC = parse_spec(make_spec(Path("/tmp/slo-agent-snapshot-bytes"), 9))
NOW = 1_800_000_000.0


def _plain(state: dict[str, Any]) -> Any:
    return json.loads(json.dumps(state, allow_nan=False))


def _feed(eng: Engine, ok: int, at: float) -> None:
    batch = ingest.parse(json.dumps({"schema": 1, "service": "svc", "items": [
        {"type": "requests", "model": "clf", "version": "v1", "at": at,
         "counts": {"ok": ok, "error": 1}},
        {"type": "job", "job": "nightly", "event": "success", "at": at}]}).encode())
    assert eng.submit(batch)
    eng._drain()


def _build(folder: Path) -> tuple[Any, Any]:
    """Two good snapshots on disk (previous, newest) of different states; their states."""
    eng = Engine(SPEC, state_dir=folder, clock=lambda: NOW)
    _feed(eng, 10, NOW)
    assert eng.snapshot()
    older = _plain(eng.state.state())
    _feed(eng, 20, NOW + 1)
    assert eng.snapshot()
    newer = _plain(eng.state.state())
    assert older != newer
    assert (folder / persistence.PREVIOUS).exists()
    return older, newer


@dataclass
class Damage:
    cut: int | None                 # keep this many bytes (None: no cut)
    flips: list[tuple[int, int]]    # (byte index, bit)

    def apply(self, data: bytes) -> bytes:
        out = bytearray(data)
        for i, bit in self.flips:
            if out:
                out[i % len(out)] ^= 1 << bit
        if self.cut is not None:
            out = out[: self.cut % max(1, len(out))]
        return bytes(out)

    @property
    def harmless(self) -> bool:
        flips: dict[int, int] = {}
        for i, bit in self.flips:          # two flips of one bit cancel out
            flips[i] = flips.get(i, 0) ^ (1 << bit)
        return self.cut is None and not any(flips.values())


DAMAGE = st.builds(Damage, cut=st.one_of(st.none(), st.integers(0, 1 << 20)),
                   flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 7)),
                                  max_size=3))


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(newest=DAMAGE, previous=st.one_of(st.none(), DAMAGE))
def test_any_damage_restores_newest_or_previous_and_says_which(
        newest: Damage, previous: Damage | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        older, newer = _build(folder)
        lengths = {}
        for damage, name in ((newest, persistence.SNAPSHOT),
                             (previous, persistence.PREVIOUS)):
            path = folder / name
            lengths[name] = path.stat().st_size
            if damage is not None:
                path.write_bytes(damage.apply(path.read_bytes()))
        lines = _Lines()
        logger = logging.getLogger("slo_agent.sidecar")
        level = logger.level
        logger.addHandler(lines)
        logger.setLevel(logging.INFO)
        try:
            again = Engine(SPEC, state_dir=folder, clock=lambda: NOW + 2)
            result = persistence.restore(folder, "svc", again._restore)
        finally:
            logger.removeHandler(lines)
            logger.setLevel(level)
        restored = _plain(again.state.state())
        prev_ok = previous is None or previous.harmless
        if newest.harmless:
            assert result.which == "newest" and restored == newer
            assert any("state restored from" in ln for ln in lines.lines)
        elif prev_ok:
            assert result.which == "previous" and restored == older, result
            assert any("PREVIOUS" in ln and "is lost" in ln for ln in lines.lines), lines.lines
            assert result.lost_from is not None and result.lost_to is not None
        else:
            assert result.which is None, result
            assert any("starting fresh" in ln for ln in lines.lines), lines.lines
            fresh = Engine(SPEC, state_dir=folder / "none", clock=lambda: NOW + 2)
            assert restored == _plain(fresh.state.state())
        shutil.rmtree(folder, ignore_errors=True)


def test_the_newest_snapshot_exists_at_every_step_of_a_write(tmp_path: Path,
                                                             monkeypatch: Any) -> None:
    """A kill between keeping the previous snapshot and putting the new one in place (the
    write's last rename never happens) leaves the newest snapshot as it was, not only the
    previous: a restart restores the newest (the old order renamed the newest away first)."""
    newest, previous = tmp_path / "state.json", tmp_path / "state.previous.json"
    persistence.write_atomic(newest, b"one")
    persistence.write_atomic(newest, b"two", keep_previous=previous)
    real = persistence.os.replace

    def killed_before_the_new_one(src: Any, dst: Any) -> None:
        if Path(dst) == newest:
            raise KeyboardInterrupt("killed")
        real(src, dst)

    monkeypatch.setattr(persistence.os, "replace", killed_before_the_new_one)
    try:
        persistence.write_atomic(newest, b"three", keep_previous=previous)
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    assert newest.read_bytes() == b"two" and previous.read_bytes() == b"two"
    persistence.write_atomic(newest, b"four", keep_previous=previous)
    assert newest.read_bytes() == b"four" and previous.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.previous.json"]
