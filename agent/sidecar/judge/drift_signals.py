"""Drift of the SDK's feature windows, per model: every window tested once per tick, each column
judged against its own threshold (calibrated on the reference, or an objective's fixed floor).

One :class:`detectors.drift.DriftDetector` per model holds its references (refitted only when a
reference changes). The tick never calibrates: closed-form thresholds are immediate, and a column
that needs the bridge or the bootstrap is judged on the distribution-free quantile (its floor,
saying so) while a single background thread calibrates it for the next tick. Results of one
tick are kept per model (and per calibration quantile an objective asks for); calibrations are
kept across ticks, one per reference and window size (bounded).

A window is judged on the values sampled in the last ``drift.fleet_window`` (at most
``drift.window_size``, the newest), with at least ``drift.min_samples`` of them: the values the
fleet rules count over the same window, with the same minimum (:mod:`agent.signals.fleet`).
"""

from __future__ import annotations

import math
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from agent.sidecar.judge.data_signals import judge_columns
from agent.sidecar.state.agent_state import AgentState, ModelState
from agent.spec.document import Objective, Spec
from detectors.calibration import CalibrationCache
from detectors.columns import shown_names
from detectors.detector import Skipped
from detectors.drift import DriftDetector, DriftThresholds, FeatureDrift
from detectors.ks import sorted_window
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
        self._detectors: dict[int, tuple[weakref.ref[ModelState], DriftDetector,
                                         dict[str, Any]]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: dict[tuple[Any, ...], Future[None]] = {}
        self._lock = threading.Lock()
        self.pending: list[str] = []     # columns of the last run judged before calibration
        self.now: float | None = None    # the tick's time: windows span fleet_window up to it
        #: per model state (id): columns that took more than window_size values in the span
        self.capped: dict[int, list[str]] = {}

    def reset(self, now: float | None = None) -> None:
        """A new tick at ``now`` (None: each window whole): windows moved (calibrations
        stay)."""
        self.cache.clear()
        self._other.clear()
        self.capped.clear()
        self.now = now

    def results(self, key: tuple[str, str], ms: ModelState,
                quantile: float | None) -> list[FeatureDrift]:
        if quantile == self.spec.drift.calibration:
            if key not in self.cache:
                self.cache[key] = self.run(ms, model=key[0])
            return self.cache[key]
        if (*key, quantile) not in self._other:
            self._other[(*key, quantile)] = self.run(ms, quantile, model=key[0])
        return self._other[(*key, quantile)]

    def time_like(self, model: str) -> set[str]:
        """The features ``models[].time_like`` declares for this model (by name): another
        model's clock may be this one's input."""
        return {f for m in self.spec.models if m.name == model for f in m.time_like}

    def detector(self, ms: ModelState, *, model: str) -> DriftDetector:
        """The model's detector (``model``: its name in the spec), its references refreshed
        where they changed."""
        entry = self._detectors.get(id(ms))
        if entry is None or entry[0]() is not ms:
            entry = (weakref.ref(ms), DriftDetector(cache=self.calibrations), {})
            self._detectors[id(ms)] = entry
            entry[2]["time_like"] = self.time_like(model)
        det, seen = entry[1], entry[2]
        time_like: set[str] = seen["time_like"]
        refs: dict[str, Any] = {n: fw.reference for n, fw in ms.numeric.items()
                                if n not in time_like}
        if ms.predictions is not None:
            refs[PREDICTION] = ms.predictions.reference
        for name, ref in refs.items():
            if ref is not None and seen.get(name) is not ref:
                det.add_numeric(name, ref)
                seen[name] = ref
        for name, cw in ms.categorical.items():
            if name not in time_like and seen.get(name) != cw.reference_n:
                det.add_categorical(name, dict(cw.reference.items()))
                seen[name] = cw.reference_n
        det.skipped = [Skipped(n, "declared time-like (models[].time_like)")
                       for n in sorted(time_like) if n in ms.numeric or n in ms.categorical]
        return det

    def run(self, ms: ModelState, quantile: float | str | None = "spec", *,
            model: str) -> list[FeatureDrift]:
        """Every feature window of one model (``model``: its name) tested; thresholds
        calibrated at ``quantile`` (default: drift.calibration; None: the fixed 0.1 floors).
        Columns whose calibration is not done yet are judged on their floor and queued for the
        background calibration."""
        d = self.spec.drift
        det = self.detector(ms, model=model)
        now, span = (0.0, None) if self.now is None else (self.now, d.fleet_window)
        numeric: dict[str, Any] = {}
        named = [(n, fw) for n, fw in ms.numeric.items()    # a flag's too (as categories)
                 if n in det.numeric or n in det.categorical]
        if ms.predictions is not None:
            named.append((PREDICTION, ms.predictions))
        capped: list[str] = []
        for name, fw in named:
            ref = fw.reference
            if ref is not None and ref.size >= d.min_samples:
                values = fw.recent(now, span)
                if values.size >= d.min_samples:
                    numeric[name] = sorted_window(values)
                if span is not None and fw.arrived(now, span) > values.size:
                    capped.append(name)
        categorical: dict[str, Any] = {}
        for name, cw in ms.categorical.items():
            if name in det.categorical and cw.reference_n >= d.min_samples:
                texts = cw.recent(now, span)
                if len(texts) >= d.min_samples:
                    categorical[name] = texts
                if span is not None and cw.arrived(now, span) > len(texts):
                    capped.append(name)
        self.capped[id(ms)] = capped
        q = d.calibration if quantile == "spec" else quantile
        thresholds = DriftThresholds(
            alpha=d.alpha, correction=d.correction, min_samples=d.min_samples,
            calibration=q if isinstance(q, float) else None, min_ks_effect=d.min_ks_effect,
            min_psi=d.min_psi)
        report = det.check_prepared(numeric, categorical, calibrate=False,
                                    thresholds=thresholds)
        if report.pending and thresholds.calibration is not None:
            sizes = {r.feature: r.n_window for r in report.columns if r.feature in report.pending}
            self._calibrate_later(det, sizes, report.family, thresholds.calibration)
        self.pending = report.pending
        return report.columns

    def _calibrate_later(self, det: DriftDetector, sizes: dict[str, int], family: float,
                         quantile: float) -> None:
        """Queue one calibration per (detector, columns, family) on the background thread."""
        key = (id(det), tuple(sorted(sizes.items())), family, quantile)
        with self._lock:
            done = [k for k, f in self._inflight.items() if f.done()]
            for k in done:
                self._inflight.pop(k)
            if key in self._inflight:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="slo-agent-calibration")
            self._inflight[key] = self._pool.submit(det.calibrate_columns, sizes, family,
                                                    quantile)

    def wait(self, timeout: float | None = None) -> None:
        """Until every queued calibration is done (tests, shutdown)."""
        with self._lock:
            futures = list(self._inflight.values())
        for f in futures:
            f.result(timeout)

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
        keys = [next(k for k, v in state.models.items() if v is ms) for ms in models]
        for ms, key in zip(models, keys, strict=True):
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
        skipped = [{"column": sk.column, "rule": sk.rule, "reason": sk.reason,
                    "offered": list(sk.offered)}
                   for ms, key in zip(models, keys, strict=True)
                   for sk in self.detector(ms, model=key[0]).skipped]
        if skipped:
            detail["skipped"] = skipped
        capped = sorted({c for ms in models for c in self.capped.get(id(ms), ())})
        if capped:
            detail["window_capped"] = {
                "columns": capped[:20], "more": max(0, len(capped) - 20),
                "reason": "more than drift.window_size values were sampled in the last "
                          "drift.fleet_window: the newest window_size are judged, a shorter "
                          "span than the fleet rules count; raise drift.window_size to at "
                          "least the sampled rows a second times fleet_window"}
        if columns:
            rows = [{"column": r.feature, "test": r.test, "statistic": r.statistic,
                     "p_adjusted": r.p_adjusted, "effect": r.effect,
                     "calibrated": r.calibrated, "n_window": r.n_window,
                     "n_reference": r.n_reference,
                     "pending": r.floor_reason is not None and r.floor_reason.startswith(
                         "not calibrated")} for r in columns]
            value, per_column, judged = judge_columns(rows, t)
            detail.update(per_column)
            detail["judged_against"] = judged
            return value, detail
        if not scores:
            detail["reason"] = ("no feature window has drift.min_samples values in the last "
                                "drift.fleet_window and a reference yet" if models
                                else "no samples from this model yet")
        return (max(scores) if scores else None), detail
