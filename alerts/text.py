"""What an alert says: the measured value against its threshold, and for a burn alert the burn over
both its windows, how long the budget lasts at that burn, the budget left, the dashboard and the
runbook. The tier's factor is named for what it is: the burn above which the tier fires.

Each text is written once as parts, plain text and :class:`Field` s. The rules render a field as
the Prometheus template that prints it (``$value``, or a ``query`` of the recorded series at the
evaluation); the promtool tests render it as the text Prometheus prints for known values, so the
expected annotations cannot drift from the rules'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent import catalogue as cat
from agent.sli import Level, ObjectivePlan, panel_url, prom_duration, runbook_url
from agent.spec.document import TierWindows
from agent.units import Unit, format_duration, format_value
from detectors.rates import MIN_EVENTS


@dataclass(frozen=True)
class Field:
    """A value filled in when the alert fires: ``key`` names it for the tests, ``template`` is
    how Prometheus prints it."""

    key: str
    template: str


Part = str | Field
BURN, SHORT_BURN, LASTS, LEFT, VALUE, HELD = (
    "burn", "short_burn", "lasts", "left", "value", "held")


def render(parts: Sequence[Part]) -> str:
    """The Prometheus template of a text."""
    return "".join(p if isinstance(p, str) else p.template for p in parts)


def fill(parts: Sequence[Part], values: Mapping[str, str]) -> str:
    """The text Prometheus prints when each field has the given printed value."""
    return "".join(p if isinstance(p, str) else values[p.key] for p in parts)


def value_template(unit: Unit) -> str:
    if unit is Unit.SECONDS:
        return "{{ $value | humanizeDuration }}"
    if unit is Unit.RATIO:
        return "{{ $value | humanizePercentage }}"
    return '{{ $value | printf "%.4g" }}'


def _query(expr: str, then: str) -> str:
    """``then`` applied to the first sample of an instant query (nothing when it is empty)."""
    return f"{{{{ with query `{expr}` }}}}{{{{ . | first | value | {then} }}}}{{{{ end }}}}"


def links(p: ObjectivePlan) -> str:
    rb = runbook_url(p.spec, p.o)
    return f" Dashboard: {panel_url(p.spec, p.o)}" + (f" Runbook: {rb}" if rb else "")


def budget_left_template(p: ObjectivePlan) -> str:
    """The budget left and, while some is, how long it lasts at the alert's burn ($value)."""
    period = f"{p.o.window:.10g}"
    budget = f"{cat.RULE_BUDGET_REMAINING}{p.rec_matchers}"
    return (f"{{{{ with query `{budget}` }}}}{{{{ $left := . | first | value }}}}"
            "{{ if gt $left 0.0 }}{{ $left | humanizePercentage }} of it is left, gone in "
            f'{{{{ with printf "%f * {period} / %f" $left $value | query }}}}'
            "{{ . | first | value | humanizeDuration }}{{ end }} at this burn"
            "{{ else }}it is already spent ({{ $left | humanizePercentage }} left){{ end }}"
            "{{ end }}")


def burn_summary(p: ObjectivePlan, tier: TierWindows) -> list[Part]:
    return [f"{p.o.name}: error budget burning at ", Field(BURN, '{{ $value | printf "%.1f" }}'),
            f"x over {prom_duration(tier.long)} (tier {tier.name} fires above "
            f"{tier.factor:g}x)"]


def _float(x: float) -> str:
    """A float literal Go templates compare with a float (``1`` would be an int)."""
    text = f"{x:.10g}"
    return text if any(c in text for c in ".en") else text + ".0"


def held_text(tier: TierWindows, slower: Sequence[str]) -> str:
    """Said while a tier is held: its own windows cooled, a slower tier still fires."""
    return (f" It stays firing while the slower {', '.join(slower)} still "
            f"{'does' if len(slower) == 1 else 'do'}, so this incident pages once.")


def burn_description(p: ObjectivePlan, tier: TierWindows, slower: Sequence[str] = ()
                     ) -> list[Part]:
    o = p.o
    long_w, short_w = prom_duration(tier.long), prom_duration(tier.short)
    target = f"{(o.objective or 0) * 100:g}%"
    window = format_duration(o.window)
    out: list[Part] = [
        f"The {target} / {window} objective {o.name} is burning its error budget at ",
        Field(BURN, '{{ $value | printf "%.1f" }}'), f"x over the last {long_w} and ",
        Field(SHORT_BURN, _query(p.burn_expr(tier.short), 'printf "%.1f"')),
        f"x over the last {short_w}; tier {tier.name} ({tier.severity}) fires when both "
        f"windows burn faster than {tier.factor:g}x, the burn that spends "
        f"{tier.budget_share * 100:g}% of the budget in {long_w}. At this burn the whole "
        f"{window} budget lasts ",
        Field(LASTS, f'{{{{ with printf "{o.window:.10g} / %f" $value | query }}}}'
                     "{{ . | first | value | humanizeDuration }}{{ end }}"),
        "; ", Field(LEFT, budget_left_template(p)), "."]
    if slower:      # held: a window no longer burns faster than the threshold
        f, said = _float(tier.factor), held_text(tier, slower)
        out.append(Field(HELD, f"{{{{ if le $value {f} }}}}{said}{{{{ else }}}}"
                               f"{{{{ with query `{p.burn_expr(tier.short)}` }}}}"
                               f"{{{{ if le (. | first | value) {f} }}}}{said}{{{{ end }}}}"
                               "{{ end }}{{ end }}"))
    out.append(links(p))
    return out


def _what(p: ObjectivePlan) -> str:
    return p.o.info.title.lower() + (f" p{p.o.quantile * 100:g}" if p.o.quantile else "")


def _level(p: ObjectivePlan, level: Level) -> str:
    way = "above" if p.o.info.higher_is_worse else "below"
    shown = None if level.constant is None else format_value(level.constant, p.o.info.unit)
    resolved = "" if shown is None or shown == level.text else f" ({shown})"
    return f"{way} the {level.severity} level {level.text}{resolved}"


def threshold_summary(p: ObjectivePlan, level: Level) -> list[Part]:
    return [f"{p.o.name}: {_what(p)} is ", Field(VALUE, value_template(p.o.info.unit)),
            f", {_level(p, level)}"]


def threshold_description(p: ObjectivePlan, level: Level, measured: bool = True) -> list[Part]:
    """``measured=False``: without the value, for a backend that prints values its own way."""
    o = p.o
    lasting = f" for {format_duration(o.for_)}" if o.for_ else ""
    value: list[Part] = [" is ", Field(VALUE, value_template(o.info.unit)), ","] if measured \
        else [" has been"]
    bound = (f" Its 99 % Wilson bound over {p.step} is past the level too, on at least "
             f"{MIN_EVENTS} events (as the sidecar judges it)." if p.bounded else "")
    return [f"{o.info.title} of {p.spec.service} ({o.name})", *value,
            f" {_level(p, level)}{lasting}.{bound}" + (f" {o.description}" if o.description
                                                       else "") + links(p)]


__all__ = ["BURN", "HELD", "LASTS", "LEFT", "SHORT_BURN", "VALUE", "Field", "Part",
           "burn_description", "burn_summary", "fill", "held_text", "render",
           "threshold_description", "threshold_summary"]
