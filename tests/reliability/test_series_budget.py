"""The cardinality budget (bench/series_budget.py), short: a real replica sidecar, checker and
SDK under demo traffic, and real Prometheus instances loading the generated rules and scraping
the replica as 1 and as 3 pods. The raw series grow with the replicas; the recorded series (what
Thanos/Mimir keep per service) must not."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT, require_binary

pytestmark = pytest.mark.slow


def test_recorded_series_do_not_grow_with_the_replica_count() -> None:
    require_binary("prometheus")
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "series_budget.py"),
                          "--seconds", "8", "--replicas", "1,3", "--json"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    print("\n" + res.stdout)
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    m = json.loads(res.stdout.strip().splitlines()[-1])
    one, three = m["stored"]["1"], m["stored"]["3"]
    assert one["recorded"] == three["recorded"] > 0
    assert one["recorded_names"] == three["recorded_names"]
    # every replica adds its own series in raw scrape: that is what the rules aggregate away
    assert three["raw"] - three["checker"] >= 3 * (one["raw"] - one["checker"]) * 0.9
    assert m["sidecar"] > 0 and m["sdk"] > 0 and m["checker"] > 0
    assert "| 1,000 |" in res.stdout
