"""Everything the sidecar remembers: request counts in time slots, latency sketches, feature
windows, feedback, tokens and cost, queues, datasets, objective states and budgets.

Only the state worker thread mutates it; snapshots are plain JSON-able dicts so a restart resumes
exactly where the last snapshot left off.
"""

from __future__ import annotations

import copy
import math
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.sidecar.state._fleet_counts import CategoryCounts, FleetCounts, RankCounts
from agent.sidecar.state._slots import Slots
from agent.sidecar.state.batch_ids import BatchIds
from agent.sidecar.state.journal import Journal
from agent.sidecar.state.otlp_totals import OtlpTotals
from agent.sidecar.state.persistence import pairs, put, restore_part
from agent.sidecar.state.service_state import ServiceSignals
from agent.units import json_number
from detectors.baseline import BaselineLearner
from detectors.sketch import QuantileSketch, WindowedSketch
from detectors.windows import FeatureWindow, Marks

STATE_VERSION = 1
DAY = 86400.0
SKETCHES = ("latency", "ttft", "tpot")      # the windowed sketches of a model


class CategoricalWindow:
    """Last N categorical values plus a reference of counts (first window frozen)."""

    def __init__(self, window_size: int, reference_size: int) -> None:
        self.window: deque[str] = deque(maxlen=window_size)
        self.reference: Counter[str] = Counter()
        self.reference_size = reference_size
        self.reference_n = 0
        self.total = 0           # values ever taken into the window (its marks count them)
        self.marks = Marks()

    def add(self, values: Iterable[Any]) -> list[str]:
        """Returns the values the window took (those past the reference)."""
        taken: list[str] = []
        for v in values:
            if v is None:
                continue
            text = str(v)
            if self.reference_n < self.reference_size:
                self.reference[text] += 1
                self.reference_n += 1
            else:
                taken.append(text)
        self.window.extend(taken)
        self.total += len(taken)
        return taken

    def mark(self, now: float, span: float) -> None:
        self.marks.mark(now, self.total, span)

    def arrived(self, now: float, span: float) -> int:
        return self.marks.arrived(self.total, now - span)

    def recent(self, now: float, span: float | None) -> list[str]:
        """The values of the last ``span`` seconds (None: all held), oldest first."""
        held = list(self.window)
        k = len(held) if span is None else self.marks.newest(len(held), self.total, now - span)
        return held[len(held) - k:]

    @property
    def complete(self) -> bool:
        return self.reference_n >= self.reference_size

    def state(self) -> dict[str, Any]:
        return {"window": list(self.window), "maxlen": self.window.maxlen,
                "reference": dict(self.reference), "reference_size": self.reference_size,
                "reference_n": self.reference_n, "total": self.total,
                "marks": self.marks.state()}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> CategoricalWindow:
        out = cls(int(s["maxlen"]), int(s["reference_size"]))
        out.window.extend(s["window"])
        out.reference = Counter(s["reference"])
        out.reference_n = int(s["reference_n"])
        out.total = int(s.get("total", len(out.window)))
        out.marks = Marks.from_state(s.get("marks"))
        return out


@dataclass
class ModelState:
    """One (model, version) as seen through ingest."""

    slot: float
    window_size: int
    reference_size: int
    keep: float = DAY          # horizon of the rate-window counts (cost always keeps a day)
    fleet_bins: int = 10       # drift.fleet_bins / drift.fleet_categories: the fleet counts
    fleet_categories: int = 20
    ok: Slots = field(init=False)
    error: Slots = field(init=False)
    fallback: Slots = field(init=False)
    positive: Slots = field(init=False)
    negative: Slots = field(init=False)
    neutral: Slots = field(init=False)
    tokens: Slots = field(init=False)
    cost: Slots = field(init=False)
    sampled: Slots = field(init=False)     # feature rows reaching the windows (detection time)
    latency: WindowedSketch = field(init=False)
    ttft: WindowedSketch = field(init=False)
    tpot: WindowedSketch = field(init=False)    # time per output token (OTLP-fed models)
    in_flight: dict[str, tuple[float, float]] = field(default_factory=dict)  # instance -> (n, t)
    numeric: dict[str, FeatureWindow] = field(default_factory=dict)
    categorical: dict[str, CategoricalWindow] = field(default_factory=dict)
    predictions: FeatureWindow | None = None
    samples_seen: int = 0
    cum: Counter[str] = field(default_factory=Counter)   # monotonic totals, for budget cursors
    #: each sketch's every value since the state began (a histogram's cumulative buckets), so a
    #: tick counts the calls added since the last one, each once, whenever it arrived
    cum_sketches: dict[str, QuantileSketch] = field(default_factory=dict)
    fleet: FleetCounts = field(init=False)                # mergeable drift counts (fleet rules)

    def __post_init__(self) -> None:
        self.fleet = FleetCounts(self.fleet_bins, self.fleet_categories)
        for name in self._SLOTS:
            setattr(self, name, Slots(self.slot, DAY if name == "cost" else self.keep))
        slots = max(1, int(min(self.keep, 3600.0) // self.slot))   # read over the rate window
        self.latency = WindowedSketch(slots, self.slot)
        self.ttft = WindowedSketch(slots, self.slot)
        self.tpot = WindowedSketch(slots, self.slot)

    _SLOTS = ("ok", "error", "fallback", "positive", "negative", "neutral", "tokens", "cost",
              "sampled")

    def add_numeric(self, name: str, values: Any) -> None:
        """Values of a numeric feature (floats, NaN missing) into its window and counts."""
        fw = self.numeric.get(name)
        if fw is None:
            fw = self.numeric[name] = FeatureWindow(self.window_size, self.reference_size)
        self.fleet.add_numeric(name, fw, values)

    def add_numeric_block(self, names: list[str], block: Any) -> None:
        """Numeric features as the rows of one array (float32/64, NaN missing, no infinity),
        into their windows and counts at once (:meth:`FleetCounts.add_numeric_block`)."""
        windows = []
        for name in names:
            fw = self.numeric.get(name)
            if fw is None:
                fw = self.numeric[name] = FeatureWindow(self.window_size, self.reference_size)
            windows.append(fw)
        self.fleet.add_numeric_block(names, windows, block)

    def add_categorical(self, name: str, values: Iterable[Any]) -> None:
        cw = self.categorical.get(name)
        if cw is None:
            cw = self.categorical[name] = CategoricalWindow(self.window_size,
                                                            self.reference_size)
        taken = cw.add(values)
        self.fleet.add_categorical(name, cw.reference, cw.complete, taken)

    def add_predictions(self, values: Any) -> None:
        if self.predictions is None:
            self.predictions = FeatureWindow(self.window_size, self.reference_size)
        self.fleet.add_numeric(None, self.predictions, values)

    def add_sketch(self, attr: str, sk: QuantileSketch, now: float) -> None:
        """One shipped sketch (``attr`` of :data:`SKETCHES`, at the window's accuracy) into its
        time-slot window (quantiles over a window) and its cumulative total (budget events)."""
        window: WindowedSketch = getattr(self, attr)
        window.add_sketch(sk, now)
        total = self.cum_sketches.get(attr)
        if total is None or total.gamma != sk.gamma:     # (a snapshot of another accuracy)
            total = self.cum_sketches[attr] = QuantileSketch(window.accuracy)
        total.merge(sk)

    def mark_windows(self, now: float, span: float) -> None:
        """Note every drift window's running total at ``now``: the judge reads the values of
        the last ``span`` seconds (``drift.fleet_window``), as the fleet rules do."""
        for w in (*self.numeric.values(), *self.categorical.values(), self.predictions):
            if w is not None:
                w.mark(now, span)

    def state(self) -> dict[str, Any]:
        return {
            "slots": {n: getattr(self, n).state() for n in self._SLOTS},
            "latency": self.latency.state(), "ttft": self.ttft.state(),
            "tpot": self.tpot.state(),
            "in_flight": {k: list(v) for k, v in self.in_flight.items()},
            "numeric": {k: v.state() for k, v in self.numeric.items()},
            "categorical": {k: v.state() for k, v in self.categorical.items()},
            "predictions": self.predictions.state() if self.predictions else None,
            "samples_seen": self.samples_seen, "cum": dict(self.cum),
            "cum_sketches": {k: v.to_dict() for k, v in self.cum_sketches.items()},
            "fleet": self.fleet.state(),
        }

    def restore(self, s: dict[str, Any], name: str = "model", dropped: list[str] | None = None
                ) -> None:
        """Each field restores on its own: a bad latency sketch costs that sketch only."""
        out = [] if dropped is None else dropped
        slots = s.get("slots") or {}
        for n in self._SLOTS:
            if n in slots:
                restore_part(f"{name}.{n}", out, self._set, n, Slots.from_state, slots[n])
        for attr in SKETCHES:
            if attr in s:
                restore_part(f"{name}.{attr}", out, self._set, attr, WindowedSketch.from_state,
                             s[attr])
        restore_part(f"{name}.in_flight", out, self._set, "in_flight", pairs,
                     s.get("in_flight") or {})
        for k, v in (s.get("numeric") or {}).items():
            restore_part(f"{name}.numeric.{k}", out, put, self.numeric, str(k),
                         FeatureWindow.from_state, v)
        for k, v in (s.get("categorical") or {}).items():
            restore_part(f"{name}.categorical.{k}", out, put, self.categorical, str(k),
                         CategoricalWindow.from_state, v)
        if s.get("predictions"):
            restore_part(f"{name}.predictions", out, self._set, "predictions",
                         FeatureWindow.from_state, s["predictions"])
        restore_part(f"{name}.samples_seen", out, self._set, "samples_seen", int,
                     s.get("samples_seen", 0))
        restore_part(f"{name}.cum", out, self._set, "cum", _counter, s.get("cum") or {})
        for attr, raw in (s.get("cum_sketches") or {}).items():
            if attr in SKETCHES:
                restore_part(f"{name}.cum_sketches.{attr}", out, put, self.cum_sketches,
                             attr, QuantileSketch.from_dict, raw)
        self._restore_fleet(s.get("fleet") or {}, f"{name}.fleet", out)

    def _restore_fleet(self, s: dict[str, Any], name: str, out: list[str]) -> None:
        """Counts of another drift.fleet_bins / fleet_categories start over (a counter reset,
        as at a first start); each feature's counts restore on their own."""
        fc = self.fleet
        for k, v in (s.get("numeric") or {}).items():
            if v.get("bins") == fc.bins:
                restore_part(f"{name}.numeric.{k}", out, put, fc.numeric, str(k),
                             RankCounts.from_state, v)
        for k, v in (s.get("categorical") or {}).items():
            if v.get("top") == fc.top:
                restore_part(f"{name}.categorical.{k}", out, put, fc.categorical, str(k),
                             CategoryCounts.from_state, v)
        p = s.get("predictions")
        if p and p.get("bins") == fc.bins:
            restore_part(f"{name}.predictions", out,
                         lambda: setattr(fc, "predictions", RankCounts.from_state(p)))

    def _set(self, attr: str, make: Callable[[Any], Any], raw: Any) -> None:
        setattr(self, attr, make(raw))


def _counter(raw: dict[str, Any]) -> Counter[str]:
    return Counter({str(k): float(v) for k, v in raw.items()})


@dataclass
class DatasetState:
    rows: int | None = None
    columns: dict[str, str] = field(default_factory=dict)
    reference_columns: dict[str, str] = field(default_factory=dict)
    nulls: dict[str, int] = field(default_factory=dict)
    null_baseline: dict[str, float] = field(default_factory=dict)
    newest_event: float | None = None
    last_mark: float | None = None
    last_seen: float | None = None
    contract_failures: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)      # vs the reference file
    drift_skipped: list[dict[str, Any]] = field(default_factory=list)
    allowed: dict[str, dict[str, Any]] = field(default_factory=dict)  # contract allowed_values
    source: str = "sdk"
    where: str | None = None      # a SQL dataset's database, its URL's password masked
    file_state: str | None = None     # a polled file: ok, missing or unreadable
    error: str | None = None
    position: dict[str, Any] | None = None   # since_last_poll: where its window stands
    #: a poll of this run reached it (never kept in a snapshot: a restored dataset has not
    #: been looked at since the restart, so its restored event times say nothing of now)
    polled: bool = False

    def state(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "polled"}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> DatasetState:
        return cls(**{k: v for k, v in s.items() if k in cls.__dataclass_fields__})


@dataclass
class ObjectiveState:
    status: str = "no_data"
    since: float | None = None
    pending: str | None = None
    pending_since: float | None = None
    value: float | None = None
    transitions: int = 0
    cursor: dict[str, float] = field(default_factory=dict)   # cumulative totals at last tick
    baseline: BaselineLearner | None = None
    bad_fine: Slots | None = None          # budget events at fine resolution (tier windows)
    total_fine: Slots | None = None
    bad_coarse: Slots | None = None        # and coarse, over the whole compliance window
    total_coarse: Slots | None = None
    first_seen: float | None = None        # first tick with budget events: window coverage
    #: first tick of the present run of values (None while there is none): a lower-is-worse
    #: rate is judged once its rate window is covered
    valued_since: float | None = None
    incident_since: float | None = None    # turned critical, not yet ok again (recovery time)
    #: burn tiers: when each one's condition began (its ``for``), and those firing (held)
    tiers_since: dict[str, float] = field(default_factory=dict)
    tiers_firing: list[str] = field(default_factory=list)
    #: the compliance window (seconds) the restored counts were kept for, when the spec's
    #: window changed across a restart (the budget's reason says so); not saved
    carried_from: float | None = None

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in
                               ("status", "since", "pending", "pending_since", "value",
                                "transitions", "cursor", "first_seen", "valued_since",
                                "incident_since",
                                "tiers_since", "tiers_firing")}
        out["value"] = json_number(self.value)       # a detection never reached is +inf
        out["baseline"] = self.baseline.state() if self.baseline else None
        for k in ("bad_fine", "total_fine", "bad_coarse", "total_coarse"):
            s = getattr(self, k)
            out[k] = s.state() if s is not None else None
        return out

    def restore(self, s: dict[str, Any]) -> None:
        for k in ("status", "since", "pending", "pending_since", "value", "transitions",
                  "first_seen", "valued_since", "incident_since"):
            setattr(self, k, s.get(k))
        self.transitions = int(self.transitions or 0)
        self.cursor = dict(s.get("cursor") or {})
        self.tiers_since = {str(k): float(v) for k, v in (s.get("tiers_since") or {}).items()}
        self.tiers_firing = [str(t) for t in s.get("tiers_firing") or ()]
        if s.get("baseline") and self.baseline is not None:
            self.baseline = BaselineLearner.from_state(s["baseline"])
        for k in ("bad_fine", "total_fine", "bad_coarse", "total_coarse"):
            saved, current = s.get(k), getattr(self, k)
            if saved is None or current is None:
                continue
            old = Slots.from_state(saved)
            if (old.slot, old.keep) == (current.slot, current.keep):
                setattr(self, k, old)
                continue
            # the spec's windows changed: judge on the counts kept, at the new resolution;
            # coverage starts no earlier than what the old horizon kept
            current.absorb(old)
            if k == "total_coarse":
                self.carried_from = old.keep
                if old.data and self.first_seen is not None:
                    self.first_seen = max(self.first_seen, min(old.data) * old.slot)


@dataclass
class AgentState:
    slot: float
    window_size: int
    reference_size: int
    #: how long windowed counts are kept: only the rate window is read (daily spend excepted),
    #: so the engine passes a few rate windows and the state stays small
    keep: float = DAY
    models: dict[tuple[str, str], ModelState] = field(default_factory=dict)
    datasets: dict[str, DatasetState] = field(default_factory=dict)
    queues: dict[str, tuple[float, float]] = field(default_factory=dict)   # name -> (depth, t)
    objectives: dict[str, ObjectiveState] = field(default_factory=dict)
    external: dict[str, dict[str, float]] = field(default_factory=dict)    # kind -> key -> value
    #: kind -> scrape target -> (bad, total) events of its last scrape interval (ratios)
    external_counts: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    #: kind -> scrape target -> (bad, total) events counted since its scraper started (the
    #: burn-rate windows of an objective on the target take each tick's new ones)
    external_events: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    ingested: Counter[str] = field(default_factory=Counter)
    journal: Journal = field(default_factory=Journal)    # the weeks a review reads
    fleet_bins: int = 10          # drift.fleet_bins, drift.fleet_categories
    fleet_categories: int = 20
    service: ServiceSignals = field(init=False)
    #: what came in through the OTLP door, re-exported for the generated rules
    otlp: OtlpTotals = field(default_factory=OtlpTotals)
    #: the ids of the batches applied (and claimed at the door), so a resent one is applied once
    batch_ids: BatchIds = field(default_factory=BatchIds)

    def __post_init__(self) -> None:
        self.service = ServiceSignals(self.slot, keep=self.keep)

    def model(self, name: str, version: str) -> ModelState:
        key = (name, version)
        m = self.models.get(key)
        if m is None:
            m = self.models[key] = self._model_state()
        return m

    def _model_state(self) -> ModelState:
        return ModelState(self.slot, self.window_size, self.reference_size, self.keep,
                          self.fleet_bins, self.fleet_categories)

    def dataset(self, name: str) -> DatasetState:
        d = self.datasets.get(name)
        if d is None:
            d = self.datasets[name] = DatasetState()
        return d

    def state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "models": [{"model": k[0], "version": k[1], "state": m.state()}
                       for k, m in self.models.items()],
            "datasets": {k: d.state() for k, d in self.datasets.items()},
            "queues": {k: list(v) for k, v in self.queues.items()},
            "objectives": {k: o.state() for k, o in self.objectives.items()},
            "ingested": dict(self.ingested),
            "service": self.service.state(),
            "otlp": self.otlp.state(),
            "journal": self.journal.state(),
            "batch_ids": self.batch_ids.state(),
        }

    def restore(self, s: dict[str, Any]) -> list[str]:
        """Restore part by part (each model field, dataset, queue table, objective, job, ...);
        returns the names of the parts dropped as unreadable. Only a snapshot of another
        format version is refused whole."""
        if s.get("version") != STATE_VERSION:
            raise ValueError(f"snapshot version {s.get('version')!r}, expected {STATE_VERSION}")
        dropped: list[str] = []
        for i, entry in enumerate(s.get("models") or []):
            def one_model(entry: Any = entry, i: int = i) -> None:
                key = (str(entry["model"]), str(entry["version"]))
                ms = self._model_state()
                ms.restore(entry["state"], f"models[{key[0]}:{key[1]}]", dropped)
                self.models[key] = ms
            restore_part(f"models[{i}]", dropped, one_model)
        for k, v in (s.get("datasets") or {}).items():
            restore_part(f"datasets[{k}]", dropped, put, self.datasets, str(k),
                         DatasetState.from_state, v)
        for k, v in (s.get("queues") or {}).items():
            restore_part(f"queues[{k}]", dropped, put, self.queues, str(k),
                         lambda v: (float(v[0]), float(v[1])), v)
        for k, v in (s.get("objectives") or {}).items():
            if k in self.objectives:
                restore_part(f"objectives[{k}]", dropped, self._objective, k, v)
        restore_part("ingested", dropped, self._ingested, s.get("ingested") or {})
        self.service.restore(s.get("service") or {}, dropped)
        restore_part("otlp", dropped, self._otlp, s.get("otlp") or {})
        restore_part("journal", dropped, self.journal.restore, s.get("journal") or {})
        restore_part("batch_ids", dropped, self.batch_ids.restore, s.get("batch_ids") or {})
        return dropped

    def _otlp(self, raw: dict[str, Any]) -> None:
        self.otlp = OtlpTotals.from_state(raw)

    def _ingested(self, raw: dict[str, Any]) -> None:
        self.ingested = Counter({str(k): int(n) for k, n in raw.items()})

    def _objective(self, name: str, saved: dict[str, Any]) -> None:
        """All of an objective or none of it: a half-restored budget would be wrong."""
        fresh = copy.deepcopy(self.objectives[name])
        fresh.restore(saved)
        self.objectives[name] = fresh


def merged_sketch(sketches: Iterable[QuantileSketch]) -> QuantileSketch:
    out = QuantileSketch()
    for s in sketches:
        out.merge(s)
    return out


def numeric_values(values: list[Any]) -> np.ndarray:
    """Floats from JSON scalars (bools as 0/1, None as NaN); strings are not numeric."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None:
            out[i] = math.nan
        elif isinstance(v, (bool, int, float)):
            out[i] = float(v)
        else:
            out[i] = math.nan
    return out
