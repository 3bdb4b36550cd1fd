"""A real PostgreSQL (Debian's ``postgresql`` package) for one test: its own data directory in a
temporary folder (removed afterwards), a free port on 127.0.0.1, started and stopped by pid.

initdb and postgres refuse to run as root, so as root they run as the ``postgres`` system user
the package creates (the folder is handed to it). Missing binaries skip a local run and fail a
CI run, like every real server the tests use.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port

SUPERUSER_PASSWORD = "su-pw-4c7e"


def postgres_bin(name: str) -> str:
    """A PostgreSQL server binary (not on PATH in Debian: /usr/lib/postgresql/<v>/bin)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    path = found[0] if found else shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install -y postgresql)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


class Postgres:
    """``start()`` / ``stop()`` one server; ``url(user, password, db)`` for SQLAlchemy."""

    def __init__(self) -> None:
        # its own folder directly under the temporary directory: a test's tmp_path sits below
        # folders only root may enter, and the server runs as the postgres user
        self.folder = Path(tempfile.mkdtemp(prefix="slo-agent-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self._as_postgres = os.geteuid() == 0

    def _cmd(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self._as_postgres else list(argv)

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        pwfile = self.folder / "pw"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        out = subprocess.run(self._cmd(postgres_bin("initdb"), "-D", str(self.data), "-U",
                                       "postgres", "--pwfile", str(pwfile), "-A",
                                       "scram-sha-256", "--no-sync", "-E", "UTF8",
                                       "--locale", "C"),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr

    def start(self) -> None:
        with open(self.folder / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                self._cmd(postgres_bin("postgres"), "-D", str(self.data), "-p",
                          str(self.port), "-h", "127.0.0.1", "-k", str(self.folder), "-c",
                          "fsync=off", "-c", "full_page_writes=off", "-c",
                          "log_min_messages=warning"),
                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + 60
        pidfile = self.data / "postmaster.pid"
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("postgres exited: " + self.log())
            if pidfile.exists():
                lines = pidfile.read_text().splitlines()
                if len(lines) >= 8 and "ready" in lines[7]:
                    self.pid = int(lines[0])
                    return
            time.sleep(0.1)
        raise AssertionError("postgres did not start: " + self.log())

    def stop(self) -> None:
        """SIGINT to the postmaster's pid (a fast shutdown), then wait for it."""
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                if self.pid is not None:
                    os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc, self.pid = None, None

    def remove(self) -> None:
        """Stop it and delete its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def url(self, user: str = "postgres", password: str = SUPERUSER_PASSWORD,
            db: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{db}"

    def admin(self, db: str = "postgres") -> Any:
        """A psycopg connection as the superuser, autocommit."""
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               password=SUPERUSER_PASSWORD, dbname=db, autocommit=True)

    def sql(self, *statements: str, db: str = "postgres") -> None:
        with self.admin(db) as con:
            for s in statements:
                con.execute(s)  # type: ignore[arg-type]


def serve() -> Iterator[Postgres]:
    """A started server for a (module-scoped) fixture; removed afterwards."""
    server = Postgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()
