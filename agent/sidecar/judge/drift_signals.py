"""Drift of the SDK's feature windows, per model: every window tested once per tick, each column
judged against its own threshold (calibrated on the reference, or an objective's fixed floor).

Results of one tick are kept per model (and per calibration quantile an objective asks for);
calibrations are kept across ticks, one per reference and window size (bounded).
"""

from __future__ import annotations

import math
from typing import Any

from agent.sidecar.judge.data_signals import judge_columns
from agent.sidecar.state.agent_state import AgentState, ModelState
from agent.spec.document import Objective, Spec
from detectors.calibration import CalibrationCache
from detectors.columns import shown_names
from detectors.drift import DriftInput, DriftThresholds, FeatureDrift, detect_drift
from detectors.thresholds import Status

PREDICTION = "__prediction__"     # the feature name predictions are tested under


def objective_thresholds(spec: Spec, o: Objective, warning: float | None,
                         critical: float | None) -> DriftThresholds:
    """How an objective judges drift columns: its calibration quantile (or, as fixed floors,
    its own ``warning``/``critical`` levels), its alpha, the spec's absolute floors."""
    d = spec.drift
    big = math.inf if critical is None else critical
    low = warning if warning is not None else big
    return DriftThresholds(warning_effect=low, critical_effect=big,
                           alpha=o.alpha if o.alpha is not None else d.alpha,
                           correction=d.correction, min_samples=d.min_samples,
                           categorical_warning_psi=low, categorical_critical_psi=big,
                           calibration=o.drift_calibration(d.calibration),
                           min_ks_effect=d.min_ks_effect, min_psi=d.min_psi)


class ModelDrift:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.cache: dict[tuple[str, str], list[FeatureDrift]] = {}   # spec quantile, this tick
        self._other: dict[tuple[str, str, float | None], list[FeatureDrift]] = {}
        self.calibrations = CalibrationCache()

    def reset(self) -> None:
        """A new tick: windows moved (calibrations stay)."""
        self.cache.clear()
        self._other.clear()

    def results(self, key: tuple[str, str], ms: ModelState,
                quantile: float | None) -> list[FeatureDrift]:
        if quantile == self.spec.drift.calibration:
            if key not in self.cache:
                self.cache[key] = self.run(ms)
            return self.cache[key]
        if (*key, quantile) not in self._other:
            self._other[(*key, quantile)] = self.run(ms, quantile)
        return self._other[(*key, quantile)]

    def run(self, ms: ModelState, quantile: float | str | None = "spec") -> list[FeatureDrift]:
        """Every feature window of one model tested; thresholds calibrated at ``quantile``
        (default: drift.calibration; None: the fixed 0.1 floors)."""
        d = self.spec.drift
        data = DriftInput()
        for name, fw in ms.numeric.items():
            ref = fw.reference
            if ref is not None and len(fw.window) >= d.min_samples:
                data.numeric_refs[name] = ref
                data.numeric_windows[name] = fw.window.values()
        for name, cw in ms.categorical.items():
            if cw.reference_n >= d.min_samples and len(cw.window) >= d.min_samples:
                data.categorical_refs[name] = dict(cw.reference.items())
                data.categorical_windows[name] = list(cw.window)
        if ms.predictions is not None and ms.predictions.reference is not None \
                and len(ms.predictions.window) >= d.min_samples:
            data.numeric_refs[PREDICTION] = ms.predictions.reference
            data.numeric_windows[PREDICTION] = ms.predictions.window.values()
        q = d.calibration if quantile == "spec" else quantile
        thresholds = DriftThresholds(
            alpha=d.alpha, correction=d.correction, min_samples=d.min_samples,
            calibration=q if isinstance(q, float) else None, min_ks_effect=d.min_ks_effect,
            min_psi=d.min_psi)
        return detect_drift(data, thresholds, self.calibrations)

    def value(self, o: Objective, state: AgentState, models: list[ModelState],
              t: DriftThresholds, windows: str = "features"
              ) -> tuple[float | None, dict[str, Any]]:
        """Drift (or new-category share) of the selected windows. Each column's effect is shown
        beside the threshold it is judged against (:func:`judge_columns`); an objective's own
        ``alpha`` re-judges significance from the adjusted p-values. ``windows`` (from the
        kind's record): features, predictions or new_categories."""
        predictions = windows == "predictions"
        scores: list[float] = []
        detail: dict[str, Any] = {}
        columns: list[FeatureDrift] = []
        for ms in models:
            key = next(k for k, v in state.models.items() if v is ms)
            for r in self.results(key, ms, t.calibration):
                if predictions != (r.feature == PREDICTION) or (
                        not predictions and o.selector.feature not in (None, r.feature)):
                    continue
                if windows == "new_categories":
                    if r.new_share is not None:
                        scores.append(r.new_share)
                        names, more = shown_names(r.unseen)
                        detail[r.feature] = {"share": r.new_share, "categories": names,
                                             "more": more}
                elif r.status is not Status.NO_DATA:
                    columns.append(r)
        if columns:
            rows = [{"column": r.feature, "test": r.test, "statistic": r.statistic,
                     "p_adjusted": r.p_adjusted, "effect": r.effect,
                     "calibrated": r.calibrated} for r in columns]
            value, per_column, judged = judge_columns(rows, t)
            detail.update(per_column)
            detail["judged_against"] = judged
            return value, detail
        if not scores:
            detail["reason"] = ("no feature window has drift.min_samples values and a reference "
                                "yet" if models else "no samples from this model yet")
        return (max(scores) if scores else None), detail
