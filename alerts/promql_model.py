"""What a PromQL query returns once every input series holds a constant level: a counter's rate
per second, a gauge's value. The synthetic promtool inputs for a team's own queries
(:mod:`alerts.promql_inputs`) are designed against this model and checked with it before a test is
written, so a query the model cannot follow is said (:class:`Unmodelled`), never guessed.

The tree comes from the real PromQL parser (``promql-parser``, as the spec's own checks); only
what SLI queries use is modelled: selectors; rate, irate, increase and the ``*_over_time``
functions over a range; sum, avg, min, max, count and group with by/without; arithmetic,
comparisons and and/or/unless with on/ignoring and group_left/right; vector(), scalar() and the
pure per-sample functions. Samples are one ``tick`` apart, both ends of a range included
(Prometheus 2's closed ranges).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import promql_parser as pp

Labels = frozenset[tuple[str, str]]
Vector = dict[Labels, float]
Value = Vector | float
NAME = "__name__"


class Unmodelled(ValueError):
    """A part of a query the steady-state model cannot follow; the message names it."""


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str            # = != =~ !~
    value: str

    def matches(self, value: str) -> bool:
        if self.op in ("=", "!="):
            return (value == self.value) == (self.op == "=")
        try:
            hit = re.fullmatch(self.value, value, re.DOTALL) is not None
        except re.error:
            raise Unmodelled(f"regular expression {self.value!r}") from None
        return hit == (self.op == "=~")

    def negated(self) -> Matcher:
        return Matcher(self.label, {"=": "!=", "!=": "=", "=~": "!~", "!~": "=~"}[self.op],
                       self.value)


@dataclass(frozen=True)
class Selector:
    """An instant selector of a query, and whether a counter function reads it."""

    name: str
    matchers: tuple[Matcher, ...]
    counter: bool

    def selects(self, name: str, labels: dict[str, str]) -> bool:
        return name == self.name and all(m.matches(labels.get(m.label, ""))
                                         for m in self.matchers)


@dataclass(frozen=True)
class Series:
    name: str
    labels: tuple[tuple[str, str], ...]
    counter: bool
    level: float


_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
_COUNTER_FNS: dict[str, Callable[[float, float, float], float]] = {
    "rate": lambda lv, w, n: lv, "irate": lambda lv, w, n: lv, "increase": lambda lv, w, n: lv * w}
_GAUGE_FNS: dict[str, Callable[[float, float, float], float]] = {
    "avg_over_time": lambda lv, w, n: lv, "min_over_time": lambda lv, w, n: lv,
    "max_over_time": lambda lv, w, n: lv, "last_over_time": lambda lv, w, n: lv,
    "quantile_over_time": lambda lv, w, n: lv, "sum_over_time": lambda lv, w, n: lv * n,
    "count_over_time": lambda lv, w, n: n, "present_over_time": lambda lv, w, n: 1.0}
_MATH: dict[str, Callable[[float], float]] = {
    "abs": abs, "ceil": math.ceil, "floor": math.floor, "exp": math.exp, "sqrt": math.sqrt,
    "ln": math.log, "log2": math.log2, "log10": math.log10}
_NATIVE = ("histogram_fraction", "histogram_count", "histogram_sum", "histogram_stddev",
           "histogram_stdvar")


def _selector(node: Any, counter: bool) -> Selector:
    if node.at is not None:
        raise Unmodelled(f"{node}: the @ modifier")
    matchers = []
    name = node.name
    for m in node.matchers.matchers:
        op = _OPS[str(m.op).rsplit(".", 1)[-1]]
        if m.name == NAME:
            if op != "=":
                raise Unmodelled(f"{node}: a metric name matched by {op}")
            name = m.value
            continue
        matchers.append(Matcher(m.name, op, m.value))
    if not name:
        raise Unmodelled(f"{node}: a selector without a metric name")
    return Selector(name, tuple(matchers), counter)


def selectors(query: str) -> list[Selector]:
    """Every instant selector of ``query`` in order, marked when rate/irate/increase reads it."""
    out: list[Selector] = []

    def walk(node: Any, fn: str | None) -> None:
        if isinstance(node, pp.VectorSelector):
            out.append(_selector(node, fn in _COUNTER_FNS))
        elif isinstance(node, pp.MatrixSelector):
            walk(node.vector_selector, fn)
        elif isinstance(node, pp.Call):
            for a in node.args:
                walk(a, node.func.name)
        else:
            for attr in ("expr", "lhs", "rhs", "param"):
                child = getattr(node, attr, None)
                if child is not None and not isinstance(child, (str, int, float)):
                    walk(child, None)
    walk(pp.parse(query), None)
    return out


def grouping_labels(query: str) -> set[str]:
    """Labels that some ``by (…)`` aggregation of the query keeps."""
    out: set[str] = set()
    for node in _nodes(pp.parse(query)):
        if isinstance(node, pp.AggregateExpr) and node.modifier is not None \
                and str(node.modifier.type).endswith("By"):
            out.update(node.modifier.labels)
    return out


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    for attr in ("expr", "lhs", "rhs", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            yield from _nodes(child)
    for a in getattr(node, "args", None) or []:
        yield from _nodes(a)


def _drop_name(labels: Labels) -> Labels:
    return frozenset(kv for kv in labels if kv[0] != NAME)


def _arith(op: str, a: float, b: float) -> float | None:
    """An arithmetic result, or for a comparison whether it holds (1.0/0.0), None: unknown op."""
    try:
        return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                "/": lambda: a / b if b else (math.nan if a == 0 else math.copysign(math.inf, a)),
                "%": lambda: math.fmod(a, b) if b else math.nan, "^": lambda: a ** b,
                "==": lambda: float(a == b), "!=": lambda: float(a != b),
                ">": lambda: float(a > b), "<": lambda: float(a < b),
                ">=": lambda: float(a >= b), "<=": lambda: float(a <= b)}[op]()
    except KeyError:
        return None


_COMPARISONS = ("==", "!=", ">", "<", ">=", "<=")


class Model:
    """Evaluate queries over constant-level series, ``tick`` seconds between samples."""

    def __init__(self, series: list[Series], tick: float) -> None:
        self.series = series
        self.tick = tick

    def eval(self, query: str) -> Value:
        try:
            tree = pp.parse(query)
        except (ValueError, RuntimeError) as exc:
            raise Unmodelled(f"not PromQL: {exc}") from None
        return self._eval(tree)

    # -- leaves -------------------------------------------------------------------------------
    def _select(self, node: Any) -> list[Series]:
        sel = _selector(node, False)
        return [s for s in self.series if sel.selects(s.name, dict(s.labels))]

    def _instant(self, node: Any) -> Vector:
        out: Vector = {}
        for s in self._select(node):
            if s.counter:
                raise Unmodelled(f"{node}: a counter read without rate or increase")
            out[frozenset({(NAME, s.name), *s.labels})] = s.level
        return out

    def _range_call(self, name: str, node: Any) -> Vector:
        if not isinstance(node, pp.MatrixSelector):
            raise Unmodelled(f"{name}() of a subquery or expression")
        window = node.range.total_seconds()
        n = window / self.tick + 1
        counter_fn = _COUNTER_FNS.get(name)
        gauge_fn = _GAUGE_FNS.get(name)
        out: Vector = {}
        for s in self._select(node.vector_selector):
            fn = counter_fn if s.counter else gauge_fn
            if fn is None:
                raise Unmodelled(f"{name}() of a {'counter' if s.counter else 'gauge'}")
            labels = frozenset(s.labels) | ({(NAME, s.name)} if name == "last_over_time"
                                           else set())
            out[labels] = fn(s.level, window, n)
        return out

    # -- nodes --------------------------------------------------------------------------------
    def _eval(self, node: Any) -> Value:
        if isinstance(node, pp.NumberLiteral):
            return float(node.val)
        if isinstance(node, pp.ParenExpr):
            return self._eval(node.expr)
        if isinstance(node, pp.UnaryExpr):
            inner = self._eval(node.expr)
            return -inner if isinstance(inner, float) else \
                {_drop_name(k): -v for k, v in inner.items()}
        if isinstance(node, pp.VectorSelector):
            return self._instant(node)
        if isinstance(node, pp.AggregateExpr):
            return self._aggregate(node)
        if isinstance(node, pp.BinaryExpr):
            return self._binary(node)
        if isinstance(node, pp.Call):
            return self._call(node)
        raise Unmodelled(f"{type(node).__name__} {node}")

    def _call(self, node: Any) -> Value:
        name = node.func.name
        if name in _COUNTER_FNS or name in _GAUGE_FNS:
            return self._range_call(name, node.args[-1])
        if name in _NATIVE:
            raise Unmodelled(f"{name}(), which reads native histograms: promtool's test "
                             "inputs (Prometheus 2.42) cannot hold them")
        args = [self._eval(a) for a in node.args]
        if name == "vector" and isinstance(args[0], float):
            return {frozenset(): args[0]}
        if name == "scalar" and isinstance(args[0], dict):
            return next(iter(args[0].values())) if len(args[0]) == 1 else math.nan
        if name in _MATH and isinstance(args[0], dict):
            return {_drop_name(k): _MATH[name](v) for k, v in args[0].items()}
        bounds = [a for a in args[1:] if isinstance(a, float)]
        if name in ("clamp_min", "clamp_max", "clamp") and isinstance(args[0], dict) \
                and len(bounds) == len(args) - 1:
            lo = bounds[0] if name != "clamp_max" else -math.inf
            hi = bounds[-1] if name != "clamp_min" else math.inf
            return {_drop_name(k): min(max(v, lo), hi) for k, v in args[0].items()}
        raise Unmodelled(f"the function {name}()")

    def _aggregate(self, node: Any) -> Vector:
        op = str(node.op)
        if node.param is not None or op not in ("sum", "avg", "min", "max", "count", "group"):
            raise Unmodelled(f"the aggregation {op}")
        inner = self._eval(node.expr)
        if not isinstance(inner, dict):
            raise Unmodelled(f"{op} of a scalar")
        mod = node.modifier
        keep: set[str] | None = set()
        drop: set[str] = {NAME}
        if mod is not None and str(mod.type).endswith("By"):
            keep = set(mod.labels)
        elif mod is not None:
            keep = None
            drop |= set(mod.labels)
        groups: dict[Labels, list[float]] = {}
        for labels, v in inner.items():
            key = frozenset(kv for kv in labels if (kv[0] in keep if keep is not None
                                                     else kv[0] not in drop))
            groups.setdefault(key, []).append(v)
        fold: dict[str, Callable[[list[float]], float]] = {
            "sum": sum, "avg": lambda vs: sum(vs) / len(vs), "min": min, "max": max,
            "count": lambda vs: float(len(vs)), "group": lambda vs: 1.0}
        return {k: fold[op](vs) for k, vs in groups.items()}

    def _binary(self, node: Any) -> Value:
        op = str(node.op)
        lhs, rhs = self._eval(node.lhs), self._eval(node.rhs)
        mod = node.modifier
        keep_bool = bool(mod is not None and mod.return_bool)
        if isinstance(lhs, float) and isinstance(rhs, float):
            r = _arith(op, lhs, rhs)
            if r is None:
                raise Unmodelled(f"the operator {op} between numbers")
            return r
        if isinstance(lhs, float) or isinstance(rhs, float):
            return self._with_scalar(op, lhs, rhs, keep_bool)
        assert isinstance(lhs, dict) and isinstance(rhs, dict)
        return self._vectors(op, lhs, rhs, mod, keep_bool)

    @staticmethod
    def _with_scalar(op: str, lhs: Value, rhs: Value, keep_bool: bool) -> Vector:
        vec = lhs if isinstance(lhs, dict) else rhs
        assert isinstance(vec, dict)
        out: Vector = {}
        for k, v in vec.items():
            a, b = (v, rhs) if isinstance(lhs, dict) else (lhs, v)
            assert isinstance(a, float) and isinstance(b, float)
            r = _arith(op, a, b)
            if r is None:
                raise Unmodelled(f"the operator {op} with a number")
            if op in _COMPARISONS and not keep_bool:
                if r:
                    out[k] = v
            else:
                out[_drop_name(k)] = r
        return out

    def _vectors(self, op: str, lhs: Vector, rhs: Vector, mod: Any, keep_bool: bool) -> Vector:
        matching = getattr(mod, "matching", None) if mod is not None else None
        on = matching is not None and str(matching.type).endswith("Include")
        names = set(matching.labels) if matching is not None else set()

        def sig(labels: Labels) -> Labels:
            return frozenset(kv for kv in labels if kv[0] != NAME
                             and ((kv[0] in names) if on else (kv[0] not in names)))
        if op in ("and", "or", "unless"):
            right = {sig(k) for k in rhs}
            if op == "and":
                return {k: v for k, v in lhs.items() if sig(k) in right}
            if op == "unless":
                return {k: v for k, v in lhs.items() if sig(k) not in right}
            left = {sig(k) for k in lhs}
            return {**lhs, **{k: v for k, v in rhs.items() if sig(k) not in left}}
        card = str(getattr(mod, "card", "")) if mod is not None else ""
        many_left = card.endswith("ManyToOne")
        if card.endswith("OneToMany"):
            raise Unmodelled("group_right")
        right_by: dict[Labels, float] = {}
        for k, v in rhs.items():
            if sig(k) in right_by:
                raise Unmodelled(f"{op}: many series on the right-hand side match one")
            right_by[sig(k)] = v
        out: Vector = {}
        seen: set[Labels] = set()
        for k, v in lhs.items():
            s = sig(k)
            if s not in right_by:
                continue
            if s in seen and not many_left:
                raise Unmodelled(f"{op}: many series on the left-hand side match one")
            seen.add(s)
            r = _arith(op, v, right_by[s])
            if r is None:
                raise Unmodelled(f"the operator {op}")
            if op in _COMPARISONS and not keep_bool:
                if r:
                    out[k] = v
                continue
            labels = _drop_name(k)
            if not many_left and matching is not None:
                labels = s if on else frozenset(kv for kv in labels if kv[0] not in names)
            out[labels] = r
        return out
