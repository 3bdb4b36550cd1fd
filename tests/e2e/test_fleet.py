"""Eight replicas, one truth: 8 sidecars, 8 SDK monitors, one real Prometheus with the rules
``slo-agent generate`` writes for the service (issue #26's proof, live part).

One traffic stream is split over the replicas (round robin); each replica's calls go through its
own ``@monitor.inference`` and its own sidecar. The replicas are deliberately unequal (replica i
fails i % of its calls and answers slowly more often), so a per-replica view (max, average of
ratios) differs from the fleet's, and only a correct sum across replicas matches the stream.

Drift reference: every replica's ``first_window`` reference is the *same* ``REFERENCE`` values
(one seed, sent to each replica first), so the replicas' reference edges agree, as they would
with one reference file.

One module fixture; the tests run in file order (the error/latency stream, the shift, one
replica killed, all killed), and each also passes on its own (``-k``): the last one kills
whatever is left. Python checks values sent, never a copy: features go as float32, as the SDK
ships them, and no SDK may drop a sample.
"""

from __future__ import annotations

import itertools
import math
import signal
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest
from numpy.typing import ArrayLike

from agent import catalogue as cat
from alerts.rules import SERVICE_NO_DATA
from detectors import bins
from detectors.calibration import CalibrationCache
from detectors.drift import DriftInput, DriftThresholds, detect_drift
from tests.e2e.fleet_harness import FEATURE, MODEL, SERVICE, Call, Fleet, wait_for

N = 8
REFERENCE = 20_000          # reference values per replica (drift.reference_size)
WINDOW = 1200               # a replica's drift window (drift.window_size)
FLEET_WINDOW = 14.0         # seconds (drift.fleet_window): the shift stays in it ~14 s
STREAM = 200                # calls per replica in the measured error/latency stream
SHIFT = 0.06                # in standard deviations (KS distance ~0.024)
SHIFTED = WINDOW            # shifted calls per replica
SHIFT_SEED = 32             # see test_a_shift_too_small_for_any_replica_is_seen_by_the_fleet
SLOW, MEDIUM = 0.15, 0.02   # slow: mid-bucket (100-200 ms); medium and 0: well under 100 ms
CALIBRATION, ALPHA, MIN_KS = 0.999, 0.01, 0.01
DRIFT = {"reference_size": REFERENCE, "window_size": WINDOW, "min_samples": WINDOW // 2,
         "calibration": CALIBRATION, "alpha": ALPHA, "min_ks_effect": MIN_KS}
pytestmark = [pytest.mark.servers, pytest.mark.slow]


def _stream(seed: int = 5) -> dict[int, list[Call]]:
    """The measured stream: replica i fails with probability i %, is slow (150 ms) with
    probability 2 % + 2 % i, medium (20 ms) with 12 %."""
    rng = np.random.default_rng(seed)
    out: dict[int, list[Call]] = {i: [] for i in range(N)}
    for k in range(STREAM * N):
        i = k % N
        u = rng.random()
        latency = SLOW if u < 0.02 + 0.02 * i else MEDIUM if u < 0.14 + 0.02 * i else 0.0
        err = bool(rng.random() < 0.01 * i)
        out[i].append(Call(float(np.float32(rng.normal())), 0.0 if err else latency, err))
    return out


def _f32(values: np.ndarray) -> np.ndarray:
    """As the SDK ships features (float32), so Python checks exactly what the sidecars see."""
    return values.astype(np.float32).astype(np.float64)


def _reference() -> np.ndarray:
    return _f32(np.random.default_rng(1).normal(size=REFERENCE))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    drift = dict(DRIFT, fleet_window=f"{FLEET_WINDOW:g}s")
    f = Fleet.start(tmp_path_factory.mktemp("fleet"), N, drift)
    try:
        ref = _reference()
        # one failure each, so that every replica's error counter exists before the stream
        # (a counter born inside a rate window loses its first increment to rate())
        f.send({i: [Call(float(x)) for x in ref] + [Call(float(ref[0]), error=True)]
                for i in range(N)})
        samples = f"sum by (instance) ({cat.INGEST_SAMPLES.name}{{service=\"{SERVICE}\"}})"

        def seen() -> str:
            got = [(s["metric"].get("instance"), s["value"][1]) for s in f.query(samples)]
            drops = [(s["metric"], s["value"][1]) for s in f.query(
                f"sum by (instance, reason) ({cat.SDK_DROPPED.name})")]
            return f"samples per sidecar {got}, SDK drops {drops}"

        try:
            wait_for(lambda: len([s for s in f.query(samples)
                                  if float(s["value"][1]) >= REFERENCE]) == N,
                     120, "every sidecar's drift reference")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {seen()}") from None
        assert f.dropped() == 0, f"an SDK dropped reference samples: {seen()}"
        yield f
    finally:
        f.stop()


def bucket_quantile(q: float, bounds: Sequence[float], counts: ArrayLike) -> float:
    """``histogram_quantile`` as Prometheus computes it, on per-bucket (not cumulative) counts
    with upper bounds ``bounds`` (+Inf last)."""
    counts = np.asarray(counts, dtype=np.float64)
    cum = np.cumsum(counts)
    rank = q * cum[-1]
    b = int(np.searchsorted(cum, rank, side="left"))
    if b == len(bounds) - 1:
        return float(bounds[-2])
    lo = 0.0 if b == 0 else bounds[b - 1]
    below = 0.0 if b == 0 else cum[b - 1]
    return float(lo + (bounds[b] - lo) * (rank - below) / counts[b])


def _buckets(durations: Sequence[float], bounds: Sequence[float]) -> np.ndarray:
    """Per-bucket counts of durations on the SDK's bounds (+Inf last; le: at or below)."""
    idx = np.searchsorted(np.asarray(bounds[:-1]), durations, side="left")
    return np.bincount(idx, minlength=len(bounds)).astype(float)


def _weighted_range(values: Sequence[ArrayLike], fn: Callable[[list[np.ndarray]], float],
                    fmax: float
                     ) -> tuple[float, float]:
    """min and max of ``fn`` over the replicas' counts each scaled by 1 or ``fmax``: the
    spread rate()'s per-target extrapolation can cause (fn is linear-fractional or monotone in
    each weight, so the extremes are at these vertices)."""
    out = []
    for w in itertools.product((1.0, fmax), repeat=len(values)):
        out.append(fn([np.asarray(v) * k for v, k in zip(values, w, strict=True)]))
    return min(out), max(out)


def _objective_expr(fleet: Fleet, objective: str, window: str) -> str:
    rule = next(r for g in fleet.rule_groups() for r in g["rules"]
                if r.get("record") == "slo:objective_value"
                and r["labels"]["objective"] == objective)
    return str(rule["expr"]).replace("[10s]", f"[{window}]")


def test_fleet_error_ratio_and_p95_equal_the_whole_streams(fleet: Fleet) -> None:
    """Exact: the counters summed across replicas in Prometheus are the stream's counts. The
    generated objective expressions (their rate window widened to the stream) equal the
    stream's error ratio and p95 within rate()'s per-target extrapolation, which the test
    bounds from the counts; the per-replica max lies outside that band."""
    stream = _stream()
    bounds = [*fleet.replicas[0].monitor.bounds, math.inf]
    time.sleep(1.5)
    t0 = time.time()
    fleet.scraped(t0)
    fleet.send(stream)
    t1 = time.time()
    fleet.scraped(t1 + 0.5)
    te = time.time()
    sel = f'service="{SERVICE}",model="{MODEL}"'

    # exact: sums across the 8 replicas of what the SDKs export, between t0 and now
    req = f"{cat.REQUESTS.name}{{{sel}}}"
    got = {s["metric"]["outcome"]: float(s["value"][1]) for s in fleet.query(
        f"sum by (outcome) ({req}) - sum by (outcome) ({req} @ {t0:.3f})", te)}
    errors = [sum(c.error for c in calls) for calls in stream.values()]
    assert got.get("error", 0.0) == sum(errors)
    assert got["ok"] == N * STREAM - sum(errors)
    bkt = f"{cat.LATENCY.name}_bucket{{{sel}}}"
    cum = {float(s["metric"]["le"]): float(s["value"][1]) for s in fleet.query(
        f"sum by (le) ({bkt}) - sum by (le) ({bkt} @ {t0:.3f})", te)}
    prom_counts = np.diff([0.0] + [cum[b] for b in bounds])
    # what the decorator timed lies between the time inside the function and around it
    inner = [_buckets([t[0] for t in r.timings], bounds) for r in fleet.replicas]
    outer = [_buckets([t[1] for t in r.timings], bounds) for r in fleet.replicas]
    lo_cum, hi_cum = np.cumsum(np.sum(outer, 0)), np.cumsum(np.sum(inner, 0))
    prom_cum = np.cumsum(prom_counts)
    assert all(lo_cum <= prom_cum) and all(prom_cum <= hi_cum), (lo_cum, prom_cum, hi_cum)
    p95 = bucket_quantile(0.95, bounds, prom_counts)
    p95_lo = bucket_quantile(0.95, bounds, np.sum(inner, 0))
    p95_hi = bucket_quantile(0.95, bounds, np.sum(outer, 0))
    assert p95_lo <= p95 <= p95_hi, (p95_lo, p95, p95_hi)
    raw = float(np.quantile([t[0] for r in fleet.replicas for t in r.timings], 0.95))
    assert np.searchsorted(bounds, raw) == np.searchsorted(bounds, p95_lo), (raw, p95_lo)

    # the generated expressions, their window covering the stream (t0 .. now)
    span = math.ceil(te - t0)
    fmax = span / (span - 2.5)     # rate() extrapolates by up to 1.1 scrape intervals a side
    ratio = fleet.scalar(_objective_expr(fleet, "m-errors", f"{span}s"), te)
    totals = [[e, STREAM] for e in errors]
    lo, hi = _weighted_range(totals, lambda v: sum(x[0] for x in v) / sum(x[1] for x in v),
                             fmax)
    whole_ratio = sum(errors) / (N * STREAM)
    assert lo - 1e-9 <= ratio <= hi + 1e-9, (ratio, whole_ratio, lo, hi)
    assert max(e / STREAM for e in errors) > hi, "the test cannot tell a max from a sum"
    prom_p95 = fleet.scalar(_objective_expr(fleet, "m-latency", f"{span}s"), te)

    def p95_of(v: list[np.ndarray]) -> float:
        return bucket_quantile(0.95, bounds, np.sum(v, 0))

    plo = _weighted_range(inner, p95_of, fmax)[0]
    phi = _weighted_range(outer, p95_of, fmax)[1]
    assert plo - 1e-9 <= prom_p95 <= phi + 1e-9, (prom_p95, p95, plo, phi)
    worst = bucket_quantile(0.95, bounds, inner[-1])     # replica 7: slow 16 % of the time
    assert worst > phi, "the test cannot tell the slowest replica from the fleet"
    print(f"\nerror ratio: stream {whole_ratio:.4f}, Prometheus {ratio:.4f} (extrapolation band "
          f"{lo:.4f}..{hi:.4f} over {span}s); p95: stream {p95_lo * 1e3:.2f}..{p95_hi * 1e3:.2f}"
          f" ms (raw {raw * 1e3:.1f} ms), summed buckets {p95 * 1e3:.2f} ms, rule "
          f"{prom_p95 * 1e3:.2f} ms (band {plo * 1e3:.2f}..{phi * 1e3:.2f}); slowest replica p95 "
          f"{worst * 1e3:.2f} ms")


def _replica_worst(reference: np.ndarray, sequence: np.ndarray) -> float:
    """The largest effect / threshold of the sidecar's own detector (detect_drift with the
    spec's thresholds, calibrated as the sidecar calibrates) over every window of ``WINDOW``
    consecutive values of ``sequence``: below 1, no window a replica can hold alarms. Exact
    without testing each of them: one value in and one out moves the KS distance by at most
    1 / WINDOW, so a window at ``gap`` below its threshold lets gap * WINDOW windows go
    unchecked."""
    t = DriftThresholds(alpha=ALPHA, correction="bh", min_samples=WINDOW // 2,
                        calibration=CALIBRATION, min_ks_effect=MIN_KS)
    cache, worst, k = CalibrationCache(), 0.0, WINDOW
    while k <= sequence.size:
        r = detect_drift(DriftInput(numeric_refs={FEATURE: reference},
                                    numeric_windows={FEATURE: sequence[k - WINDOW:k]}),
                         t, cache)[0]
        assert r.threshold is not None
        worst = max(worst, r.effect / r.threshold)
        k += max(1, int((r.threshold - r.effect) * WINDOW))
    return worst


def _fleet_ratio(reference: np.ndarray, pooled: np.ndarray) -> float:
    """The fleet rule's KS distance over the reference's decile edges (detectors.bins) on the
    pooled values, over its threshold: max(KS critical at 1 - calibration, at alpha, floor)."""
    edges = bins.quantile_edges(reference, bins.levels(10))
    d = bins.ks_from_cumulative(bins.cumulative_counts(pooled, edges),
                                bins.reference_cumulative(reference, edges))
    n, m = pooled.size, reference.size
    return d / max(bins.ks_critical(n, m, 1 - CALIBRATION), bins.ks_critical(n, m, ALPHA),
                   MIN_KS)


def _drift_series(fleet: Fleet) -> dict[str, list[str]]:
    """The fleet drift rule's intermediate series, for a failure message."""
    names = ["slo:fleet_drift_window_count:increase", "slo:fleet_drift_reference:count",
             "slo:fleet_drift:ks_ratio", "slo:fleet_drift:critical", "slo:fleet_drift:threshold",
             "slo:fleet_drift:score", cat.DRIFT_WINDOW_RANK.name + "_count",
             cat.DRIFT_REFERENCE_RANK.name + "_count"]
    return {n: [s["value"][1] for s in fleet.query(n)] for n in names}


def _alerts(fleet: Fleet, name: str, state: str = "firing") -> list[dict[str, object]]:
    return fleet.firing(f'ALERTS{{alertname="{name}",alertstate="{state}"}}')


def test_a_shift_too_small_for_any_replica_is_seen_by_the_fleet(fleet: Fleet) -> None:
    """Every replica's values move by SHIFT sd. Checked in Python first, on exactly the values
    sent: no window any replica can hold reaches its own detector's threshold, while the pooled
    shift passes the fleet threshold by 30 % (SHIFT_SEED is a seed where both hold; a change of
    detector that breaks either fails here, not by chance later). Live: clean values fill each
    replica's window, the fleet window empties of them, then the shifted values arrive (as fast
    as the replicas take them) and the generated fleet alert fires within its `for` plus a
    sidecar tick and a few scrapes, while every sidecar's own drift objective stays ok."""
    reference = np.sort(_reference())
    rng = np.random.default_rng(8)
    fill = {i: _f32(rng.normal(size=WINDOW)) for i in range(N)}
    rng = np.random.default_rng(SHIFT_SEED)
    shifted = {i: _f32(rng.normal(SHIFT, 1.0, size=SHIFTED)) for i in range(N)}
    fleet.send({i: [Call(float(x)) for x in fill[i]] for i in range(N)})
    filled = time.time()
    worst = max(_replica_worst(reference, np.concatenate([fill[i], shifted[i]]))
                for i in range(N))
    ratio = _fleet_ratio(reference, np.concatenate(list(shifted.values())))
    assert worst < 1.0 and ratio > 1.3, (worst, ratio)
    time.sleep(max(0.0, filled + FLEET_WINDOW + 1 - time.time()))   # clean values out of it
    assert not _alerts(fleet, "MDriftWarning"), "drift alert firing before the shift"
    start = time.time()
    fleet.send({i: [Call(float(x)) for x in shifted[i]] for i in range(N)})
    sent = time.time() - start
    bound = sent + 2.0 + 12     # the objective's `for`, sidecar ticks, scrapes, evaluations
    try:
        wait_for(lambda: _alerts(fleet, "MDriftWarning"), bound,
                 "the generated fleet drift alert (MDriftWarning)")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; fleet series now: {_drift_series(fleet)}") from None
    fired = time.time() - start
    assert fleet.dropped() == 0, "an SDK dropped samples: the sidecars saw other windows"
    score = fleet.scalar('max(slo:fleet_drift:score{objective="m-drift"})')
    threshold = fleet.scalar('max(slo:fleet_drift:threshold{objective="m-drift"})')
    span = math.ceil(time.time() - start) + 1
    states = fleet.query(f'max_over_time({cat.OBJECTIVE_STATE.name}{{objective="m-drift"}}'
                         f'[{span}s])')
    assert len(states) == N and all(float(s["value"][1]) == 0 for s in states), states
    print(f"\nfleet drift alert {fired:.1f}s after the shift began ({sent:.1f}s to send it; bound "
          f"{bound:.0f}s); fleet score "
          f"{score:.4f} > threshold {threshold:.4f}; replicas' own detectors peak at "
          f"{worst:.2f} of their thresholds, the pooled shift at {ratio:.2f} of the fleet's")


def test_one_replica_gone_neither_pages_nor_fires_nodata(fleet: Fleet) -> None:
    """Healthy first (every objective has data: each sidecar holds a drift window), then one
    replica is killed (SIGKILL, its SDK exporter closed) while the others serve on past
    absent_for: no critical alert fires and no NoData alert even goes pending."""
    rng = np.random.default_rng(10)
    fleet.send({i: [Call(float(x)) for x in _f32(rng.normal(size=WINDOW // 2))]
                for i in range(N)})
    quiet = (f'max_over_time(ALERTS{{alertname=~".*NoData"}}[3s]) or max_over_time(ALERTS{{'
             f'severity="critical",service="{SERVICE}",alertstate="firing"}}[3s])')
    wait_for(lambda: not fleet.query(quiet), 30,
             "a healthy fleet (no NoData, no page for 3 s) before the kill")
    gone = fleet.replicas[-1]
    gone.kill(signal.SIGKILL)
    start = time.time()
    survivors = fleet.alive()
    fleet.send({r.index: [Call(float(x)) for x in _f32(rng.normal(size=320))]
                for r in survivors}, rate=40.0)      # 8 s: past absent_for (6 s)
    wait_for(lambda: fleet.scalar(f'up{{instance="127.0.0.1:{gone.sidecar_port}"}}') == 0, 10,
             "Prometheus to see the killed sidecar down")
    end = time.time()
    span = math.floor(end - start)
    pages = fleet.query(f'max_over_time(ALERTS{{service="{SERVICE}",severity="critical",'
                        f'alertstate="firing"}}[{span}s])', end)
    nodata = fleet.query(f'max_over_time(ALERTS{{alertname=~".*NoData"}}[{span}s])', end)
    assert not pages and not nodata, (pages, nodata)
    values = fleet.query('slo:objective_value')
    assert {v["metric"]["objective"] for v in values} >= {"m-latency", "m-errors"}, values
    print(f"\none replica killed: {span}s with {len(survivors)} serving, no page, no NoData")


def test_all_replicas_gone_fire_nodata(fleet: Fleet) -> None:
    """Every replica gone: the service-wide no-data alert fires, once for the service, and
    quiets the objectives' own no-data alerts (issue 34: one incident, one page)."""
    names = {r["alert"] for g in fleet.rule_groups() for r in g["rules"]
             if r.get("alert", "").endswith("NoData")}
    assert SERVICE_NO_DATA in names and len(names) > 1, names
    for r in fleet.alive():
        r.kill(signal.SIGTERM)
    start = time.time()
    wait_for(lambda: SERVICE_NO_DATA in {a["alertname"] for a in fleet.firing()}, 30,
             f"the service-wide {SERVICE_NO_DATA} to fire")
    time.sleep(3)             # an evaluation or two more: the objectives' stay quiet
    firing = {a["alertname"] for a in fleet.firing()}
    assert firing & names == {SERVICE_NO_DATA}, firing
    print(f"\nall replicas gone: {SERVICE_NO_DATA} alone firing after "
          f"{time.time() - start:.1f}s")
