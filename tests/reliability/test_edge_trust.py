"""Issue 31, point 5: trust is explicit.

A real sidecar believes X-Forwarded-For only from the addresses ``sidecar.trusted_proxies``
lists: from loopback, a rotating header no longer resets the /login limit (uvicorn trusts
127.0.0.1 by default). A scrape target at a link-local or cloud metadata address is refused by
``validate`` (and a name that resolves to one is not fetched) unless the target opts in.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT, free_port
from tests.sidecar.conftest import make_spec

TOKEN = "trust-token-" + "z" * 20


def _login_codes(url: str, n: int) -> list[int]:
    codes = []
    for i in range(n):
        req = urllib.request.Request(
            url + "/login", method="POST", data=urllib.parse.urlencode(
                {"token": f"guess-{i}"}).encode(),
            headers={"X-Forwarded-For": f"203.0.113.{i % 250}",
                     "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                codes.append(resp.status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
    return codes


@pytest.mark.parametrize("trusted", [False, True])
def test_forwarded_for_is_believed_only_from_listed_proxies(
        tmp_path: Path, sidecar_factory: Any, trusted: bool) -> None:
    spec = make_spec(tmp_path, free_port())
    spec["sidecar"]["token_env"] = "SLO_TRUST_TOKEN"
    if trusted:
        spec["sidecar"]["trusted_proxies"] = ["127.0.0.1", "::1"]
    sc = sidecar_factory(spec, env={"SLO_TRUST_TOKEN": TOKEN})
    codes = _login_codes(sc.url, 15)
    if trusted:      # the listed proxy's header names the client: 15 different clients
        assert 429 not in codes, codes
    else:            # the header is ignored: one client, limited after its burst
        assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes


def _validate(tmp: Path, target: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    spec = make_spec(tmp, free_port())
    spec["sources"]["scrape"] = [{"name": "meta", "interval": "1s",
                                  "metrics": {"queue_depth": "q"}, **target}]
    path = tmp / "slo.yaml"
    path.write_text(yaml.safe_dump(spec))
    return subprocess.run([sys.executable, "-m", "agent.cli", "validate", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://[fe80::1%25eth0]:9100/metrics",
                                 "http://metadata.google.internal/computeMetadata/v1/",
                                 "http://[::ffff:169.254.169.254]/"])
def test_validate_refuses_link_local_scrape_targets(tmp_path: Path, url: str) -> None:
    res = _validate(tmp_path, {"url": url})
    assert res.returncode == 2, res.stdout + res.stderr
    assert "sources.scrape[0].url" in res.stderr and "allow_link_local" in res.stderr, res.stderr
    res = _validate(tmp_path, {"url": url, "allow_link_local": True})
    assert res.returncode == 0, res.stderr


def test_the_scrapers_check_of_resolved_addresses() -> None:
    """Before each fetch the scraper checks what the name resolves to (a DNS name for the
    metadata service passes ``validate``); offline here, so through names the host resolves."""
    from agent.spec.reach import refused, resolved_refusal

    assert resolved_refusal("localhost", 80) is None
    assert resolved_refusal("127.0.0.1", 80) is None
    assert "link-local" in (resolved_refusal("169.254.1.1", 80) or "")
    assert "metadata" in (refused("METADATA.google.internal.") or "")
    assert refused("10.0.0.1") is None and refused("example.com") is None
