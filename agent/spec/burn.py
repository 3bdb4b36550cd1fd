"""Burn-rate tiers: the one place that turns an objective's compliance window into alert windows
and factors. The rule generator, the sidecar's ``/status``, ``slo-agent tiers`` and the docs all
read :func:`resolve_tiers`.

Windows scale with the compliance window (as Pyrra scales from its 28d base), so each tier keeps
the SRE Workbook's factor whatever the window: a tier that spends ``budget_share`` of the budget in
``window × window_fraction`` fires when both its windows burn faster than its threshold,
``factor = budget_share / window_fraction`` (14.4 / 6 / 3 / 1 for the defaults). The factor is a
threshold, not a measurement: what an alert reports is the burn it measured. The long window is
rounded to the rule evaluation interval; the short window is 1/12 of the long one, rounded
likewise and never shorter than the SLI step (``alerting.rate_window``), the finest resolution at
which the error ratio is recorded. A tier may pin absolute ``long`` / ``short`` windows instead;
its factor is then ``budget_share × window / long``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from agent.spec.fields import Duration, Ratio, StrictModel, as_duration, as_ratio, problems_error
from agent.units import format_duration

SHORT_DIVISOR = 12          # the Workbook's short window: 1/12 of the long one
MIN_EVALUATIONS = 4         # a window must span this many rule evaluations to mean anything
MIN_LONG_STEPS = 2          # a widened tier's long window holds at least this many SLI steps

WindowFraction = Annotated[float, Field(gt=0, le=1), WithJsonSchema({
    "anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 1}, {"type": "string"}],
    "description": "long window as a share of the objective's window: 1/720, 6/720, 1/30, 0.1"})]


def parse_fraction(value: Any) -> float:
    """``1/720``, ``0.1`` or ``10%`` → a float in (0, 1]."""
    if isinstance(value, str) and "/" in value:
        try:
            f = Fraction(value.replace(" ", ""))
        except (ValueError, ZeroDivisionError):
            raise PydanticCustomError(
                "spec_value", "expected a fraction such as 1/720, 0.1 or 10%") from None
        return float(f)
    return as_ratio(value)


class BurnTier(StrictModel):
    """A multi-window burn-rate tier: fires when ``budget_share`` of the error budget would be
    spent within its long window (a ``window_fraction`` of the objective's window, or ``long``)."""

    name: str
    budget_share: Ratio
    severity: Literal["critical", "warning"]
    window_fraction: WindowFraction | None = None
    long: Duration | None = Field(default=None, description="absolute long window; overrides "
                                                            "window_fraction")
    short: Duration | None = Field(default=None, description="absolute short window; default: "
                                                             "1/12 of the long window")
    enabled: bool = True
    for_: Duration = Field(default=0.0, alias="for", description="how long the burn must last "
                           "before the alert fires (Sloth's page_alert.for)")
    labels: dict[str, str] = Field(default_factory=dict, description="labels of this tier's "
                                   "alert (e.g. a routing key); they win over slo-agent's own")
    annotations: dict[str, str] = Field(default_factory=dict)

    _v_for = field_validator("for_", mode="before")(lambda cls, v: as_duration(v))
    _v_share = field_validator("budget_share", mode="before")(lambda cls, v: as_ratio(v))
    _v_frac = field_validator("window_fraction", mode="before")(
        lambda cls, v: None if v is None else parse_fraction(v))
    _v_d = field_validator("long", "short", mode="before")(
        lambda cls, v: None if v is None else as_duration(v))

    @model_validator(mode="after")
    def _complete(self) -> BurnTier:
        problems: list[tuple[str, str, Any]] = []
        if self.window_fraction is None and self.long is None:
            problems.append(("window_fraction", "a tier needs window_fraction (e.g. 1/720) or an "
                             "absolute long window (e.g. 1h)", None))
        if self.long is not None and self.short is not None and self.short >= self.long:
            problems.append(("short", "the short window must be shorter than the long one",
                             self.short))
        if problems:
            raise problems_error(problems)
        return self


class TierOverride(StrictModel):
    """Per-objective change of a tier: any field given replaces the shared tier's; a new name
    defines a tier for this objective alone (then budget_share, severity and a window are needed).
    """

    name: str
    budget_share: Ratio | None = None
    severity: Literal["critical", "warning"] | None = None
    window_fraction: WindowFraction | None = None
    long: Duration | None = None
    short: Duration | None = None
    enabled: bool | None = None
    for_: Duration | None = Field(default=None, alias="for")
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None

    _v_for = field_validator("for_", mode="before")(
        lambda cls, v: None if v is None else as_duration(v))

    _v_share = field_validator("budget_share", mode="before")(
        lambda cls, v: None if v is None else as_ratio(v))
    _v_frac = field_validator("window_fraction", mode="before")(
        lambda cls, v: None if v is None else parse_fraction(v))
    _v_d = field_validator("long", "short", mode="before")(
        lambda cls, v: None if v is None else as_duration(v))


TierChoice = str | TierOverride


def default_tiers() -> list[BurnTier]:
    """The SRE Workbook's tiers, as shares of the objective's window (1h/6h/1d/3d of 30 days)."""
    return [
        BurnTier(name="page-fast", budget_share=0.02, window_fraction=1 / 720,
                 severity="critical"),
        BurnTier(name="page-slow", budget_share=0.05, window_fraction=6 / 720,
                 severity="critical"),
        BurnTier(name="ticket-fast", budget_share=0.10, window_fraction=1 / 30,
                 severity="warning"),
        BurnTier(name="ticket-slow", budget_share=0.10, window_fraction=1 / 10,
                 severity="warning"),
    ]


@dataclass(frozen=True)
class TierWindows:
    """One tier resolved for one objective: what the rules, the sidecar and the docs show.
    ``factor`` is the tier's burn threshold: it fires while both windows burn faster."""

    name: str
    severity: str
    budget_share: float
    long: float
    short: float
    factor: float
    period: float
    for_: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def exhaustion(self) -> float:
        """Seconds a whole budget lasts at exactly the threshold burn (the slowest burn that
        fires the tier), not at any measured one."""
        return self.period / self.factor

    def describe(self) -> str:
        """``page-fast fires above a 14.4x burn in 1h and 5m (2% of the budget in 1h)``."""
        long_w = format_duration(self.long)
        return (f"{self.name} fires above a {self.factor:g}x burn in {long_w} and "
                f"{format_duration(self.short)} ({self.budget_share * 100:g}% of the budget in "
                f"{long_w})")

    def as_dict(self) -> dict[str, Any]:
        """``factor`` is the burn threshold; ``exhaustion``: how long a whole budget lasts at
        that threshold burn."""
        return {"name": self.name, "severity": self.severity, "budget_share": self.budget_share,
                "long_window": format_duration(self.long),
                "short_window": format_duration(self.short), "factor": self.factor,
                "burn_threshold": f"{self.factor:g}x",
                "exhaustion": format_duration(self.exhaustion),
                "meaning": self.describe()}


def round_to(seconds: float, step: float) -> float:
    if step <= 0:
        return seconds
    return max(step, round(seconds / step) * step)


def _merge(base: BurnTier | None, o: TierOverride) -> dict[str, Any]:
    fields = base.model_dump() if base is not None else {"name": o.name, "enabled": True}
    given = o.model_dump(exclude_none=True)
    if "for_" in fields and "for_" in given:
        fields["for_"] = given.pop("for_")
    if base is not None and ("long" in given or "window_fraction" in given):
        # a new window replaces both ways of giving one, and the short window derived from it
        for key in ("long", "window_fraction", "short"):
            fields[key] = None
    fields.update(given)
    return fields


def chosen_tiers(shared: Sequence[BurnTier], choice: Sequence[TierChoice] | None
                 ) -> tuple[list[BurnTier], list[tuple[int, str]]]:
    """The tiers an objective uses (enabled only) and any problems with its ``tiers`` list, each
    with the index of the entry at fault."""
    by_name = {t.name: t for t in shared}
    if choice is None:
        return [t for t in shared if t.enabled], []
    out: list[BurnTier] = []
    problems: list[tuple[int, str]] = []
    for i, item in enumerate(choice):
        if isinstance(item, str):
            tier = by_name.get(item)
            if tier is None:
                problems.append((i, f"unknown burn-rate tier {item!r}; defined tiers: "
                                    f"{', '.join(sorted(by_name))}"))
                continue
        else:
            fields = _merge(by_name.get(item.name), item)
            try:
                tier = BurnTier.model_validate(fields)
            except Exception as exc:   # pydantic's ValidationError, reported on this path
                problems.append((i, f"tier {item.name!r} is incomplete or invalid: "
                                    f"{_first_error(exc)}"))
                continue
        if tier.enabled:
            out.append(tier)
    return out, problems


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        items = errors()
        if items:
            loc = ".".join(str(x) for x in items[0].get("loc", ()))
            return f"{loc}: {items[0].get('msg')}" if loc else str(items[0].get("msg"))
    return str(exc)


def resolve_tier(tier: BurnTier, period: float, evaluation_interval: float, step: float
                 ) -> TierWindows:
    """Windows and factor of one tier for an objective whose compliance window is ``period``."""
    if tier.long is not None:
        long = tier.long
        factor = tier.budget_share * period / long
    else:
        assert tier.window_fraction is not None
        long = round_to(period * tier.window_fraction, evaluation_interval)
        factor = tier.budget_share / tier.window_fraction
    if tier.short is not None:
        short = tier.short
    else:
        short = max(round_to(long / SHORT_DIVISOR, evaluation_interval), step)
    return TierWindows(tier.name, tier.severity, tier.budget_share, long, short,
                       float(f"{factor:.10g}"), period, tier.for_, dict(tier.labels),
                       dict(tier.annotations))


def tier_problems(t: TierWindows, evaluation_interval: float, step: float) -> list[str]:
    """Why a resolved tier cannot be generated; empty when it is sound."""
    out = []
    fmt = format_duration
    if t.long > t.period:
        out.append(f"burn tier {t.name!r}: its long window {fmt(t.long)} exceeds the "
                   f"objective's {fmt(t.period)} window")
    if t.factor < 1.0:
        out.append(f"burn tier {t.name!r}: factor {t.factor:g} is below 1, so it would alert "
                   "while the budget is spent slower than sustainable; raise budget_share or "
                   "shorten the window")
    floor = MIN_EVALUATIONS * evaluation_interval
    if t.long < floor:
        out.append(f"burn tier {t.name!r}: its long window {fmt(t.long)} is under "
                   f"{MIN_EVALUATIONS} evaluation intervals ({fmt(floor)}"
                   f" at alerting.evaluation_interval {fmt(evaluation_interval)}); disable the tier"
                   " for this objective (tiers: [...]) or lower the evaluation interval")
    if t.short < step:
        out.append(f"burn tier {t.name!r}: its short window {fmt(t.short)} is under the SLI step "
                   f"(alerting.rate_window {fmt(step)}), the finest resolution of the error ratio")
    elif t.short >= t.long:
        out.append(f"burn tier {t.name!r}: its short window {fmt(t.short)} is not shorter than "
                   f"its long window {fmt(t.long)} (the short window is at least the SLI step, "
                   f"alerting.rate_window {fmt(step)}); disable the tier for this objective "
                   "(tiers: [...]) or lower alerting.rate_window")
    return out


def is_default_windows(tier: BurnTier) -> bool:
    """Whether the tier's windows are a default tier's (the user may still have changed its
    labels, severity or ``for``): such a tier adapts to the objective's window."""
    d = {t.name: t for t in default_tiers()}.get(tier.name)
    return d is not None and (tier.budget_share, tier.window_fraction, tier.long, tier.short) \
        == (d.budget_share, d.window_fraction, d.long, d.short)


def _widened(t: TierWindows, evaluation_interval: float, step: float) -> TierWindows:
    """The tier at the finest windows the SLI can show: short = the SLI step, long = the
    shortest window holding two steps and MIN_EVALUATIONS evaluations; the factor follows from
    the same budget share spent in the wider window."""
    long = round_to(max(t.long, MIN_LONG_STEPS * step, MIN_EVALUATIONS * evaluation_interval),
                     evaluation_interval)
    factor = float(f"{t.budget_share * t.period / long:.10g}")
    return replace(t, long=long, short=step, factor=factor)


@dataclass(frozen=True)
class FittedTiers:
    """An objective's tiers after fitting: what is generated, what was changed or dropped (said
    by ``validate``/``generate``), and what the user wrote that cannot work (refused)."""

    tiers: list[TierWindows]
    notes: list[str]
    problems: list[str]


def slower_tiers(tiers: Sequence[TierWindows], tier: TierWindows) -> list[TierWindows]:
    """The tiers of ``tier``'s severity with longer windows: the rules hold ``tier`` firing
    while one of them fires its own condition, so an incident pages once and resolves once."""
    return [t for t in tiers if t.severity == tier.severity and t.name != tier.name
            and (t.long, t.short) > (tier.long, tier.short)]


def fit_tiers(shared: Sequence[BurnTier], choice: Sequence[TierChoice] | None, period: float,
              evaluation_interval: float, step: float) -> FittedTiers:
    """Resolve an objective's tiers. A default tier whose windows cannot be represented at this
    compliance window is widened to the SLI step (factor recomputed) or, when that leaves a
    factor under 1, dropped; a tier the user wrote is refused instead."""
    chosen, _ = chosen_tiers(shared, choice)
    out: list[TierWindows] = []
    notes: list[str] = []
    problems: list[str] = []
    fmt = format_duration
    for tier in chosen:
        t = resolve_tier(tier, period, evaluation_interval, step)
        found = tier_problems(t, evaluation_interval, step)
        if not found:
            out.append(t)
            continue
        if not is_default_windows(tier):
            problems.extend(found)
            continue
        w = _widened(t, evaluation_interval, step)
        if tier_problems(w, evaluation_interval, step):
            notes.append(f"default burn tier {t.name!r} dropped: at a {fmt(period)} window its "
                         f"{fmt(t.long)} long window is finer than the SLI step "
                         f"(alerting.rate_window {fmt(step)}) allows, and widened to "
                         f"{fmt(w.long)} it would alert below a burn of 1x (factor "
                         f"{w.factor:g})")
            continue
        notes.append(f"default burn tier {t.name!r} widened: long {fmt(t.long)} -> "
                     f"{fmt(w.long)}, short {fmt(t.short)} -> {fmt(w.short)}, factor "
                     f"{t.factor:g} -> {w.factor:g} (the SLI step, alerting.rate_window "
                     f"{fmt(step)}, is the finest window at a {fmt(period)} objective)")
        out.append(w)
    return FittedTiers(out, notes, problems)


def resolve_tiers(shared: Sequence[BurnTier], choice: Sequence[TierChoice] | None,
                  period: float, evaluation_interval: float, step: float) -> list[TierWindows]:
    """The resolved tiers of one objective (problems are reported by the spec's validation)."""
    return fit_tiers(shared, choice, period, evaluation_interval, step).tiers
