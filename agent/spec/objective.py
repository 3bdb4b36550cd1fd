"""One objective: the watched signal, its warning/critical levels and an optional error-budget
target. Levels are parsed against the unit of the signal kind, so errors name the exact field."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import (
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from agent.spec.burn import TierChoice
from agent.spec.custom import CustomSLI
from agent.spec.fields import (
    Duration,
    Ratio,
    StrictModel,
    as_duration,
    as_ratio,
    check_name,
    problems_error,
)
from agent.spec.signals import (
    SELECTOR_KEYS,
    SIGNALS,
    SignalInfo,
    SignalKind,
    SLIType,
    signal_json_schema,
)
from agent.units import (
    Base,
    QuantityError,
    Threshold,
    Unit,
    needs_unit,
    parse_quantity,
    parse_threshold,
)

ALERT_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class Selector(StrictModel):
    model: str | None = None
    version: str | None = None
    feature: str | None = None
    column: str | None = None
    dataset: str | None = None
    gpu: str | None = None
    queue: str | None = None
    job: str | None = None
    cache: str | None = None
    breaker: str | None = None
    objective: str | None = Field(default=None, description="drift_detection_time: the drift "
                                  "objective whose detection time is watched")
    scrape: str | None = Field(default=None, description="a scrape target (sources.scrape) "
                               "whose own series this objective reads, e.g. a vLLM preset")

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


def as_quantile(value: Any) -> float | None:
    """A quantile field's value, or a spec error naming the field (drift calibration)."""
    if value is None:
        return None
    try:
        return parse_quantile(value)
    except QuantityError as exc:
        raise PydanticCustomError("spec_value", str(exc)) from None


class Objective(StrictModel):
    """One watched signal: thresholds, a ``for`` duration, and optionally an error-budget target."""

    name: str
    signal: Annotated[SignalKind, WithJsonSchema(signal_json_schema())]
    quantile: Annotated[float | None, WithJsonSchema({
        "anyOf": [{"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                  {"type": "string"}, {"type": "null"}],
        "description": "p95, p99.9, 0.99 or 99%"})] = None
    selector: Selector = Field(default_factory=Selector)
    custom: CustomSLI | None = Field(default=None, description="signal custom: the SLI's "
                                     "queries and/or SDK metric, unit and direction")
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
    alpha: float | None = Field(default=None, gt=0, lt=1, description="drift objectives: "
                                "significance level (adjusted p-value); default drift.alpha")
    calibration: Annotated[float | None, WithJsonSchema({
        "anyOf": [{"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                  {"type": "string"}, {"type": "null"}],
        "description": "drift objectives: quantile of the calibrated per-column threshold "
                       "(default drift.calibration); give it or a fixed warning, not both"})] = None
    tiers: list[TierChoice] | None = Field(
        default=None, description="burn-rate tiers for this objective: names of alerting.tiers, "
        "or {name: ..., <fields to change>} to override one (windows, budget_share, severity, "
        "enabled: false) or to define a tier of its own; None: every enabled tier")
    description: str | None = None
    runbook: str | None = None
    owner: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    alert_name: str | None = Field(default=None, description="name of the burn-rate alerts "
                                   "(Sloth's alerting.name); default: from the objective name")
    annotations: dict[str, str] = Field(default_factory=dict, description="extra annotations on "
                                        "every alert of this objective")
    no_data_alert: bool = Field(default=True, description="alert when the SLI's series are "
                                "absent (alerting.absent_for)")

    _warning: Threshold | None = PrivateAttr(default=None)
    _critical: Threshold | None = PrivateAttr(default=None)
    _baseline: float | None = PrivateAttr(default=None)
    _budget: float | None = PrivateAttr(default=None)
    _sli_threshold: float | None = PrivateAttr(default=None)

    _v_d = field_validator("for_", "window", mode="before")(lambda cls, v: as_duration(v))
    _v_r = field_validator("objective", "hysteresis", mode="before")(
        lambda cls, v: None if v is None else as_ratio(v))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "an objective name")

    _v_cal = field_validator("calibration", mode="before")(lambda cls, v: as_quantile(v))

    @field_validator("alert_name")
    @classmethod
    def _alert_name(cls, v: str | None) -> str | None:
        if v is not None and not ALERT_NAME_RE.match(v):
            raise PydanticCustomError("spec_value", "an alert name such as MyServiceHighErrorRate"
                                      " ([a-zA-Z_:][a-zA-Z0-9_:]*)")
        return v

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
        custom = info.data.get("custom")
        if kind is SignalKind.CUSTOM and custom is None:
            return v        # the custom block itself is wrong (reported) or missing
        unit = custom.unit if kind is SignalKind.CUSTOM and custom is not None \
            else SIGNALS[kind].unit
        try:
            needs_unit(v, unit)
            if info.field_name in ("warning", "critical"):
                default_base = SIGNALS[kind].relative_to
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
        problems: list[tuple[str, str, Any]] = []
        if self.signal is SignalKind.CUSTOM and self.custom is None:
            raise problems_error([("custom", "signal 'custom' needs custom: with a query "
                                   "(value, or bad/good with total) or an SDK metric (gauge or "
                                   "counter)", None)])
        if self.custom is not None and self.signal is not SignalKind.CUSTOM:
            problems.append(("custom", f"custom: applies to signal 'custom' only, not "
                             f"{self.signal.value!r}", None))
        info = self.info
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
        sel = self.selector
        if sel.dataset is not None and (sel.model or sel.version or sel.feature):
            problems.append(("selector.dataset", "select a dataset (with column) or a model (with "
                             "version, feature), not both", sel.dataset))
        if sel.column is not None and sel.dataset is None and "column" in info.selectors:
            problems.append(("selector.column", "selector.column needs selector.dataset",
                             sel.column))
        drift = info.unit is Unit.EFFECT_SIZE
        if self.alpha is not None and not drift:
            problems.append(("alpha", "alpha applies to feature_drift and prediction_drift only",
                             self.alpha))
        if self.calibration is not None and not drift:
            problems.append(("calibration", "calibration applies to feature_drift and "
                             "prediction_drift only", self.calibration))
        elif self.calibration is not None and self.warning is not None:
            problems.append(("calibration", "give calibration (a per-column threshold "
                             "calibrated on the reference) or warning (one fixed effect floor), "
                             "not both", self.calibration))
        for key in info.required:
            if getattr(self.selector, key) is None:
                problems.append((f"selector.{key}", f"signal {self.signal.value!r} needs "
                                 f"selector.{key}", None))
        default_base = info.relative_to
        levels: dict[str, Threshold | None] = {}
        for field in ("warning", "critical"):
            raw = getattr(self, field)
            if raw is None:
                raw = getattr(info, f"default_{field}")
            levels[field] = parse_threshold(raw, info.unit, default_base) if raw is not None \
                else None
        self._warning, self._critical = levels["warning"], levels["critical"]
        if self._warning is None and self._critical is None and self.objective is None:
            # a target alone is a whole objective: burn-rate tiers alert on it
            problems.append(("warning", f"signal {self.signal.value!r} has no default thresholds;"
                             " give warning and/or critical, or an objective target", None))
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
            raise problems_error(problems)
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
    def info(self) -> SignalInfo:
        if self.custom is not None and self.signal is SignalKind.CUSTOM:
            return self.custom.signal_info()
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

    def drift_calibration(self, default: float | None) -> float | None:
        """The quantile a drift objective's columns are calibrated at; None when it judges by
        its fixed floor (an explicit ``warning``, or ``drift.calibration: null``)."""
        if self.info.unit is not Unit.EFFECT_SIZE:
            return None
        if self.calibration is not None:
            return self.calibration
        return None if self.warning is not None else default

    @property
    def has_target(self) -> bool:
        return self.objective is not None

    @property
    def error_budget(self) -> float:
        return 1.0 - (self.objective if self.objective is not None else 1.0)
