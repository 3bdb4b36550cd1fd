"""Cardinality budget of a fleet: series per replica, per service in raw scrape for N replicas,
and per service after the generated recording rules.

Everything counted is read, never assumed: a real replica sidecar (``--role replica``) and the
demo inference service (its SDK's ``/metrics``) run the example spec (``deploy/slo.yaml``) under
demo traffic, a real checker sidecar (``--role checker``) runs beside them, and a real Prometheus
loads the rules ``slo-agent generate`` writes for that spec and scrapes the replica as R
distinct replicas (the same endpoints under R ``pod`` labels, as the Prometheus Operator labels
each pod). The recorded series (each rule's ``record``) are counted at every R measured; the
script exits 1 if that count grows with R, i.e. if a recording rule kept the replica label.

Per replica = the sidecar's and the SDK's exposition (samples of one scrape each) plus the five
series Prometheus adds per target (``up``, ``scrape_*``); raw per service at N replicas = N x per
replica + the checker's; recorded per service = what the rules wrote, whatever R.

The spec's drift reference and window are shrunk and the SDK samples every call so the drift
families fill within seconds; neither changes a series count (bins and categories do, and they
come from the spec). GPU series appear only where NVML finds GPUs: run it on a GPU node to
count them too.

    python bench/series_budget.py [--spec deploy/slo.yaml] [--seconds 25] [--replicas 1,10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.demo.runner import Traffic  # noqa: E402
from agent.render.files import render  # noqa: E402
from agent.spec import parse_spec  # noqa: E402

TARGET_SERIES = 5     # up, scrape_duration_seconds, scrape_samples_scraped,
#                       scrape_samples_post_metric_relabeling, scrape_series_added
FLEETS = (10, 100, 1000)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def exposition_series(text: str) -> int:
    """Samples in one scrape: each is one series in Prometheus."""
    return sum(len(f.samples) for f in text_string_to_metric_families(text))


def measure_spec(path: Path, tmp: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    data["sidecar"] = {**data.get("sidecar", {}), "interval": "1s",
                       "state_dir": str(tmp / "state"), "listen": "127.0.0.1:9464"}
    data["sidecar"].pop("token_env", None)            # loopback only
    data["sdk"] = {**data.get("sdk", {}), "sample_rate": 1.0, "flush_interval": "0.5s"}
    data["drift"] = {**data.get("drift", {}), "reference_size": 300, "window_size": 200,
                     "min_samples": 100}
    data["alerting"] = {**data.get("alerting", {}), "scrape_interval": "1s",
                        "evaluation_interval": "1s"}
    return data


class Procs:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("SLO_AGENT_ROLE", None)
        p = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=ROOT, env=env)
        self.procs.append(p)
        return p

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def prometheus_config(replicas: int, rules: Path, sidecar: str, service: str, checker: str
                      ) -> dict[str, Any]:
    groups = [{"targets": [sidecar, service], "labels": {"pod": f"replica-{i}"}}
              for i in range(replicas)]
    # 2s: ten scrapes of one loaded sidecar at once must fit the timeout (the interval)
    return {"global": {"scrape_interval": "2s", "evaluation_interval": "1s"},
            "rule_files": [str(rules / "*.rules.yml")],
            "scrape_configs": [
                {"job_name": "replica", "static_configs": groups},
                {"job_name": "checker", "static_configs": [
                    {"targets": [checker], "labels": {"pod": "checker"}}]}]}


def query(prom: str, expr: str) -> list[dict[str, Any]]:
    body = json.loads(get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def count(prom: str, expr: str) -> int:
    result = query(prom, f"count({expr})")
    return int(float(result[0]["value"][1])) if result else 0


def recorded_series(prometheus: str, fleets: list[int], rules: Path, names: list[str],
                    ports: dict[str, int], tmp: Path, settle: float) -> dict[int, dict[str, Any]]:
    """One Prometheus per replica count R, all at once on the same endpoints (so each sees the
    same expositions), each scraping the replica as R pods; what each stores, once the recorded
    series agree (or, after a while, as they are: then the caller reports the growth)."""
    procs = Procs(tmp)
    proms: dict[int, str] = {}
    for r in fleets:
        port = free_port()
        config = tmp / f"prometheus-{r}.yml"
        config.write_text(yaml.safe_dump(prometheus_config(
            r, rules, f"127.0.0.1:{ports['sidecar']}", f"127.0.0.1:{ports['service']}",
            f"127.0.0.1:{ports['checker']}")))
        procs.start(f"prometheus-{r}", [
            prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp / f'tsdb-{r}'}",
            f"--web.listen-address=127.0.0.1:{port}"])
        proms[r] = f"http://127.0.0.1:{port}"
    pattern = "|".join(sorted(set(names)))

    def recorded(prom: str) -> set[str]:
        return {json.dumps(x["metric"], sort_keys=True)
                for x in query(prom, f'{{__name__=~"{pattern}"}}')}

    try:
        for r, prom in proms.items():
            wait(lambda p=prom: get(f"{p}/-/ready").startswith(b"Prometheus"),  # type: ignore[misc]
                 60, "prometheus")
            try:
                wait(lambda p=prom, n=r: count(p, 'up{job="replica"} == 1') == 2 * n  # type: ignore[misc]
                     and count(p, 'up{job="checker"} == 1') == 1, 60, "every target up")
            except RuntimeError:
                down = [x["metric"] for x in query(prom, "up == 0")]
                raise RuntimeError(f"targets down after 60s: {down}") from None
        time.sleep(settle)     # rate windows need two scrapes; every rule evaluates a few times
        deadline = time.time() + 6 * settle
        while True:
            seen = {r: recorded(prom) for r, prom in proms.items()}
            if len({frozenset(v) for v in seen.values()}) == 1 or time.time() > deadline:
                break
            time.sleep(2.0)
        return {r: {"recorded": len(seen[r]),
                    "replica": count(prom, '{job="replica", pod="replica-0"}'),
                    "checker": count(prom, '{job="checker"}'),
                    "raw": count(prom, '{job=~"replica|checker"}'),
                    "recorded_names": sorted({json.loads(x)["__name__"] for x in seen[r]})}
                for r, prom in proms.items()}
    finally:
        procs.stop()


def measure(spec_path: Path, seconds: float, fleets: list[int], prometheus: str
            ) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="slo-budget-"))
    data = measure_spec(spec_path, tmp)
    spec = parse_spec(data, str(spec_path))
    run_spec = tmp / "slo.yaml"
    run_spec.write_text(yaml.safe_dump(data))
    files = render(spec, "prometheus")
    rules = tmp / "rules"
    rules.mkdir()
    names: list[str] = []
    prefix = f"prometheus/rules/{spec.service}/"
    for path, (_, text) in files.items():
        if path.startswith(prefix) and path.endswith(".rules.yml"):
            (rules / path.removeprefix(prefix)).write_text(text)
            names += [r["record"] for g in yaml.safe_load(text)["groups"]
                      for r in g["rules"] if "record" in r]
    ports = {k: free_port() for k in ("sidecar", "checker", "service")}
    procs = Procs(tmp)
    run = [sys.executable, "-m", "agent.cli", "run", "-c", str(run_spec), "--log-level",
           "warning"]
    procs.start("replica", [*run, "--role", "replica", "--listen",
                            f"127.0.0.1:{ports['sidecar']}", "--state-dir", str(tmp / "r")])
    procs.start("checker", [*run, "--role", "checker", "--listen",
                            f"127.0.0.1:{ports['checker']}", "--state-dir", str(tmp / "c")])
    procs.start("service", [sys.executable, "-m", "agent.demo.inference_service", "--spec",
                            str(run_spec),
                            "--port", str(ports["service"]), "--sidecar-url",
                            f"http://127.0.0.1:{ports['sidecar']}"])
    traffic = Traffic(ports["service"], seed=7, rate=200.0)
    try:
        for name, url in (("replica", f"http://127.0.0.1:{ports['sidecar']}/readyz"),
                          ("checker", f"http://127.0.0.1:{ports['checker']}/readyz"),
                          ("service", f"http://127.0.0.1:{ports['service']}/healthz")):
            wait(lambda u=url: get(u).startswith(b"{"), 90, name)   # type: ignore[misc]
        traffic.start()
        time.sleep(seconds)
        stored = recorded_series(prometheus, fleets, rules, names, ports, tmp, settle=6.0)
        families: dict[str, dict[str, int]] = {}
        for name in ("sidecar", "service", "checker"):
            text = get(f"http://127.0.0.1:{ports[name]}/metrics").decode()
            families[name] = {f.name: len(f.samples) for f in text_string_to_metric_families(text)
                              if f.samples}
        sidecar, sdk, checker = (sum(families[n].values())
                                 for n in ("sidecar", "service", "checker"))
    finally:
        traffic.stop()
        procs.stop()
    shown = spec_path.resolve()
    return {"service": spec.service,
            "spec": str(shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown),
            "sidecar": sidecar, "sdk": sdk,
            "checker": checker, "recording_rules": len(names), "stored": stored,
            "requests": traffic.sent, "families": families}


def table(m: dict[str, Any]) -> str:
    per_replica = m["sidecar"] + m["sdk"] + 2 * TARGET_SERIES
    checker = m["checker"] + TARGET_SERIES
    recorded = max(s["recorded"] for s in m["stored"].values())
    lines = [
        f"Spec `{m['spec']}` ({m['service']}): a replica's sidecar exports {m['sidecar']} "
        f"series and its SDK {m['sdk']}, plus {TARGET_SERIES} per scrape target that "
        f"Prometheus adds; the checker {m['checker']}; {m['recording_rules']} recording rules.",
        "",
        "| replicas | series per replica (sidecar + SDK) | raw series per service | "
        "series per service after the recording rules |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for n in FLEETS:
        lines.append(f"| {n:,} | {per_replica:,} ({m['sidecar']:,} + {m['sdk']:,} + "
                     f"{2 * TARGET_SERIES}) | {n * per_replica + checker:,} | {recorded:,} |")
    measured = ", ".join(f"{r} replica{'s' if r > 1 else ''}: {s['recorded']} recorded, "
                         f"{s['raw']} raw" for r, s in sorted(m["stored"].items()))
    lines += ["", f"Measured in Prometheus ({measured})."]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=ROOT / "deploy" / "slo.yaml")
    ap.add_argument("--seconds", type=float, default=25.0, help="demo traffic before counting")
    ap.add_argument("--replicas", default="1,10",
                    help="replica counts Prometheus scrapes to check the recorded series")
    ap.add_argument("--json", action="store_true", help="print the measurements as JSON too")
    args = ap.parse_args()
    import shutil

    prometheus = shutil.which("prometheus")
    if prometheus is None:
        print("prometheus is not installed (apt-get install -y prometheus)", file=sys.stderr)
        return 2
    fleets = sorted({int(x) for x in args.replicas.split(",")})
    m = measure(args.spec, args.seconds, fleets, prometheus)
    print(table(m))
    if args.json:
        print(json.dumps(m))
    recorded = {r: s["recorded"] for r, s in m["stored"].items()}
    if len(set(recorded.values())) > 1:
        print(f"FAIL: recorded series grow with the replica count: {recorded}", file=sys.stderr)
        return 1
    if min(recorded.values()) == 0:
        print("FAIL: no recorded series at all", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
