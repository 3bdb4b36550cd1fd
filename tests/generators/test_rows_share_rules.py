"""A share of rows (a null ratio) is judged by the generated threshold alerts as the sidecar judges
it (issue 34, one verdict): the bound of its 99 % Wilson interval past the level, on at least the
sidecar's minimum of rows, never the bare share of a small batch. Checked with promtool on the
generated rules against :func:`detectors.rates.ratio_status` (the sidecar's judgement) for
batches where the bare share and the bound disagree, and for batches whose bound sits just past
and just short of each level (found from :func:`detectors.rates.wilson_interval`), so a bound on
another z (halved, or z² in place of z²/2) judges one of them wrongly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from agent.render.files import write
from agent.sli import plans
from agent.spec import parse_spec
from detectors.quality import NULL_MIN_ROWS
from detectors.rates import ratio_status, wilson_interval
from detectors.thresholds import Status
from tests.helpers import require_binary

WARNING, CRITICAL = 0.1, 0.3
#: (rows in the batch, null share): past critical on its bound; past critical bare but only
#: warning on its bound; all nulls in fewer rows than the minimum (not judged); a large batch
#: just past warning
BATCHES = [(40, 0.6), (40, 0.35), (NULL_MIN_ROWS - 5, 1.0), (5000, 0.12)]
STEP = 5          # minutes each batch is held
#: how far from a level the near batches' bounds sit: a few thousandths, where z/2 moves the
#: bound of 40 rows by about 0.1 and z² for z²/2 that of 400 rows by about 0.008
NEAR = 0.003


def share_at(rows: int, bound: float) -> float:
    """The null share of a batch of ``rows`` whose Wilson lower bound is ``bound`` (bisection:
    the bound grows with the share)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if wilson_interval(mid * rows, rows)[0] < bound else (lo, mid)
    return hi


#: (rows, share, level, past): a batch whose bound is just past (or short of) a level
NEAR_BATCHES = [(n, share_at(n, level + (NEAR if past else -NEAR)), level, past)
                for level in (WARNING, CRITICAL) for n in (40, 400) for past in (True, False)]


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
    batches = BATCHES + [(n, share) for n, share, _, _ in NEAR_BATCHES]
    ratio = " ".join(f"{share!r}x{STEP}" for _, share in batches)
    rows = " ".join(f"{n}x{STEP}" for n, _ in batches)
    cases = []
    for i, (n, share) in enumerate(batches):
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
    fired = [c["exp_samples"] != [] for c in cases]
    assert fired[:8] == [True, True, True, False, False, False, True, False]
    # and each near batch fires its level exactly when its bound is past it
    for k, (_, _, level, past) in enumerate(NEAR_BATCHES):
        at = 2 * (len(BATCHES) + k) + [lv.constant for lv in plan.levels].index(level)
        assert fired[at] == past, (NEAR_BATCHES[k], fired[at])
