"""Every PromQL query of a generated dashboard, with Grafana's variables substituted the way
Grafana would before sending it to Prometheus (used to prove each panel parses and has data)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel_id: int
    panel: str
    ref: str
    expr: str


def panel_queries(dashboard: Mapping[str, Any]) -> Iterator[PanelQuery]:
    for panel in dashboard.get("panels", []):
        children = panel.get("panels", []) if panel.get("type") == "row" else [panel]
        for p in children:
            for t in p.get("targets", []) or []:
                if t.get("expr"):
                    yield PanelQuery(dashboard.get("uid", ""), int(p.get("id", 0)),
                                     p.get("title", ""), t.get("refId", ""), t["expr"])


def annotation_queries(dashboard: Mapping[str, Any]) -> Iterator[PanelQuery]:
    """The dashboard's Prometheus annotation queries (panel id 0, ref = the annotation name)."""
    for a in dashboard.get("annotations", {}).get("list", []):
        if a.get("expr"):
            yield PanelQuery(dashboard.get("uid", ""), 0, "annotation", a.get("name", ""),
                             a["expr"])


def substitute(expr: str, rate_interval: str = "1m",
               values: Mapping[str, str] | None = None) -> str:
    """Replace $__rate_interval, $__interval and ${var}/$var with concrete values (``.*`` for
    'All')."""
    out = expr.replace("$__rate_interval", rate_interval).replace("$__interval", rate_interval)
    vals = dict(values or {})

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return vals.get(name, ".*")

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, out)
