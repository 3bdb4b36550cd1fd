"""OTLP in the spec: the ``models[].otlp`` forms, ``sidecar.otlp`` (gRPC on 4317 when true, a
token off loopback), and ``validate`` explaining an objective on a signal no source feeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.spec import parse_spec
from agent.spec.errors import SpecError
from agent.spec.otlp import fed_kinds, source_notes
from tests.helpers import ROOT


def _spec(models: list[dict[str, Any]], objectives: list[dict[str, Any]] | None = None,
          **sidecar: Any) -> Any:
    return parse_spec({"service": "s", "models": models, "sidecar": sidecar,
                       "objectives": objectives or []})


@pytest.mark.parametrize("line,attrs,hit", [
    (True, {"gen_ai.request.model": "gpt-4o"}, True),
    (True, {"gen_ai.response.model": "gpt-4o"}, True),
    (True, {"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "x"}, True),
    (True, {"gen_ai.request.model": "other"}, False),
    ("gpt-4o*", {"gen_ai.response.model": "gpt-4o-2024-08-06"}, True),
    ("gpt-4o*", {"gen_ai.response.model": "gpt-4"}, False),
    ("llama", {"gen_ai.request.model": "llama"}, True),
    ("*", {"error.type": "timeout"}, True),
    ("http.route=/v1/predict", {"http.route": "/v1/predict"}, True),
    ("http.route=/v1/predict", {"http.route": "/v2"}, False),
    ("http.route=*", {"http.route": "/v2"}, True),
    ("http.route=*", {}, False),
])
def test_the_model_line_forms(line: Any, attrs: dict[str, str], hit: bool) -> None:
    m = _spec([{"name": "gpt-4o", "otlp": line}]).models[0]
    assert m.otlp_match is not None and m.otlp_match.hits(attrs) is hit


@pytest.mark.parametrize("line", ["", "=x", "bad key=x", "a=", "x" * 300])
def test_a_bad_model_line_names_the_field(line: str) -> None:
    with pytest.raises(SpecError) as err:
        _spec([{"name": "m", "otlp": line}])
    assert "models[0].otlp" in str(err.value) and "ATTRIBUTE=VALUE" in str(err.value)


def test_grpc_listens_on_4317_when_true_and_needs_the_token_off_loopback() -> None:
    spec = _spec([{"name": "m"}], otlp={"grpc": True})
    assert spec.sidecar.otlp.grpc_listen(spec.sidecar.host) == ("127.0.0.1", 4317)
    assert spec.sidecar.loopback
    off = _spec([{"name": "m"}], otlp={"grpc": "0.0.0.0:4317"})
    assert not off.sidecar.loopback                    # so `run` refuses without a token
    assert _spec([{"name": "m"}]).sidecar.otlp.grpc_listen("127.0.0.1") is None
    with pytest.raises(SpecError) as err:
        _spec([{"name": "m"}], otlp={"grpc": "nope"})
    assert "sidecar.otlp.grpc" in str(err.value)


def test_otlp_feeds_the_kinds_its_instruments_fill() -> None:
    assert {"latency", "error_rate", "ttft", "time_per_output_token", "token_rate"} <= \
        fed_kinds()
    assert not {"fallback_rate", "feature_drift", "cost_per_1k"} & fed_kinds()
    assert "ttft" not in fed_kinds(http_only=True)


def test_validate_explains_an_objective_no_source_feeds(tmp_path: Path) -> None:
    data = {"service": "s", "models": [{"name": "chat", "otlp": "gpt-4o*"},
                                       {"name": "api", "otlp": "http.route=/predict"},
                                       {"name": "sdk-model"}],
            "objectives": [
                {"name": "fallbacks", "signal": "fallback_rate", "selector": {"model": "chat"},
                 "warning": "5%"},
                {"name": "api-ttft", "signal": "ttft", "selector": {"model": "api"},
                 "warning": "1s"},
                {"name": "chat-latency", "signal": "latency", "selector": {"model": "chat"},
                 "warning": "1s"},
                {"name": "sdk-fallbacks", "signal": "fallback_rate",
                 "selector": {"model": "sdk-model"}, "warning": "5%"}]}
    notes = source_notes(parse_spec(data))
    assert [n.split(":")[0] for n in notes] == ["fallbacks", "api-ttft"]
    assert "OTLP (models[].otlp)" in notes[0] and "SDK's decorators" in notes[0]
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    res = subprocess.run([sys.executable, "-m", "agent.cli", "validate", str(path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    assert "fallbacks: fallback_rate of chat comes from no source" in out
    assert "api-ttft: ttft of api" in out and "chat-latency: latency" not in out
