"""Run a function in a forked child while this process goes on, and read its value back.

A bare ``fork`` and one pipe rather than ``multiprocessing.Pool``: the pool took ~0.1 s more to
hand back the ~20 MB of a large spec's dashboards, and waits forever on a child that was killed;
here a dead child is an error the moment its pipe closes. POSIX only.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_F_SETPIPE_SZ = 1031        # Linux: a 1 MiB pipe moves the value in fewer, larger writes


class ChildDied(RuntimeError):
    """The child ended without sending its value (killed, or out of memory)."""


class Forked(Generic[T]):
    """``fn`` running in a forked child: :meth:`get` waits for its value (or raises what it
    raised); leaving the ``with`` block kills a child whose value was never read."""

    def __init__(self, fn: Callable[[], T]) -> None:
        read, write = os.pipe()
        with suppress(OSError, AttributeError):
            import fcntl
            fcntl.fcntl(write, _F_SETPIPE_SZ, 1 << 20)
        try:
            self._pid = os.fork()
        except OSError:                     # no fork (process limit, memory): the caller decides
            os.close(read)
            os.close(write)
            raise
        if self._pid == 0:                                    # the child: never returns
            os.close(read)
            _child(fn, write)
        os.close(write)
        self._pipe = os.fdopen(read, "rb")
        self._done = False

    def get(self) -> T:
        try:
            blob = self._pipe.read()
        finally:
            self._reap()
        if not blob:
            raise ChildDied("the forked child ended without a result (killed, or out of memory)")
        ok, value = pickle.loads(blob)
        if not ok:
            raise value
        result: T = value
        return result

    def _reap(self) -> None:
        if not self._done:
            self._done = True
            self._pipe.close()
            with suppress(ChildProcessError):
                os.waitpid(self._pid, 0)

    def __enter__(self) -> Forked[T]:
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._done:
            with suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._reap()


def _child(fn: Callable[[], Any], fd: int) -> None:
    """Run ``fn``, send (ok, value) pickled (an exception that does not pickle as its text),
    and leave without running this process's exit handlers or flushing its buffers twice."""
    code = 0
    try:
        try:
            sent: tuple[bool, Any] = (True, fn())
        except BaseException as exc:     # the parent re-raises it
            sent = (False, exc)
        try:
            blob = pickle.dumps(sent, protocol=pickle.HIGHEST_PROTOCOL)
            if not sent[0]:
                pickle.loads(blob)               # an exception must also rebuild on arrival
        except Exception:
            what = "its value" if sent[0] else f"{type(sent[1]).__name__}: {sent[1]}"
            blob = pickle.dumps((False, RuntimeError(f"the forked child could not send {what}")))
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(blob)
    except BaseException:
        code = 1
    finally:
        os._exit(code)
