"""Parsing of the quantities a spec writes as text: durations, ratios, counts, money, thresholds.

Every parser raises :class:`QuantityError` (a ``ValueError``) with a message that says which forms
are allowed, so pydantic turns it into an error carrying the field's path.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from functools import lru_cache


class QuantityError(ValueError):
    """A spec value that does not parse; the message lists the allowed forms."""


class Unit(str, Enum):
    """The unit family of a signal; decides which suffixes a threshold may carry."""

    SECONDS = "seconds"
    RATIO = "ratio"
    COUNT = "count"
    EFFECT_SIZE = "effect_size"    # a drift statistic: KS D or PSI, unitless
    PER_SECOND = "per_second"
    CELSIUS = "celsius"
    USD = "usd"


_NUMBER = r"[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_DURATION_SUFFIX = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
    "d": 86400.0, "w": 604800.0, "y": 365 * 86400.0,
}
_COUNT_SUFFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
_ALLOWED = {
    Unit.SECONDS: "a duration such as 250ms, 2s, 1.5m, 1h (a bare number means seconds)",
    Unit.RATIO: "a percentage such as 1% or 99.9%, or a ratio between 0 and 1 such as 0.01",
    Unit.COUNT: "a non-negative number such as 1000, 10_000 or 10k",
    Unit.EFFECT_SIZE: "an effect size such as 0.1 (KS D or PSI)",
    Unit.PER_SECOND: "a rate such as 50, 50/s, 3000/m or 1k/s",
    Unit.CELSIUS: "a temperature such as 85, 85C or 85°C",
    Unit.USD: "an amount in US dollars such as 0.5, $0.50 or 0.5usd",
}
_NUM_RE = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")
_REL_RE = re.compile(rf"^\s*({_NUMBER})\s*(x|%)\s*(baseline|budget)?\s*$", re.IGNORECASE)


def allowed_forms(unit: Unit) -> str:
    return _ALLOWED[unit]


def _split(text: str) -> tuple[float, str]:
    m = _NUM_RE.match(text)
    if not m:
        raise QuantityError("no number found")
    value = float(m.group(1).replace("_", ""))
    if not math.isfinite(value):
        raise QuantityError("the number is not finite")
    return value, m.group(2)


_COMPOUND_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_COMPOUND_RE = re.compile(r"^(\d+(ms|[smhdwy])){2,}$")


def parse_duration(value: object) -> float:
    """Seconds from ``250ms`` / ``2s`` / ``30d`` / ``1h30m``; a bare number is seconds."""
    if isinstance(value, bool):
        raise QuantityError(f"expected {_ALLOWED[Unit.SECONDS]}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and _COMPOUND_RE.match(value.strip()):
        # Prometheus's compound form, as format_duration writes it: 1h30m, 2d12h, 1m30s500ms
        seconds = sum(float(n) * _DURATION_SUFFIX[u]
                      for n, u in _COMPOUND_PART.findall(value.strip()))
    elif isinstance(value, str):
        try:
            number, suffix = _split(value)
        except QuantityError:
            raise QuantityError(f"expected {_ALLOWED[Unit.SECONDS]}") from None
        if suffix not in _DURATION_SUFFIX and suffix != "":
            raise QuantityError(
                f"unknown duration unit {suffix!r}; "
                f"allowed units: {', '.join(_DURATION_SUFFIX)}"
            )
        seconds = number * _DURATION_SUFFIX.get(suffix, 1.0)
    else:
        raise QuantityError(f"expected {_ALLOWED[Unit.SECONDS]} (got a {type(value).__name__})")
    if not math.isfinite(seconds) or seconds < 0:
        raise QuantityError("a duration must be finite and >= 0")
    return seconds


@lru_cache(maxsize=1024)          # generators spell the same few durations ~100,000 times
def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration string for ``seconds`` (``1h30m`` style, ms when needed)."""
    if seconds <= 0:
        return "0s"
    ms = round(seconds * 1000)
    parts = []
    for name, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000),
                       ("s", 1000), ("ms", 1)):
        if ms >= size:
            parts.append(f"{ms // size}{name}")
            ms %= size
    return "".join(parts)


def parse_quantity(value: object, unit: Unit) -> float:
    """An absolute quantity in the base unit of ``unit`` (seconds, ratio 0-1, ...)."""
    if unit is Unit.SECONDS:
        return parse_duration(value)
    allowed = _ALLOWED[unit]
    if isinstance(value, bool):
        raise QuantityError(f"expected {allowed}")
    if unit is Unit.USD and isinstance(value, str) and value.strip().startswith("$"):
        value = value.strip()[1:]
    if isinstance(value, (int, float)):
        number, suffix = float(value), ""
        if not math.isfinite(number):
            raise QuantityError(f"expected {allowed}; the number is not finite")
    elif unit is Unit.SECONDS and isinstance(value, str) and _COMPOUND_RE.match(value.strip()):
        number, suffix = parse_duration(value), ""        # 1h30m, as durations take it
    elif isinstance(value, str):
        try:
            number, suffix = _split(value)
        except QuantityError:
            raise QuantityError(f"expected {allowed}") from None
    else:
        raise QuantityError(f"expected {allowed} (got a {type(value).__name__})")
    result: float
    if unit is Unit.RATIO:
        if suffix == "%":      # exact decimal: 99.9% is 0.999, never 0.9990000000000001
            result = float(Decimal(repr(number)) / 100)
        elif suffix == "":
            result = number
        else:
            raise QuantityError(f"expected {allowed}")
        if not 0.0 <= result <= 1.0:
            raise QuantityError("a ratio must lie between 0 and 1 (0% and 100%)")
        return result
    if unit in (Unit.COUNT, Unit.EFFECT_SIZE):
        if suffix not in _COUNT_SUFFIX:
            raise QuantityError(f"expected {allowed}")
        result = number * _COUNT_SUFFIX[suffix]
    elif unit is Unit.PER_SECOND:
        m = re.fullmatch(r"([kKMG]?)\s*(?:/\s*(s|m|h|d))?", suffix)
        if not m:
            raise QuantityError(f"expected {allowed}")
        per = _DURATION_SUFFIX[m.group(2)] if m.group(2) else 1.0
        result = number * _COUNT_SUFFIX[m.group(1)] / per
    elif unit is Unit.CELSIUS:
        if suffix not in ("", "C", "c", "°C", "°c"):
            raise QuantityError(f"expected {allowed}")
        return number
    else:  # USD
        if suffix.lower() not in ("", "usd", "$"):
            raise QuantityError(f"expected {allowed}")
        result = number
    if not math.isfinite(result) or result < 0:
        raise QuantityError(f"expected a non-negative value: {allowed}")
    return result


class Base(str, Enum):
    """What a relative threshold multiplies."""

    BASELINE = "baseline"
    BUDGET = "budget"


@dataclass(frozen=True)
class Threshold:
    """A resolved threshold: an absolute value in base units, or a factor of a baseline/budget."""

    raw: str
    value: float
    base: Base | None = None

    @property
    def relative(self) -> bool:
        return self.base is not None

    def resolve(self, base_value: float | None) -> float | None:
        """The absolute level, given the current baseline or budget (None while unknown)."""
        if self.base is None:
            return self.value
        if base_value is None or not math.isfinite(base_value):
            return None
        return self.value * base_value

    def describe(self, unit: Unit) -> str:
        if self.base is Base.BUDGET:
            return f"{self.value * 100:g}% budget"
        if self.base is not None:
            return f"{self.value:g}× {self.base.value}"
        return format_value(self.value, unit)


def parse_threshold(value: object, unit: Unit, default_base: Base = Base.BASELINE) -> Threshold:
    """``250ms`` / ``1%`` / ``1000`` (absolute) or ``2x baseline`` / ``120% budget`` (relative).

    A bare ``2x`` is relative to ``default_base``. Percent is relative only when followed by
    ``baseline``/``budget``; ``1%`` alone is the ratio 0.01.
    """
    raw = value if isinstance(value, str) else repr(value)
    if isinstance(value, str):
        m = _REL_RE.match(value)
        if m and (m.group(2).lower() == "x" or m.group(3)):
            number = float(m.group(1).replace("_", ""))
            factor = number if m.group(2).lower() == "x" else number / 100.0
            if not math.isfinite(factor) or factor <= 0:
                raise QuantityError("a relative threshold needs a positive factor")
            base = Base(m.group(3).lower()) if m.group(3) else default_base
            return Threshold(raw=value.strip(), value=factor, base=base)
    try:
        return Threshold(raw=raw.strip(), value=parse_quantity(value, unit))
    except QuantityError as exc:
        raise QuantityError(
            f"{exc}; or a relative threshold such as '2x baseline' or '120% budget'"
        ) from None


def format_value(value: float | None, unit: Unit) -> str:
    """Human text for a value in base units (``250ms``, ``1.5%``, ``$0.42``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    if unit is Unit.SECONDS:
        if value == 0:
            return "0s"
        if abs(value) < 1e-3:
            return f"{value * 1e6:.3g}µs"
        if abs(value) < 1:
            return f"{value * 1e3:.3g}ms"
        if abs(value) < 120:
            return f"{value:.3g}s"
        if abs(value) < 3600:
            return f"{value / 60:.3g}m"
        return f"{value / 3600:.3g}h"
    if unit is Unit.RATIO:
        return f"{value * 100:.3g}%"
    if unit is Unit.PER_SECOND:
        return f"{value:.4g}/s"
    if unit is Unit.CELSIUS:
        return f"{value:.3g}°C"
    if unit is Unit.USD:
        return f"${value:.4g}"
    return f"{value:.6g}"
