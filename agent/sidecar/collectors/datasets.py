"""Polling the dataset files the spec names (CSV / Parquet): schema, nulls, rows, freshness, and
the data contract through great-expectations when the contract has checks GX runs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.spec.model import Dataset


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
        self._reference: Any = None       # (sorted numeric columns, categorical counts)
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
                                  or contract["columns"] or contract["freshness"]):
            from detectors.contract import validate_contract

            report = validate_contract(frame, contract, d.name, now=time.time())
            reading.contract_failures = [
                {"expectation": o.expectation, "column": o.column or "",
                 "signal": o.signal, "unexpected_ratio": o.unexpected_ratio}
                for o in report.failures]
        if self.reference_path is not None:
            reading.drift = self._drift(frame)
        self.last = reading
        return reading

    def _load_reference(self) -> Any:
        """The reference file, read once: numeric columns sorted, categorical ones counted."""
        if self._reference is None and self.reference_path is not None:
            from collections import Counter

            from detectors.ks import sorted_reference

            ref = read_frame(self.reference_path, self.dataset.format)
            numeric, categorical = {}, {}
            for col in ref.columns:
                series = ref[col]
                if series.dtype.kind in "biuf":
                    numeric[str(col)] = sorted_reference(series.to_numpy(dtype=float))
                elif series.dtype.kind in "OSU" or str(series.dtype) in ("category", "str",
                                                                         "string"):
                    categorical[str(col)] = Counter(str(v) for v in series.dropna())
            self._reference = (numeric, categorical)
        return self._reference

    def _drift(self, frame: Any) -> list[dict[str, Any]]:
        """KS (numbers) and chi-square/PSI (categories) of each column against the reference,
        corrected for multiple testing; effect floors as the spec's drift settings say."""
        from detectors.drift import DriftInput, DriftThresholds, detect_drift

        try:
            numeric, categorical = self._load_reference()
        except Exception as exc:   # missing or unreadable reference: reported, not fatal
            return [{"column": "", "test": "", "error": f"reference: {exc}"[:300]}]
        data = DriftInput()
        for col, ref in numeric.items():
            if col in frame.columns and frame[col].dtype.kind in "biuf":
                data.numeric_refs[col] = ref
                data.numeric_windows[col] = frame[col].to_numpy(dtype=float)
        for col, counts in categorical.items():
            if col in frame.columns:
                data.categorical_refs[col] = dict(counts)
                data.categorical_windows[col] = [str(v) for v in frame[col].dropna()]
        s = self.drift_settings
        thresholds = DriftThresholds(alpha=s.alpha, correction=s.correction,
                                     min_samples=s.min_samples) if s is not None \
            else DriftThresholds()
        return [{"column": r.feature, "test": r.test, "score": r.score,
                 "statistic": r.statistic, "p_adjusted": r.p_adjusted,
                 "status": r.status.value} for r in detect_drift(data, thresholds)]
