"""Drift of a polled dataset file against its reference file, column by column.

Which columns: ``drift.columns`` (default all) minus ``drift.exclude``, minus identifier-like
columns (integer/text, unique per row), which are reported as skipped. How: numbers by KS, text,
bools and declared codes as categories (chi-square with one bin for unseen values, PSI), all
corrected together. Every row is JSON-safe: a value that cannot be computed is ``None`` with a
``reason``, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.sidecar.judge.data_signals import NEW_SHARE, quantile_key
from agent.spec.document import Dataset, Drift
from detectors import stattests
from detectors.calibration import CalibrationCache
from detectors.columns import category_labels, identifier_like, shown_names
from detectors.drift import (
    DriftInput,
    DriftThresholds,
    FeatureDrift,
    calibrated_threshold,
    detect_drift,
)
from detectors.quality import column_type

CATEGORICAL_TYPES = ("string", "category", "bool")


@dataclass
class Reference:
    """The reference file, read once: numeric columns sorted, categorical ones counted."""

    numeric: dict[str, Any] = field(default_factory=dict)
    categorical: dict[str, Mapping[Hashable, int]] = field(default_factory=dict)
    rows: int = 0
    calibrations: CalibrationCache = field(default_factory=CalibrationCache)  # per window size


def is_categorical(kind: str, column: str, dataset: Dataset) -> bool:
    return kind in CATEGORICAL_TYPES or column in dataset.drift.categorical


def load_reference(frame: Any, dataset: Dataset) -> Reference:
    from collections import Counter

    from detectors.ks import sorted_reference

    ref = Reference(rows=len(frame))
    for col in frame.columns:
        name, series = str(col), frame[col]
        kind = column_type(series.dtype)
        if is_categorical(kind, name, dataset):
            ref.categorical[name] = Counter(category_labels(series.dropna().tolist()))
        elif kind in ("int", "float"):
            ref.numeric[name] = sorted_reference(series.to_numpy(dtype=float, na_value=math.nan))
    return ref


def chosen_columns(frame: Any, ref: Reference, dataset: Dataset
                   ) -> tuple[list[str], list[dict[str, str]]]:
    """Columns to test and the skipped ones with why."""
    settings = dataset.drift
    testable = [str(c) for c in frame.columns if str(c) in ref.numeric
                or str(c) in ref.categorical]
    skipped: list[dict[str, str]] = []
    wanted = set(settings.columns) if settings.columns is not None else None
    out = []
    for col in testable:
        if wanted is not None and col not in wanted:
            continue
        if col in settings.exclude:
            skipped.append({"column": col, "reason": "excluded (drift.exclude)"})
            continue
        kind = column_type(frame[col].dtype)
        if settings.skip_identifiers and col not in settings.categorical and \
                identifier_like(frame[col], kind):
            skipped.append({"column": col, "reason": "identifier-like: every value is distinct "
                            "(set drift.skip_identifiers: false to test it)"})
            continue
        out.append(col)
    for col in sorted(wanted or ()):
        if col not in testable:
            skipped.append({"column": col, "reason": "not in both the file and the reference"})
    return out, skipped


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def row(r: FeatureDrift, min_samples: int,
        calibrated: Mapping[str, float] | None = None) -> dict[str, Any]:
    """One column's result as stored, shown and exported; None with a reason, never NaN.
    ``threshold`` is the effect it was judged against and ``threshold_source`` where that came
    from; ``calibrated`` holds the reference's noise level per calibration quantile in use."""
    out: dict[str, Any] = {
        "column": r.feature, "test": r.test, "status": r.status.value,
        "score": _finite(r.score), "statistic": _finite(r.statistic),
        "effect": _finite(r.effect), "p_value": _finite(r.p_value),
        "p_adjusted": _finite(r.p_adjusted), "n_reference": r.n_reference,
        "n_window": r.n_window, "threshold": _finite(r.threshold),
        "threshold_source": r.threshold_source,
        "critical_threshold": _finite(r.critical_threshold),
        "calibrated": {k: v for k, v in (calibrated or {}).items() if math.isfinite(v)},
    }
    if r.status.value == "no_data":
        out["reason"] = (f"too few values: {r.n_window} in the file, {r.n_reference} in the "
                         f"reference (drift.min_samples {min_samples})")
    if stattests.get(r.test).new_categories:
        out[NEW_SHARE] = _finite(r.new_share)
        names, more = shown_names(r.unseen)
        out["new_categories"], out["new_categories_more"] = names, more
    return out


def file_drift(frame: Any, ref: Reference, dataset: Dataset, settings: Drift | None
               ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(rows, skipped) for one polled file."""
    columns, skipped = chosen_columns(frame, ref, dataset)
    data = DriftInput()
    for col in columns:
        series = frame[col]
        if col in ref.categorical:
            data.categorical_refs[col] = ref.categorical[col]
            data.categorical_windows[col] = category_labels(series.dropna().tolist())
        elif column_type(series.dtype) in ("int", "float"):
            data.numeric_refs[col] = ref.numeric[col]
            data.numeric_windows[col] = series.to_numpy(dtype=float, na_value=math.nan)
        else:
            skipped.append({"column": col, "reason": f"numeric in the reference, "
                            f"{column_type(series.dtype)} in the file (see schema_drift)"})
    thresholds = DriftThresholds() if settings is None else DriftThresholds(
        alpha=settings.alpha, correction=settings.correction, min_samples=settings.min_samples,
        calibration=settings.calibration, min_ks_effect=settings.min_ks_effect,
        min_psi=settings.min_psi)
    results = detect_drift(data, thresholds, ref.calibrations)
    quantiles = thresholds.calibration, *(() if settings is None else settings.quantiles)
    family = sum(r.status.value != "no_data" for r in results)
    out = []
    for r in results:
        calibrated = {} if r.status.value == "no_data" else {
            quantile_key(q): calibrated_threshold(data, r.feature, r.test, r.n_window, q,
                                                  family, ref.calibrations)
            for q in dict.fromkeys(quantiles) if q is not None}
        out.append(row(r, thresholds.min_samples, calibrated))
    return out, skipped
