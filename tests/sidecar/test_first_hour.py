"""A newcomer's first hour against a real sidecar and SDK: pending states, partial windows, and an
SDK that says what it does when it is not configured."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.helpers import ROOT, free_port
from tests.sidecar.conftest import make_spec


def _errors(sc: Any, n: int = 5) -> None:
    for _ in range(n):
        code, _ = sc.post({"schema": 1, "service": "svc", "items": [
            {"type": "requests", "model": "clf", "version": "v1",
             "counts": {"ok": 50, "error": 50}}]})
        assert code == 202


def test_a_breach_waiting_for_its_for_is_pending(tmp_path: Path, sidecar_factory: Any) -> None:
    spec = make_spec(tmp_path, free_port())
    errors = next(o for o in spec["objectives"] if o["name"] == "errors")
    errors.update({"for": "1m", "warning": "1%", "critical": "5%"})
    sc = sidecar_factory(spec)
    _errors(sc)
    deadline = time.time() + 10
    entry: dict[str, Any] = {}
    while time.time() < deadline:
        _errors(sc, 1)
        entry = next(o for o in sc.status()["objectives"] if o["name"] == "errors")
        if entry["status"].startswith("pending"):
            break
        time.sleep(0.3)
    assert entry["status"] == "pending_critical", entry         # 50 % errors, critical at 5 %
    pending = entry["pending"]
    assert pending["level"] == "critical"
    assert pending["fires_at"] == pending["since"] + 60 and 0 < pending["fires_in"] <= 60
    _, raw = sc.get("/metrics")
    match = re.search(r'slo_agent_objective_pending_fire_timestamp_seconds\{[^}]*level="critical"'
                      r'[^}]*objective="errors"[^}]*\} (\S+)', raw.decode())
    assert match and float(match.group(1)) == pending["fires_at"]
    assert re.search(r'slo_agent_objective_state\{[^}]*objective="errors"[^}]*\} 0\.0',
                     raw.decode())                              # not firing yet: still ok
    log = sc.log()
    assert '"event": "objective_pending"' in log and '"pending": "critical"' in log
    # pending is shown as pending everywhere: the judgement says so (not "ok"), the page's
    # header counts it as pending (not as fired), and its "Waits (for:)" column is the spec's
    reason = entry["judgement"]["reason"]
    assert "pending critical" in reason and "fires after for: 1m" in reason, reason
    assert not reason.endswith(": ok"), reason
    _, page = sc.get("/")
    html = page.decode()
    assert re.search(r'data-count="pending">1 pending<', html), html[:2000]
    assert re.search(r'data-count="critical">0 critical<', html)
    assert "Waits (for:)" in html and "<td>1m</td>" in html


def test_budget_and_burn_rates_wait_for_data(tmp_path: Path, sidecar_factory: Any) -> None:
    """Seconds after start a 1h objective reports no budget yet, and for a window that is
    mostly empty the burn over the data it holds, its coverage and why the tier does not fire:
    the missing part counts as unknown (as in the generated rules)."""
    sc = sidecar_factory(make_spec(tmp_path, free_port()))
    _errors(sc, 2)
    time.sleep(0.6)
    errors = next(o for o in sc.status()["objectives"] if o["name"] == "errors")
    assert errors["error_budget_remaining"] is None
    assert "not enough data yet" in errors["error_budget"]["reason"]
    assert errors["error_budget"]["partial"] is True
    slow = errors["tiers"][-1]                                    # ticket-slow: 6m long window
    assert slow["long"]["burn_rate"] > slow["factor"] and slow["long"]["coverage"] < 0.05
    assert "counts as unknown" in slow["long"]["reason"]
    assert slow["firing"] is False


def test_sdk_says_once_what_it_does_unconfigured(tmp_path: Path) -> None:
    code = ("import logging; logging.basicConfig(level=logging.WARNING)\n"
            "from agent import monitor\n"
            "@monitor.inference(model='m')\n"
            "def f(x): return x\n"
            "for i in range(3): f(i)\n"
            "from agent.sdk.monitor import Monitor\n"
            "Monitor(register=False)\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("SLO_AGENT_SPEC", "SLO_AGENT_URL", "SLO_AGENT_SERVICE",
                        "OTEL_SERVICE_NAME")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if "neither SLO_AGENT_SPEC" in line]
    assert len(lines) == 1, res.stderr
    assert "unknown_service" in lines[0] and "SLO_AGENT_URL=http://" in lines[0]
    configured = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                cwd=ROOT, env={**env, "SLO_AGENT_URL": "http://127.0.0.1:9"},
                                timeout=60)
    assert "neither SLO_AGENT_SPEC" not in configured.stderr
