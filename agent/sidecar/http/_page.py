"""The status page: server-rendered HTML (Jinja2, autoescaped) from the same document as /status,
with charts as inline SVG, so it works offline with no build step and no CDN. A small script
swaps in a fresh fragment every interval instead of reloading the page."""

from __future__ import annotations

import math
import time
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from agent.spec.document import Spec
from agent.units import Unit, format_percent, format_span, format_value

GROUPS = (("infrastructure", "Infrastructure"), ("data", "Data"), ("model", "Model"),
          ("cost", "Cost"), ("jobs", "Jobs"), ("custom", "Custom SLIs"))
STATUS_WORDS = {"ok": "ok", "warning": "warning", "critical": "critical", "no_data": "no data",
                "pending_warning": "pending warning", "pending_critical": "pending critical",
                "pending": "pending"}
CHART_W, CHART_H, PAD = 720, 220, 36

_env = Environment(loader=PackageLoader("agent.sidecar.http", "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def _fmt(value: float | None, unit: str) -> str:
    return format_value(value, Unit(unit)) if value is not None else "—"


def _ago(t: float | None, now: float) -> str:
    if t is None:
        return "—"
    return format_span(max(0.0, now - t))


def _when(t: float | None, now: float, never: str = "never") -> str:
    """``3m ago``, or ``never`` (a job that never succeeded), never ``— ago``."""
    return never if t is None else f"{format_span(max(0.0, now - t))} ago"


def _rate(x: float | None) -> str:
    return "—" if x is None else f"{format_value(x, Unit.COUNT) if x >= 0.01 else '0'}×"


def _pct(x: float | None) -> str:
    return "—" if x is None else format_percent(x)


_env.filters.update(fmt=_fmt, rate=_rate, pct=_pct, span=format_span)
_env.globals.update(words=STATUS_WORDS, span=format_span)


def _state(status: str) -> str:
    """The colour class of a shown status: a pending state takes the colour of the level it
    waits for, drawn dashed (it has not fired)."""
    return status.removeprefix("pending_") if status.startswith("pending_") else status


def rows(spec: Spec, doc: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """Objectives grouped by family, each entry carrying its precomputed text."""
    now = doc.get("time") or time.time()
    families = {o.name: o.info.family for o in spec.objectives}
    grouped: dict[str, list[dict[str, Any]]] = {k: [] for k, _ in GROUPS}
    for o in doc.get("objectives", []):
        entry = dict(o)
        entry["state"] = _state(o["status"])
        entry["for_how_long"] = _ago(o.get("since"), now)
        remaining = o.get("error_budget_remaining")
        entry["budget_pct"] = None if remaining is None else max(0.0, min(1.0, remaining))
        grouped.setdefault(families.get(o["name"], "custom"), []).append(entry)
    return [(key, title, grouped[key]) for key, title in GROUPS if grouped.get(key)]


def chart(history: dict[str, Any], unit: str, warning: float | None,
          critical: float | None) -> dict[str, Any] | None:
    """Inline-SVG geometry for the value history: points, a line, threshold rules, axis text."""
    pts = [p for p in history.get("points", []) if p["v"] is not None]
    if not pts:
        return None
    t0, t1 = pts[0]["t"], pts[-1]["t"]
    values = [p["v"] for p in pts] + [x for x in (warning, critical) if x is not None]
    lo, hi = min(values + [0.0]), max(values)
    if math.isclose(hi, lo):
        hi = lo + (abs(lo) or 1.0)
    span = max(t1 - t0, 1e-9)

    def x(t: float) -> float:
        return round(PAD + (t - t0) / span * (CHART_W - 2 * PAD), 1)

    def y(v: float) -> float:
        return round(CHART_H - PAD - (v - lo) / (hi - lo) * (CHART_H - 2 * PAD), 1)

    points = [{"x": x(p["t"]) if len(pts) > 1 else CHART_W / 2, "y": y(p["v"]),
               "state": _state(p["s"]), "label": f"{_fmt(p['v'], unit)} ({p['s']})"}
              for p in pts]
    rules = _rules(y, unit, warning, critical)
    return {"w": CHART_W, "h": CHART_H, "pad": PAD, "points": points,
            "line": " ".join(f"{p['x']},{p['y']}" for p in points), "rules": rules,
            "top": _fmt(hi, unit), "bottom": _fmt(lo, unit),
            "span": format_span(t1 - t0) if t1 > t0 else "one point",
            "latest": points[-1]["label"], "count": len(points)}


def _rules(y: Any, unit: str, warning: float | None, critical: float | None
           ) -> list[dict[str, Any]]:
    """The level lines with their labels inside the plot (right-aligned above the line, below it
    where the line is near the top or the other label), so no label is clipped at the edge."""
    out: list[dict[str, Any]] = []
    for name, v in (("critical", critical), ("warning", warning)):
        if v is None:
            continue
        ry = y(v)
        ty = ry - 4
        if ty < PAD / 2 or any(abs(ty - r["ty"]) < 13 for r in out):
            ty = ry + 13
        out.append({"y": ry, "ty": ty, "name": name, "text": _fmt(v, unit)})
    return out


def index(spec: Spec, doc: dict[str, Any], interval: float, fragment: bool = False) -> str:
    counts: dict[str, int] = {}
    for o in doc.get("objectives", []):       # pending has not fired: counted as pending
        key = "pending" if o["status"].startswith("pending_") else o["status"]
        counts[key] = counts.get(key, 0) + 1
    return _env.get_template("index.html").render(
        spec=spec, doc=doc, groups=rows(spec, doc), counts=counts, fragment=fragment,
        refresh_ms=int(max(0.5, interval / 2) * 1000), sources=doc.get("sources", {}),
        now=doc.get("time") or time.time(), ago=_ago, when=_when)


def detail(spec: Spec, doc: dict[str, Any], name: str, history: dict[str, Any],
           interval: float, fragment: bool = False) -> str | None:
    o = next((x for x in doc.get("objectives", []) if x["name"] == name), None)
    if o is None:
        return None
    entry = dict(o, state=_state(o["status"]),
                 for_how_long=_ago(o.get("since"), doc.get("time") or time.time()))
    spec_o = spec.objective(name)
    dataset = None
    if spec_o.selector.dataset:
        dataset = next((d for d in doc.get("sources", {}).get("datasets", [])
                        if d["name"] == spec_o.selector.dataset), None)
    return _env.get_template("detail.html").render(
        spec=spec, o=entry, description=spec_o.description, history=history,
        chart=chart(history, o["unit"], o.get("warning"), o.get("critical")),
        dataset=dataset, fragment=fragment, refresh_ms=int(max(0.5, interval / 2) * 1000),
        now=doc.get("time") or time.time(), ago=_ago, when=_when)


def login(spec: Spec, message: str = "") -> str:
    return _env.get_template("login.html").render(spec=spec, message=message, fragment=False,
                                                   refresh_ms=0)


def not_found(spec: Spec, name: str) -> str:
    return _env.get_template("not_found.html").render(
        spec=spec, name=name, names=[o.name for o in spec.objectives], fragment=False,
        refresh_ms=0)


def asset(name: str) -> bytes:
    from importlib.resources import files

    return files("agent.sidecar.http").joinpath("static", name).read_bytes()
