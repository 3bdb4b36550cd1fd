"""docker-compose.yml validated offline (no Docker engine here): the compose specification's schema,
Debian's docker-compose 1.29 ``config``, mounts that exist, and names and ports consistent with
deploy/ and the generated files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.render.files import write
from agent.spec import load_spec
from tests.helpers import ROOT, require_binary


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docker-compose.yml + deploy/ with the generated artifacts in out/, as a user has them."""
    root = tmp_path_factory.mktemp("compose")
    shutil.copy(ROOT / "docker-compose.yml", root)
    shutil.copytree(ROOT / "deploy", root / "deploy")
    write(load_spec(root / "deploy" / "slo.yaml"), root / "out")
    return root


def compose(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / "docker-compose.yml").read_text())
    return data


def test_compose_specification_schema(project: Path) -> None:
    exe = shutil.which("check-jsonschema") or str(Path(ROOT / ".venv/bin/check-jsonschema"))
    res = subprocess.run([exe, "--builtin-schema", "vendor.compose-spec",
                          str(project / "docker-compose.yml")], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_docker_compose_config_accepts_it(project: Path) -> None:
    exe = require_binary("docker-compose")
    res = subprocess.run([exe, "config", "-q"], cwd=project, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "name" not in compose(project)        # 1.29 rejects a top-level name


def test_every_mounted_file_exists(project: Path) -> None:
    for name, svc in compose(project)["services"].items():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if source.startswith("."):
                assert (project / source).exists(), f"{name}: {source} does not exist"


def test_only_grafana_is_published_and_images_are_pinned(project: Path) -> None:
    services = compose(project)["services"]
    published = {n for n, s in services.items() if s.get("ports")}
    assert published == {"grafana"}
    for name, svc in services.items():
        image = svc.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned {image!r}"
    dockerfile = (project / "deploy/agent/Dockerfile").read_text()
    assert "FROM python:3.11.10-slim-bookworm" in dockerfile


def test_health_checks_on_every_server(project: Path) -> None:
    services = compose(project)["services"]
    for name in ("service", "agent", "prometheus", "alertmanager", "grafana", "otel-collector"):
        assert "healthcheck" in services[name], name


def test_names_and_ports_agree_with_deploy(project: Path) -> None:
    services = compose(project)["services"]
    spec = load_spec(project / "deploy" / "slo.yaml")
    prom = yaml.safe_load((project / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in prom["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]}
    am = {t for a in prom["alerting"]["alertmanagers"] for sc in a["static_configs"]
          for t in sc["targets"]}
    for target in targets | am:
        host = target.split(":")[0]
        assert host in services, f"{target}: no such service"
    assert f"agent:{spec.sidecar.port}" in targets
    assert "--port" in services["service"]["command"]
    service_port = services["service"]["command"][services["service"]["command"].index(
        "--port") + 1]
    assert f"service:{service_port}" in targets
    assert spec.sidecar.token_env in services["agent"]["environment"]
    assert "http://agent:9464" in services["service"]["command"]
    ds = yaml.safe_load((project / "out/grafana/provisioning/datasources/slo-agent.yml")
                        .read_text())
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((project / "out/grafana/provisioning/dashboards/slo-agent.yml")
                              .read_text())
    dash_path = provider["providers"][0]["options"]["path"]
    mounts = [v.split(":")[1] for v in services["grafana"]["volumes"]]
    assert dash_path in mounts
    otel = services["service"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert otel.split("//")[1].split(":")[0] == "otel-collector"
    collector = yaml.safe_load((project / "deploy/otel-collector/config.yaml").read_text())
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(
        otel.rsplit(":", 1)[1])
    rules_mount = next(v for v in services["prometheus"]["volumes"] if "rules" in v)
    assert rules_mount.split(":")[0] == f"./out/prometheus/rules/{spec.service}"
    assert "/etc/prometheus/rules/*.rules.yml" in prom["rule_files"]


#: component types the pinned otelcol-contrib image ships (a config naming another fails there)
COLLECTOR_COMPONENTS = {"receivers": {"otlp"}, "processors": {"batch", "filter"},
                        "exporters": {"prometheus", "debug", "otlphttp", "otlp"},
                        "extensions": {"health_check"}}


def test_the_collector_forwards_metrics_to_the_sidecar(project: Path) -> None:
    """No collector binary here: the config is checked as the collector reads it (every
    pipeline component declared and of a shipped type, ${env:...} set in its container) and
    its exporter points at the sidecar's own listen port with the ingest token; the exporter's
    settings themselves are driven against a real sidecar in
    tests/sidecar/test_otlp_clients.py."""
    services = compose(project)["services"]
    spec = load_spec(project / "deploy" / "slo.yaml")
    cfg = yaml.safe_load((project / "deploy/otel-collector/config.yaml").read_text())
    for section, types in COLLECTOR_COMPONENTS.items():
        for name in cfg.get(section, {}):
            assert name.split("/")[0] in types, f"{section}.{name}: not in the image"
    for name, pipe in cfg["service"]["pipelines"].items():
        for section in ("receivers", "processors", "exporters"):
            for comp in pipe.get(section, []):
                assert comp in cfg[section], f"pipelines.{name}: {comp} is not declared"
    exporter = cfg["exporters"]["otlphttp/slo-agent"]
    assert "otlphttp/slo-agent" in cfg["service"]["pipelines"]["metrics"]["exporters"]
    host, port = exporter["endpoint"].split("//")[1].split(":")
    assert host == "agent" and host in services and int(port) == spec.sidecar.port
    assert exporter["headers"]["Authorization"] == f"Bearer ${{env:{spec.sidecar.token_env}}}"
    collector = services["otel-collector"]
    assert spec.sidecar.token_env in collector["environment"]
    assert collector["environment"][spec.sidecar.token_env] == \
        services["agent"]["environment"][spec.sidecar.token_env]
    assert exporter["encoding"] == "proto" and exporter["compression"] == "gzip"
