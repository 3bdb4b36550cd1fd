"""The sidecar's metric families, built once per evaluation tick on the worker thread.

A scrape only yields the families published by the last tick (plus live ingest counters), so
/metrics never waits for statistics. Names come from the catalogue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.samples import Sample

from agent import catalogue as cat
from agent.families import family as _fam
from agent.sidecar import _otlp_series as otlp_series
from agent.sidecar._open_labels import OTHER_CATEGORY, open_columns, open_nulls
from agent.sidecar.collectors.gpu import THROTTLE_REASONS, GPUReading
from agent.sidecar.ingest.apply import schema_changes
from agent.sidecar.judge.data_signals import NEW_SHARE, freshness
from agent.sidecar.judge.drift_signals import PREDICTION
from agent.sidecar.state.agent_state import ModelState
from agent.sidecar.view import EngineView
from agent.signals import ORDERED
from agent.spec.document import Spec
from detectors.sketch import WindowedSketch
from detectors.thresholds import Status

if TYPE_CHECKING:
    from agent.sidecar.judge.evaluate import Result




def objective_families(spec: Spec, results: list[Result], transitions: dict[tuple[str, str], int],
                       guard: Callable[..., Any] | None = None
                       ) -> list[Any]:
    """Objective series; each objective is built on its own (through ``guard``), so one that
    fails is left out and the others stay live."""
    svc = spec.service
    fams = {m.name: _fam(m) for m in (cat.OBJECTIVE_VALUE, cat.OBJECTIVE_STATE,
                                      cat.OBJECTIVE_PENDING,
                                      cat.OBJECTIVE_WARNING, cat.OBJECTIVE_CRITICAL,
                                      cat.OBJECTIVE_BASELINE, cat.BUDGET_REMAINING,
                                      cat.BURN_RATE, cat.OBJECTIVE_TRANSITIONS)}
    signals = {o.name: o.signal.value for o in spec.objectives}

    def one(r: Result) -> list[tuple[str, list[str], float]]:
        labels = [svc, r.name, signals[r.name]]
        out = [(cat.OBJECTIVE_STATE.name, labels, float(r.status.rank))]
        if r.value is not None:
            out.append((cat.OBJECTIVE_VALUE.name, labels, float(r.value)))
        if r.pending is not None:
            out.append((cat.OBJECTIVE_PENDING.name, [*labels, r.pending["level"]],
                        float(r.pending["fires_at"])))
        for metric, level in ((cat.OBJECTIVE_WARNING, r.warning),
                              (cat.OBJECTIVE_CRITICAL, r.critical),
                              (cat.OBJECTIVE_BASELINE, r.baseline),
                              (cat.BUDGET_REMAINING, r.budget_remaining)):
            if level is not None:
                out.append((metric.name, labels, float(level)))
        for window, rate in sorted(r.burn_rates.items()):
            out.append((cat.BURN_RATE.name, [*labels, window], float(rate)))
        return out

    for r in results:
        rows = one(r) if guard is None else guard(f"objective {r.name}", [], one, r)
        for name, labels, value in rows:
            fams[name].add_metric(labels, value)
    # every (objective, state) starts at 0, so Prometheus sees the first transition as an
    # increase (a counter series that appears at 1 shows no increase to rate()/increase())
    counts = {(o.name, s.value): 0 for o in spec.objectives for s in Status}
    counts.update(transitions)
    for (name, to), n in sorted(counts.items()):
        fams[cat.OBJECTIVE_TRANSITIONS.name].add_metric([svc, name, signals.get(name, ""), to],
                                                        float(n))
    return list(fams.values())


def families(eng: EngineView, results: list[Result], now: float) -> list[Any]:
    svc = eng.spec.service
    fams = objective_families(eng.spec, results,
                              {k: v for k, v in eng.transitions.items()}, eng.guard)
    fams += eng.guard("gpu", [], gpu_families, eng.spec, eng.gpu.readings)
    lat, ttft = _fam(cat.SKETCH_LATENCY), _fam(cat.SKETCH_TTFT)
    slots = max(1, int(eng.spec.alerting.rate_window // eng.interval))
    score, stat, pval = _fam(cat.DRIFT_SCORE), _fam(cat.DRIFT_STATISTIC), \
        _fam(cat.DRIFT_P_VALUE)
    pscore, ppval = _fam(cat.PREDICTION_DRIFT_SCORE), _fam(cat.PREDICTION_DRIFT_P_VALUE)
    peffect, effect = _fam(cat.PREDICTION_DRIFT_EFFECT), _fam(cat.DRIFT_EFFECT)
    newcat = _fam(cat.NEW_CATEGORY)
    thr, pthr = _fam(cat.DRIFT_THRESHOLD), _fam(cat.PREDICTION_DRIFT_THRESHOLD)
    for (model, version), ms in sorted(eng.state.models.items()):
        for fam, ws in ((lat, ms.latency), (ttft, ms.ttft)):
            labels = {cat.SERVICE_LABEL: svc, "model": model, "version": version}
            part = f"{fam.name}{{model={model!r},version={version!r}}}"
            fam.samples.extend(eng.guard(part, [], _sketch_samples, fam.name, ws, now, slots,
                                          labels))
        drift = eng.evaluator.drift_cache.get((model, version))
        if drift is None and (ms.numeric or ms.categorical or ms.predictions):
            drift = eng.evaluator._drift_for(ms)
        for r in drift or []:
            if r.status.value == "no_data":
                continue
            if r.feature == "__prediction__":
                pscore.add_metric([svc, model, version, r.test], r.score)
                ppval.add_metric([svc, model, version, r.test], r.p_adjusted)
                peffect.add_metric([svc, model, version, r.test], r.effect)
                if r.threshold is not None:
                    pthr.add_metric([svc, model, version, r.test, str(r.threshold_source)],
                                    r.threshold)
                continue
            feature_labels = [svc, model, version, r.feature, r.test]
            score.add_metric(feature_labels, r.score)
            stat.add_metric(feature_labels, r.statistic)
            pval.add_metric(feature_labels, r.p_adjusted)
            effect.add_metric(feature_labels, r.effect)
            if r.threshold is not None:
                thr.add_metric([*feature_labels, str(r.threshold_source)], r.threshold)
            if r.new_share is not None:
                newcat.add_metric([svc, model, version, r.feature], r.new_share)
    fams += [lat, ttft, score, stat, pval, pscore, ppval, peffect, effect, newcat, thr, pthr]
    fams += eng.guard("fleet drift counts", [], fleet_families, eng.spec, eng.state.models)
    fams += eng.guard("datasets", [], _data_families, eng, now)
    fams += eng.guard("service", [], _service_families, eng)
    fams += eng.guard("otlp series", [], otlp_series.families, eng.spec, eng.state.otlp)
    up, scrape_dur = _fam(cat.SOURCE_UP), _fam(cat.SCRAPE_DURATION)
    if eng.gpu.mode != "off":
        up.add_metric([svc, "nvml", "gpu"], float(eng.gpu.status == "ok"))
    for s in eng.scrapers:
        if s.last is not None:
            up.add_metric([svc, s.target.name, "scrape"], float(s.last.up))
            scrape_dur.add_metric([svc, s.target.name], s.last.duration)
    reexported = eng.guard("scraped values", [], scraped_families, svc, eng.state.external)
    for name, d in sorted(eng.state.datasets.items()):
        up.add_metric([svc, name, "dataset"], float(d.error is None and d.rows is not None))
    lag = _fam(cat.EVALUATION_LAG)
    lag.add_metric([svc], eng.tick_lag)
    dur = _fam(cat.EVALUATION_DURATION)
    for _, buckets, total in eng.tick_durations.families():
        dur.add_metric([svc], buckets, total)
    return [*fams, up, scrape_dur, *reexported, lag, dur]


def scraped_families(svc: str, external: Mapping[str, Mapping[str, float]]) -> list[Any]:
    """The values read from scrape targets, re-exported under the series each kind's record
    names (``reexport``), the target's name in its last label: a queue depth beside the SDK's
    queues, a server's KV-cache usage. Generic over the records: a new scraped kind needs no
    code here."""
    out = []
    for r in ORDERED:
        if not r.reexport or r.metric is None:
            continue
        fam = _fam(r.metric)
        for name, v in sorted(external.get(r.kind.value, {}).items()):
            fam.add_metric([svc, name], v)
        out.append(fam)
    return out

def fleet_families(spec: Spec, models: Mapping[tuple[str, str], ModelState]) -> list[Any]:
    """The mergeable drift counts (``fleet_counts``): per feature with a reference, window and
    reference rank histograms; per categorical feature, counts and reference shares per
    category label (named only when a contract allows the value). Bounded as the features
    are: ``max_features_per_model`` per model, ``drift.fleet_categories`` + 2 labels each."""
    svc = spec.service
    window, reference = _fam(cat.DRIFT_WINDOW_RANK), _fam(cat.DRIFT_REFERENCE_RANK)
    samples, shares = _fam(cat.DRIFT_CATEGORY_SAMPLES), _fam(cat.DRIFT_REFERENCE_CATEGORY)
    allowed: dict[str, set[str]] = {}
    for ds in spec.sources.datasets:
        for col, values in ds.contract.allowed_values.items():
            allowed.setdefault(col, set()).update(str(v) for v in values)
    for (model, version), ms in sorted(models.items()):
        fc = ms.fleet
        ranks = sorted(fc.numeric.items())
        if fc.predictions is not None:
            ranks.append((PREDICTION, fc.predictions))
        for feature, rc in ranks:
            if rc.edges is None:
                continue
            labels = [svc, model, version, feature]
            window.add_metric(labels, rc.window_buckets(), rc.rank_sum)
            reference.add_metric(labels, rc.reference_buckets(), rc.reference_rank_sum)
        for feature, cc in sorted(fc.categorical.items()):
            for label, n, share in cc.labelled(allowed.get(feature, set())):
                labels = [svc, model, version, feature, label]
                samples.add_metric(labels, float(n))
                shares.add_metric(labels, share)
    return [window, reference, samples, shares]


def _service_families(eng: EngineView) -> list[Any]:
    """Jobs (reported as events, so the sidecar is their exporter), drift detection times
    and recovery times."""
    svc = eng.spec.service
    runs, duration, success = _fam(cat.JOB_RUNS), _fam(cat.JOB_LAST_DURATION), \
        _fam(cat.JOB_LAST_SUCCESS)
    start, running = _fam(cat.JOB_LAST_START), _fam(cat.JOB_RUNNING)
    for name, j in sorted(eng.state.service.jobs.items()):
        runs.add_metric([svc, name, "success"], j.success)
        runs.add_metric([svc, name, "failure"], j.failure)
        running.add_metric([svc, name], float(len(j.running)))
        for fam, v in ((duration, j.last_duration), (success, j.last_success),
                       (start, j.last_start)):
            if v is not None:
                fam.add_metric([svc, name], v)
    detection = _fam(cat.DRIFT_DETECTION)
    for name, d in sorted(eng.detections.items()):
        if d.seconds is not None:
            detection.add_metric([svc, name, eng.spec.objective(name).signal.value],
                                 d.seconds)
    recovery = _fam(cat.RECOVERY)
    for (name, signal), buckets, total in eng.recovery.families():
        recovery.add_metric([svc, name, signal], buckets, total)
    return [runs, duration, success, start, running, detection, recovery]

def _data_families(eng: EngineView, now: float) -> list[Any]:
    svc = eng.spec.service
    fresh, nulls, schema = _fam(cat.FRESHNESS), _fam(cat.NULL_RATIO), \
        _fam(cat.SCHEMA_CHANGES)
    rows, contract = _fam(cat.DATASET_ROWS), _fam(cat.CONTRACT_FAILURES)
    dscore, dpval = _fam(cat.DATASET_DRIFT_SCORE), _fam(cat.DATASET_DRIFT_P_VALUE)
    deffect, newcat = _fam(cat.DATASET_DRIFT_EFFECT), _fam(cat.DATASET_NEW_CATEGORY)
    newrows, disallowed = _fam(cat.DATASET_NEW_CATEGORY_ROWS), _fam(cat.DATASET_DISALLOWED)
    dthr = _fam(cat.DATASET_DRIFT_THRESHOLD)
    for name, d in sorted(eng.state.datasets.items()):
        lag, _ = freshness(eng.spec, name, d, now)
        if lag is not None:
            fresh.add_metric([svc, name], lag)
        named = open_columns(eng, name, d)
        if d.rows:
            for col, ratio in sorted(open_nulls(d.nulls, d.rows, named).items()):
                nulls.add_metric([svc, name, col], ratio)
        if d.rows is not None:
            rows.add_metric([svc, name], float(d.rows))
        changes = schema_changes(eng.state, eng.spec, name)
        for change, n in sorted((changes or {}).items()):
            schema.add_metric([svc, name, change], float(n))
        failures: Counter[tuple[str, str]] = Counter(
            (f["expectation"], f["column"] if named is None or not f["column"]
             or f["column"] in named else OTHER_CATEGORY) for f in d.contract_failures)
        for (exp, col), n in sorted(failures.items()):
            contract.add_metric([svc, name, exp, col], float(n))
        for r in d.drift:
            if r.get("status") in ("ok", "warning", "critical"):
                labels = [svc, name, r["column"], r["test"]]
                for fam, key in ((dscore, "score"), (dpval, "p_adjusted"),
                                 (deffect, "effect")):
                    if r.get(key) is not None:
                        fam.add_metric(labels, float(r[key]))
                if r.get("threshold") is not None:
                    dthr.add_metric([*labels, str(r.get("threshold_source"))],
                                    float(r["threshold"]))
            if r.get(NEW_SHARE) is not None:
                newcat.add_metric([svc, name, r["column"]], float(r[NEW_SHARE]))
                # /metrics is open: only values the spec names go out by name
                known = _known_categories(eng, name, r["column"])
                others = float(r.get("new_categories_more") or 0)
                for cat_name in r.get("new_categories", []):
                    if str(cat_name) in known:
                        newrows.add_metric([svc, name, r["column"], str(cat_name)], 1.0)
                    else:
                        others += 1
                if others:
                    newrows.add_metric([svc, name, r["column"], OTHER_CATEGORY], others)
        for col, check in sorted(d.allowed.items()):
            if check.get("share") is not None:
                disallowed.add_metric([svc, name, col], float(check["share"]))
    return [fresh, nulls, schema, rows, contract, dscore, dpval, deffect, newcat, newrows,
            disallowed, dthr]

def _known_categories(eng: EngineView, dataset: str, column: str) -> set[str]:
    """Category values the spec itself names (the contract's allowed values)."""
    for ds in eng.spec.sources.datasets:
        if ds.name == dataset:
            return {str(v) for v in ds.contract.allowed_values.get(column, [])}
    return set()


def _sketch_samples(name: str, ws: WindowedSketch, now: float, slots: int,
                    labels: dict[str, str]) -> list[Sample]:
    """Summary samples of one sketch window, built whole before any is published."""
    sk = ws.merged(now, slots)
    if not sk.count:
        return []
    out = [Sample(name, {**labels, "quantile": str(q)}, sk.quantile(q))
           for q in (0.5, 0.95, 0.99)]
    return out + [Sample(name + "_count", labels, float(sk.count)),
                  Sample(name + "_sum", labels, sk.sum)]


def gpu_families(spec: Spec, readings: list[GPUReading]) -> list[Any]:
    svc = spec.service
    out: dict[str, Any] = {}

    def add(m: cat.Metric, labels: list[str], value: float | None,
            extra: tuple[str, ...] = ()) -> None:
        if value is None:
            return
        fam = out.get(m.name)
        if fam is None:
            fam = out[m.name] = _fam(m)
        fam.add_metric(labels, value)

    for r in readings:
        base = [svc, str(r.index), r.uuid, r.name]
        add(cat.GPU_UTIL, base, r.utilization)
        add(cat.GPU_MEM_USED, base, r.memory_used)
        add(cat.GPU_MEM_TOTAL, base, r.memory_total)
        add(cat.GPU_TEMP, base, r.temperature)
        add(cat.GPU_POWER, base, r.power)
        add(cat.GPU_POWER_LIMIT, base, r.power_limit)
        add(cat.GPU_SM_CLOCK, base, r.sm_clock)
        add(cat.GPU_MEM_CLOCK, base, r.memory_clock)
        if r.throttle_mask is not None:
            for bit, reason in THROTTLE_REASONS.items():
                add(cat.GPU_THROTTLED, [*base, reason], float(bool(r.throttle_mask & bit)))
        add(cat.GPU_ECC, [*base, "corrected"], r.ecc_corrected)
        add(cat.GPU_ECC, [*base, "uncorrected"], r.ecc_uncorrected)
        for pid, name, used in r.processes:
            add(cat.GPU_PROCESS_MEM, [*base, str(pid), name], used)
    return list(out.values())


def dcgm_families(readings: list[GPUReading], hostname: str) -> list[Any]:
    """DCGM-exporter compatible series (gpu, UUID, device, modelName, Hostname labels)."""
    fams = {name: GaugeMetricFamily(name, help_, labels=list(cat.DCGM_LABELS))
            for name, (help_, _, _) in cat.DCGM.items()}
    for r in readings:
        labels = [str(r.index), r.uuid, f"nvidia{r.index}", r.name, hostname]
        for name, (_, field, scale) in cat.DCGM.items():
            value = getattr(r, field)
            if value is not None:
                fams[name].add_metric(labels, float(value) * scale)
    return [f for f in fams.values() if f.samples]
