"""Synthetic input series for custom SLIs: the SDK metric the sidecar exports, or the series a
team's own PromQL reads (imported from Sloth, Pyrra or OpenSLO), so their rules get promtool
tests like every other objective's.

For a query, the real parser (:mod:`alerts.promql_model`) finds the selectors; label values that
satisfy each selector's matchers are chosen (a regex's own example, an equality's value), and a
"good" series breaks the bad selector where a total one must still match it. Levels follow the
test's segments: a split of traffic between bad and good counters, or one series carrying the
value itself (a bool gauge, a precomputed ratio). Every design is evaluated with the model before
it is used: when none gives the SLI its intended value, :func:`problem` says why and no test is
written for that objective.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import promql_parser as pp

from agent import catalogue as cat
from agent.signals import inputs as inp
from agent.sli import ObjectivePlan, custom_metric_series, custom_value_expr
from agent.spec.custom import WINDOW
from alerts.promql_model import Matcher, Model, Selector, Series, Unmodelled, grouping_labels
from alerts.promql_model import selectors as find_selectors

RATE = 10.0              # synthetic traffic of a counter split, per second (as for SDK signals)
_GENERIC = ("", "x", "0", "1", "200", "500", "ok", "a", "GET", "zz")
_EVENT_CHECKS = (0.0, 0.2, 0.7, 1.0)
_VALUE_CHECKS = (0.0, 0.2, 1.0, 3.5, 250.0)


# --- label values ------------------------------------------------------------------------------
def example(pattern: str) -> str | None:
    """A string the (anchored) regular expression matches, built from its own parse tree."""
    parser: Any = importlib.import_module("re._parser")
    try:
        tree = parser.parse(pattern)
        text = _emit(list(tree))
    except Exception:       # an unsupported construct or a pattern Python cannot parse
        return None
    matcher = Matcher("l", "=~", pattern)
    try:
        return text if matcher.matches(text) else None
    except Unmodelled:
        return None


def _emit(items: list[tuple[Any, Any]]) -> str:
    out = []
    for op, av in items:
        kind = str(op)
        if kind == "LITERAL":
            out.append(chr(av))
        elif kind in ("ANY", "NOT_LITERAL"):
            out.append("x" if kind == "ANY" or av != ord("x") else "y")
        elif kind == "IN":
            first_op, first = av[0]
            if str(first_op) == "NEGATE":
                out.append(next(c for c in "x0_-" if not any(
                    str(o) == "LITERAL" and a == ord(c) for o, a in av[1:])))
            elif str(first_op) == "LITERAL":
                out.append(chr(first))
            elif str(first_op) == "RANGE":
                out.append(chr(first[0]))
            else:
                out.append(_category(str(first)))
        elif kind == "BRANCH":
            out.append(_emit(list(av[1][0])))
        elif kind == "SUBPATTERN":
            out.append(_emit(list(av[3])))
        elif kind in ("MAX_REPEAT", "MIN_REPEAT"):
            out.append(_emit(list(av[2])) * int(av[0]))
        elif kind == "CATEGORY":
            out.append(_category(str(av)))
        elif kind != "AT":
            raise ValueError(kind)
    return "".join(out)


def _category(name: str) -> str:
    return {"CATEGORY_DIGIT": "0", "CATEGORY_SPACE": " ", "CATEGORY_WORD": "a",
            "CATEGORY_NOT_DIGIT": "a", "CATEGORY_NOT_SPACE": "a", "CATEGORY_NOT_WORD": "-"}[name]


def solve(constraints: Sequence[Matcher]) -> str | None:
    """A label value meeting every constraint ("" = the label is absent), or None."""
    candidates = [m.value for m in constraints if m.op == "="]
    candidates += [e for m in constraints if m.op == "=~" and (e := example(m.value)) is not None]
    for value in (*candidates, *_GENERIC):
        if all(m.matches(value) for m in constraints):
            return value
    return None


def _labels(constraints: Sequence[Matcher], grouped: set[str]) -> dict[str, str] | None:
    by_label: dict[str, list[Matcher]] = {g: [] for g in sorted(grouped)}
    for m in constraints:
        by_label.setdefault(m.label, []).append(m)
    out: dict[str, str] = {}
    for label, cs in by_label.items():
        value = solve(cs) if cs else "x"      # a grouping label nothing constrains
        if value is None:
            return None
        if value:
            out[label] = value
    return out


def _breaking(required: list[Matcher], part: list[Selector], grouped: set[str]
              ) -> dict[str, str] | None:
    """Labels that meet ``required`` and fail every selector of ``part`` (a good series beside a
    bad one), breaking a matcher on a label no aggregation keeps where one can."""
    chosen = list(required)
    for sel in part:
        order = sorted(sel.matchers, key=lambda m: m.label in grouped)
        for m in order:
            if _labels([*chosen, m.negated()], grouped) is not None:
                chosen.append(m.negated())
                break
        else:
            return None
    return _labels(chosen, grouped)


# --- designs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Design:
    """Series and how each one's level follows a segment value v: (a·v + b) · scale, times the
    segment's traffic share for a counter split."""

    series: tuple[tuple[str, tuple[tuple[str, str], ...], bool, float, float], ...]
    scale: float
    shares: bool
    labels: tuple[tuple[str, str], ...]       # the SLI's own result labels (its grouping)

    def levels(self, v: float, share: float = 1.0) -> list[Series]:
        k = self.scale * (share if self.shares else 1.0)
        return [Series(n, ls, c, (a * v + b) * k) for n, ls, c, a, b in self.series]


_ROLES = {"bad": {"hit": (1.0, 0.0), "miss": (-1.0, 1.0), "total": (0.0, 1.0)},
          "good": {"hit": (-1.0, 1.0), "miss": (1.0, 0.0), "total": (0.0, 1.0)}}


Row = tuple[str, tuple[tuple[str, str], ...], bool, float, float]


def _split(part: list[Selector], total: list[Selector], grouped: set[str], form: str
           ) -> list[Row] | None:
    """Bad/good/total series of a ratio: a series meeting the numerator's selectors and the
    denominator's ("hit"), one meeting only the denominator's ("miss"), one for a metric only
    the denominator reads ("total"); their levels split the traffic per ``form``."""
    out: list[Row] = []
    for name in dict.fromkeys(s.name for s in (*part, *total)):
        p = [s for s in part if s.name == name]
        t = [s for s in total if s.name == name]
        kinds = {s.counter for s in (*p, *t)}
        if len(kinds) != 1:
            raise Unmodelled(f"{name} read both as a counter and as a gauge")
        counter = kinds.pop()
        required = [m for s in t for m in s.matchers]
        roles: list[tuple[str, dict[str, str] | None]]
        if p and t:
            roles = [("hit", _labels([m for s in p for m in s.matchers] + required, grouped)),
                     ("miss", _breaking(required, p, grouped))]
        else:
            roles = [("hit" if p else "total",
                      _labels([m for s in (p or t) for m in s.matchers], grouped))]
        for role, labels in roles:
            if labels is None:
                return None
            a, b = _ROLES[form][role]
            out.append((name, tuple(sorted(labels.items())), counter, a, b))
    return out


def _carried(sels: list[Selector], grouped: set[str]) -> list[Row] | None:
    out: list[Row] = []
    for name in dict.fromkeys(s.name for s in sels):
        mine = [s for s in sels if s.name == name]
        labels = _labels([m for s in mine for m in s.matchers], grouped)
        if labels is None:
            return None
        out.append((name, tuple(sorted(labels.items())), mine[0].counter, 1.0, 0.0))
    return out


def _ratio_parts(query: str) -> tuple[str, str] | None:
    """(numerator, denominator) of a query that is a ratio, or one minus a ratio."""
    node: Any = pp.parse(query)
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if isinstance(node, pp.BinaryExpr) and str(node.op) == "-" \
            and isinstance(node.lhs, pp.NumberLiteral) and float(node.lhs.val) == 1.0:
        node = node.rhs
        while isinstance(node, pp.ParenExpr):
            node = node.expr
    if isinstance(node, pp.BinaryExpr) and str(node.op) == "/":
        return str(node.lhs), str(node.rhs)
    return None


def _value(model_series: list[Series], query: str, tick: float) -> tuple[float, dict[str, str]]:
    got = Model(model_series, tick).eval(query)
    if isinstance(got, float):
        return got, {}
    if len(got) != 1:
        raise Unmodelled(f"the SLI returns {len(got)} series for one synthetic group")
    labels, value = next(iter(got.items()))
    return value, dict(labels)


def _check(design: Design, queries: list[str], tick: float, checks: Sequence[float]) -> bool:
    for v in checks:
        series = design.levels(v)
        if any(s.counter and s.level < 0 for s in series):
            return False
        for q in queries:
            got, _ = _value(series, q, tick)
            if not abs(got - v) <= 1e-9 * max(1.0, abs(v)):
                return False
    return True


def _affine(rows: list[Row], query: str, tick: float) -> Design | None:
    """The carried design: every series at one level x, solved for the SLI value (affine in x)."""
    def f(x: float) -> float:
        return _value([Series(n, ls, c, x) for n, ls, c, _, _ in rows], query, tick)[0]
    f1, f2, f3 = f(1.0), f(2.0), f(3.0)
    slope = f2 - f1
    if not slope or abs((f3 - f2) - slope) > 1e-9 * max(1.0, abs(slope)):
        return None
    a, b = 1.0 / slope, -(f1 - slope) / slope
    return Design(tuple((n, ls, c, a, b) for n, ls, c, _, _ in rows), 1.0, False, ())


@lru_cache(maxsize=256)
def _design(queries: tuple[str, ...], part_q: str, total_q: str, window: str, events: bool,
            tick: float, need_shares: bool) -> Design | str:
    """The first design whose SLI value is right at every check, or why there is none."""
    text = queries[0]
    try:
        grouped = grouping_labels(text)
        candidates: list[Design] = []
        forms = ("bad", "good") if part_q else ()
        for form in forms:
            rows = _split(find_selectors(part_q.replace(WINDOW, window)),
                          find_selectors(total_q.replace(WINDOW, window)), grouped, form)
            if rows is not None:
                counters = all(r[2] for r in rows)
                candidates.append(Design(tuple(rows), RATE if counters else 1.0, counters, ()))
        carried = _carried(find_selectors(text), grouped)
        affine = None if carried is None else _affine(carried, text, tick)
        if affine is not None:       # values first; a ratio's traffic split first
            candidates.insert(len(candidates) if events else 0, affine)
        for d in candidates:
            if need_shares and not d.shares:
                continue
            if _check(d, list(queries), tick, _EVENT_CHECKS if events else _VALUE_CHECKS):
                _, labels = _value(d.levels(0.2), text, tick)
                return Design(d.series, d.scale, d.shares, tuple(sorted(labels.items())))
    except Unmodelled as exc:
        return f"its query uses {exc}"
    except (ValueError, RuntimeError) as exc:
        return f"its query cannot be read ({exc})"
    if need_shares:
        return ("alerting.min_request_rate needs the SLI's traffic as counters, and no counter "
                "split of its selectors gives the SLI its value")
    return "no synthetic series found whose value under its query is the intended SLI value"


def design_of(p: ObjectivePlan, tick: float) -> Design | str | None:
    """The design for a custom SLI on PromQL, a reason when there is none, None for others."""
    c = p.o.custom
    if c is None or not (c.events or c.value is not None):
        return None
    windows = (p.step, "1h")
    queries = tuple(custom_value_expr(c, p.spec.service, w) for w in windows)
    if c.total is not None:
        part, total = c.bad or c.good or "", c.total
    else:
        parts = _ratio_parts(queries[0])
        part, total = parts if parts is not None else ("", "")
    return _design(queries, part, total, p.step, c.events, tick,
                   bool(p.spec.alerting.min_request_rate) and c.events)


def problem(p: ObjectivePlan, tick: float) -> str | None:
    """Why no promtool test can be written for a custom SLI (None: it can, or not custom)."""
    d = design_of(p, tick)
    return d if isinstance(d, str) else None


def result_labels(p: ObjectivePlan, tick: float) -> dict[str, str]:
    """Labels the SLI's own result carries (a grouping), so its alerts carry them too."""
    d = design_of(p, tick)
    return dict(d.labels) if isinstance(d, Design) else {}


def inputs(p: ObjectivePlan, segments: Sequence[inp.Segment], tick: float
           ) -> list[dict[str, str]]:
    """Input series whose SLI value follows ``segments`` (value, traffic share per tick)."""
    c = p.o.custom
    assert c is not None
    d = design_of(p, tick)
    if d is None:          # an SDK metric: the counter's rate, or the gauge's value
        name, labels = custom_metric_series(c), {cat.SERVICE_LABEL: p.spec.service}
        values = (inp.counter([(m, dist[0][0] * tick) for m, dist in segments])
                  if c.counter is not None else inp.gauge_values([(m, dist[0][0])
                                                                  for m, dist in segments]))
        return [{"series": inp.series(name, labels), "values": values}]
    if isinstance(d, str):
        raise ValueError(f"{p.o.name}: no synthetic inputs: {d}")
    rows = [(ticks, d.levels(dist[0][0], dist[0][1])) for ticks, dist in segments]
    out = []
    for i, (metric, own, counter, _, _) in enumerate(d.series):
        seg = [(ticks, levels[i].level) for ticks, levels in rows]
        values = inp.counter([(t, lv * tick) for t, lv in seg]) if counter else \
            inp.gauge_values(seg)
        out.append({"series": inp.series(metric, dict(own)), "values": values})
    return out
