"""Mergeable drift counts of one sidecar: what the fleet's drift rules sum across replicas.

Each numeric feature (and the predictions) counts every value its window accepts, once the
feature has a reference, into cumulative counters between the reference's quantile edges
(``detectors.bins``); each categorical feature counts per reference category rank, ``other``
(in the reference, past the cap) and ``new`` (never in it). Counters only grow: a changed
reference (a rolling one moving on, a file replaced) changes the edges later values are counted
against, never what was counted. A sidecar restart resumes them from the snapshot.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from operator import is_
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.bins import levels, quantile_edges
from detectors.levels import le_labels
from detectors.windows import FeatureWindow, RingRows

OTHER = "__other__"     # reference categories past drift.fleet_categories
NEW = "__new__"         # categories the reference never had
_RANK_LABEL = re.compile(r"c[0-9]+")


class RankCounts:
    """Cumulative counts of one numeric feature's values between its reference's quantile edges.

    ``cumulative[j]`` holds the values counted at or below edge ``j`` (whichever edges were in
    force when each was counted), the last entry all of them: bucket ``le=levels[j]``, then
    ``+Inf``. ``rank_sum`` adds each value's bin level (the upper quantile level of the bin it falls
    in, 1 for the last), read off the counts: an exact per-value reference rank would cost a
    search of the reference per value, most of the ingest cost.
    """

    def __init__(self, bins: int) -> None:
        self.bins = bins
        self.cumulative = np.zeros(bins, dtype=np.int64)
        self.edges: NDArray[np.float64] | None = None       # the bins - 1 inner edges
        self.reference_cum = np.zeros(bins, dtype=np.int64)  # reference at or below, then m
        self.epoch = -1            # a rolling reference's epoch the edges belong to
        self._ref: NDArray[np.float64] | None = None   # the sorted reference of the edges

    def observe(self, fw: FeatureWindow, accepted: NDArray[np.float64]) -> None:
        """Count ``accepted`` (the finite values ``fw`` just took into its window), once the
        window has a reference; first recompute the edges if its reference changed."""
        ref = self._reference(fw)
        if ref is None or not accepted.size:
            return
        assert self.edges is not None
        # each value's bin (how many edges lie below it), counted: no sort of the values
        below = np.bincount(np.searchsorted(self.edges, accepted, side="left"),
                            minlength=self.bins)
        self.cumulative += np.cumsum(below)

    def _reference(self, fw: FeatureWindow) -> NDArray[np.float64] | None:
        """The reference values are counted against. A rolling reference moves with every
        value: its edges are taken once per window of values (an epoch), so each epoch's
        counts stand against one reference."""
        if fw.kind == "rolling":
            epoch = fw.window.total // fw.window_size
            if self._ref is not None and epoch == self.epoch:
                return self._ref
            ref = fw.reference
            if ref is not None:
                self.epoch = epoch
        else:
            ref = fw.reference
            if ref is self._ref:
                return ref
        if ref is None or not ref.size:
            return None
        self._set_reference(ref)
        return ref

    def _set_reference(self, ref: NDArray[np.float64]) -> None:
        self._ref = ref
        self.edges = quantile_edges(ref, levels(self.bins))
        below = np.searchsorted(ref, self.edges, side="right").astype(np.int64)
        self.reference_cum = np.append(below, np.int64(ref.size))

    @property
    def count(self) -> int:
        return int(self.cumulative[-1])

    @property
    def rank_sum(self) -> float:
        return _level_sum(self.bins, self.cumulative)

    @property
    def reference_rank_sum(self) -> float:
        return _level_sum(self.bins, self.reference_cum)

    def window_buckets(self) -> list[tuple[str, float]]:
        """``(le, cumulative count)`` pairs, the last ``+Inf`` (the total)."""
        return _buckets(self.bins, self.cumulative)

    def reference_buckets(self) -> list[tuple[str, float]]:
        return _buckets(self.bins, self.reference_cum)

    def state(self) -> dict[str, Any]:
        return {"bins": self.bins, "cumulative": self.cumulative.tolist(),
                "edges": None if self.edges is None else self.edges.tolist(),
                "reference_cum": self.reference_cum.tolist(), "epoch": self.epoch}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> RankCounts:
        out = cls(int(s["bins"]))
        cum = np.asarray(s["cumulative"], dtype=np.int64)
        ref_cum = np.asarray(s["reference_cum"], dtype=np.int64)
        if cum.shape != (out.bins,) or ref_cum.shape != (out.bins,) or (cum < 0).any() \
                or (np.diff(cum) < 0).any():
            raise ValueError(f"not {out.bins} non-decreasing cumulative counts")
        out.cumulative, out.reference_cum = cum, ref_cum
        if s.get("edges") is not None:
            edges = np.asarray(s["edges"], dtype=np.float64)
            if edges.shape != (out.bins - 1,):
                raise ValueError(f"{edges.size} edges, expected {out.bins - 1}")
            out.edges = edges
        out.epoch = int(s.get("epoch", -1))
        return out


def _level_sum(bins: int, cum: NDArray[np.int64]) -> float:
    """Each counted value at its bin's upper level: sum over bins of count x level."""
    per_bin = np.diff(np.concatenate(([0], cum)))
    return float(per_bin @ np.append(levels(bins), 1.0))


def _buckets(bins: int, cum: NDArray[np.int64]) -> list[tuple[str, float]]:
    labels = le_labels(bins)
    return list(zip(labels, (float(c) for c in cum), strict=True))


class CategoryCounts:
    """Counts of one categorical feature's window values per reference category rank (share
    desc, then name), ``other`` (in the reference past ``top`` ranks) and ``new``.

    The ranking is fixed when the reference is complete; ``counts`` has ``len(order) + 2``
    entries: the ranks, then other, then new.
    """

    def __init__(self, top: int) -> None:
        self.top = top
        self.order: list[str] | None = None
        self.reference_shares: list[float] = []     # per rank, then other, then new (0)
        self.counts: list[int] = []
        self._index: dict[str, int] = {}

    def observe(self, reference: Mapping[str, int], complete: bool,
                accepted: Iterable[str]) -> None:
        """Count the values just taken into the window (after the reference is complete)."""
        if self.order is None:
            if not complete:
                return
            self._rank(reference)
        n_rank = len(self._index)
        counts = self.counts
        for text, n in Counter(accepted).items():
            i = self._index.get(text)
            if i is None:
                i = n_rank if text in reference else n_rank + 1
            counts[i] += n

    def _rank(self, reference: Mapping[str, int]) -> None:
        total = sum(reference.values())
        ranked = sorted(reference.items(), key=lambda kv: (-kv[1], kv[0]))
        self.order = [name for name, _ in ranked[: self.top]]
        self._index = {name: i for i, name in enumerate(self.order)}
        shares = [n / total if total else 0.0 for _, n in ranked[: self.top]]
        rest = sum(n for _, n in ranked[self.top:])
        self.reference_shares = [*shares, rest / total if total else 0.0, 0.0]
        self.counts = [0] * (len(self.order) + 2)

    def labelled(self, allowed: Collection[str]) -> list[tuple[str, int, float]]:
        """``(category label, count, reference share)`` per rank, then other and new. A
        category is named only when ``allowed`` (the spec's allowed values) lists it; the rest
        are ``c1``, ``c2``… by rank, so raw values never reach /metrics."""
        if self.order is None:
            return []
        labels = [name if name in allowed and not _reserved(name) else f"c{i + 1}"
                  for i, name in enumerate(self.order)]
        return list(zip([*labels, OTHER, NEW], self.counts, self.reference_shares, strict=True))

    def state(self) -> dict[str, Any]:
        return {"top": self.top, "order": self.order, "counts": list(self.counts),
                "reference_shares": list(self.reference_shares)}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> CategoryCounts:
        out = cls(int(s["top"]))
        if s.get("order") is not None:
            out.order = [str(x) for x in s["order"]]
            out._index = {name: i for i, name in enumerate(out.order)}
            out.counts = [int(n) for n in s["counts"]]
            out.reference_shares = [float(x) for x in s["reference_shares"]]
            if len(out.counts) != len(out.order) + 2 or len(out.reference_shares) != \
                    len(out.counts) or min(out.counts) < 0:
                raise ValueError("category counts do not match the ranked reference")
        return out


def _floor32(edges: NDArray[np.float64]) -> NDArray[np.float32]:
    """Each edge as the largest float32 at or below it: for a float32 value v, v <= e exactly
    when v <= _floor32(e)."""
    with np.errstate(over="ignore"):         # past float32's range: +-inf, floored below
        out = edges.astype(np.float32)
    above = out.astype(np.float64) > edges
    out[above] = np.nextafter(out[above], np.float32(-np.inf))
    return out


def _reserved(name: str) -> bool:
    """Names that would collide with a rank or special label are shown by rank."""
    return name in (OTHER, NEW) or _RANK_LABEL.fullmatch(name) is not None


class FleetCounts:
    """All of one (model, version)'s counts: numeric features, categorical, predictions."""

    def __init__(self, bins: int, top: int) -> None:
        self.bins, self.top = bins, top
        self.numeric: dict[str, RankCounts] = {}
        self.categorical: dict[str, CategoryCounts] = {}
        self.predictions: RankCounts | None = None
        self._block: _BlockPlan | None = None

    def add_numeric(self, name: str | None, fw: FeatureWindow, values: Any) -> None:
        """Add ``values`` to ``fw`` and count what its window took (``name`` None: the
        predictions)."""
        arr = np.asarray(values, dtype=np.float64).ravel()
        arr = arr[np.isfinite(arr)]
        before = fw.window.total
        fw.add(arr)
        taken = fw.window.total - before
        if fw.kind == "rolling":     # a value counts once the history behind it is a reference
            taken = min(taken, max(0, fw.window.total - fw.reference_size - fw.window_size + 1))
        if name is None:
            rc = self.predictions
            if rc is None or rc.bins != self.bins:     # drift.fleet_bins changed: start over
                rc = self.predictions = RankCounts(self.bins)
        else:
            rc = self.numeric.get(name)
            if rc is None or rc.bins != self.bins:
                rc = self.numeric[name] = RankCounts(self.bins)
        rc.observe(fw, arr[arr.size - taken:] if taken else arr[:0])

    def add_numeric_block(self, names: list[str], windows: list[FeatureWindow],
                          block: NDArray[Any]) -> None:
        """``block[j]`` (float32 or float64, NaN missing, no infinity) added to ``windows[j]``
        and counted, as :meth:`add_numeric` does one by one. Once every feature of the block
        has a fixed reference and the block has no missing value (the steady state), the
        block goes in whole (:class:`_BlockPlan`): one assignment into the windows, one
        comparison per edge over the block, no Python work per feature."""
        finite = np.isfinite(block)
        whole = bool(finite.all())
        if whole:
            plan = self._block
            if plan is None or not plan.fits(self, names, windows):
                plan = self._block = _BlockPlan.build(self, names, windows)
            if plan is not None:
                plan.add(block)
                return
        rows: list[int] = []
        counters: list[RankCounts] = []
        for j, (name, fw) in enumerate(zip(names, windows, strict=True)):
            ref = fw.reference if fw.kind == "first_window" else None
            if ref is None or not ref.size:
                self.add_numeric(name, fw, block[j])        # building its reference
                continue
            fw.window.extend(block[j] if whole else block[j][finite[j]])
            rc = self.numeric.get(name)
            if rc is None or rc.bins != self.bins:
                rc = self.numeric[name] = RankCounts(self.bins)
            rc._reference(fw)
            rows.append(j)
            counters.append(rc)
        if not counters:
            return
        part = block if len(rows) == len(block) else block[rows]
        edges: NDArray[Any] = np.stack([rc.edges for rc in counters if rc.edges is not None])
        below = _count_at_or_below(part, _floor32(edges) if part.dtype == np.float32 else edges)
        totals = part.shape[1] if whole else np.count_nonzero(finite[rows], axis=1)
        for i, rc in enumerate(counters):
            rc.cumulative[:-1] += below[i]
            rc.cumulative[-1] += totals if whole else totals[i]

    def add_categorical(self, name: str, reference: Mapping[str, int], complete: bool,
                        accepted: list[str]) -> None:
        cc = self.categorical.get(name)
        if cc is None or cc.top != self.top:
            cc = self.categorical[name] = CategoryCounts(self.top)
        cc.observe(reference, complete, accepted)

    def state(self) -> dict[str, Any]:
        return {"numeric": {k: v.state() for k, v in self.numeric.items()},
                "categorical": {k: v.state() for k, v in self.categorical.items()},
                "predictions": None if self.predictions is None else self.predictions.state()}


_popcount = getattr(np, "bitwise_count", None)      # numpy >= 2.0


def _count_at_or_below(block: NDArray[Any], edges: NDArray[Any]) -> NDArray[np.int64]:
    """``out[j, k]``: the values of ``block[j]`` at or below ``edges[j, k]`` (NaN never is).
    One comparison of the block against every edge at once into a byte per (value, edge),
    counted eight bytes at a time (a population count of each 64-bit word) where numpy has
    one: three numpy calls whatever the number of features."""
    rows, n = block.shape
    if _popcount is None:
        return np.count_nonzero(block[:, None, :] <= edges[:, :, None], axis=2)
    flags = np.empty((rows, edges.shape[1], -(-n // 8) * 8), dtype=np.bool_)
    flags[:, :, n:] = False                                      # the padding
    np.less_equal(block[:, None, :], edges[:, :, None], out=flags[:, :, :n])
    counted: NDArray[np.int64] = _popcount(flags.view(np.uint64)).sum(axis=2, dtype=np.int64)
    return counted


class _BlockPlan:
    """How one block of numeric features (a model's columns, in the order the SDK sends them)
    goes in whole once every one has a fixed reference: their windows as :class:`RingRows`,
    their counters' cumulative counts as the rows of one array, their edges stacked (and
    floored to float32 for float32 blocks). Valid while the features, windows, references and
    counters are the ones it was built from (:meth:`fits`); rebuilt otherwise."""

    def __init__(self, names: list[str], windows: list[FeatureWindow],
                 counters: list[RankCounts], bins: int) -> None:
        self.names, self.windows, self.counters, self.bins = names, windows, counters, bins
        self.references = [fw.reference for fw in windows]
        self.rings = [fw.window for fw in windows]
        self.group = RingRows(self.rings)
        self.cumulative = np.stack([rc.cumulative for rc in counters])
        self.rows = list(self.cumulative)      # each counter reads its row of the block's
        for rc, row in zip(counters, self.rows, strict=True):
            rc.cumulative = row
        edges: list[NDArray[np.float64]] = [rc.edges for rc in counters
                                            if rc.edges is not None]
        self.edges = np.stack(edges)
        self.edges32 = _floor32(self.edges)

    @classmethod
    def build(cls, fc: FleetCounts, names: list[str], windows: list[FeatureWindow]
              ) -> _BlockPlan | None:
        """A plan for these features, or None while one of them has no fixed reference yet."""
        if not windows or any(fw.kind != "first_window" or fw.reference is None or
                              not fw.reference.size for fw in windows):
            return None
        if len({fw.window.capacity for fw in windows}) != 1:
            return None
        counters = []
        for name, fw in zip(names, windows, strict=True):
            rc = fc.numeric.get(name)
            if rc is None or rc.bins != fc.bins:
                rc = fc.numeric[name] = RankCounts(fc.bins)
            rc._reference(fw)
            if rc.edges is None:
                return None
            counters.append(rc)
        return cls(list(names), list(windows), counters, fc.bins)

    def fits(self, fc: FleetCounts, names: list[str], windows: list[FeatureWindow]) -> bool:
        numeric = fc.numeric
        return self.bins == fc.bins and self.names == names and \
            all(map(is_, self.windows, windows)) and \
            all(map(is_, self.counters, map(numeric.get, names))) and \
            all(map(is_, self.references, [fw._reference for fw in windows])) and \
            all(map(is_, self.rows, [rc.cumulative for rc in self.counters])) and \
            self.group.holds([fw.window for fw in windows])

    def add(self, block: NDArray[Any]) -> None:
        self.group.extend(block)
        below = _count_at_or_below(block, self.edges32 if block.dtype == np.float32
                                   else self.edges)
        self.cumulative[:, :-1] += below
        self.cumulative[:, -1] += block.shape[1]
