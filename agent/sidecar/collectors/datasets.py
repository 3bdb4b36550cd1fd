"""Polling the dataset files the spec names (CSV / Parquet): schema, nulls, rows, freshness, and
the data contract through great-expectations when the contract has checks GX runs. The file is
read by DuckDB (:mod:`.stores.duckdb_files`); a reading is the same whichever store made it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.sidecar.collectors.background import Reads
from agent.spec.document import Dataset
from agent.spec.paths import resolve


@dataclass
class DatasetReading:
    name: str
    ok: bool
    error: str | None = None
    rows: int = 0
    columns: dict[str, str] | None = None
    nulls: dict[str, int] | None = None
    newest_event: float | None = None
    mtime: float | None = None
    contract_failures: list[dict[str, Any]] | None = None
    drift: list[dict[str, Any]] | None = None
    drift_skipped: list[dict[str, Any]] | None = None
    allowed: dict[str, dict[str, Any]] | None = None
    source: str = "file"          # or "sql"
    where: str | None = None      # a SQL dataset's URL (password masked) and table
    #: a file's state as a source: ok, missing (no file at the path) or unreadable
    file_state: str = "ok"
    position: dict[str, Any] | None = None    # since_last_poll: where the window stands


class DatasetPoller:
    """Watches one dataset file: every ``interval`` (the dataset's ``poll_interval``, else the
    sidecar's interval) a ``stat`` (microseconds) compares mtime, size and inode with the last
    read, and the file is read only when one changed: a rewrite, an in-place append or a file
    renamed over it is seen within one interval. A ``stat`` works on every platform and
    filesystem (network mounts included, where inotify sees nothing); the ``stat`` and the read
    run on the dataset's own thread (:mod:`.background`), one at a time."""

    def __init__(self, dataset: Dataset, base: Path, run_contract: bool = True,
                 drift: Any = None, interval: float = 60.0) -> None:
        self.dataset = dataset
        self.base = base
        # resolved again at every poll: a symlink swapped in later is refused too (spec.paths)
        self.path = resolve(base, dataset.path, dataset.allow_symlinks_out)[0] \
            if dataset.path else None
        self.reference_path = (base / dataset.reference) if dataset.reference else None
        self.drift_settings = drift
        self._reference: Any = None       # dataset_drift.Reference, read once
        self.run_contract = run_contract
        self._seen: tuple[int, int, int] | None = None    # (mtime_ns, size, inode) last read
        self.interval = dataset.poll_every(interval)
        self.next_at = 0.0
        self.last: DatasetReading | None = None
        self.reads = Reads(f"file-{dataset.name}", lambda now: self.poll(), self._failed)

    def start(self) -> DatasetReading | None:
        """Poll on the dataset's own thread (:mod:`.background`): a scan of a huge file delays
        no other source. A read running past two poll intervals (and 5 s) is reported."""
        running = self.reads.start()
        if running is None or running <= 2 * self.interval + 5:
            return None
        return DatasetReading(self.dataset.name, False, (
            f"the read of {self.path} started {running:.0f}s ago is still running (a large "
            "file or a slow disk); the values shown are from the last complete read"))

    def finished(self) -> DatasetReading | None:
        return self.reads.finished()

    def _failed(self, exc: Exception) -> DatasetReading:
        """A read that raised (a bug: parse errors are readings): its type only, as a message
        may quote the file (see :func:`parse_error`)."""
        return DatasetReading(self.dataset.name, False,
                              f"{type(exc).__name__} while reading {self.path}")

    def poll(self) -> DatasetReading | None:
        """A reading when the file changed (or on error); None when unchanged. The file is
        scanned by DuckDB (:mod:`.stores.duckdb_files`), never loaded whole."""
        from agent.sidecar.collectors._windows import (
            contract_frame,
            contract_wanted,
            failures,
            gx_installed,
            read_file_window,
        )

        d = self.dataset
        if d.path is None:
            return None
        self.path, refused = resolve(self.base, d.path, d.allow_symlinks_out)
        if refused:
            self._seen = None
            self.last = DatasetReading(d.name, False, f"not read: {refused}",
                                       file_state="unreadable")
            return self.last
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._seen = None
            self.last = DatasetReading(d.name, False, f"the file {d.path} is missing",
                                       file_state="missing")
            return self.last
        except OSError as exc:
            self._seen = None
            self.last = DatasetReading(d.name, False, f"cannot read {d.path}: {exc.strerror}",
                                       file_state="unreadable")
            return self.last
        seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        if seen == self._seen:
            return None
        mtime = st.st_mtime
        ref_error = self._load_reference()
        try:
            window = read_file_window(self.path, d, self._reference)
            frame = contract_frame(self.path, d, window.rows) \
                if self.run_contract and contract_wanted(d) and gx_installed() else None
        except Exception as exc:   # truncated file, wrong format: a reported state
            self.last = DatasetReading(d.name, False, parse_error(self.path, exc),
                                       file_state="unreadable")
            return self.last
        self._seen = seen
        reading = DatasetReading(
            d.name, True, rows=window.rows, columns=window.columns, nulls=window.nulls,
            newest_event=window.newest_event, mtime=mtime)
        if frame is not None:
            from detectors.contract import validate_contract

            contract = d.contract.model_dump(mode="json")
            reading.contract_failures = failures(
                validate_contract(frame, contract, d.name, now=time.time()))
        if d.contract.allowed_values:
            reading.allowed = window.allowed
        if self.reference_path is not None:
            if ref_error is not None:
                reading.drift, reading.drift_skipped = [ref_error], []
            else:
                from agent.sidecar.collectors._dataset_drift import file_drift

                reading.drift, reading.drift_skipped = file_drift(
                    window, self._reference, d, self.drift_settings)
        self.last = reading
        return reading

    def _load_reference(self) -> dict[str, Any] | None:
        """Read the reference file once (see :mod:`._dataset_drift`); a drift row with the
        reason when it cannot be read: reported, not fatal."""
        from agent.sidecar.collectors._dataset_drift import load_reference
        from agent.sidecar.collectors.stores.duckdb_files import read_reference

        d = self.dataset
        if self._reference is not None or d.reference is None:
            return None
        path, refused = resolve(self.base, d.reference, d.allow_symlinks_out)
        try:
            if refused:
                raise PermissionError(f"not read: {refused}")
            try:
                frame = read_reference(path, d.format)
            except Exception as exc:
                raise ValueError(parse_error(path, exc)) from None
            self._reference = load_reference(frame, d)
        except Exception as exc:   # missing, refused or unreadable: reported, not fatal
            return {"column": "", "test": "", "status": "no_data", "score": None,
                    "reason": f"reference: {exc}"[:300]}
        return None


def parse_error(path: Path, exc: BaseException) -> str:
    """What is said of a file that failed to parse: its path, the error's type and a line
    number when the parser gave one; never the parser's message, which may quote the file
    (DuckDB's CSV errors carry an "Original Line: ...")."""
    import re

    m = re.search(r"(?i)\b(?:on|in) line:?\s*(\d+)", str(exc))   # DuckDB's CSV errors, pandas
    where = f" at line {m.group(1)}" if m else ""
    return f"cannot parse {path}: {type(exc).__name__}{where}"
