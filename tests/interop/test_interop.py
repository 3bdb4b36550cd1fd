"""OpenSLO v1 import/export and Sloth import: documents in each format's documented shape become
valid specs whose objectives, windows and burn tiers match; export and re-import round-trips;
what cannot map exits 2 naming each field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.interop import openslo, sloth
from agent.interop.common import load_documents
from agent.spec import load_spec, parse_spec
from tests.helpers import EXAMPLE_SPEC, ROOT, require_binary
from tests.interop.test_openslo_book import export_openslo

HERE = Path(__file__).parent


def _named(docs: list[Any]) -> list[tuple[str, Any]]:
    return [(f"document {i}", d) for i, d in enumerate(docs)]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_openslo_documents_import_as_a_valid_spec() -> None:
    result = openslo.import_docs(load_documents((HERE / "openslo.yaml").read_text()))
    assert result.problems == []
    spec = parse_spec(result.data)
    assert spec.service == "checkout"
    avail, latency = spec.objective("checkout-availability"), spec.objective("checkout-latency")
    assert avail.objective == pytest.approx(0.999) and avail.window == 28 * 86400
    assert avail.custom is not None and avail.custom.events
    assert avail.custom.bad == ('sum(rate(http_requests_total{handler="/checkout",code=~"5.."}'
                                '[{{.window}}]))')
    tiers = spec.tiers_for(avail)
    assert [(t.name, t.severity, t.long, t.short) for t in tiers] == [
        ("checkout-fast-burn", "critical", 3600.0, 300.0)]
    assert tiers[0].factor == pytest.approx(14.4)                # the condition's threshold
    assert latency.objective == pytest.approx(0.99) and latency.window == 7 * 86400
    assert latency.info.higher_is_worse and latency.good_threshold == pytest.approx(0.4)


def test_openslo_export_round_trips() -> None:
    spec = load_spec(EXAMPLE_SPEC)
    docs, skipped = export_openslo(spec)
    kinds = [d["kind"] for d in docs]
    targets = [o for o in spec.objectives if o.has_target]
    assert kinds.count("SLO") == len(targets) and kinds.count("Service") == 1
    assert set(skipped) == {o.name for o in spec.objectives if not o.has_target}
    result = openslo.import_docs(_named(docs))
    assert result.problems == []
    back = parse_spec(result.data)
    for o in targets:
        b = back.objective(o.name)
        assert b.objective == pytest.approx(o.objective) and b.window == o.window
        assert [round(t.factor, 6) for t in back.tiers_for(b)] == \
            [round(t.factor, 6) for t in spec.tiers_for(o)]
        assert [(t.long, t.short) for t in back.tiers_for(b)] == \
            [(t.long, t.short) for t in spec.tiers_for(o)]
    again, _ = export_openslo(back)
    strip = [{k: v for k, v in d.items() if k != "spec" or d["kind"] != "SLO"} for d in docs]
    assert [d["metadata"]["name"] for d in again] == [d["metadata"]["name"] for d in strip]
    slos = {d["metadata"]["name"]: d["spec"] for d in again if d["kind"] == "SLO"}
    for d in docs:
        if d["kind"] == "SLO":
            assert slos[d["metadata"]["name"]]["timeWindow"] == d["spec"]["timeWindow"]
            assert slos[d["metadata"]["name"]]["objectives"][0]["target"] == \
                d["spec"]["objectives"][0]["target"]


def test_exported_queries_parse_in_prometheus(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    docs, _ = export_openslo(load_spec(EXAMPLE_SPEC))
    exprs = []
    for d in docs:
        if d["kind"] != "SLI":
            continue
        s = d["spec"]
        sources = [s["thresholdMetric"]] if "thresholdMetric" in s else \
            [v for k, v in s["ratioMetric"].items() if k != "counter"]
        exprs += [src["metricSource"]["spec"]["query"].replace("{{.window}}", "5m")
                  for src in sources]
    path = tmp_path / "q.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": [
        {"record": f"q:{i}", "expr": e} for i, e in enumerate(exprs)]}]}))
    res = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_unmappable_openslo_fields_exit_2_naming_each() -> None:
    res = _cli("import", "openslo", str(HERE / "openslo_unsupported.yaml"))
    assert res.returncode == 2
    text = res.stderr + res.stdout
    assert "SLO calendar-datadog.spec.timeWindow[0]: calendar-aligned" in text
    assert "thresholdMetric.metricSource.type: only Prometheus" in text


def test_sloth_getting_started_imports(tmp_path: Path) -> None:
    result = sloth.import_docs(load_documents((HERE / "sloth.yaml").read_text()))
    assert result.problems == []
    spec = parse_spec(result.data)
    avail = spec.objective("requests-availability")
    assert avail.custom is not None and avail.custom.bad is not None
    assert "{{.window}}" in avail.custom.bad and avail.objective == pytest.approx(0.999)
    assert [t.name for t in spec.tiers_for(avail)] == ["page-fast", "page-slow", "ticket-fast",
                                                       "ticket-slow"]
    ratio = spec.objective("requests-ratio")
    assert [t.name for t in spec.tiers_for(ratio)] == ["page-fast", "page-slow"]
    assert ratio.info.unit.value == "ratio" and spec.owner == "myteam"
    out = tmp_path / "slo.yaml"
    res = _cli("import", "sloth", str(HERE / "sloth.yaml"), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert _cli("validate", str(out)).returncode == 0       # promtool parses its queries too
    assert _cli("generate", "-c", str(out), "-o", str(tmp_path / "gen")).returncode == 0


def test_sloth_plugins_are_refused(tmp_path: Path) -> None:
    doc: dict[str, Any] = yaml.safe_load((HERE / "sloth.yaml").read_text())
    doc["slos"][0]["sli"] = {"plugin": {"id": "sloth-common/kubernetes/apiserver/availability"}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    res = _cli("import", "sloth", str(path))
    assert res.returncode == 2 and "slos[0].sli.plugin" in res.stderr + res.stdout


def test_export_cli_writes_openslo(tmp_path: Path) -> None:
    out = tmp_path / "openslo.yaml"
    res = _cli("export", "openslo", "-c", str(EXAMPLE_SPEC), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "not exported: an OpenSLO SLO needs a target" in res.stderr + res.stdout
    docs = list(yaml.safe_load_all(out.read_text()))
    assert all(d["apiVersion"] == "openslo/v1" for d in docs)
