"""The soak benchmark, one minute in CI: SDK at a steady rate into the sidecar, /metrics scraped
every second; the run fails if the sidecar's RSS is not flat. Its figures are printed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def test_soak_one_minute() -> None:
    seconds = os.environ.get("SLO_AGENT_SOAK_SECONDS", "60")
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--seconds",
                          seconds, "--rate", "2000"], capture_output=True, text=True,
                         timeout=int(float(seconds)) + 120, cwd=ROOT)
    print("\n" + res.stdout)
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]
    assert "RSS flat" in res.stdout and "samples dropped" in res.stdout
