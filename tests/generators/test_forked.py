"""The CLI's forked child (agent/render/forked.py): its value or its exception comes back, a child
that dies is an error rather than a hang, and a child left unread is killed and reaped."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

import pytest

from agent.render.forked import ChildDied, Forked

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX only")


def test_the_value_comes_back_whole() -> None:
    big = {f"k{i}": ("kind", "x" * 5000 + str(i)) for i in range(3000)}    # ~15 MB
    with Forked(lambda: big) as child:
        assert child.get() == big


def test_an_exception_comes_back_as_itself() -> None:
    def fails() -> None:
        raise KeyError("no such panel")

    with Forked(fails) as child, pytest.raises(KeyError, match="no such panel"):
        child.get()


class Unrebuildable(Exception):
    def __init__(self, what: str, extra: int) -> None:     # pickles, but cannot be rebuilt
        super().__init__(what)
        self.extra = extra


def test_an_exception_that_cannot_travel_comes_back_as_its_text() -> None:
    def fails() -> None:
        raise Unrebuildable("odd", 1)

    with Forked(fails) as child, pytest.raises(RuntimeError, match="Unrebuildable: odd"):
        child.get()


def test_a_value_that_cannot_travel_is_an_error() -> None:
    with Forked(lambda: (lambda: 1)) as child, pytest.raises(RuntimeError,
                                                             match="could not send its value"):
        child.get()


def test_a_killed_child_is_an_error_not_a_hang() -> None:
    def killed() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    started = time.monotonic()
    with Forked(killed) as child, pytest.raises(ChildDied):
        child.get()
    assert time.monotonic() - started < 30


def test_a_child_left_unread_is_killed_and_reaped() -> None:
    pids: list[int] = []

    def forever() -> Any:
        time.sleep(600)

    with pytest.raises(ValueError, match="parent failed"), Forked(forever) as child:
        pids.append(child._pid)
        raise ValueError("parent failed")
    with pytest.raises(ChildProcessError):       # already reaped: no zombie left behind
        os.waitpid(pids[0], os.WNOHANG)
