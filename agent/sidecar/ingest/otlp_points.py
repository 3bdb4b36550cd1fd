"""OTLP histogram points: checked, turned into deltas, and spread into a quantile sketch.

A point is checked before anything is taken from it: bucket counts that add up to its count,
one more bucket than bounds, bounds finite and increasing, a finite non-negative sum, no
negative observations (durations and token counts never are). A bad point raises
:class:`PointError` naming what is wrong; the door rejects that point only.

Quantiles read back are within the OTLP histogram's own bucket resolution: each bucket's count
is spread evenly over the part of the bucket between the point's min and max (as Prometheus's
``histogram_quantile`` interpolates), so a quantile lands in the bucket that holds the true
one, plus the sketch's 1 % relative error. Exponential buckets are narrow (at scale 5 and up,
finer than 2.2 %), so their quantiles are within a bucket's width of the truth.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from detectors.sketch import _MIN_POSITIVE, MAX_SUM, MAX_VALUE, QuantileSketch

MAX_COUNT = 10**12          # per point: what the SDK door allows a sketch bucket
MAX_BUCKETS = 4096
_LOW_DECADES = 1e-4          # a bucket starting at 0 is spread from 1e-4 of its top upwards


class PointError(ValueError):
    """A data point the door refuses, with the reason (named in partial_success)."""


@dataclass
class Hist:
    """One histogram point, explicit (``bounds``) or exponential (``scale``), checked."""

    count: int
    sum: float | None
    min: float | None
    max: float | None
    bounds: tuple[float, ...] = ()           # explicit: len(counts) == len(bounds) + 1
    counts: list[int] = field(default_factory=list)
    scale: int | None = None                 # exponential: index -> count, zero bucket
    buckets: dict[int, int] = field(default_factory=dict)
    zero: int = 0


def _check_common(count: int, total: float | None, lo: float | None, hi: float | None) -> None:
    if count > MAX_COUNT:
        raise PointError(f"count {count} above {MAX_COUNT}")
    if total is not None and not (math.isfinite(total) and 0.0 <= total <= MAX_SUM):
        raise PointError(f"sum {total!r}: must be finite and not negative")
    for name, v in (("min", lo), ("max", hi)):
        if v is not None and not (math.isfinite(v) and v >= 0.0):
            raise PointError(f"{name} {v!r}: must be finite and not negative")
    if lo is not None and hi is not None and lo > hi:
        raise PointError(f"min {lo:g} above max {hi:g}")


def explicit(count: int, total: float | None, lo: float | None, hi: float | None,
             bounds: list[float], counts: list[int]) -> Hist:
    _check_common(count, total, lo, hi)
    if counts and len(counts) != len(bounds) + 1:
        raise PointError(f"{len(counts)} bucket counts for {len(bounds)} bounds: one more "
                         "count than bounds")
    if len(counts) > MAX_BUCKETS:
        raise PointError(f"{len(counts)} buckets, at most {MAX_BUCKETS}")
    if any(not math.isfinite(b) for b in bounds) or any(
            b >= c for b, c in itertools.pairwise(bounds)):
        raise PointError("explicit_bounds must be finite and strictly increasing")
    if counts and sum(counts) != count:
        raise PointError(f"bucket counts add up to {sum(counts)}, count is {count}")
    if any(c > 0 for b, c in zip(bounds, counts, strict=False) if b < 0):
        raise PointError("observations below 0 (a bucket under a negative bound has counts)")
    return Hist(count, total, lo, hi, tuple(bounds), list(counts))


def exponential(count: int, total: float | None, lo: float | None, hi: float | None,
                scale: int, zero: int, offset: int, counts: list[int],
                negative: list[int]) -> Hist:
    _check_common(count, total, lo, hi)
    if not -10 <= scale <= 20:
        raise PointError(f"scale {scale} outside [-10, 20]")
    if any(negative):
        raise PointError("negative buckets have counts: observations below 0")
    if len(counts) > MAX_BUCKETS:
        raise PointError(f"{len(counts)} buckets, at most {MAX_BUCKETS}")
    if zero + sum(counts) != count:
        raise PointError(f"zero_count + bucket counts add up to {zero + sum(counts)}, count "
                         f"is {count}")
    buckets = {offset + i: c for i, c in enumerate(counts) if c}
    if buckets:
        base = 2.0 ** (2.0 ** -scale)
        top = (max(buckets) + 1) * math.log(base)
        if top > math.log(MAX_VALUE) + 1:
            raise PointError(f"buckets reach above {MAX_VALUE:g}")
    return Hist(count, total, lo, hi, scale=scale, buckets=buckets, zero=zero)


def _downscaled(h: Hist, scale: int) -> dict[int, int]:
    assert h.scale is not None
    shift = h.scale - scale
    out: dict[int, int] = {}
    for i, c in h.buckets.items():
        out[i >> shift] = out.get(i >> shift, 0) + c
    return out


def delta(prev: Hist, cur: Hist) -> Hist | None:
    """``cur - prev`` of one cumulative stream, or None when ``cur`` is not a continuation
    (a reset: fewer counts, other bounds): the caller then takes ``cur`` whole."""
    if cur.count < prev.count:
        return None
    dsum = None if cur.sum is None or prev.sum is None else max(0.0, cur.sum - prev.sum)
    if cur.scale is None:
        if prev.scale is not None or prev.bounds != cur.bounds:
            return None
        if not prev.counts:
            return Hist(cur.count - prev.count, dsum, cur.min, cur.max, cur.bounds,
                        list(cur.counts))
        diff = [c - p for c, p in zip(cur.counts, prev.counts, strict=True)]
        if any(d < 0 for d in diff):
            return None
        return Hist(cur.count - prev.count, dsum, cur.min, cur.max, cur.bounds, diff)
    if prev.scale is None or prev.scale < cur.scale or cur.zero < prev.zero:
        return None
    old = _downscaled(prev, cur.scale)
    buckets = {i: c - old.get(i, 0) for i, c in cur.buckets.items()}
    if any(d < 0 for d in buckets.values()) or any(i not in cur.buckets for i in old):
        return None
    return Hist(cur.count - prev.count, dsum, cur.min, cur.max, scale=cur.scale,
                buckets={i: c for i, c in buckets.items() if c}, zero=cur.zero - prev.zero)


def _spread(sk: QuantileSketch, lo: float, hi: float, c: int) -> None:
    """``c`` observations spread evenly over (lo, hi] into the sketch's buckets (counts
    rounded so they add up to ``c`` exactly)."""
    hi = min(max(hi, 0.0), MAX_VALUE)
    lo = min(max(lo, 0.0), hi)
    if hi <= _MIN_POSITIVE:
        sk.zeros += c
        sk.count += c
        return
    if hi - lo <= hi * 1e-9:
        sk.add(hi, c)
        return
    inv = 1.0 / math.log(sk.gamma)
    start = max(lo, hi * _LOW_DECADES, _MIN_POSITIVE * 2)
    k_lo = math.ceil(math.log(start) * inv)
    k_hi = math.ceil(math.log(hi) * inv)
    edges = np.power(sk.gamma, np.arange(k_lo - 1, k_hi + 1, dtype=np.float64))
    edges = np.clip(edges, lo, hi)
    edges[0], edges[-1] = lo, hi           # whatever lies under `start` goes to the first key
    cum = np.rint(c * (edges - lo) / (hi - lo)).astype(np.int64)
    cum[-1] = c
    parts = np.diff(cum)
    bins = sk.bins
    for key, n in zip(range(k_lo, k_hi + 1), parts.tolist(), strict=True):
        if n:
            bins[key] = bins.get(key, 0) + n
    sk.count += c


def sketch(h: Hist) -> QuantileSketch | None:
    """The point's observations as a sketch (None when it has no buckets to place them)."""
    if h.count == 0 or (not h.counts and h.scale is None):
        return None
    sk = QuantileSketch()
    lo_all = h.min if h.min is not None else 0.0
    hi_all = h.max
    if h.scale is None:
        edges = [0.0, *h.bounds]
        for i, c in enumerate(h.counts):
            if not c:
                continue
            lo = max(edges[i], lo_all)
            if i < len(h.bounds):
                hi = h.bounds[i] if hi_all is None else min(h.bounds[i], hi_all)
            else:                       # above the last bound: up to max, else at the bound
                hi = hi_all if hi_all is not None else edges[i]
            _spread(sk, min(lo, hi), max(hi, 0.0), c)
    else:
        if h.zero:
            sk.zeros += h.zero
            sk.count += h.zero
        base = 2.0 ** (2.0 ** -h.scale)
        for i, c in h.buckets.items():
            lo, hi = base ** i, base ** (i + 1)
            lo, hi = max(lo, lo_all), hi if hi_all is None else min(hi, hi_all)
            _spread(sk, min(lo, hi), hi, c)
    if len(sk.bins) > 4096:
        sk._collapse()
    sk.sum = min(h.sum, MAX_SUM) if h.sum is not None else \
        sum(sk.value_of(k) * n for k, n in sk.bins.items())
    values = [sk.value_of(k) for k in sk.bins]
    sk.min = 0.0 if sk.zeros else min(values, default=0.0)
    sk.max = max(values, default=0.0)
    return sk


__all__ = ["Hist", "PointError", "delta", "explicit", "exponential", "sketch"]
