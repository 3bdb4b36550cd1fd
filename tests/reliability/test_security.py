"""Security: tokens are compared in constant time and never echoed; raw feature values never
appear in /status or /metrics; off loopback without a token the sidecar does not start."""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from agent.sidecar.engine import Engine
from agent.sidecar.http import _routes_auth as routes_auth
from agent.sidecar.http import server
from agent.spec import parse_spec
from tests.sidecar.conftest import make_spec

SECRET = "tok-" + "x" * 40


def _client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[TestClient, Engine]:
    data = make_spec(tmp_path, 9)
    data["sidecar"].update(listen="0.0.0.0:9", token_env="SLO_SEC_TOKEN")
    monkeypatch.setenv("SLO_SEC_TOKEN", SECRET)
    spec = parse_spec(data)
    engine = Engine(spec, state_dir=tmp_path / "state")
    token = server.resolve_token(spec)
    engine.ready.set()
    return TestClient(server.create_app(engine, token)), engine


def test_constant_time_compare_on_ingest_and_status(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(routes_auth.hmac, "compare_digest", spy)
    client, _ = _client(tmp_path, monkeypatch)
    assert client.get("/status").status_code == 401
    assert client.get("/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/v1/ingest", content=b"{}",
                       headers={"Authorization": f"Bearer {SECRET}"}).status_code == 422
    assert client.get("/status", headers={"Authorization": f"Bearer {SECRET}"}
                      ).status_code == 200
    assert len(calls) == 3 and all(b == SECRET.encode() for _, b in calls)
    assert client.get("/metrics").status_code == 200          # scrapes stay open


def test_no_tokens_or_raw_feature_values_leak(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    client, engine = _client(tmp_path, monkeypatch)
    marker = "RAW-FEATURE-VALUE-7f3a"
    rows = [{"amount": 123456.789, "country": marker} for _ in range(300)]
    body = {"schema": 1, "service": "svc", "items": [
        {"type": "samples", "model": "clf", "version": "v1", "features": rows,
         "predictions": [0.123456789] * 300}]}
    auth = {"Authorization": f"Bearer {SECRET}"}
    assert client.post("/v1/ingest", content=json.dumps(body), headers=auth).status_code == 202
    engine._drain()
    engine.tick(1e9)
    status = client.get("/status", headers=auth).text
    metrics = client.get("/metrics").text
    for text in (status, metrics):
        assert SECRET not in text and marker not in text and "123456.789" not in text


def test_refuses_to_start_off_loopback_without_token(tmp_path: Path) -> None:
    data = make_spec(tmp_path, 9)
    data["sidecar"]["listen"] = "0.0.0.0:9"
    with pytest.raises(server.InsecureBind, match="bearer token"):
        server.resolve_token(parse_spec(data))


def test_status_page_follows_the_token_rules(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Off loopback the page, the detail view and the history need the token: as a bearer
    header, or as the HttpOnly cookie /login sets after a correct token; never echoed."""
    client, engine = _client(tmp_path, monkeypatch)
    engine.tick(1e9)
    for path in ("/", "/objectives/latency", "/history/latency"):
        res = client.get(path)
        assert res.status_code == 401, path
        assert SECRET not in res.text
    assert "Sign in" in client.get("/").text
    auth = {"Authorization": f"Bearer {SECRET}"}
    assert client.get("/", headers=auth).status_code == 200
    assert client.get("/history/latency", headers=auth).status_code == 200
    wrong = client.post("/login", data={"token": "nope"}, follow_redirects=False)
    assert wrong.status_code == 401 and "slo_agent_session" not in wrong.headers.get(
        "set-cookie", "")
    ok = client.post("/login", data={"token": SECRET}, follow_redirects=False)
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = client.get("/objectives/latency")             # the client keeps the cookie
    assert page.status_code == 200 and SECRET not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/ui/page.js").status_code == 200  # assets carry no data


def test_cookie_is_a_session_not_the_token_and_never_opens_ingest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, engine = _client(tmp_path, monkeypatch)
    engine.tick(1e9)
    batch = {"schema": 1, "service": "svc", "items": [
        {"type": "requests", "model": "clf", "version": "v1", "counts": {"ok": 1}}]}
    client.cookies.set("slo_agent_token", SECRET)          # the old cookie: the raw token
    assert client.get("/status").status_code == 401
    assert client.post("/v1/ingest", json=batch).status_code == 401
    client.cookies.clear()
    ok = client.post("/login", data={"token": SECRET}, follow_redirects=False)
    assert ok.status_code == 303 and SECRET not in ok.headers["set-cookie"]
    session = client.cookies.get("slo_agent_session")
    assert session and session != SECRET and len(session) >= 32
    assert client.get("/status").status_code == 200                  # the page's session works
    assert client.post("/v1/ingest", json=batch).status_code == 401   # ingest: bearer only
    auth = {"Authorization": f"Bearer {SECRET}"}
    assert client.post("/v1/ingest", json=batch, headers=auth).status_code == 202


def test_login_is_rate_limited_per_client(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = _client(tmp_path, monkeypatch)
    codes = [client.post("/login", data={"token": f"guess-{i}"},
                         follow_redirects=False).status_code for i in range(30)]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes
    limited = client.post("/login", data={"token": SECRET}, follow_redirects=False)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_login_limiter_and_session_table_are_bounded() -> None:
    from agent.sidecar.http._sessions import OVERFLOW, LoginLimiter, Sessions

    now = [0.0]
    limiter = LoginLimiter(burst=2, per_minute=60, cap=100, clock=lambda: now[0])
    for i in range(10_000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) <= 100
    assert limiter.allow(OVERFLOW) > 0          # clients past the cap share one bucket
    now[0] += 3600                              # refilled buckets are forgotten for new ones
    assert limiter.allow("192.0.2.1") == 0.0 and len(limiter) <= 100
    sessions = Sessions(ttl=10, cap=50, clock=lambda: now[0])
    values = [sessions.new() for _ in range(500)]
    assert len(sessions) == 50 and not sessions.valid(values[0]) and sessions.valid(values[-1])
    now[0] += 11
    assert not sessions.valid(values[-1])


FORM_KEYS = st.sampled_from(["token", "next", "user", "tok en", ""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(form=st.lists(st.tuples(FORM_KEYS, st.text(max_size=40)), max_size=4),
       raw=st.binary(max_size=200), use_raw=st.booleans())
def test_login_form_property(tmp_path_factory: pytest.TempPathFactory, form: list[Any],
                             raw: bytes, use_raw: bool) -> None:
    """Any form body (fields of the login form, or raw bytes): 303 only for the exact token,
    otherwise 401 or 429, never a 5xx, and the token is never echoed."""
    monkeypatch = pytest.MonkeyPatch()
    try:
        client, _ = _client(tmp_path_factory.mktemp("login"), monkeypatch)
        body = raw if use_raw else "&".join(f"{quote(k)}={quote(v)}" for k, v in form).encode()
        res = client.post("/login", content=body, follow_redirects=False,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        given_token = [v for k, v in form if k == "token"][:1]
        expected = 303 if not use_raw and given_token == [SECRET] else 401
        assert res.status_code == expected, res.text
        assert SECRET not in res.text and SECRET not in res.headers.get("set-cookie", "")
    finally:
        monkeypatch.undo()
