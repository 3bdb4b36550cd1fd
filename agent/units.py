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
    return _duration_text(value) if type(value) is str else _duration(value)


@lru_cache(maxsize=1024)    # a spec spells the same few durations for every objective
def _duration_text(value: str) -> float:
    return _duration(value)


def _duration(value: object) -> float:
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
    return _quantity_text(value, unit) if type(value) is str else _quantity(value, unit)


@lru_cache(maxsize=1024)
def _quantity_text(value: str, unit: Unit) -> float:
    return _quantity(value, unit)


def _quantity(value: object, unit: Unit) -> float:
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


_BARE = re.compile(rf"^\s*{_NUMBER}\s*$")


def needs_unit(value: object, unit: Unit) -> None:
    """Refuse a bare number where the unit decides the meaning: a level on a duration signal
    (``critical: 800`` on a latency is 800 ms to one reader and 13 minutes to another). Zero is
    zero in any unit; durations of their own (``for``, windows) stay documented as seconds."""
    if unit is not Unit.SECONDS or isinstance(value, bool):
        return
    if not (isinstance(value, (int, float)) or (isinstance(value, str) and _BARE.match(value))):
        return
    number = float(str(value).replace("_", ""))
    if number == 0 or not math.isfinite(number):
        return
    text = f"{number:g}"
    as_span = f" (= {format_span(abs(number))})" if abs(number) < 1e9 else ""
    raise QuantityError(f"a bare number is ambiguous for a duration: write {text}ms or "
                        f"{text}s{as_span}; a level on a duration signal carries its unit")


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
    if type(value) is str:
        return _threshold_text(value, unit, default_base)
    return _threshold(value, unit, default_base)


@lru_cache(maxsize=1024)    # a spec of 1,000 objectives writes the same few levels 4,000 times
def _threshold_text(value: str, unit: Unit, default_base: Base) -> Threshold:
    return _threshold(value, unit, default_base)


def _threshold(value: object, unit: Unit, default_base: Base) -> Threshold:
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


def format_span(seconds: float | None) -> str:
    """A duration as a person reads it, rounded to what matters: two units at most
    (``7m45s``, ``2h13m``, ``3d4h``), seconds below a minute (``44s``, ``3.2s``), ``250ms`` below
    a second. Never the exact Prometheus form (``7m44s994ms``): that is :func:`format_duration`,
    for rules and windows."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 0:
        return "-" + format_span(-seconds)
    if seconds < 1e-9:
        return "0s"
    if seconds < 1e-3:
        return f"{_plain(seconds * 1e6, 2)}µs"
    if seconds < 1:
        ms = seconds * 1e3
        return f"{_plain(ms, 2) if ms < 10 else round(ms)}ms"
    if seconds < 10:
        return f"{_plain(round(seconds, 1), 2)}s"
    if seconds < 59.5:
        return f"{math.floor(seconds + 0.5)}s"
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for i, (name, size) in enumerate(units[:-1]):
        small_name, small = units[i + 1]
        if seconds >= size - small / 2:
            n = math.floor(seconds / small + 0.5)        # whole units of the smaller one
            big, rest = divmod(n, size // small)
            return f"{big}{name}" + (f"{rest}{small_name}" if rest else "")
    return f"{math.floor(seconds + 0.5)}s"   # pragma: no cover - the loop always returns


def _plain(x: float, sig: int) -> str:
    """``x`` with ``sig`` significant digits and never an exponent (``0.0012``, ``4880``);
    float noise around zero (below 1e-9 of a unit) is ``0``."""
    if x == 0 or abs(x) < 1e-9:
        return "0"
    if not math.isfinite(x):                 # a finite ratio × 100 past float's range
        return "∞" if x > 0 else "-∞"
    decimals = min(9, max(0, sig - 1 - math.floor(math.log10(abs(x)))))
    text = f"{x:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_percent(ratio: float) -> str:
    """A ratio as a percentage a reader does not decode: ``0%`` for float noise (never
    ``2.17e-17%``), three significant digits (``0.12%``, ``-488%``), and close to 100 % as many
    decimals as it takes not to round up to a ``100%`` it has not reached (``99.95%``)."""
    pct = ratio * 100
    if abs(ratio) < 1e-9:                    # float noise, not a share anyone measured
        return "0%"
    if 99 <= pct < 100:
        gap = 100 - pct
        decimals = min(4, max(1, 1 - math.floor(math.log10(gap))))
        factor = 10 ** decimals
        text = f"{math.floor(pct * factor) / factor:.{decimals}f}".rstrip("0").rstrip(".")
        return f"{text}%"
    return f"{_plain(pct, 3)}%"


def json_number(x: float | None) -> float | None:
    """A value as JSON can carry it: None for NaN and infinity (a detection time that is never
    reached is +inf; its ``format_value`` text says "never")."""
    return x if x is not None and math.isfinite(x) else None


def format_value(value: float | None, unit: Unit) -> str:
    """Human text for a value in base units (``250ms``, ``1.5%``, ``$0.42``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    if value == math.inf and unit is Unit.SECONDS:    # e.g. a drift that is never detected
        return "never"
    if not math.isfinite(value):
        return "no data"
    if unit is Unit.SECONDS:
        if abs(value) < 1:               # latencies: 3 significant digits (``41.2ms``)
            if value == 0 or abs(value) < 1e-9:
                return "0s"
            if abs(value) < 1e-3:
                return f"{_plain(value * 1e6, 3)}µs"
            return f"{_plain(value * 1e3, 3)}ms"
        return format_span(value)
    if unit is Unit.RATIO:
        return format_percent(value)
    if unit is Unit.PER_SECOND:
        return f"{_plain(value, 4)}/s"
    if unit is Unit.CELSIUS:
        return f"{_plain(value, 3)}°C"
    if unit is Unit.USD:
        return f"${_plain(value, 4)}"
    return _plain(value, 6)
