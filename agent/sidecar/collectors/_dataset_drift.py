"""Drift of a polled dataset (a file, or a table's window) against its reference file, column by
column, from the aggregates a store read (:mod:`.stores.aggregates`).

Which columns: ``drift.columns`` (default all) minus ``drift.exclude``, minus time-like columns
(dates, timestamps, sequences, years, ids: :mod:`detectors.timelike`, or ``drift.time_like``),
which are reported as skipped with the reason and offered as freshness and volume signals.
How: numbers by KS, text, bools and declared codes as categories (chi-square with one bin for
unseen values, PSI), all corrected together. A SQL dataset's numeric columns are tested on counts
per reference quantile bin (chi-square and PSI over ``drift.fleet_bins`` equal-probability bins:
what the fleet rules sum; :func:`binned_reference`) unless a sample was read for an exact KS.
Every row is JSON-safe: a value that cannot be computed is ``None`` with a ``reason``, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agent.sidecar.collectors.stores.aggregates import Aggregates
from agent.sidecar.judge.data_signals import NEW_SHARE, quantile_key
from agent.spec.document import Dataset, Drift
from agent.units import json_number
from detectors import stattests
from detectors.bins import levels, quantile_edges
from detectors.calibration import CalibrationCache
from detectors.columns import category_labels, shown_names
from detectors.drift import DriftDetector, DriftThresholds, FeatureDrift
from detectors.levels import le_labels
from detectors.quality import column_type
from detectors.timelike import time_like_reason

CATEGORICAL_TYPES = ("string", "category", "bool")


@dataclass
class Reference:
    """The reference file, read once: numeric columns sorted, categorical ones counted."""

    numeric: dict[str, Any] = field(default_factory=dict)
    categorical: dict[str, Mapping[Hashable, int]] = field(default_factory=dict)
    rows: int = 0
    calibrations: CalibrationCache = field(default_factory=CalibrationCache)  # per window size
    time_like: dict[str, str] = field(default_factory=dict)     # column -> why it is left out
    detector: DriftDetector | None = None
    binned: set[str] = field(default_factory=set)   # numeric columns held as counts per bin

    def fitted(self) -> DriftDetector:
        """The detector over this reference (built once; calibrations kept in it)."""
        if self.detector is None:
            self.detector = DriftDetector(cache=self.calibrations)
            for name, ref in self.numeric.items():
                self.detector.add_numeric(name, ref)
            for name, counts in self.categorical.items():
                self.detector.add_categorical(name, counts)
        return self.detector


def is_categorical(kind: str, column: str, dataset: Dataset) -> bool:
    return kind in CATEGORICAL_TYPES or column in dataset.drift.categorical


def load_reference(frame: Any, dataset: Dataset) -> Reference:
    from collections import Counter

    from detectors.ks import sorted_reference

    ref = Reference(rows=len(frame))
    declared = dataset.drift.time_like
    for col in frame.columns:
        name, series = str(col), frame[col]
        kind = column_type(series.dtype)
        if declared is not None:
            why = "declared time-like (drift.time_like)" if name in declared else None
        elif name in dataset.drift.categorical:
            why = None
        else:
            why = time_like_reason(name, series)
            if why and why.startswith("identifier") and not dataset.drift.skip_identifiers:
                why = None
        if why is not None:
            ref.time_like[name] = why
        if is_categorical(kind, name, dataset):
            ref.categorical[name] = Counter(category_labels(series.dropna().tolist()))
        elif kind in ("int", "float"):
            ref.numeric[name] = sorted_reference(series.to_numpy(dtype=float, na_value=math.nan))
    return ref


def chosen_columns(window: Aggregates, ref: Reference, dataset: Dataset
                   ) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns to test and the skipped ones with why."""
    settings = dataset.drift
    testable = [c for c in window.columns if c in ref.numeric or c in ref.categorical
                or c in ref.time_like]
    skipped: list[dict[str, Any]] = []
    wanted = set(settings.columns) if settings.columns is not None else None
    out = []
    for col in testable:
        if wanted is not None and col not in wanted:
            continue
        if col in settings.exclude:
            skipped.append({"column": col, "reason": "excluded (drift.exclude)"})
            continue
        if col in ref.time_like:
            hint = ("set drift.skip_identifiers: false to test it"
                    if ref.time_like[col].startswith("identifier") else
                    "list the time-like columns in drift.time_like to choose them yourself")
            skipped.append({"column": col, "rule": "time_like",
                            "reason": f"time-like, {ref.time_like[col]} ({hint})",
                            "offered": ["freshness", "volume"]})
            continue
        out.append(col)
    for col in sorted(wanted or ()):
        if col not in testable:
            skipped.append({"column": col, "reason": "not in both the file and the reference"})
    return out, skipped


def row(r: FeatureDrift, min_samples: int,
        calibrated: Mapping[str, float] | None = None) -> dict[str, Any]:
    """One column's result as stored, shown and exported; None with a reason, never NaN.
    ``threshold`` is the effect it was judged against and ``threshold_source`` where that came
    from; ``calibrated`` holds the reference's noise level per calibration quantile in use."""
    out: dict[str, Any] = {
        "column": r.feature, "test": r.test, "status": r.status.value,
        "score": json_number(r.score), "statistic": json_number(r.statistic),
        "effect": json_number(r.effect), "p_value": json_number(r.p_value),
        "p_adjusted": json_number(r.p_adjusted), "n_reference": r.n_reference,
        "n_window": r.n_window, "threshold": json_number(r.threshold),
        "threshold_source": r.threshold_source,
        "critical_threshold": json_number(r.critical_threshold),
        "calibrated": {k: v for k, v in (calibrated or {}).items() if math.isfinite(v)},
        "rule": r.rule, "floor": json_number(r.floor), "floor_reason": r.floor_reason,
    }
    if r.status.value == "no_data":
        out["reason"] = (f"too few values: {r.n_window} in the file, {r.n_reference} in the "
                         f"reference (drift.min_samples {min_samples})")
    if stattests.get(r.test).new_categories:
        out[NEW_SHARE] = json_number(r.new_share)
        names, more = shown_names(r.unseen)
        out["new_categories"], out["new_categories_more"] = names, more
    return out


def reference_bins(ref: Reference, column: str, bins: int
                   ) -> tuple[NDArray[np.float64], dict[Hashable, int]] | None:
    """A numeric reference column's inner quantile edges (``detectors.bins``) and its counts per
    bin, labelled by the bins' ``le``: what a database counts the window into."""
    values = ref.numeric.get(column)
    if values is None or not values.size:
        return None
    edges = quantile_edges(values, levels(bins))
    cum = np.append(np.searchsorted(values, edges, side="right"), values.size)
    return edges, dict(zip(le_labels(bins), np.diff(np.concatenate(([0], cum))).tolist(),
                           strict=True))


def window_bins(cumulative: NDArray[np.int64]) -> dict[Hashable, int]:
    """A window's cumulative counts at the edges as counts per bin, labelled as above."""
    per = np.diff(np.concatenate(([0], np.asarray(cumulative, dtype=np.int64))))
    return dict(zip(le_labels(len(per)), per.tolist(), strict=True))


def binned_reference(ref: Reference, bins: int) -> tuple[Reference, dict[str, Any]]:
    """The reference with each numeric column as its counts per quantile bin (a categorical
    column to the detector), and the edges a database counts a window at."""
    out = Reference(categorical=dict(ref.categorical), rows=ref.rows,
                    time_like=dict(ref.time_like))
    edges: dict[str, Any] = {}
    for col in ref.numeric:
        found = reference_bins(ref, col, bins)
        if found is not None:
            edges[col], out.categorical[col] = found
            out.binned.add(col)
    return out, edges


def file_drift(window: Aggregates, ref: Reference, dataset: Dataset, settings: Drift | None
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, skipped) for one polled window (on the collector's thread, so calibrations
    needed here are computed here, never on the tick)."""
    columns, skipped = chosen_columns(window, ref, dataset)
    numeric: dict[str, Any] = {}
    categorical: dict[str, Any] = {}
    for col in columns:
        kind = window.columns[col]
        if col in window.bins:
            categorical[col] = window_bins(window.bins[col])
        elif col in ref.categorical and col not in ref.binned:
            categorical[col] = window.categories.get(col, {})
        elif kind in ("int", "float") and col in window.numeric:
            numeric[col] = window.numeric[col]
        else:
            skipped.append({"column": col, "reason": f"numeric in the reference, "
                            f"{kind} in the file (see schema_drift)"})
    thresholds = DriftThresholds() if settings is None else DriftThresholds(
        alpha=settings.alpha, correction=settings.correction, min_samples=settings.min_samples,
        calibration=settings.calibration, min_ks_effect=settings.min_ks_effect,
        min_psi=settings.min_psi)
    detector = ref.fitted()
    report = detector.check_prepared(numeric, categorical, thresholds=thresholds)
    results = report.columns
    quantiles = thresholds.calibration, *(() if settings is None else settings.quantiles)
    family = report.family      # the columns the calibration was split over (this window)
    out = []
    for r in results:
        calibrated = {} if r.status.value == "no_data" else {
            quantile_key(q): detector.threshold(r.feature, r.n_window, q, family,
                                                thresholds.alpha)
            for q in dict.fromkeys(quantiles) if q is not None}
        out.append(_annotated(row(r, thresholds.min_samples, calibrated), window))
    return out, skipped


def _annotated(r: dict[str, Any], window: Aggregates) -> dict[str, Any]:
    """Say how a row was computed when it was not on every value: over reference bins (where
    no category can be new), on a sample, or without the rarest categories."""
    col = r["column"]
    if col in window.bins:
        for key in (NEW_SHARE, "new_categories", "new_categories_more"):
            r.pop(key, None)
        r["bins"] = len(window.bins[col])
    if col in window.sampled:
        r["sampled_from"] = window.sampled[col]
    if window.categories_rest.get(col):
        r["categories_rest"] = window.categories_rest[col]
    return r
