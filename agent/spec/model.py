"""The SLO spec (``slo.yaml``): one validated model that the SDK, sidecar and generators all read.

Field validators parse text quantities against the unit of the objective's signal kind, so an error
carries the exact field path. Checks that span fields or sections collect every problem and raise
them together as ``spec_problems`` (see :mod:`agent.spec.errors`): a user sees all at once.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from agent.spec.signals import SELECTOR_KEYS, SIGNALS, SignalKind, SLIType
from agent.spec.units import (
    Base,
    QuantityError,
    Threshold,
    Unit,
    parse_duration,
    parse_quantity,
    parse_threshold,
)

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,62}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# Text forms are accepted on input, so the published schema says so too.
Duration = Annotated[float, Field(ge=0), WithJsonSchema({
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
    "description": "a duration: seconds, or text like 250ms, 15s, 5m, 30d"})]
Ratio = Annotated[float, Field(ge=0, le=1), WithJsonSchema({
    "anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "string"}],
    "description": "a ratio 0-1, or a percentage like 1% or 99.9%"})]


def _problems(problems: list[tuple[str, str, Any]]) -> PydanticCustomError:
    """One error that carries several (sub-path, message, value) problems; expanded on report."""
    return PydanticCustomError(
        "spec_problems", "{summary}",
        {"summary": "; ".join(f"{p}: {m}" for p, m, _ in problems), "problems": problems},
    )


def _as_duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except QuantityError as exc:
        raise PydanticCustomError("spec_value", str(exc)) from None


def _as_ratio(value: Any) -> float:
    try:
        return parse_quantity(value, Unit.RATIO)
    except QuantityError as exc:
        raise PydanticCustomError("spec_value", str(exc)) from None


def _check_name(value: str, what: str) -> str:
    if not _NAME_RE.match(value):
        raise PydanticCustomError(
            "spec_value",
            "{what} must start with a letter and use only letters, digits, '_', '.', '-' "
            "(at most 63 characters)", {"what": what},
        )
    return value


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo must not silently disable a check."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


class ModelRef(StrictModel):
    """A model served by the service. ``features`` (optional) lets selectors be checked."""

    name: str
    version: str | None = None
    features: list[str] | None = None
    categorical: list[str] = Field(default_factory=list,
                                   description="features drift-tested with chi-square/PSI")
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v, "a model name")


class Webhook(StrictModel):
    url: Annotated[str, Field(pattern=r"^https?://")]
    timeout: Duration = 5.0
    _v_timeout = field_validator("timeout", mode="before")(lambda cls, v: _as_duration(v))


class Limits(StrictModel):
    """Caps that keep the sidecar's memory and CPU bounded whatever clients send."""

    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_batch: int = Field(default=20_000, ge=1)
    max_label_values: int = Field(default=1000, ge=1)
    max_features_per_model: int = Field(default=256, ge=1)


class Sidecar(StrictModel):
    listen: str = "127.0.0.1:9464"
    token_env: str | None = Field(
        default=None, description="name of the environment variable holding the bearer token")
    state_dir: str = ".slo-agent/state"
    interval: Duration = 15.0
    webhooks: list[Webhook] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)

    _v_interval = field_validator("interval", mode="before")(lambda cls, v: _as_duration(v))

    @model_validator(mode="before")
    @classmethod
    def _no_inline_token(cls, data: Any) -> Any:
        if isinstance(data, dict) and "token" in data:
            raise _problems([("token", "a token is never written in the spec; put it in an "
                              "environment variable and name that variable in token_env",
                              "<redacted>")])
        return data

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise PydanticCustomError(
                "spec_value", "expected HOST:PORT such as 127.0.0.1:9464 or [::1]:9464")
        return v

    @field_validator("token_env")
    @classmethod
    def _token_env(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_RE.match(v):
            raise PydanticCustomError(
                "spec_value", "expected an environment variable name such as SLO_AGENT_TOKEN")
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")


class SDK(StrictModel):
    """How the decorators sample and ship; read by the SDK in the inference process."""

    sample_rate: Ratio = 1.0
    max_features: int = Field(default=64, ge=0)
    queue_size: int = Field(default=10_000, ge=1)
    batch_size: int = Field(default=500, ge=1)
    flush_interval: Duration = 1.0
    max_label_values: int = Field(default=200, ge=1)
    otel: bool | None = Field(default=None, description="None: on when OTEL_* variables say so")
    extra_buckets: list[float] = Field(default_factory=list)

    _v_rate = field_validator("sample_rate", mode="before")(lambda cls, v: _as_ratio(v))
    _v_flush = field_validator("flush_interval", mode="before")(lambda cls, v: _as_duration(v))


class ScrapeTarget(StrictModel):
    """An existing exposition whose metrics map onto signal kinds (e.g. a model server's queue)."""

    name: str
    url: Annotated[str, Field(pattern=r"^https?://")]
    interval: Duration = 15.0
    timeout: Duration = 5.0
    metrics: dict[SignalKind, str] = Field(default_factory=dict)

    _v_d = field_validator("interval", "timeout", mode="before")(lambda cls, v: _as_duration(v))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v, "a scrape target name")


class GPU(StrictModel):
    mode: Literal["auto", "on", "off"] = "auto"
    devices: list[int | str] = Field(default_factory=list,
                                     description="indexes or UUIDs; empty=all")
    interval: Duration = 5.0
    dcgm_compat: bool = True

    _v_interval = field_validator("interval", mode="before")(lambda cls, v: _as_duration(v))


ColumnType = Literal["int", "float", "string", "bool", "datetime", "category"]


class Range(StrictModel):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _order(self) -> Range:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _problems([("max", f"max ({self.max}) is below min ({self.min})", self.max)])
        return self


class Freshness(StrictModel):
    column: str | None = Field(default=None, description="event-time column; None: file mtime "
                                                         "or the last mark_fresh()")
    max_lag: Duration = 3600.0
    _v_lag = field_validator("max_lag", mode="before")(lambda cls, v: _as_duration(v))


class Contract(StrictModel):
    """What a dataset promises: the native checks and the great-expectations suite both read it."""

    columns: dict[str, ColumnType] = Field(default_factory=dict)
    allow_extra_columns: bool = True
    max_null_ratio: dict[str, Ratio] = Field(default_factory=dict)
    ranges: dict[str, Range] = Field(default_factory=dict)
    freshness: Freshness | None = None

    @field_validator("max_null_ratio", mode="before")
    @classmethod
    def _ratios(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: _as_ratio(x) for k, x in v.items()}
        return v

    @model_validator(mode="after")
    def _known_columns(self) -> Contract:
        if not self.columns:
            return self
        problems = [
            (f"{section}.{col}", f"column {col!r} is not in columns; declared: "
             f"{', '.join(sorted(self.columns))}", col)
            for section, cols in (("max_null_ratio", self.max_null_ratio), ("ranges", self.ranges))
            for col in cols if col not in self.columns
        ]
        if self.freshness and self.freshness.column and self.freshness.column not in self.columns:
            problems.append(("freshness.column", f"column {self.freshness.column!r} is not in "
                             "columns", self.freshness.column))
        if problems:
            raise _problems(problems)
        return self


class Dataset(StrictModel):
    name: str
    path: str | None = Field(default=None, description="CSV or Parquet file polled for checks")
    reference: str | None = Field(default=None, description="CSV or Parquet reference for drift")
    format: Literal["auto", "csv", "parquet"] = "auto"
    poll_interval: Duration = 60.0
    contract: Contract = Field(default_factory=Contract)

    _v_poll = field_validator("poll_interval", mode="before")(lambda cls, v: _as_duration(v))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v, "a dataset name")


class Sources(StrictModel):
    scrape: list[ScrapeTarget] = Field(default_factory=list)
    gpu: GPU = Field(default_factory=GPU)
    datasets: list[Dataset] = Field(default_factory=list)


class Drift(StrictModel):
    """How drift windows are built and tested; thresholds on effect size live on objectives."""

    reference: Literal["first_window", "rolling", "file"] = "first_window"
    reference_size: int = Field(default=5000, ge=10)
    window_size: int = Field(default=2000, ge=10)
    min_samples: int = Field(default=200, ge=5)
    alpha: float = Field(default=0.01, gt=0, lt=1)
    correction: Literal["bh", "bonferroni", "none"] = "bh"


class BurnTier(StrictModel):
    """A multi-window burn-rate tier: fires when ``budget_share`` would be spent in ``long``."""

    name: str
    budget_share: Ratio
    long: Duration
    short: Duration
    severity: Literal["critical", "warning"]
    enabled: bool = True

    _v_share = field_validator("budget_share", mode="before")(lambda cls, v: _as_ratio(v))
    _v_d = field_validator("long", "short", mode="before")(lambda cls, v: _as_duration(v))

    @model_validator(mode="after")
    def _short_below_long(self) -> BurnTier:
        if self.short >= self.long:
            raise _problems([("short", "the short window must be shorter than the long one",
                              self.short)])
        return self

    def factor(self, period: float) -> float:
        """Burn-rate factor for a compliance period: budget_share × period / long window."""
        return self.budget_share * period / self.long


def _default_tiers() -> list[BurnTier]:
    """The SRE Workbook's tiers; for 30 days they give factors 14.4, 6, 3 and 1."""
    return [
        BurnTier(name="page-fast", budget_share=0.02, long=3600, short=300, severity="critical"),
        BurnTier(name="page-slow", budget_share=0.05, long=6 * 3600, short=1800,
                 severity="critical"),
        BurnTier(name="ticket-fast", budget_share=0.10, long=86400, short=7200,
                 severity="warning"),
        BurnTier(name="ticket-slow", budget_share=0.10, long=3 * 86400, short=6 * 3600,
                 severity="warning"),
    ]


class Alerting(StrictModel):
    tiers: list[BurnTier] = Field(default_factory=_default_tiers)
    min_request_rate: float | None = Field(
        default=None, ge=0, description="opt-in low-traffic guard, requests per second")
    scrape_interval: Duration = 30.0
    evaluation_interval: Duration = 30.0
    rate_window: Duration = Field(default=300.0, description="window of rates and of the SLI step")
    absent_for: Duration = 600.0
    runbook_url: str | None = Field(
        default=None, description="template; {objective} and {service} are filled in")
    grafana_url: str = "http://localhost:3000"
    labels: dict[str, str] = Field(default_factory=dict)

    _v_d = field_validator("scrape_interval", "evaluation_interval", "rate_window", "absent_for",
                           mode="before")(lambda cls, v: _as_duration(v))

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not _LABEL_RE.match(k)]
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


class Selector(StrictModel):
    model: str | None = None
    version: str | None = None
    feature: str | None = None
    column: str | None = None
    dataset: str | None = None
    gpu: str | None = None
    queue: str | None = None

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpu(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    def items(self) -> list[tuple[str, str]]:
        return [(k, v) for k in SELECTOR_KEYS if (v := getattr(self, k)) is not None]


def parse_quantile(value: Any) -> float:
    """0.95, ``p95``, ``p99.9`` or ``95%`` → 0.95 / 0.999 / 0.95."""
    if isinstance(value, bool):
        raise QuantityError("expected a quantile such as p95, 0.99 or 99%")
    if isinstance(value, (int, float)):
        q = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            if text.startswith("p"):
                q = float(text[1:]) / 100.0
            elif text.endswith("%"):
                q = float(text[:-1]) / 100.0
            else:
                q = float(text)
        except ValueError:
            raise QuantityError("expected a quantile such as p95, 0.99 or 99%") from None
    else:
        raise QuantityError("expected a quantile such as p95, 0.99 or 99%")
    if not (math.isfinite(q) and 0.0 < q < 1.0):
        raise QuantityError("a quantile must lie strictly between 0 and 1 (p0 < q < p100)")
    return q


class Objective(StrictModel):
    """One watched signal: thresholds, a ``for`` duration, and optionally an error-budget target."""

    name: str
    signal: SignalKind
    quantile: Annotated[float | None, WithJsonSchema({
        "anyOf": [{"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                  {"type": "string"}, {"type": "null"}],
        "description": "p95, p99.9, 0.99 or 99%"})] = None
    selector: Selector = Field(default_factory=Selector)
    warning: str | float | None = None
    critical: str | float | None = None
    for_: Duration = Field(default=300.0, alias="for")
    hysteresis: Ratio = Field(default=0.05, description="fraction of the threshold a value must "
                                                        "recover by before a state clears")
    baseline: str | float | None = Field(default=None, description="pins the baseline")
    budget: str | float | None = Field(default=None, description="daily budget in USD")
    objective: Ratio | None = Field(default=None, description="target, e.g. 99.9%")
    window: Duration = 30 * 86400.0
    sli_threshold: str | float | None = Field(
        default=None, description="what counts as good for a target; default: the warning level")
    tiers: list[str] | None = Field(default=None, description="burn-rate tiers to use; None: all")
    description: str | None = None
    runbook: str | None = None
    owner: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    _warning: Threshold | None = PrivateAttr(default=None)
    _critical: Threshold | None = PrivateAttr(default=None)
    _baseline: float | None = PrivateAttr(default=None)
    _budget: float | None = PrivateAttr(default=None)
    _sli_threshold: float | None = PrivateAttr(default=None)

    _v_d = field_validator("for_", "window", mode="before")(lambda cls, v: _as_duration(v))
    _v_r = field_validator("objective", "hysteresis", mode="before")(
        lambda cls, v: None if v is None else _as_ratio(v))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v, "an objective name")

    @field_validator("quantile", mode="before")
    @classmethod
    def _quantile(cls, v: Any) -> float | None:
        if v is None:
            return None
        try:
            return parse_quantile(v)
        except QuantityError as exc:
            raise PydanticCustomError("spec_value", str(exc)) from None

    @field_validator("warning", "critical", "baseline", "sli_threshold", mode="after")
    @classmethod
    def _parse_level(cls, v: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("signal")
        if v is None or kind is None:
            return v
        unit = SIGNALS[kind].unit
        try:
            if info.field_name in ("warning", "critical"):
                default_base = Base.BUDGET if kind is SignalKind.DAILY_SPEND else Base.BASELINE
                parse_threshold(v, unit, default_base)
            else:
                parse_quantity(v, unit)
        except QuantityError as exc:
            raise PydanticCustomError("spec_value", str(exc)) from None
        return v

    @field_validator("budget", mode="after")
    @classmethod
    def _parse_budget(cls, v: Any) -> Any:
        if v is not None:
            try:
                parse_quantity(v, Unit.USD)
            except QuantityError as exc:
                raise PydanticCustomError("spec_value", str(exc)) from None
        return v

    @model_validator(mode="after")
    def _resolve(self) -> Objective:
        info = SIGNALS[self.signal]
        problems: list[tuple[str, str, Any]] = []
        if info.quantile:
            if self.quantile is None:
                self.quantile = 0.95
        elif self.quantile is not None:
            problems.append(("quantile", f"signal {self.signal.value!r} takes no quantile; only "
                             + ", ".join(k.value for k, s in SIGNALS.items() if s.quantile)
                             + " do", self.quantile))
        for key, value in self.selector.items():
            if key not in info.selectors:
                allowed = ", ".join(info.selectors) or "none"
                problems.append((f"selector.{key}", f"signal {self.signal.value!r} cannot be "
                                 f"selected by {key}; allowed selector keys: {allowed}", value))
        for key in info.required:
            if getattr(self.selector, key) is None:
                problems.append((f"selector.{key}", f"signal {self.signal.value!r} needs "
                                 f"selector.{key}", None))
        default_base = Base.BUDGET if self.signal is SignalKind.DAILY_SPEND else Base.BASELINE
        levels: dict[str, Threshold | None] = {}
        for field in ("warning", "critical"):
            raw = getattr(self, field)
            if raw is None:
                raw = getattr(info, f"default_{field}")
            levels[field] = parse_threshold(raw, info.unit, default_base) if raw is not None \
                else None
        self._warning, self._critical = levels["warning"], levels["critical"]
        if self._warning is None and self._critical is None:
            problems.append(("warning", f"signal {self.signal.value!r} has no default thresholds;"
                             " give warning and/or critical", None))
        self._baseline = None if self.baseline is None else parse_quantity(self.baseline, info.unit)
        self._budget = None if self.budget is None else parse_quantity(self.budget, Unit.USD)
        for field, level in levels.items():
            if level is None or level.base is None:
                continue
            if level.base is Base.BASELINE and not info.learnable and self._baseline is None:
                problems.append((field, f"{level.raw!r} is relative to a baseline, but the "
                                 f"baseline of {self.signal.value!r} cannot be learned; pin one "
                                 "with 'baseline:' or give an absolute threshold", level.raw))
            if level.base is Base.BUDGET and self._budget is None:
                problems.append((field, f"{level.raw!r} is relative to a budget; set 'budget:' "
                                 "(US dollars per day) or give an absolute threshold", level.raw))
            if level.base is Base.BUDGET and info.unit is not Unit.USD:
                problems.append((field, f"signal {self.signal.value!r} is not money; only "
                                 "cost_per_1k and daily_spend take '% budget'", level.raw))
        w, c = self._warning, self._critical
        if w is not None and c is not None and w.base == c.base:
            laxer = c.value < w.value if info.higher_is_worse else c.value > w.value
            if laxer:
                way = "above" if info.higher_is_worse else "below"
                problems.append(("critical", f"critical ({c.raw}) is laxer than warning ({w.raw});"
                                 f" for {self.signal.value!r} critical must be at or {way} "
                                 "warning", c.raw))
        if self.objective is not None:
            problems.extend(self._resolve_target(info))
        elif self.sli_threshold is not None:
            problems.append(("sli_threshold", "sli_threshold only applies with an objective "
                             "target (objective: 99.9%)", self.sli_threshold))
        if problems:
            raise _problems(problems)
        return self

    def _resolve_target(self, info: Any) -> list[tuple[str, str, Any]]:
        problems: list[tuple[str, str, Any]] = []
        assert self.objective is not None
        if not 0.0 < self.objective < 1.0:
            problems.append(("objective", "a target must lie strictly between 0% and 100%",
                             self.objective))
        if self.window < 3600:
            problems.append(("window", "a compliance window shorter than 1h gives no useful "
                             "budget; use e.g. 7d, 28d or 30d", self.window))
        needs_level = not (info.sli is SLIType.EVENTS and info.unit is Unit.RATIO)
        if needs_level:
            if self.sli_threshold is not None:
                self._sli_threshold = parse_quantity(self.sli_threshold, info.unit)
            else:
                for level in (self._warning, self._critical):
                    if level is None:
                        continue
                    base = {None: 1.0, Base.BUDGET: self._budget,
                            Base.BASELINE: self._baseline}[level.base]
                    if base is not None:
                        self._sli_threshold = level.value * base
                        break
            if self._sli_threshold is None:
                problems.append(("sli_threshold", "a target on this signal needs an absolute level"
                                 " that separates good from bad; set sli_threshold (e.g. 500ms)",
                                 None))
        return problems

    # -- resolved views -------------------------------------------------------------------
    @property
    def info(self) -> Any:
        return SIGNALS[self.signal]

    @property
    def warning_threshold(self) -> Threshold | None:
        return self._warning

    @property
    def critical_threshold(self) -> Threshold | None:
        return self._critical

    @property
    def pinned_baseline(self) -> float | None:
        return self._baseline

    @property
    def daily_budget(self) -> float | None:
        return self._budget

    @property
    def good_threshold(self) -> float | None:
        """The level separating good from bad events/slices for a target (None for pure ratios)."""
        return self._sli_threshold

    @property
    def has_target(self) -> bool:
        return self.objective is not None

    @property
    def error_budget(self) -> float:
        return 1.0 - (self.objective if self.objective is not None else 1.0)


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
    objectives: list[Objective] = Field(default_factory=list)

    @field_validator("service")
    @classmethod
    def _service(cls, v: str) -> str:
        return _check_name(v, "a service name")

    @model_validator(mode="after")
    def _references(self) -> Spec:
        problems: list[tuple[str, str, Any]] = []
        seen: dict[str, int] = {}
        for i, m in enumerate(self.models):
            if m.name in seen:
                problems.append((f"models[{i}].name", f"model {m.name!r} is declared twice "
                                 f"(also models[{seen[m.name]}])", m.name))
            seen[m.name] = i
        models = {m.name: m for m in self.models}
        datasets = {d.name: d for d in self.sources.datasets}
        tiers = {t.name for t in self.alerting.tiers}
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
                                 f"declared models: {', '.join(models)}", sel.model))
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
                                     f"{', '.join(ds.contract.columns)}", sel.column))
            if o.signal.value.startswith("gpu_") and self.sources.gpu.mode == "off":
                problems.append((f"{at}.signal", "a GPU signal needs sources.gpu.mode auto or on",
                                 o.signal.value))
            for j, t in enumerate(o.tiers or []):
                if t not in tiers:
                    problems.append((f"{at}.tiers[{j}]", f"unknown burn-rate tier {t!r}; "
                                     f"defined tiers: {', '.join(sorted(tiers))}", t))
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
            if o.signal not in (SignalKind.LATENCY, SignalKind.TTFT, SignalKind.QUEUE_WAIT):
                continue
            for t in (o.warning_threshold, o.critical_threshold):
                if t is not None:
                    resolved = t.resolve(o.pinned_baseline)
                    if resolved is not None:
                        levels.add(resolved)
            if o.good_threshold is not None:
                levels.add(o.good_threshold)
        return sorted(levels)

    def tiers_for(self, objective: Objective) -> list[BurnTier]:
        chosen = [t for t in self.alerting.tiers if t.enabled]
        if objective.tiers is not None:
            chosen = [t for t in chosen if t.name in objective.tiers]
        return chosen
