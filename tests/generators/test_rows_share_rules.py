"""A share of rows (a null ratio) is judged by the generated threshold alerts as the sidecar judges
it (issue 34, one verdict): the bound of its 99 % Wilson interval past the level, on at least the
sidecar's minimum of rows, never the bare share of a small batch. Checked with promtool on the
generated rules against :func:`detectors.rates.ratio_status` (the sidecar's judgement) for
batches where the bare share and the bound disagree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from agent.render.files import write
from agent.sli import plans
from agent.spec import parse_spec
from detectors.quality import NULL_MIN_ROWS
from detectors.rates import ratio_status
from detectors.thresholds import Status
from tests.helpers import require_binary

WARNING, CRITICAL = 0.1, 0.3
#: (rows in the batch, null share): past critical on its bound; past critical bare but only
#: warning on its bound; all nulls in fewer rows than the minimum (not judged); a large batch
#: just past warning
BATCHES = [(40, 0.6), (40, 0.35), (NULL_MIN_ROWS - 5, 1.0), (5000, 0.12)]
STEP = 5          # minutes each batch is held


def test_null_share_alerts_follow_the_sidecars_judgement(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    spec = parse_spec({
        "service": "rows", "models": [{"name": "m"}],
        "sources": {"datasets": [{"name": "feed", "path": "feed.csv"}]},
        "objectives": [{"name": "nulls", "signal": "null_ratio",
                        "selector": {"dataset": "feed", "column": "amount"},
                        "warning": f"{WARNING:.0%}", "critical": f"{CRITICAL:.0%}",
                        "for": "0s"}]})
    write(spec, tmp_path)
    plan = next(p for p in plans(spec) if p.o.name == "nulls")
    rules = tmp_path / "prometheus" / "rules" / "rows" / "nulls.rules.yml"
    base = 'service="rows",dataset="feed"'
    ratio = " ".join(f"{share}x{STEP}" for _, share in BATCHES)
    rows = " ".join(f"{n}x{STEP}" for n, _ in BATCHES)
    cases = []
    for i, (n, share) in enumerate(BATCHES):
        sidecar = ratio_status(share * n, n, WARNING, CRITICAL, min_count=NULL_MIN_ROWS).status
        for level in plan.levels:
            fires = sidecar is not Status.NO_DATA and sidecar.rank >= Status(level.severity).rank
            cases.append({"expr": f"count({plan.threshold_expr(level)})",
                          "eval_time": f"{i * (STEP + 1) + STEP // 2}m",
                          "exp_samples": [{"labels": "{}", "value": 1}] if fires else []})
    doc = {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": f'slo_agent_dataset_null_ratio{{{base},column="amount"}}',
             "values": ratio},
            {"series": f"slo_agent_dataset_rows{{{base}}}", "values": rows}],
        "promql_expr_test": cases}]}
    test = tmp_path / "rows.test.yml"
    test.write_text(yaml.safe_dump(doc))
    res = subprocess.run([promtool, "test", "rules", str(test)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    # the cases are not all alike: the bare share and the bound differ in one of them
    assert [c["exp_samples"] != [] for c in cases] == [True, True, True, False, False, False,
                                                       True, False]
