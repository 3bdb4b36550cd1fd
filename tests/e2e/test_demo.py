"""`slo-agent demo` as a newcomer runs it: every incident detected and resolved, files written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port

pytestmark = pytest.mark.slow


def test_demo_runs_to_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = subprocess.run(
        [sys.executable, "-m", "agent.cli", "demo", "--no-tty", "--duration", "120",
         "--seed", "1", "-o", str(out), "--sidecar-port", str(free_port()),
         "--service-port", str(free_port())],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    print(res.stdout[-3000:])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    text = res.stdout
    assert "/status" in text and "/metrics" in text and "status page" in text
    summary = text[text.index("incidents ("):]
    for label in ("latency regression", "input drift", "null spike", "stale dataset",
                  "fallback storm", "negative feedback", "retraining fails"):
        line = next(ln for ln in summary.splitlines() if label in ln)
        assert " no" not in line.split()[-1:], line          # resolved
    # the drift incident shows the sidecar's predicted detection time beside the measured delay
    drift = next(ln for ln in summary.splitlines() if "input drift" in ln)
    assert "predicted" in summary and len(re.findall(r"\d+\.\ds", drift)) >= 2, drift
    assert "\x1b[" not in text                                # --no-tty: plain lines
    assert (out / "prometheus" / "rules" / "fraud-demo").is_dir()
    assert list((out / "grafana" / "dashboards").glob("*.json"))
