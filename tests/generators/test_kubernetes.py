"""`slo-agent generate --format kubernetes` and deploy/kubernetes, checked offline with real
tools: kubernetes-validate (the Kubernetes OpenAPI schemas it ships) for core objects, the
validators @kubernetes-models/prometheus-operator 6.0.0 generates from the Prometheus Operator's
CRD schemas (run by node) for PrometheusRule, PodMonitor and AlertmanagerConfig, and promtool on
the rules inside the PrometheusRules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.k8s.names import CONFIG_KEY, DNS1123, LABEL_VALUE, label_value, object_name
from agent.render.files import render, render_kubernetes
from agent.signals.examples import every_kind_spec
from agent.spec import load_spec
from tests.helpers import EXAMPLE_SPEC, ROOT, require_binary

K8S_VERSION = "1.31"
NODE_PREFIX = ROOT / ".venv" / "node"
DEPLOY = ROOT / "deploy" / "kubernetes"


def _need(what: str, why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing: {why}")
    pytest.skip(f"{what} is missing: {why}")


def _objects(spec: Any, namespace: str | None = "ml") -> dict[str, list[dict[str, Any]]]:
    files = render(spec, alerts="both")
    k8s = render_kubernetes(spec, files, "both", namespace, {"release": "kube-prometheus-stack"})
    prefix = f"kubernetes/{spec.service}/"
    return {path.removeprefix(prefix): [d for d in yaml.safe_load_all(text) if d]
            for path, (_, text) in k8s.items()}


def _core_validate(doc: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _crd_validate(docs: list[dict[str, Any]]) -> str:
    node = shutil.which("node")
    module = NODE_PREFIX / "node_modules" / "@kubernetes-models" / "prometheus-operator"
    if node is None or not module.is_dir():
        _need("node with @kubernetes-models/prometheus-operator",
              "bash .ci/test.sh installs it (npm install --prefix .venv/node)")
    script = NODE_PREFIX / "crd_validate.mjs"
    shutil.copy(Path(__file__).with_name("crd_validate.mjs"), script)
    res = subprocess.run([str(node), str(script)], input="\n".join(json.dumps(d) for d in docs),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@pytest.mark.parametrize("which", ["example", "every-kind"])
def test_generated_objects_validate(which: str, tmp_path: Path) -> None:
    from agent.spec import parse_spec

    spec = load_spec(EXAMPLE_SPEC) if which == "example" else parse_spec(every_kind_spec())
    objects = _objects(spec)
    docs = [d for path, ds in objects.items() if not path.endswith("kustomization.yaml")
            for d in ds]
    kinds = {d["kind"] for d in docs}
    assert kinds == {"PrometheusRule", "PodMonitor", "ConfigMap", "AlertmanagerConfig"}
    rules = [d for d in docs if d["kind"] == "PrometheusRule"]
    assert len(rules) == len(spec.objectives) + 1             # one per objective, the service
    for d in docs:
        meta = d["metadata"]
        assert DNS1123.match(meta["name"]) and len(meta["name"]) <= 63, meta["name"]
        assert meta["namespace"] == "ml" and meta["labels"]["release"] == "kube-prometheus-stack"
        assert all(LABEL_VALUE.match(v) and len(v) <= 63 for v in meta["labels"].values()), meta
        if d["kind"] == "ConfigMap":
            _core_validate(d)
            assert all(CONFIG_KEY.match(k) for k in d["data"])
            assert len(json.dumps(d).encode()) < 1024 * 1024   # a ConfigMap's size limit
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names))
    dashboards = [d for d in docs if d["kind"] == "ConfigMap"
                  and d["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(dashboards) == len(spec.objectives) + 1        # service + one per objective
    assert any(d["metadata"]["labels"].get("grafana_alert") == "1" for d in docs)
    out = _crd_validate([d for d in docs if d["kind"] != "ConfigMap"])
    assert f"checked {len(rules) + 2}, invalid 0" in out
    # the rules inside the PrometheusRules load in Prometheus
    promtool = require_binary("promtool")
    rule_file = tmp_path / "rules.yml"
    groups = [g for r in rules for g in r["spec"]["groups"]]
    rule_file.write_text(yaml.safe_dump({"groups": groups}))
    res = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    kustomization = objects["kustomization.yaml"][0]
    assert kustomization["namespace"] == "ml"
    assert set(kustomization["resources"]) | {"kustomization.yaml"} == set(objects)


def test_a_broken_object_is_refused_by_the_crd_validators() -> None:
    spec = load_spec(EXAMPLE_SPEC)
    rule = _objects(spec)["prometheusrules.yaml"][0]
    rule["spec"]["groups"][0]["rules"][0]["for"] = 300            # a number, not a duration
    with pytest.raises(AssertionError, match="invalid 1"):
        _crd_validate([rule])


def test_names_are_valid_and_never_collide() -> None:
    a = object_name("Fraud API", "p95.latency" + "x" * 80)
    b = object_name("Fraud API", "p95.latency" + "x" * 79 + "y")
    assert DNS1123.match(a) and len(a) <= 63 and a != b
    assert object_name("svc", "_hidden") == "svc-hidden"
    assert label_value("a b/c") == "a-b-c" and label_value("-x-") == "x"


def test_deploy_kubernetes_is_valid_and_wired_to_the_generated_monitor() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    docs = [d for name in kustomization["resources"]
            for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    secret = yaml.safe_load((DEPLOY / "secret.example.yaml").read_text())
    for d in [*docs, secret]:
        _core_validate(d)
    for gen in kustomization["configMapGenerator"]:
        for f in gen["files"]:
            assert (DEPLOY / f).is_file()
    spec = load_spec(DEPLOY / "slo.yaml")                     # the spec the sidecar mounts
    assert not spec.sidecar.loopback and spec.sidecar.token_env == "SLO_AGENT_TOKEN"
    deployment = next(d for d in docs if d["kind"] == "Deployment"
                      and d["metadata"]["name"] == "fraud-demo")
    pod = deployment["spec"]["template"]
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    sidecar = containers["slo-agent"]
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    for c in containers.values():
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["resources"]["requests"] and c["resources"]["limits"]
    env = {e["name"]: e for e in sidecar["env"]}
    assert env["SLO_AGENT_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    assert env["NVIDIA_DRIVER_CAPABILITIES"]["value"] == "utility"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    state = next(m for m in sidecar["volumeMounts"] if m["mountPath"] == spec.sidecar.state_dir)
    assert "emptyDir" in volumes[state["name"]]
    # the generated PodMonitor finds these pods and their ports
    monitor = _objects(spec, None)["podmonitor.yaml"][0]
    labels = pod["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {p["name"] for c in containers.values() for p in c.get("ports", [])}
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} <= ports
    assert spec.sidecar.port in {p["containerPort"] for p in sidecar["ports"]}


def _deploy_docs() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    return [d for name in kustomization["resources"]
            for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_the_checker_is_one_pod_and_the_replicas_leave_it_the_shared_sources() -> None:
    from agent.sidecar.state.roles import ENV

    docs = _deploy_docs()
    for d in docs:
        _core_validate(d)
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    checker = deployments["fraud-demo-checker"]
    pods = {name: d["spec"]["template"] for name, d in deployments.items()}

    def sidecar(pod: dict[str, Any]) -> dict[str, Any]:
        return next(c for c in pod["spec"]["containers"] if c["name"] == "slo-agent")

    def role(pod: dict[str, Any]) -> str:
        env = {e["name"]: e for e in sidecar(pod)["env"]}
        return str(env[ENV]["value"])

    assert role(pods["fraud-demo"]) == "replica" and role(pods["fraud-demo-checker"]) == "checker"
    assert checker["spec"]["replicas"] == 1 and checker["spec"]["strategy"]["type"] == "Recreate"
    # each Deployment and Service selects its own pods only
    for name, d in deployments.items():
        for other, pod in pods.items():
            assert _selects(d["spec"]["selector"]["matchLabels"],
                            pod["metadata"]["labels"]) == (name == other), (name, other)
    assert _selects(services["fraud-demo"]["spec"]["selector"],
                    pods["fraud-demo"]["metadata"]["labels"])
    assert not _selects(services["fraud-demo"]["spec"]["selector"],
                        pods["fraud-demo-checker"]["metadata"]["labels"])
    jobs = services["fraud-demo-checker"]
    assert _selects(jobs["spec"]["selector"], pods["fraud-demo-checker"]["metadata"]["labels"])
    assert not _selects(jobs["spec"]["selector"], pods["fraud-demo"]["metadata"]["labels"])
    assert {p["targetPort"] for p in jobs["spec"]["ports"]} <= {
        p["name"] for p in sidecar(pods["fraud-demo-checker"])["ports"]}
    # the checker is hardened and probed like the pod's sidecar, on the same spec and token
    c, s = sidecar(pods["fraud-demo-checker"]), sidecar(pods["fraud-demo"])
    assert pods["fraud-demo-checker"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["resources"] == s["resources"] and c["args"] == s["args"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    volumes = {v["name"]: v for v in pods["fraud-demo-checker"]["spec"]["volumes"]}
    spec_mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/slo-agent")
    assert volumes[spec_mount["name"]]["configMap"]["name"] == "slo-agent-spec"
    tokens = {e["name"]: e.get("valueFrom") for e in c["env"]}
    assert tokens["SLO_AGENT_TOKEN"] == {e["name"]: e.get("valueFrom")
                                         for e in s["env"]}["SLO_AGENT_TOKEN"]
    # the generated PodMonitor scrapes the checker as well as every replica's pod
    spec = load_spec(DEPLOY / "slo.yaml")
    monitor = _objects(spec, None)["podmonitor.yaml"][0]
    ports = {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}
    for pod in pods.values():
        assert _selects(monitor["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])
        assert ports & {p["name"] for cont in pod["spec"]["containers"]
                        for p in cont.get("ports", [])}
