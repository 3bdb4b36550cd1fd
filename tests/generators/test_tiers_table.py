"""The detail dashboard's tier table (#37: which alert is firing now, as Pyrra's detail page
shows), its queries run by a real PromQL engine (``promtool test rules``): one row per tier with
its severity, windows and factor, the burn over each window, and 1 only for the tier whose
burn-rate alert Prometheus has firing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from agent import catalogue as cat
from agent.sli import plans
from agent.spec import parse_spec
from agent.units import format_duration
from dashboards.detail import detail_dashboard
from tests.helpers import require_binary

SPEC = {"service": "svc", "models": [{"name": "m"}],
        "objectives": [{"name": "errs", "signal": "error_rate", "selector": {"model": "m"},
                        "objective": "99%", "window": "30d"}]}
BURNING = 0.2        # the bad share every window reads: a 20x burn of a 1% budget


def _table(dash: dict[str, Any]) -> dict[str, str]:
    [panel] = [p for p in dash["panels"] if p.get("title") == "Burn-rate tiers"]
    assert panel["type"] == "table"
    names = panel["transformations"][1]["options"]["renameByName"]
    assert names["Value #F"] == "firing now" and names["long_window"] == "long window"
    return {t["refId"]: t["expr"] for t in panel["targets"]}


def test_the_tier_table_reads_which_tier_fires_now(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    [p] = plans(parse_spec(SPEC))
    assert len(p.tiers) >= 2
    exprs = _table(json.loads(JSONEncoder().encode(detail_dashboard(p).build())))
    fires = p.tiers[0].name
    rec = p.rec_matchers
    alert = cat.label_matchers({"alertname": p.burn_alert_name, "alertstate": "firing",
                                cat.SERVICE_LABEL: "svc", "objective": "errs",
                                cat.TIER_LABEL: fires})
    other = cat.label_matchers({"alertname": p.burn_alert_name, "alertstate": "firing",
                                cat.SERVICE_LABEL: "other", "objective": "errs",
                                cat.TIER_LABEL: p.tiers[1].name})     # another service's
    windows = sorted({w for t in p.tiers for w in (t.long, t.short)})
    series = [{"series": f"ALERTS{alert}", "values": "1x3"},
              {"series": f"ALERTS{other}", "values": "1x3"},
              *({"series": f"{p.ratio_name(w)}{rec}", "values": f"{BURNING}x3"} for w in windows)]

    def rows(value: Any, **labels: str) -> dict[str, Any]:
        return {"labels": cat.label_matchers(labels), "value": value}

    budget = float(f"{p.o.error_budget:.10g}")     # as the expression writes it
    checks = [
        {"expr": exprs["T"], "eval_time": "1m", "exp_samples": [
            rows(t.factor, tier=t.name, severity=t.severity,
                 long_window=format_duration(t.long), short_window=format_duration(t.short))
            for t in p.tiers]},
        {"expr": exprs["L"], "eval_time": "1m", "exp_samples": [
            rows(BURNING / budget, tier=t.name) for t in p.tiers]},
        {"expr": exprs["S"], "eval_time": "1m", "exp_samples": [
            rows(BURNING / budget, tier=t.name) for t in p.tiers]},
        {"expr": exprs["F"], "eval_time": "1m", "exp_samples": [
            rows(1 if t.name == fires else 0, tier=t.name) for t in p.tiers]},
    ]
    (tmp_path / "none.yml").write_text("groups: []\n")
    (tmp_path / "t.yml").write_text(yaml.safe_dump({
        "rule_files": ["none.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": checks}]},
        width=10**6))
    done = subprocess.run([promtool, "test", "rules", str(tmp_path / "t.yml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
