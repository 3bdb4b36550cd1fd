"""Eight replicas, one truth: 8 sidecars, 8 SDK monitors, one real Prometheus with the rules
``slo-agent generate`` writes for the service (issue #26's proof, live part).

One traffic stream is split over the replicas (round robin); each replica's calls go through its
own ``@monitor.inference`` and its own sidecar. The replicas are deliberately unequal (replica i
fails i % of its calls and answers slowly more often), so a per-replica view (max, average of
ratios) differs from the fleet's, and only a correct sum across replicas matches the stream.

Drift reference: every replica's ``first_window`` reference is the *same* ``REFERENCE`` values
(one seed, sent to each replica first), so the replicas' reference edges agree, as they would
with one reference file.

Order matters (one module fixture, tests in file order): the error/latency stream, the shift,
one replica killed, all killed.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from agent import catalogue as cat
from agent.spec.model import Drift
from detectors import bins
from detectors.calibration import CalibrationCache
from detectors.drift import DriftInput, DriftThresholds, detect_drift
from tests.e2e.fleet_harness import FEATURE, MODEL, SERVICE, Call, Fleet, wait_for

N = 8
REFERENCE = 10_000          # reference values per replica (drift.reference_size)
WINDOW = 1200               # a replica's drift window (drift.window_size)
FLEET_WINDOW = 12.0         # seconds (drift.fleet_window)
STREAM = 200                # calls per replica in the measured error/latency stream
RATE = 80.0                 # calls per second per replica while drift is watched
SHIFT = 0.125               # in standard deviations: KS distance ~0.05 in the whole stream
SHIFT_SEED = 11             # see test_a_shift_too_small_for_any_replica_is_seen_by_the_fleet
FOR = 2.0                   # the drift objective's `for`
SLOW, MEDIUM = 0.15, 0.02   # slow: mid-bucket (100-200 ms); medium and 0: well under 100 ms
DRIFT = {"reference_size": REFERENCE, "window_size": WINDOW, "min_samples": WINDOW // 2}
HAS_FLEET_WINDOW = "fleet_window" in Drift.model_fields


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
        out[i].append(Call(float(rng.normal()), 0.0 if err else latency, err))
    return out


def _shifted(seed: int, length: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {i: rng.normal(SHIFT, 1.0, size=length) for i in range(N)}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    drift = dict(DRIFT, **({"fleet_window": f"{FLEET_WINDOW:g}s"} if HAS_FLEET_WINDOW else {}))
    f = Fleet.start(tmp_path_factory.mktemp("fleet"), N, drift)
    try:
        ref = np.random.default_rng(1).normal(size=REFERENCE)
        f.send({i: [Call(float(x)) for x in ref] for i in range(N)})
        samples = f"sum by (instance) ({cat.INGEST_SAMPLES.name}{{service=\"{SERVICE}\"}})"
        wait_for(lambda: len([s for s in f.query(samples) if float(s["value"][1]) >= REFERENCE])
                 == N, 60, "every sidecar's drift reference")
        yield f
    finally:
        f.stop()


def bucket_quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float:
    """``histogram_quantile`` as Prometheus computes it, on per-bucket (not cumulative) counts
    with upper bounds ``bounds`` (+Inf last)."""
    cum = np.cumsum(counts)
    rank = q * cum[-1]
    b = int(np.searchsorted(cum, rank, side="left"))
    if b == len(bounds) - 1:
        return float(bounds[-2])
    lo = 0.0 if b == 0 else bounds[b - 1]
    below = 0.0 if b == 0 else cum[b - 1]
    return float(lo + (bounds[b] - lo) * (rank - below) / counts[b])


def _buckets(calls: Sequence[Call], bounds: Sequence[float]) -> np.ndarray:
    """Per-bucket counts of the calls' latencies on the SDK's bounds (+Inf last)."""
    idx = np.searchsorted(np.asarray(bounds[:-1]), [c.latency for c in calls], side="left")
    return np.bincount(idx, minlength=len(bounds)).astype(float)


def _weighted_range(values: Sequence[Sequence[float]], fn: object, fmax: float
                     ) -> tuple[float, float]:
    """min and max of ``fn`` over the replicas' counts each scaled by 1 or ``fmax``: the
    spread rate()'s per-target extrapolation can cause (fn is linear-fractional or monotone in
    each weight, so the extremes are at these vertices)."""
    out = []
    for w in itertools.product((1.0, fmax), repeat=len(values)):
        out.append(fn([np.asarray(v) * k for v, k in zip(values, w, strict=True)]))  # type: ignore[operator]
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
    per_replica = [_buckets(calls, bounds) for calls in stream.values()]
    whole = np.sum(per_replica, axis=0)
    # a busy host may time a 0 or 20 ms call a bucket higher, but never past 100 ms, nor a
    # 150 ms call past 200 ms: the p95 bucket and everything above it are exact
    below = int(np.searchsorted(bounds, 0.1))
    assert prom_counts[: below + 1].sum() == whole[: below + 1].sum()
    assert list(prom_counts[below + 1:]) == list(whole[below + 1:])
    p95 = bucket_quantile(0.95, bounds, whole)
    raw = float(np.quantile([c.latency for calls in stream.values() for c in calls], 0.95))
    assert np.searchsorted(bounds, raw) == np.searchsorted(bounds, p95), (raw, p95)

    # the generated expressions, their window covering the stream (t0 .. now)
    span = math.ceil(te - t0)
    fmax = span / (span - 2.2)
    ratio = fleet.scalar(_objective_expr(fleet, "m-errors", f"{span}s"), te)
    totals = [[e, STREAM] for e in errors]
    lo, hi = _weighted_range(totals, lambda v: sum(x[0] for x in v) / sum(x[1] for x in v),
                             fmax)
    whole_ratio = sum(errors) / (N * STREAM)
    assert lo - 1e-9 <= ratio <= hi + 1e-9, (ratio, whole_ratio, lo, hi)
    assert max(e / STREAM for e in errors) > hi, "the test cannot tell a max from a sum"
    prom_p95 = fleet.scalar(_objective_expr(fleet, "m-latency", f"{span}s"), te)
    plo, phi = _weighted_range(
        per_replica, lambda v: bucket_quantile(0.95, bounds, np.sum(v, 0)), fmax)
    assert plo - 1e-9 <= prom_p95 <= phi + 1e-9, (prom_p95, p95, plo, phi)
    worst = max(bucket_quantile(0.95, bounds, c) for c in per_replica)
    assert worst > phi, "the test cannot tell the slowest replica from the fleet"
    print(f"\nerror ratio: stream {whole_ratio:.4f}, Prometheus {ratio:.4f} (extrapolation band "
          f"{lo:.4f}..{hi:.4f} over {span}s); p95: stream {p95 * 1e3:.2f} ms (raw "
          f"{raw * 1e3:.1f} ms), Prometheus {prom_p95 * 1e3:.2f} ms (band {plo * 1e3:.2f}.."
          f"{phi * 1e3:.2f}); worst replica p95 {worst * 1e3:.2f} ms")
