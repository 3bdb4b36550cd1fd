"""Issue 31's new spec fields and the rules behind them, as properties: ``trusted_proxies`` takes
exactly what parses as an address or network (anything else is refused naming the item);
``allow_link_local`` gates every link-local scrape address; a dataset path is refused exactly
when it resolves outside its folder."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.spec import SpecError, load_text
from agent.spec.paths import resolve
from agent.spec.reach import refused

BASE = """
service: svc
models: [{name: m}]
sidecar: {listen: "127.0.0.1:9464"%s}
sources: {gpu: {mode: "off"}%s}
objectives: [{name: e, signal: error_rate, selector: {model: m}}]
"""


def _load(sidecar: str = "", sources: str = "") -> Any:
    return load_text(BASE % (sidecar, sources), "slo.yaml")


def _parses(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.ip_addresses().map(str),
                 st.builds(lambda a, n: f"{a}/{n}", st.ip_addresses(v=4), st.integers(0, 32)),
                 st.text(alphabet="0123456789abcdef.:/x* ", min_size=1, max_size=20)))
def test_trusted_proxies_take_addresses_and_networks_only(item: str) -> None:
    quoted = item.replace("\\", "\\\\").replace('"', '\\"')
    try:
        spec = _load(f', trusted_proxies: ["{quoted}"]')
    except SpecError as exc:
        assert not _parses(item.strip()) or item != item.strip(), item
        assert "sidecar.trusted_proxies" in str(exc), str(exc)
        return
    assert _parses(item), item
    assert spec.sidecar.trusted_proxies == [item]


@settings(max_examples=200, deadline=None)
@given(st.ip_addresses())
def test_link_local_scrape_addresses_need_the_opt_in(addr: Any) -> None:
    host = f"[{addr}]" if addr.version == 6 else str(addr)
    url = f"http://{host}:9100/metrics"
    target = f', scrape: [{{name: t, url: "{url}", metrics: {{queue_depth: q}}%s}}]'
    local = addr.is_link_local or (getattr(addr, "ipv4_mapped", None) is not None
                                   and addr.ipv4_mapped.is_link_local) \
        or str(addr) in ("100.100.100.200", "192.0.0.192", "fd00:ec2::254")
    assert (refused(host) is not None) == local, (addr, refused(host))
    if local:
        with pytest.raises(SpecError, match=r"sources\.scrape\[0\]\.url"):
            _load(sources=target % "")
    spec = _load(sources=target % ", allow_link_local: true")
    assert spec.sources.scrape[0].allow_link_local


@settings(max_examples=100, deadline=None)
@given(inside=st.booleans(), through_dir=st.booleans(), depth=st.integers(0, 2),
       allow=st.booleans())
def test_a_path_is_refused_exactly_when_it_leads_out_of_its_folder(
        inside: bool, through_dir: bool, depth: int, allow: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "data" / Path(*["sub"] * depth)
        folder.mkdir(parents=True)
        elsewhere = root / "elsewhere"
        elsewhere.mkdir()
        target_dir = folder if inside else elsewhere
        (target_dir / "real.csv").write_text("a\n1\n")
        written = str((folder / "tx.csv").relative_to(root))
        if through_dir:             # a symlinked sub-folder that leads where the file is
            os.symlink(target_dir, folder / "link")
            os.symlink(folder / "link" / "real.csv", folder / "tx.csv")
        else:
            os.symlink(target_dir / "real.csv", folder / "tx.csv")
        real, problem = resolve(root, written, allow)
        assert real == (target_dir / "real.csv").resolve()
        assert (problem is not None) == (not inside and not allow), problem
