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
from collections.abc import Iterable
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


def _spread(sk: QuantileSketch, lo: np.ndarray, hi: np.ndarray, c: np.ndarray) -> None:
    """``c[i]`` observations spread evenly over ``(lo[i], hi[i]]`` into the sketch's buckets,
    all buckets at once; each bucket's counts are rounded so they add up to ``c[i]`` exactly
    (the rounding telescopes within a bucket)."""
    hi = np.clip(hi, 0.0, MAX_VALUE)
    lo = np.minimum(np.clip(lo, 0.0, None), hi)
    zero = hi <= _MIN_POSITIVE
    if zero.any():
        n = int(c[zero].sum())
        sk.zeros += n
        sk.count += n
        lo, hi, c = lo[~zero], hi[~zero], c[~zero]
    if not len(c):
        return
    log_g = math.log(sk.gamma)
    start = np.maximum.reduce([lo, hi * _LOW_DECADES, np.full_like(hi, _MIN_POSITIVE * 2)])
    k_lo = np.ceil(np.log(start) / log_g).astype(np.int64)
    k_hi = np.ceil(np.log(hi) / log_g).astype(np.int64)
    point = (hi - lo) <= hi * 1e-9                 # all at one value: the bucket's top key
    k_lo = np.where(point, k_hi, np.minimum(k_lo, k_hi))
    n = k_hi - k_lo + 1
    idx = np.repeat(np.arange(len(c)), n)
    keys = np.repeat(k_lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    b_lo, b_hi, b_c = lo[idx], hi[idx], c[idx].astype(np.float64)
    width = np.where(point[idx], 1.0, b_hi - b_lo)
    upper = np.minimum(b_hi, np.power(sk.gamma, keys.astype(np.float64)))
    lower = np.maximum(b_lo, np.power(sk.gamma, keys.astype(np.float64) - 1.0))
    first = keys == np.repeat(k_lo, n)            # what lies under `start` joins the first key
    lower = np.where(first, b_lo, lower)
    last = keys == np.repeat(k_hi, n)
    upper = np.where(last, b_hi, upper)
    f_up = np.where(point[idx], 1.0, (upper - b_lo) / width)
    f_low = np.where(point[idx] | first, 0.0, (lower - b_lo) / width)
    parts = np.rint(b_c * f_up) - np.rint(b_c * f_low)
    base = int(keys.min())
    summed = np.bincount(keys - base, weights=parts)
    bins = sk.bins
    for off in np.flatnonzero(summed).tolist():
        key = base + off
        bins[key] = bins.get(key, 0) + int(summed[off])
    sk.count += int(c.sum())


@dataclass
class Placed:
    """Observations of one or more points, as (lo, hi] ranges with counts, zeros and a sum."""

    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)
    counts: list[float] = field(default_factory=list)
    zeros: int = 0
    sum: float | None = 0.0

    def add(self, h: Hist) -> None:
        """Where ``h``'s observations lie: each bucket's range clamped to the point's min and
        max (above the last explicit bound: up to max, else at the bound, as
        ``histogram_quantile`` reads it). Plain lists: one numpy pass per request, not per
        point."""
        if h.count == 0 or (not h.counts and h.scale is None):
            return
        lo_all = h.min if h.min is not None else 0.0
        hi_all = math.inf if h.max is None else h.max
        if h.scale is None:
            bounds = h.bounds
            last = h.max if h.max is not None else (bounds[-1] if bounds else 0.0)
            ranges: Iterable[tuple[float, float, int]] = zip(
                (0.0, *bounds), (*bounds, last), h.counts, strict=True)
        else:
            self.zeros += h.zero
            base = 2.0 ** (2.0 ** -h.scale)
            ranges = ((base ** i, base ** (i + 1), c) for i, c in h.buckets.items())
        lo_l, hi_l, c_l = self.lo, self.hi, self.counts
        for lo, top, c in ranges:
            if c:
                top = min(top, hi_all)
                lo_l.append(min(max(lo, lo_all), top))
                hi_l.append(top)
                c_l.append(c)
        self.sum = None if self.sum is None or h.sum is None else self.sum + h.sum

    def sketch(self) -> QuantileSketch | None:
        """One sketch of everything added (None when nothing had buckets)."""
        if not self.counts and not self.zeros:
            return None
        sk = QuantileSketch()
        sk.zeros = sk.count = self.zeros
        if self.counts:
            _spread(sk, np.asarray(self.lo), np.asarray(self.hi),
                    np.asarray(self.counts, dtype=np.float64))
        if len(sk.bins) > 4096:
            sk._collapse()
        sk.sum = min(self.sum, MAX_SUM) if self.sum is not None else \
            sum(sk.value_of(k) * n for k, n in sk.bins.items())
        sk.min = 0.0 if sk.zeros or not sk.bins else sk.value_of(min(sk.bins))
        sk.max = sk.value_of(max(sk.bins)) if sk.bins else 0.0
        return sk if sk.count else None


def sketch(h: Hist) -> QuantileSketch | None:
    """One point's observations as a sketch."""
    placed = Placed()
    placed.add(h)
    return placed.sketch()


__all__ = ["Hist", "Placed", "PointError", "delta", "explicit", "exponential", "sketch"]
