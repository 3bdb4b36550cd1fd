"""The spec's own PromQL, read with a real parser (``promql-parser``, bindings to the Rust crate
of that name): a query Prometheus cannot run (MetricsQL functions, typos) is refused where the
spec is loaded, so ``validate`` and ``generate`` refuse the same; an OpenSLO ``counter: true``
query is rewritten node by node, never by string edits.
"""

from __future__ import annotations

from typing import Any

import promql_parser as pp

#: Sloth's placeholder for the window of an events query
WINDOW = "{{.window}}"
_PROBE = "5m"          # what {{.window}} stands for while parsing


def problem(query: str) -> str | None:
    """Why Prometheus cannot run ``query`` (``{{.window}}`` filled in); None when it parses."""
    try:
        pp.parse(query.replace(WINDOW, _PROBE))
    except (ValueError, RuntimeError) as exc:
        return str(exc) or "invalid PromQL"
    return None


class CounterQueryError(ValueError):
    """A ``counter: true`` query that cannot be turned into a rate."""


def counter_rate(query: str) -> str:
    """``sum(http_requests{code=~"2.."})`` → ``sum(rate(http_requests{code=~"2.."}[{{.window}}]))``:
    every instant selector of a counter query becomes its per-second rate over the window, and
    a query that is no aggregation is summed."""
    if WINDOW in query:
        raise CounterQueryError("with counter: true the query names raw counters; it must not "
                                "use {{.window}}")
    try:
        tree = pp.parse(query)
    except (ValueError, RuntimeError) as exc:
        raise CounterQueryError(f"not PromQL: {exc}") from None
    text = _print(tree)
    # one series per query, so bad/total divide whatever labels the counters carry
    return text if isinstance(tree, pp.AggregateExpr) else f"sum({text})"


def _child(node: Any) -> str:
    """A binary operand keeps its own precedence by parentheses."""
    text = _print(node)
    return f"({text})" if isinstance(node, pp.BinaryExpr) else text


def _print(node: Any) -> str:
    if isinstance(node, pp.VectorSelector):
        if node.offset is not None or node.at is not None:
            raise CounterQueryError(f"{node}: offset and @ cannot be combined with counter: true;"
                                    " write the windowed query with counter: false")
        text = str(node)
        return f"rate({text.removesuffix('{}')}[{WINDOW}])"     # the parser prints x as x{}
    if isinstance(node, (pp.MatrixSelector, pp.SubqueryExpr)):
        raise CounterQueryError(f"{node} already takes a range; with counter: true give the "
                                "counter itself (the window is applied on import)")
    if isinstance(node, pp.AggregateExpr):
        args = ([_print(node.param)] if node.param is not None else []) + [_print(node.expr)]
        mod = f" {node.modifier} " if node.modifier is not None else ""
        return f"{node.op}{mod}({', '.join(args)})"
    if isinstance(node, pp.BinaryExpr):
        mod = f" {node.modifier}" if node.modifier is not None and str(node.modifier) else ""
        return f"{_child(node.lhs)} {node.op}{mod} {_child(node.rhs)}"
    if isinstance(node, pp.ParenExpr):
        return f"({_print(node.expr)})"
    if isinstance(node, pp.UnaryExpr):
        return f"-{_child(node.expr)}"
    if isinstance(node, pp.Call):
        return f"{node.func.name}({', '.join(_print(a) for a in node.args)})"
    return str(node)        # number and string literals


def _calls(node: Any, outer: str | None, out: list[str | None]) -> None:
    """The function applied to each range selector (None for one taken by no function)."""
    if isinstance(node, pp.MatrixSelector):
        out.append(outer)
        return
    if isinstance(node, pp.Call):
        for a in node.args:
            _calls(a, node.func.name, out)
        return
    for attr in ("expr", "lhs", "rhs", "param"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            _calls(child, None, out)


def counting_function(query: str) -> str | None:
    """``rate`` or ``increase`` when every range in an events query is taken by that kind of
    function (so its events can be counted); None otherwise."""
    try:
        tree = pp.parse(query.replace(WINDOW, _PROBE))
    except (ValueError, RuntimeError):
        return None
    found: list[str | None] = []
    _calls(tree, None, found)
    kinds = {"rate" if f in ("rate", "irate") else "increase" if f == "increase" else None
             for f in found}
    return kinds.pop() if len(kinds) == 1 else None
