"""An SDK failure points at the right place: the option whose callable failed (``prediction=``,
not "features"), once per cause, with the exception's type and the user's line, and no traceback
at the default log level. The issue's case: a streaming function whose ``prediction=`` callable
fails on the last item."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agent.sdk import Monitor
from tests.helpers import ROOT


@pytest.fixture()
def mon() -> Iterator[Monitor]:
    m = Monitor(registry=CollectorRegistry(), service="svc", sample_rate=1.0)
    yield m
    m.close()


def _errors(mon: Monitor, where: str) -> float:
    return mon.registry.get_sample_value("slo_agent_sdk_errors_total",
                                         {"service": "svc", "where": where}) or 0.0


def _said(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "slo_agent.sdk"
            and r.levelno >= logging.WARNING]


def test_a_stream_whose_prediction_fails_on_the_last_item(
        mon: Monitor, caplog: pytest.LogCaptureFixture) -> None:
    @mon.inference(model="chat", features=lambda prompt: {"length": len(prompt)},
                   prediction=lambda last: last["score"])
    def generate(prompt: str) -> Iterator[dict[str, Any]]:
        yield {"token": "a"}
        yield {"token": "b"}                       # the last item carries no "score"

    with caplog.at_level(logging.WARNING, "slo_agent.sdk"):
        for _ in range(3):
            assert [x["token"] for x in generate("hi")] == ["a", "b"]
    said = _said(caplog)
    assert len(said) == 1, [r.getMessage() for r in said]      # once per cause
    msg = said[0].getMessage()
    assert "the prediction= callable" in msg and "raised KeyError" in msg
    assert "test_sdk_errors.py:" in msg                     # the user's line
    assert "features" not in msg
    assert said[0].exc_info is None                         # no traceback at this level
    assert _errors(mon, "prediction") == 3 and _errors(mon, "features") == 0


def test_another_cause_is_said_once_more_and_debug_shows_the_traceback(
        mon: Monitor, caplog: pytest.LogCaptureFixture) -> None:
    calls = {"n": 0}

    def pick(req: Any) -> Any:
        calls["n"] += 1
        if calls["n"] % 2:
            return req["missing"]                 # KeyError
        return 1 / 0                              # ZeroDivisionError

    @mon.inference(model="m", features=pick)
    def predict(req: dict[str, Any]) -> int:
        return 1

    with caplog.at_level(logging.DEBUG, "slo_agent.sdk"):
        for _ in range(4):
            predict({})
    said = _said(caplog)
    assert sorted(r.getMessage().split(" raised ")[1].split(" ")[0] for r in said) == \
        ["KeyError", "ZeroDivisionError"]
    assert all("the features= callable" in r.getMessage() for r in said)
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert len(debug) == 2                                  # the tracebacks, at debug only


def test_the_exception_message_never_reaches_the_log(mon: Monitor,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """It may carry a data value (a customer's name in a ValueError)."""
    def pick(req: Any) -> Any:
        raise ValueError(f"bad customer {req['name']}")

    @mon.inference(model="m", features=pick)
    def predict(req: dict[str, Any]) -> int:
        return 1

    with caplog.at_level(logging.WARNING, "slo_agent.sdk"):
        predict({"name": "Jane Roe"})
    assert "Jane Roe" not in caplog.text and "raised ValueError" in caplog.text


def test_at_the_default_log_level_a_process_prints_one_line_and_no_traceback() -> None:
    """A real inference process with Python's default logging: stderr holds the one warning."""
    script = textwrap.dedent("""
        import logging
        from prometheus_client import CollectorRegistry
        from agent.sdk import Monitor
        logging.basicConfig()
        mon = Monitor(registry=CollectorRegistry(), service="svc", sample_rate=1.0)

        @mon.inference(model="chat", prediction=lambda last: last["score"])
        def generate(prompt):
            yield {"token": "a"}
            yield {"token": "b"}

        for _ in range(5):
            list(generate("hi"))
        mon.close()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={"PATH": "/usr/bin:/bin",
                                                     "SLO_AGENT_URL": "", "SLO_AGENT_SPEC": ""})
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if "slo-agent: the" in ln]
    assert len(lines) == 1 and "prediction=" in lines[0] and "<string>:" in lines[0], \
        done.stderr
    assert "Traceback" not in done.stderr and "SDK error in features" not in done.stderr
