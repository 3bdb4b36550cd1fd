"""One window of a dataset read from its store into a reading's parts: the aggregates the drift,
null, freshness and allowed-value signals need (asked for column by column once the reference
says which columns are tested), and a contract report turned into the failures the state keeps.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agent.sidecar.collectors._dataset_drift import Reference, chosen_columns
from agent.sidecar.collectors.stores.aggregates import Aggregates
from agent.spec.document import Dataset

#: a file with more rows is checked by Great Expectations on a sample of this many rows
CONTRACT_ROWS = 1_000_000


def read_file_window(path: Path, dataset: Dataset, ref: Reference | None) -> Aggregates:
    """The aggregates of a whole file, scanned by DuckDB."""
    from agent.sidecar.collectors.stores.duckdb_files import MAX_VALUES, open_file

    with open_file(path, dataset.format) as r:
        window = r.stats(dataset.freshness_column)
        if ref is not None:
            columns, _ = chosen_columns(window, ref, dataset)
            window.categories, window.categories_rest = r.categories(
                [c for c in columns if c in ref.categorical], 100_000)
            window.numeric, window.sampled = r.values(
                [c for c in columns if c in ref.numeric
                 and window.columns[c] in ("int", "float")], MAX_VALUES)
        if dataset.contract.allowed_values:
            window.allowed = r.allowed(dict(dataset.contract.allowed_values))
    return window


def contract_frame(path: Path, dataset: Dataset, rows: int) -> Any:
    """The file as pandas for Great Expectations: whole when small, else a sample (GX needs the
    rows in memory)."""
    from agent.sidecar.collectors.stores.duckdb_files import open_file, read_frame

    if rows <= CONTRACT_ROWS:
        return read_frame(path, dataset.format)
    with open_file(path, dataset.format) as r:
        return r.con.execute(f"SELECT * FROM src USING SAMPLE reservoir({CONTRACT_ROWS} ROWS) "
                             "REPEATABLE (7)").df()


def contract_wanted(dataset: Dataset) -> bool:
    c = dataset.contract
    return bool(c.max_null_ratio or c.ranges or c.columns or c.freshness or c.allowed_values)


def failures(report: Any) -> list[dict[str, Any]]:
    """A contract report's failures as the state keeps them."""
    return [{"expectation": o.expectation, "column": o.column or "", "signal": o.signal,
             "unexpected_ratio": o.unexpected_ratio} for o in report.failures]


def gx_installed() -> bool:
    """Contracts need the gx extra; without it they are skipped, said once in the log."""
    from agent.extras import hint, missing

    if not missing("gx"):
        return True
    if not _said:
        _said.append(True)
        logging.getLogger("slo_agent.sidecar").warning(
            "%s; dataset contracts are not checked", hint("gx", "data contracts"))
    return False


_said: list[bool] = []
