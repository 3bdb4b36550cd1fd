"""Polling the dataset files the spec names (CSV / Parquet): schema, nulls, rows, freshness, and
the data contract through great-expectations when the contract has checks GX runs."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.spec.document import Dataset


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


def read_frame(path: Path, fmt: str = "auto") -> Any:
    import pandas as pd

    kind = fmt if fmt != "auto" else ("parquet" if path.suffix in (".parquet", ".pq") else "csv")
    return pd.read_parquet(path) if kind == "parquet" else pd.read_csv(path)


class DatasetPoller:
    def __init__(self, dataset: Dataset, base: Path, run_contract: bool = True,
                 drift: Any = None) -> None:
        self.dataset = dataset
        self.path = (base / dataset.path) if dataset.path else None
        self.reference_path = (base / dataset.reference) if dataset.reference else None
        self.drift_settings = drift
        self._reference: Any = None       # dataset_drift.Reference, read once
        self.run_contract = run_contract
        self._mtime: float | None = None
        self.next_at = 0.0
        self.last: DatasetReading | None = None

    def poll(self) -> DatasetReading | None:
        """A reading when the file changed (or on error); None when unchanged."""
        from detectors.quality import frame_schema, newest_event_time, null_counts

        d = self.dataset
        if self.path is None:
            return None
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            self.last = DatasetReading(d.name, False, f"cannot read {self.path}: {exc.strerror}")
            return self.last
        if mtime == self._mtime:
            return None
        try:
            frame = read_frame(self.path, d.format)
        except Exception as exc:   # truncated file, wrong format: a reported state
            self.last = DatasetReading(d.name, False, f"{type(exc).__name__}: {exc}"[:300])
            return self.last
        self._mtime = mtime
        fresh = d.contract.freshness
        newest = newest_event_time(frame, fresh.column) if fresh and fresh.column else None
        reading = DatasetReading(
            d.name, True, rows=len(frame), columns=frame_schema(frame),
            nulls={c: n for c, (n, _) in null_counts(frame).items()},
            newest_event=newest, mtime=mtime)
        contract = d.contract.model_dump(mode="json")
        if self.run_contract and (contract["max_null_ratio"] or contract["ranges"]
                                  or contract["columns"] or contract["freshness"]
                                  or contract["allowed_values"]) and _gx_installed():
            from detectors.contract import validate_contract

            report = validate_contract(frame, contract, d.name, now=time.time())
            reading.contract_failures = [
                {"expectation": o.expectation, "column": o.column or "",
                 "signal": o.signal, "unexpected_ratio": o.unexpected_ratio}
                for o in report.failures]
        if d.contract.allowed_values:
            reading.allowed = allowed_values(frame, d.contract.allowed_values)
        if self.reference_path is not None:
            reading.drift, reading.drift_skipped = self._drift(frame)
        self.last = reading
        return reading

    def _drift(self, frame: Any) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Each chosen column against the reference file (see :mod:`._dataset_drift`)."""
        from agent.sidecar.collectors._dataset_drift import file_drift, load_reference

        try:
            if self._reference is None and self.reference_path is not None:
                self._reference = load_reference(read_frame(self.reference_path,
                                                            self.dataset.format), self.dataset)
        except Exception as exc:   # missing or unreadable reference: reported, not fatal
            return [{"column": "", "test": "", "status": "no_data", "score": None,
                     "reason": f"reference: {type(exc).__name__}: {exc}"[:300]}], []
        return file_drift(frame, self._reference, self.dataset, self.drift_settings)


def allowed_values(frame: Any, allowed: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    """Per contract column: rows checked, disallowed rows, their share and a few of their values."""
    from detectors.columns import allowed_values_check

    out: dict[str, dict[str, Any]] = {}
    for col, values in allowed.items():
        if col not in frame.columns:
            out[col] = {"rows": 0, "bad": 0, "share": None, "values": [], "more": 0,
                        "reason": "column not in the file"}
            continue
        c = allowed_values_check(col, frame[col].tolist(), values)
        out[col] = {"rows": c.rows, "bad": c.bad, "share": c.share, "values": c.values,
                    "more": c.more}
        if c.share is None:
            out[col]["reason"] = "no non-null values"
    return out


def _gx_installed() -> bool:
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
