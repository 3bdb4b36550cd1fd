"""Polling the datasets that live in a SQL database (``sources.datasets[].sql``).

Each dataset reads on its own daemon thread, one read at a time: the collector thread only
starts a read when one is due and picks up finished ones, so a slow or unreachable database
delays nothing else. A read that outlives its statement timeouts is reported while it runs; a
failing one is a reading with the error in words (:class:`.stores.sql_tables.StoreError`).
The reading is the one a file gives (rows, schema, nulls, the newest event time, drift, allowed
values), so every dataset objective works on it unchanged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agent.sidecar.collectors._dataset_drift import (
    Reference,
    binned_reference,
    chosen_columns,
    file_drift,
    load_reference,
)
from agent.sidecar.collectors._windows import contract_wanted, failures, gx_installed
from agent.sidecar.collectors.background import Reads
from agent.sidecar.collectors.datasets import DatasetReading
from agent.sidecar.collectors.stores import sql_position
from agent.sidecar.collectors.stores.sql_tables import SqlStore, StoreError
from agent.spec.dataset_sql import SINCE_LAST_POLL
from agent.spec.document import Dataset, Drift


class SqlPoller:
    """One SQL dataset: ``start()`` when due starts a read on its own thread
    (:mod:`.background`), ``finished()`` hands its reading over."""

    def __init__(self, dataset: Dataset, base: Path, drift: Drift | None = None,
                 run_contract: bool = True) -> None:
        assert dataset.sql is not None
        self.dataset = dataset
        self.source = dataset.sql
        self.interval = dataset.poll_every()
        self.store = SqlStore(dataset.sql, self.interval)
        self.reference_path = (base / dataset.reference) if dataset.reference else None
        self.drift_settings = drift
        self.bins = drift.fleet_bins if drift is not None else 10
        self.run_contract = run_contract
        self._reference: Reference | None = None    # as the file reads (exact KS)
        self._judged: Reference | None = None       # what windows are judged against
        self._edges: dict[str, Any] = {}            # numeric column -> its bins' edges
        self.next_at = 0.0
        self.last: DatasetReading | None = None
        self.reads = Reads(f"sql-{dataset.name}", self.read, self._failed)
        self.reachable = True        # False: the last read never reached the database

    @property
    def where(self) -> str:
        """Where the data is, as /status shows it: the URL with its password masked (the
        variable's name until it is read) and the table, or 'query'."""
        return f"{self.store.shown} {self.source.what}"

    def start(self) -> DatasetReading | None:
        """Start a read unless one is running; a read running past its timeouts is reported."""
        running = self.reads.start()
        limit = 2 * self.source.timeout + 5
        if running is None or running <= limit:
            return None
        return DatasetReading(self.dataset.name, False, (
            f"the read started {running:.0f}s ago is still running (statement timeout "
            f"{self.source.timeout:g}s): the database is slow or unreachable"),
            source="sql", where=self.where)

    def finished(self) -> DatasetReading | None:
        """The reading of the read that ended since the last call, once."""
        return self.reads.finished()

    def resume(self, saved: Any) -> None:
        """Go on from a ``since_last_poll`` position a snapshot kept (before the first read):
        the rows that arrived while the sidecar was down are the first window's."""
        if self.source.window == SINCE_LAST_POLL:
            self.store.cursor = sql_position.load(self.source, saved)

    def _failed(self, exc: Exception) -> DatasetReading:
        """A bug must not kill the poller: reported like the rest, scrubbed."""
        return DatasetReading(self.dataset.name, False, f"{type(exc).__name__}: "
                              f"{self.store.scrub(str(exc))}"[:300], source="sql",
                              where=self.where)

    def read(self, now: float) -> DatasetReading:
        """One complete read, synchronously (the thread's work; also ``validate``'s probe)."""
        d, s = self.dataset, self.source
        ref_error = self._load_reference()
        ref = self._judged
        try:
            with self.store.open() as r:
                window = r.stats(now)
                if ref is not None:
                    columns, _ = chosen_columns(window, ref, d)
                    window.categories, window.categories_rest = r.categories(
                        [c for c in columns if c in ref.categorical and c not in ref.binned],
                        s.max_categories)
                    numeric = [c for c in columns if window.columns[c] in ("int", "float")]
                    if s.ks_sample is not None:
                        window.numeric, window.sampled = r.sample(
                            [c for c in numeric if c in ref.numeric], s.ks_sample)
                    else:
                        window.bins = r.bins({c: self._edges[c] for c in numeric
                                              if c in self._edges})
                if d.contract.allowed_values:
                    window.allowed = r.allowed(d.contract.allowed_values)
                newest_raw, where = r.newest_raw if s.time_column else None, r.where
                selectable = r.src
        except StoreError as exc:
            self.reachable = exc.reachable
            self.last = DatasetReading(d.name, False, str(exc), source="sql", where=self.where)
            return self.last
        reading = DatasetReading(d.name, True, rows=window.rows, columns=window.columns,
                                 nulls=window.nulls, newest_event=window.newest_event,
                                 source="sql", where=self.where)
        if s.window == SINCE_LAST_POLL and newest_raw is not None:
            self.store.cursor = newest_raw
            reading.position = sql_position.dump(s, newest_raw)     # kept in the snapshot
        if s.great_expectations and self.run_contract and contract_wanted(d) and gx_installed():
            reading.contract_failures = self._contract(selectable, where, now)
        if d.contract.allowed_values:
            reading.allowed = window.allowed
        if self.reference_path is not None:
            if ref_error is not None or ref is None:
                reading.drift, reading.drift_skipped = [ref_error or {}], []
            else:
                reading.drift, reading.drift_skipped = file_drift(window, ref, d,
                                                                  self.drift_settings)
        self.last = reading
        return reading

    def _contract(self, selectable: Any, where: Any, now: float) -> list[dict[str, Any]]:
        """The contract through Great Expectations on the database; its failure is a failed
        expectation row with the reason, never an exception."""
        from agent.sidecar.collectors.stores.sql_contract import validate_on_database

        try:
            report = validate_on_database(self.store, selectable, where,
                                          self.dataset.contract.model_dump(mode="json"),
                                          self.dataset.name, now)
        except Exception as exc:
            return [{"expectation": "great_expectations", "column": "", "signal": "contract",
                     "unexpected_ratio": None,
                     "reason": self.store.scrub(f"{type(exc).__name__}: {exc}")[:300]}]
        return failures(report)

    def _load_reference(self) -> dict[str, Any] | None:
        from agent.sidecar.collectors.stores.duckdb_files import read_reference

        if self._reference is not None or self.reference_path is None:
            return None
        try:
            self._reference = load_reference(read_reference(self.reference_path), self.dataset)
            self._judged, self._edges = (self._reference, {}) if \
                self.source.ks_sample is not None else \
                binned_reference(self._reference, self.bins)
        except Exception as exc:
            return {"column": "", "test": "", "status": "no_data", "score": None,
                    "reason": f"reference: {type(exc).__name__}: {exc}"[:300]}
        return None


def probe(dataset: Dataset, base: Path, drift: Drift | None = None) -> tuple[str, str]:
    """``validate``'s check of a SQL dataset by one read: ``("ok", what was read)``,
    ``("unreachable", why)`` (no URL in the environment, no connection: not a spec error) or
    ``("error", why)`` (the database answered: a missing table or column, a permission, a
    query of the wrong shape)."""
    poller = SqlPoller(dataset, base, drift, run_contract=False)
    try:
        reading = poller.read(time.time())
    except StoreError as exc:       # the engine itself could not be made
        return ("error" if exc.reachable else "unreachable"), str(exc)
    if reading.ok:
        return "ok", f"{reading.rows} rows in the window, {len(reading.columns or {})} columns"
    return ("error" if poller.reachable else "unreachable"), reading.error or ""
