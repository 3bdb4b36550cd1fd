"""The base install, as an inference image gets it: a fresh venv, ``pip install slo-agent`` from
this tree with its real dependencies. No heavy package may come with it, the decorators must record
and ship, the commands that need an extra must say which in one line, and the size is printed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "scipy", "pandas", "pyarrow", "great_expectations", "sklearn", "uvicorn",
         "starlette", "jinja2", "grafana_foundation_sdk", "rich", "duckdb", "sqlalchemy",
         "psycopg")
#: what `python -m venv` itself puts there, not slo-agent's doing
VENV_OWN = ("pip", "setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence.pth")

PROBE = textwrap.dedent('''
    import importlib.util, json, logging, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    heavy = [m for m in sys.argv[1].split(",") if importlib.util.find_spec(m) is not None]
    got = []

    class Stub(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, self.headers["Content-Type"], len(body)))
            self.send_response(202)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from prometheus_client import CollectorRegistry, generate_latest
    from agent.sdk import Monitor

    records = []
    logging.getLogger("slo_agent").addHandler(logging.Handler())
    logging.getLogger("slo_agent").handlers[-1].emit = records.append
    reg = CollectorRegistry()
    mon = Monitor(registry=reg, service="probe", flush_interval=3600, otel=True,
                  sidecar_url="http://127.0.0.1:%d" % server.server_address[1])

    @mon.inference(model="m", features=lambda x: {"x": x, "y": 2.0 * x}, prediction=lambda o: o)
    def infer(x):
        return x + 1

    for i in range(100):
        infer(i)
    flushed = mon.flush(10)
    text = generate_latest(reg).decode()
    count = [l for l in text.splitlines()
             if l.startswith("inference_request_duration_seconds_count")]
    mods = sorted(m.split(".")[0] for m in sys.modules)
    print(json.dumps({"heavy": heavy, "posts": got, "flushed": flushed, "count": count,
                      "shipped": mon.shipped.value, "logs": [r.getMessage() for r in records],
                      "modules": [m for m in sys.argv[1].split(",") if m in mods]}))
''')


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


@pytest.mark.slow
def test_base_install_is_light_and_ships(tmp_path: Path) -> None:
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "*.so")
    for part in ("agent", "detectors", "dashboards", "alerts"):
        shutil.copytree(ROOT / part, src / part, ignore=skip)
    for part in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / part, src / part)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV",
                                                                    "SLO_AGENT", "OTEL_"))}
    done = subprocess.run([str(py), "-m", "pip", "install", "-q", str(src)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    built = subprocess.run([str(py), "-c", "import agent.sdk._streams"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, f"the compiled part was not built: {built.stderr[-2000:]}"

    probe = subprocess.run([str(py), "-c", PROBE, ",".join(HEAVY)], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    import json

    out = json.loads(probe.stdout.strip().splitlines()[-1])
    assert out["heavy"] == [], f"heavy packages in the base install: {out['heavy']}"
    assert out["modules"] == []
    assert out["count"] and out["count"][0].endswith(" 100.0"), out["count"]
    assert out["flushed"] and out["posts"], out
    assert all(p == "/v1/ingest" for p, _, _ in out["posts"])
    assert out["shipped"] >= 2          # the requests item and the samples item
    otlp = [m for m in out["logs"] if "otlp" in m]
    assert len(otlp) == 1 and "pip install 'slo-agent[otlp]'" in otlp[0], out["logs"]

    cli = venv / "bin" / "slo-agent"
    spec = tmp_path / "slo.yaml"
    spec.write_text("service: probe\nobjectives: []\n")
    for args, extra in ((["run", "-c", str(spec)], "sidecar"),
                        (["generate", "-c", str(spec), "-o", str(tmp_path / "out")], "generate"),
                        (["demo", "--no-tty"], "demo")):
        res = subprocess.run([str(cli), *args], env=env, capture_output=True, text=True,
                             timeout=60)
        lines = (res.stdout + res.stderr).strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1, (args, res.stdout, res.stderr)
        assert f"pip install 'slo-agent[{extra}]'" in lines[0], lines

    site = next((venv / "lib").glob("python3*/site-packages"))
    total = _du(site)
    own = sum(_du(p) if p.is_dir() else p.stat().st_size for p in site.iterdir()
              if p.name.split("-")[0] in VENV_OWN)
    print(f"\nbase install: site-packages {total / 1e6:.0f} MB, of which pip/setuptools "
          f"{own / 1e6:.0f} MB; slo-agent and its dependencies {(total - own) / 1e6:.0f} MB "
          f"(was 688 MB; prometheus_client + OpenTelemetry SDK: 31 MB)")
    assert total - own < 40e6
