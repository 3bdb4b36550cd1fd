"""The SLO spec (``slo.yaml``): one validated model that the SDK, sidecar and generators all read.

Field validators parse text quantities against the unit of the objective's signal kind, so an error
carries the exact field path. Checks that span fields or sections collect every problem and raise
them together as ``spec_problems`` (see :mod:`agent.spec.errors`): a user sees all at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from agent.spec.burn import (
    BurnTier,
    TierChoice,
    TierWindows,
    chosen_tiers,
    default_tiers,
    fit_tiers,
)
from agent.spec.fields import (
    LABEL_RE,
    Duration,
    StrictModel,
    as_duration,
    check_name,
    problems_error,
)
from agent.spec.objective import Objective, Selector, as_quantile, parse_quantile
from agent.spec.otlp import Match, check_match, parse_match
from agent.spec.runtime import SDK, Limits, Sidecar, Webhook
from agent.spec.signals import SLIType
from agent.spec.sources import GPU, Contract, Dataset, Freshness, Range, ScrapeTarget, Sources
from agent.units import Unit

# names other modules import from here
__all__ = ["GPU", "SDK", "Alerting", "BurnTier", "Contract", "Dataset", "Defaults", "Drift",
           "Freshness", "Limits", "ModelRef", "Notify", "Objective", "Range", "ScrapeTarget",
           "Selector", "Sidecar", "Sources", "Spec", "TierWindows", "Webhook", "parse_quantile"]


class ModelRef(StrictModel):
    """A model served by the service. ``features`` (optional) lets selectors be checked."""

    name: str
    version: str | None = None
    features: list[str] | None = None
    categorical: list[str] = Field(default_factory=list,
                                   description="features drift-tested with chi-square/PSI")
    time_like: list[str] = Field(default_factory=list, description="this model's features "
                                 "that are clocks, dates, sequences or ids: left out of its "
                                 "drift test (other models' features of the same name are not)")
    description: str | None = None
    otlp: bool | str | None = Field(
        default=None, description="fed by OTLP: true (gen_ai.request.model is the name), "
        "the gen_ai.request.model value, or ATTRIBUTE=VALUE such as http.route=/v1/predict")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "a model name")

    _v_otlp = field_validator("otlp")(lambda cls, v: check_match(v))

    @model_validator(mode="after")
    def _time_like(self) -> ModelRef:
        """A time-like feature is left out of the test, so it cannot also be tested as a
        category, and it must be one of ``features`` when those are declared."""
        problems = []
        for i, f in enumerate(self.time_like):
            if f in self.categorical:
                problems.append((f"time_like[{i}]", f"feature {f!r} is also in categorical: a "
                                 "time-like feature is left out of the drift test; remove it "
                                 "from one of the lists", f))
            elif self.features is not None and f not in self.features:
                problems.append((f"time_like[{i}]", f"feature {f!r} is not a feature of this "
                                 f"model; declared: {', '.join(self.features)}", f))
        if problems:
            raise problems_error(problems)
        return self

    @property
    def otlp_match(self) -> Match | None:
        return parse_match(self.otlp, self.name)


class Drift(StrictModel):
    """How drift windows are built and tested. A column alarms when significant and its effect
    passes its threshold: calibrated on the reference at ``calibration`` (never below the
    ``min_*`` floors), or an objective's own fixed ``warning`` floor."""

    reference: Literal["first_window", "rolling", "file"] = "first_window"
    reference_size: int = Field(default=5000, ge=10)
    window_size: int = Field(default=2000, ge=10, description="at most this many values per "
                             "SDK-fed feature window (memory): a sidecar judges the values "
                             "sampled over the last fleet_window, the newest window_size of "
                             "them when more came (the cap then binds: set it at least sampled "
                             "rows/s x fleet_window for the sidecar to judge what the rules "
                             "count)")
    min_samples: int = Field(default=200, ge=5, description="values a window (over "
                             "fleet_window) and its reference need before drift is judged, by "
                             "the sidecar and the fleet rules alike; fewer: no verdict")
    alpha: float = Field(default=0.01, gt=0, lt=1)
    correction: Literal["bh", "bonferroni", "none"] = "bh"
    calibration: Annotated[float | None, WithJsonSchema({
        "anyOf": [{"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                  {"type": "string"}, {"type": "null"}],
        "description": "family quantile (p99.9, 0.999, 99.9%): each column's default alarm "
                       "threshold is its effect between reference samples of the window's size "
                       "that all clean columns stay under with this probability (a "
                       "well-filled category's is capped where its windows alarm at alpha "
                       "given the reference); null: the objectives' fixed warning/critical "
                       "floors"})] = 0.999
    min_ks_effect: float | None = Field(
        default=None, ge=0, le=1, description="fixed floor under a calibrated KS D threshold; "
        "null (default): the floor follows the sizes (a column's threshold stops shrinking past "
        "10,000 effective rows)")
    min_psi: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="fixed floor under a calibrated "
        "PSI threshold; null (default): the floor follows the sizes")
    fleet_bins: int = Field(default=10, ge=2, le=50, description="equal-probability bins of "
                            "the reference each numeric feature's sampled values are counted in "
                            "(mergeable across replicas; the fleet drift rules read them)")
    fleet_categories: int = Field(default=20, ge=1, le=200, description="reference categories "
                                  "counted by name or rank per categorical feature; the rest "
                                  "count as __other__")
    fleet_window: Duration = Field(default=3600.0, description="window of SDK-fed drift: "
                                   "the fleet drift rules sum the replicas' counts over it "
                                   "(increase) and each sidecar judges the values it sampled "
                                   "in it (at most window_size); at least 1s, best several "
                                   "scrape intervals")

    _quantiles: tuple[float, ...] = PrivateAttr(default=())

    _v_window = field_validator("fleet_window", mode="before")(lambda cls, v: as_duration(v))

    @field_validator("fleet_window")
    @classmethod
    def _fleet_window(cls, v: float) -> float:
        if v < 1:
            raise ValueError(f"a fleet window must be at least 1s (got {v:g}s)")
        return v

    @field_validator("calibration", mode="before")
    @classmethod
    def _calibration(cls, v: Any) -> float | None:
        return as_quantile(v)

    @property
    def quantiles(self) -> tuple[float, ...]:
        """Calibration quantiles that drift objectives on dataset files ask for (set by the
        spec): the file path computes a threshold for each."""
        return self._quantiles


class Notify(StrictModel):
    """How the generated Alertmanager config turns alerts into notifications: by default one
    notification per objective and receiver, burn and threshold alerts of an objective in one."""

    group_by: list[str] = Field(default_factory=lambda: ["service", "objective"],
                                description="labels one notification groups by; [service]: one "
                                "per service, [...]: one per alert")
    group_wait: Duration = Field(default=30.0, description="wait for an incident's other "
                                 "alerts before its first notification")
    group_interval: Duration = Field(default=300.0, description="wait before notifying a "
                                     "change (a new alert, a resolve) of a notified incident")
    repeat_interval: Duration = Field(default=14400.0, description="re-send a ticket that is "
                                      "still firing")
    page_repeat_interval: Duration = Field(default=3600.0, description="re-send a page that "
                                           "is still firing")

    _v_d = field_validator("group_wait", "group_interval", "repeat_interval",
                           "page_repeat_interval", mode="before")(lambda cls, v: as_duration(v))

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, v: list[str]) -> list[str]:
        if v == ["..."]:
            return v
        bad = [k for k in v if not LABEL_RE.match(k)]
        if bad or len(set(v)) != len(v):
            raise PydanticCustomError("spec_value", "group_by takes distinct label names "
                                      "([service, objective]) or ['...'] (no grouping): {bad}",
                                      {"bad": ", ".join(bad) or "a name repeats"})
        return v


class Alerting(StrictModel):
    tiers: list[BurnTier] = Field(default_factory=default_tiers)
    min_request_rate: float | None = Field(
        default=None, ge=0, description="opt-in low-traffic guard, requests per second")
    page_min_events: int = Field(
        default=5, ge=0, description="page (critical) tiers fire only when their long window "
        "holds at least this many bad events, so one failure at very low traffic does not page;"
        " 0 turns the guard off")
    scrape_interval: Duration = 30.0
    evaluation_interval: Duration = 30.0
    rate_window: Duration = Field(default=300.0, description="window of rates and of the SLI step")
    absent_for: Duration = 600.0
    runbook_url: str | None = Field(
        default=None, description="template; {objective} and {service} are filled in")
    grafana_url: str = "http://localhost:3000"
    labels: dict[str, str] = Field(default_factory=dict)
    notify: Notify = Field(default_factory=Notify)

    _v_d = field_validator("scrape_interval", "evaluation_interval", "rate_window", "absent_for",
                           mode="before")(lambda cls, v: as_duration(v))

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not LABEL_RE.match(k)]
        if bad:
            raise PydanticCustomError("spec_value", "label names must match [a-zA-Z_][a-zA-Z0-9_]*:"
                                      " {bad}", {"bad": ", ".join(bad)})
        return v

    @field_validator("tiers")
    @classmethod
    def _unique(cls, v: list[BurnTier]) -> list[BurnTier]:
        names = [t.name for t in v]
        if len(set(names)) != len(names):
            raise PydanticCustomError("spec_value", "tier names must be unique")
        return v


class Defaults(StrictModel):
    """What every objective takes unless it writes its own: ``for``, ``window`` (of an
    objective with a target) and ``tiers``. Without this block: 5m, 30d and every enabled tier
    of ``alerting.tiers``."""

    for_: Duration | None = Field(default=None, alias="for", description="default `for` of "
                                  "every objective (built-in: 5m)")
    window: Duration | None = Field(default=None, description="default compliance window of "
                                    "objectives with a target (built-in: 30d)")
    tiers: list[TierChoice] | None = Field(default=None, description="default burn-rate tiers: "
                                           "names of alerting.tiers or overrides, as an "
                                           "objective's tiers")

    _v_d = field_validator("for_", "window", mode="before")(
        lambda cls, v: None if v is None else as_duration(v))

    @field_validator("window")
    @classmethod
    def _window(cls, v: float | None) -> float | None:
        if v is not None and v < 3600:
            raise PydanticCustomError("spec_value", "a compliance window shorter than 1h gives "
                                      "no useful budget; use e.g. 7d, 28d or 30d")
        return v

    def apply(self, o: Objective) -> None:
        """Fill in what ``o`` did not write itself."""
        if self.for_ is not None and "for_" not in o.model_fields_set:
            o.for_ = self.for_
        if self.window is not None and "window" not in o.model_fields_set:
            o.window = self.window
        if self.tiers is not None and o.tiers is None:
            o.tiers = list(self.tiers)


class Spec(StrictModel):
    """The whole ``slo.yaml``."""

    version: Literal[1] = 1
    service: str
    environment: str = "production"
    owner: str | None = None
    team: str | None = None
    models: list[ModelRef] = Field(min_length=1)
    sidecar: Sidecar = Field(default_factory=Sidecar)
    sdk: SDK = Field(default_factory=SDK)
    sources: Sources = Field(default_factory=Sources)
    drift: Drift = Field(default_factory=Drift)
    alerting: Alerting = Field(default_factory=Alerting)
    defaults: Defaults = Field(default_factory=Defaults)
    objectives: list[Objective] = Field(default_factory=list)

    @field_validator("service")
    @classmethod
    def _service(cls, v: str) -> str:
        return check_name(v, "a service name")

    @model_validator(mode="after")
    def _references(self) -> Spec:
        for o in self.objectives:          # first: every check below sees the final values
            self.defaults.apply(o)
        problems: list[tuple[str, str, Any]] = []
        seen: dict[str, int] = {}
        for i, m in enumerate(self.models):
            if m.name in seen:
                problems.append((f"models[{i}].name", f"model {m.name!r} is declared twice "
                                 f"(also models[{seen[m.name]}])", m.name))
            seen[m.name] = i
        models = {m.name: m for m in self.models}
        datasets = {d.name: d for d in self.sources.datasets}
        names: dict[str, int] = {}
        for i, o in enumerate(self.objectives):
            at = f"objectives[{i}]"
            if o.name in names:
                problems.append((f"{at}.name", f"objective {o.name!r} is declared twice "
                                 f"(also objectives[{names[o.name]}])", o.name))
            names[o.name] = i
            sel = o.selector
            if sel.model is not None and sel.model not in models:
                problems.append((f"{at}.selector.model", f"model {sel.model!r} is not declared; "
                                 f"declared models: {', '.join(models)} (add `- name: "
                                 f"{sel.model}` under models, or select one of them)", sel.model))
            model = models.get(sel.model) if sel.model else None
            if sel.version is not None:
                versions = {m.version for m in ([model] if model else self.models) if m.version}
                if versions and sel.version not in versions:
                    problems.append((f"{at}.selector.version", f"version {sel.version!r} is not "
                                     f"declared; declared versions: {', '.join(sorted(versions))}",
                                     sel.version))
            if sel.feature is not None and model is not None and model.features is not None \
                    and sel.feature not in model.features:
                problems.append((f"{at}.selector.feature", f"feature {sel.feature!r} is not a "
                                 f"feature of model {model.name!r}; declared: "
                                 f"{', '.join(model.features)}", sel.feature))
            if sel.dataset is not None:
                ds = datasets.get(sel.dataset)
                if ds is None:
                    allowed = ", ".join(datasets) or "none (add them under sources.datasets)"
                    problems.append((f"{at}.selector.dataset", f"dataset {sel.dataset!r} is not "
                                     f"declared; declared datasets: {allowed}", sel.dataset))
                elif sel.column is not None and ds.contract.columns \
                        and sel.column not in ds.contract.columns:
                    problems.append((f"{at}.selector.column", f"column {sel.column!r} is not in "
                                     f"the contract of dataset {ds.name!r}; declared: "
                                     f"{', '.join(ds.contract.columns)} (add `{sel.column}: "
                                     "<type>` under its contract.columns)", sel.column))
            if sel.scrape is not None:
                problems.extend(self._scrape_problems(o, f"{at}.selector.scrape"))
            if sel.objective is not None:
                problems.extend(self._detection_problems(sel.objective, f"{at}.selector.objective"))
            if o.signal.value.startswith("gpu_") and self.sources.gpu.mode == "off":
                problems.append((f"{at}.signal", "a GPU signal needs sources.gpu.mode auto or on",
                                 o.signal.value))
            problems.extend(self._tier_problems(o, at))
        self.drift._quantiles = tuple(sorted({
            q for o in self.objectives if o.selector.dataset is not None
            and (q := o.drift_calibration(self.drift.calibration)) is not None}))
        if problems:
            raise PydanticCustomError(
                "spec_problems", "{summary}",
                {"summary": "; ".join(f"{p}: {m}" for p, m, _ in problems), "problems": problems,
                 "absolute": True},
            )
        return self

    # -- helpers read by the SDK, sidecar and generators ----------------------------------
    def objective(self, name: str) -> Objective:
        for o in self.objectives:
            if o.name == name:
                return o
        raise KeyError(name)

    def latency_thresholds(self) -> list[float]:
        """Every absolute latency level the spec names: the SDK puts a bucket on each."""
        levels: set[float] = set()
        for o in self.objectives:
            if not o.info.quantile:       # histogram kinds: the SDK places the buckets
                continue
            for t in (o.warning_threshold, o.critical_threshold):
                if t is not None:
                    resolved = t.resolve(o.pinned_baseline)
                    if resolved is not None:
                        levels.add(resolved)
            if o.good_threshold is not None:
                levels.add(o.good_threshold)
        return sorted(levels)

    def drift_objectives(self) -> list[Objective]:
        """Drift objectives on the SDK's feature windows: their detection time is computable."""
        return [o for o in self.objectives
                if o.info.unit is Unit.EFFECT_SIZE
                and o.selector.dataset is None]

    def _detection_problems(self, name: str, at: str) -> list[tuple[str, str, Any]]:
        names = [o.name for o in self.drift_objectives()]
        if name in names:
            return []
        allowed = ", ".join(names) or "none (add a feature_drift or prediction_drift objective)"
        return [(at, f"{name!r} is not a drift objective on model features; drift objectives: "
                 f"{allowed}", name)]

    def scrape_target(self, name: str) -> ScrapeTarget | None:
        return next((t for t in self.sources.scrape if t.name == name), None)

    def _scrape_problems(self, o: Objective, at: str) -> list[tuple[str, str, Any]]:
        name = o.selector.scrape or ""
        target = self.scrape_target(name)
        if target is None:
            names = ", ".join(t.name for t in self.sources.scrape) or "none"
            return [(at, f"no scrape target named {name!r}; declared: {names}", name)]
        mapping = target.mappings().get(o.signal)
        if mapping is None:
            mapped = ", ".join(k.value for k in target.mappings()) or "nothing"
            return [(at, f"scrape target {name!r} maps no {o.signal.value!r} series; it maps "
                     f"{mapped} (add it under metrics:)", name)]
        if o.has_target and (mapping.sum is not None or (
                o.info.sli is SLIType.EVENTS and not mapping.is_ratio and not o.info.quantile)):
            return [(at, f"{o.signal.value!r} from {name!r} is a mean of counters; a target "
                     "needs events (a histogram or bad/total counters)", name)]
        return []

    def _tier_problems(self, o: Objective, at: str) -> list[tuple[str, str, Any]]:
        """Unknown or incomplete tier entries always; unsound windows only where they would be
        generated (an objective with a target)."""
        a = self.alerting
        _, chosen = chosen_tiers(a.tiers, o.tiers)
        out: list[tuple[str, str, Any]] = [
            (f"{at}.tiers[{i}]", f"objective {o.name!r}: {msg}", o.tiers[i] if o.tiers else None)
            for i, msg in chosen]
        if not o.has_target:
            return out
        fitted = fit_tiers(a.tiers, o.tiers, o.window, a.evaluation_interval, a.rate_window)
        out.extend((f"{at}.tiers", f"objective {o.name!r}: {msg}", None)
                   for msg in fitted.problems)
        return out

    def tiers_for(self, objective: Objective) -> list[TierWindows]:
        """The objective's burn-rate tiers, resolved against its window (see agent.spec.burn)."""
        if not objective.has_target:
            return []
        a = self.alerting
        return fit_tiers(a.tiers, objective.tiers, objective.window, a.evaluation_interval,
                         a.rate_window).tiers

    def tier_notes(self, objective: Objective) -> list[str]:
        """Default tiers widened or dropped to fit the objective's window (said, not refused)."""
        if not objective.has_target:
            return []
        a = self.alerting
        return fit_tiers(a.tiers, objective.tiers, objective.window, a.evaluation_interval,
                         a.rate_window).notes

