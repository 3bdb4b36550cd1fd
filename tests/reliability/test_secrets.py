"""Secrets never shown or logged: scrape credentials come from the environment and scrape or
webhook URLs are redacted in /status, on the page and in the log."""

from __future__ import annotations

import base64
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.redact import redact_url
from agent.sidecar._webhooks import Webhooks
from agent.sidecar.collectors.scrape import Scraper
from agent.sidecar.engine import Engine
from agent.sidecar.state.jsonsafe import dumps
from agent.spec import SpecError, parse_spec
from agent.spec.document import ScrapeTarget
from agent.spec.sources import ScrapeAuth
from tests.helpers import free_port

EXPOSITION = b"# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting 7\n"


class Guarded(BaseHTTPRequestHandler):
    """Serves an exposition only to the expected Authorization header."""

    expected = ""

    def do_GET(self) -> None:
        ok = self.headers.get("Authorization") == type(self).expected
        self.send_response(200 if ok else 401)
        self.end_headers()
        if ok:
            self.wfile.write(EXPOSITION)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def guarded() -> Any:
    handler = type("G", (Guarded,), {"expected": ""})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, server.server_address[1]
    server.shutdown()


def _target(url: str, auth: dict[str, str] | None = None) -> ScrapeTarget:
    data: dict[str, Any] = {"name": "vllm", "url": url,
                            "metrics": {"queue_depth": "vllm:num_requests_waiting"}}
    if auth:
        data["auth"] = auth
    return ScrapeTarget.model_validate(data)


def test_bearer_token_from_the_environment(guarded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    handler, port = guarded
    handler.expected = "Bearer t0k3n-xyz"
    target = _target(f"http://127.0.0.1:{port}/metrics", {"bearer_token_env": "VLLM_TOK"})
    missing = Scraper(target).scrape()
    assert not missing.up and "VLLM_TOK" in (missing.error or "")
    monkeypatch.setenv("VLLM_TOK", "t0k3n-xyz")
    result = Scraper(target).scrape()
    assert result.up and result.values, result.error


def test_basic_auth_from_the_environment_and_from_the_url(guarded: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    handler, port = guarded
    handler.expected = "Basic " + base64.b64encode(b"scraper:pa55word").decode()
    monkeypatch.setenv("U", "scraper")
    monkeypatch.setenv("P", "pa55word")
    env = _target(f"http://127.0.0.1:{port}/metrics", {"username_env": "U", "password_env": "P"})
    assert Scraper(env).scrape().up
    inline = Scraper(_target(f"http://scraper:pa55word@127.0.0.1:{port}/metrics"))
    assert inline.scrape().up
    assert "pa55word" not in inline.target.url and "scraper" not in inline.target.url


def test_status_and_page_never_show_scrape_credentials(tmp_path: Path) -> None:
    port = free_port()          # nothing listens: the error is shown, redacted
    url = f"http://admin:hunter22@127.0.0.1:{port}/metrics?api_key=k3y-k3y&job=x"
    spec = parse_spec({"service": "s", "models": [{"name": "m"}],
                       "sources": {"gpu": {"mode": "off"}, "scrape": [
                           {"name": "vllm", "url": url, "metrics": {
                               "queue_depth": "vllm:num_requests_waiting"}}]},
                       "objectives": []})
    engine = Engine(spec, state_dir=tmp_path)
    engine.scrapers[0].scrape()
    engine.tick(100.0)
    from agent.sidecar.http import _page as page
    shown = dumps(engine.status_doc, "status", default=str).decode() + \
        page.index(spec, engine.status_doc, engine.interval, False)
    assert "hunter22" not in shown and "k3y-k3y" not in shown and "admin" not in shown
    assert "job=x" in shown or "up" in shown


def test_failing_webhook_url_is_never_logged(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/services/T0/B0/XoXsEcReT?token=abc123"
    results: list[str] = []
    hooks = Webhooks([(url, 0.5)], results.append, retries=0)
    with caplog.at_level(logging.WARNING, logger="slo_agent.sidecar"):
        hooks.send({"objective": "x"})
        deadline = threading.Event()
        for _ in range(50):
            if results:
                break
            deadline.wait(0.1)
    hooks.close()
    assert results == ["failed"]
    text = caplog.text
    assert "webhook" in text and "XoXsEcReT" not in text and "abc123" not in text
    assert f"127.0.0.1:{port}" in text


SECRET = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=6, max_size=20)


@settings(max_examples=200, deadline=None)
@given(user=SECRET, password=SECRET, key=st.sampled_from(
    ["token", "api_key", "access_token", "secret", "password", "X-Signature", "sessionid"]),
       value=SECRET, other=st.sampled_from(["job", "format", "target"]))
def test_redacted_urls_carry_no_secret(user: str, password: str, key: str, value: str,
                                       other: str) -> None:
    url = f"https://{user}:{password}@host.example:9400/metrics?{other}=v&{key}={value}"
    shown = redact_url(url)
    assert password not in shown and value not in shown and f"{user}:" not in shown
    assert shown.startswith("https://***@host.example:9400/metrics?") and f"{other}=v" in shown


ENV = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,15}\Z")
#: the schema's own fields, plus the inline secrets it refuses and an unknown key
AUTH_FIELD = st.sampled_from(sorted(ScrapeAuth.model_json_schema()["properties"])
                             + ["bearer_token", "password", "tls"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(AUTH_FIELD, st.one_of(ENV, st.text(max_size=8), st.none(),
                                             st.integers()), max_size=4))
def test_scrape_auth_fields_property(auth: dict[str, Any]) -> None:
    """Any auth mapping over the schema's fields: a valid model, or a SpecError whose every
    issue names a path under the target's auth, and never echoes an inline secret."""
    data = {"service": "s", "models": [{"name": "m"}], "objectives": [],
            "sources": {"gpu": {"mode": "off"}, "scrape": [
                {"name": "t", "url": "http://127.0.0.1:1/metrics", "auth": auth}]}}
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.path.startswith("sources.scrape[0].auth"), issue
        for k in ("bearer_token", "password"):
            if isinstance(auth.get(k), str) and len(auth[k]) > 3:
                assert auth[k] not in str(exc)
    else:
        a = spec.sources.scrape[0].auth
        assert a is not None
        assert (a.bearer_token_env is None) == (a.username_env is not None)


def test_spec_errors_never_echo_url_credentials() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec({"service": "s", "models": [{"name": "m"}], "objectives": [],
                    "sources": {"gpu": {"mode": "off"}, "scrape": [
                        {"name": "t", "url": "ftp://u:hunter22@h/m?token=abc123"}]}})
    text = str(info.value)
    assert "sources.scrape[0].url" in text and "http" in text
    assert "hunter22" not in text and "abc123" not in text
