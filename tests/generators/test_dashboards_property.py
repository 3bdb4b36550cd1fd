"""Property: for any objective the spec schema accepts (any kind, any ordered levels, with or
without an error-budget target), the generated dashboards carry its levels exactly, give every
panel a unit and a description, and serialise without NaN or infinity."""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.signals import record
from agent.signals.examples import sources_for
from agent.sli import plans
from agent.spec import parse_spec
from agent.spec.signals import SIGNALS, SignalKind
from agent.units import Base, Unit
from dashboards.detail import detail_dashboard
from dashboards.panels import STATE_NAMES
from dashboards.service_dashboard import service_dashboard
from tests.generators.test_dashboards import (
    _assert_states_as_judged,
    _expected,
    _override_steps,
    _steps,
)

KINDS = sorted((k for k in SIGNALS if k not in (SignalKind.CUSTOM,
                                                SignalKind.DRIFT_DETECTION_TIME)),
               key=lambda k: k.value)


@st.composite
def objectives(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    info = SIGNALS[kind]
    if record(kind).states:                  # named discrete levels: 0, 1, ...
        a = float(draw(st.integers(0, 1)))
        b = a + float(draw(st.integers(0, 1)))
    else:
        hi = 0.999 if info.unit is Unit.RATIO else 1e4
        a = draw(st.floats(0.001, hi / 2, allow_nan=False).map(lambda x: float(f"{x:.4g}")))
        b = draw(st.floats(a, hi, allow_nan=False).map(lambda x: float(f"{x:.4g}")))
    warning, critical = (a, b) if info.higher_is_worse else (b, a)
    if info.unit is Unit.SECONDS:            # a duration's level carries its unit (#37)
        warning, critical = f"{warning:g}s", f"{critical:g}s"
    example = record(kind).examples[0]      # its selector (and a budget's levels) as worked
    o: dict[str, Any] = {"name": "obj", "signal": kind.value, "warning": warning,
                         "critical": critical, "for": "2m", "selector": dict(example.selector)}
    if record(kind).relative_to is Base.BUDGET:
        o.update(example.extra, warning=example.warning, critical=example.critical)
    if draw(st.booleans()):
        o.update(objective=draw(st.sampled_from(["99%", "99.9%", "95%"])),
                 window=draw(st.sampled_from(["7d", "28d", "30d"])))
    return o


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objectives())
def test_any_objective_yields_sound_dashboards(o: dict[str, Any]) -> None:
    spec = parse_spec({"service": "prop", "models": [{"name": "m", "version": "v1"}],
                       "sources": {"datasets": [{"name": "tx"}], **sources_for([o])},
                       "alerting": {"runbook_url": "https://rb.example/{objective}"},
                       "objectives": [o]})
    (p,) = plans(spec)
    detail = json.loads(JSONEncoder().encode(detail_dashboard(p).build()))
    service = json.loads(JSONEncoder().encode(service_dashboard(spec).build()))
    for dash in (detail, service):
        json.dumps(dash, allow_nan=False)
        for panel in dash["panels"]:
            if panel["type"] != "row":
                assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
                assert panel.get("description"), panel["title"]
    stat = next(x for x in service["panels"] if x["type"] == "stat" and x["title"] == "obj")
    if p.o.signal in STATE_NAMES:
        _assert_states_as_judged(detail["panels"][0], p)
        _assert_states_as_judged(stat, p)
    else:
        assert _steps(detail["panels"][0]["fieldConfig"]["defaults"]) == _expected(p)
    if p.o.signal not in STATE_NAMES and not any(lv.constant is None for lv in p.levels):
        assert _steps(stat["fieldConfig"]["defaults"]) == _expected(p)
    overrides = [v for x in service["panels"] if x["type"] == "timeseries"
                 for v in _override_steps(x).values()]
    if p.o.signal not in (SignalKind.NEW_CATEGORY_SHARE, SignalKind.DISALLOWED_VALUE_SHARE,
                          SignalKind.DEGRADATION_LEVEL, SignalKind.CIRCUIT_BREAKER_STATE):
        assert _expected(p) in overrides
    if p.o.has_target:
        assert detail["time"]["from"] == f"now-{o['window']}"
