"""One verdict, two judges (issue 34), for the kinds the sidecar computes from its own sources: the
GPU read through NVML, the dataset files it polls (freshness, nulls, schema, rows, contract values),
drift of a file against its reference (a feature, a prediction column, new categories), SDK-fed
drift (sampled rows shifted in the incident: the sidecar's window over ``drift.fleet_window``
against the rules' counts over it) and the detection time of an SDK drift objective. A real
``slo-agent run`` and a real Prometheus running the generated rules watch them side by side
through the scenario of
:mod:`tests.e2e.test_two_judges` (deploy start, incident, recovery, restart), compared the same way
(its :class:`Judges` and :func:`disagreements`): a state one judge says that the other did not say
within one evaluation interval plus ``for`` plus the skew fails, naming the kind, the objective and
the moment.

There is no GPU here: the sidecar's ``import pynvml`` finds :mod:`tests.e2e.fake_nvml` first on its
``PYTHONPATH`` (the test's environment only; no product code knows of it). The sources are in
:mod:`tests.e2e.judges_own`. Kept short (one sidecar, one Prometheus, phases of seconds): the
scenario is the other test's, only the sources differ.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.render.files import write
from agent.sli import plans
from agent.spec import parse_spec
from tests.e2e import judges_own
from tests.e2e.notify_harness import prometheus_config, query, start, wait
from tests.e2e.test_two_judges import (
    EVAL,
    FLUSH,
    FOR,
    SCRAPE,
    SERVICE,
    TICK,
    Judges,
    Run,
    disagreements,
    print_tracebacks,
    sample_phase,
)
from tests.helpers import ROOT, free_port, require_binary, stop_all

#: shorter than the other test's: the values here step at once (no counters to fill a window),
#: and the sampled-row rate that sets the detection time is read over this window
RATE_WINDOW = 6.0
PHASES = (("deploy start", 5.0), ("incident", 16.0), ("recovery", 8.0), ("restart", 6.0))


def spec_data(port: int, state: Path, tmp: Path) -> dict[str, Any]:
    return {
        "service": SERVICE,
        "models": [{"name": m, "version": "v1"} for m in (judges_own.MODEL, judges_own.SHIFTED)],
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": str(state),
                    "interval": f"{TICK:g}s"},
        "sdk": {"sample_rate": 1.0, "flush_interval": f"{FLUSH:g}s"},
        "sources": {"gpu": {"mode": "on", "interval": f"{TICK:g}s"},
                    "datasets": judges_own.datasets(tmp, TICK)},
        "drift": judges_own.DRIFT,
        "alerting": {"rate_window": f"{RATE_WINDOW:g}s", "scrape_interval": f"{SCRAPE:g}s",
                     "evaluation_interval": f"{EVAL:g}s", "absent_for": "60s"},
        "objectives": [{**o, "for": f"{FOR:g}s"} for o in judges_own.OBJECTIVES]}


NAMES = [o["name"] for o in judges_own.OBJECTIVES]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Start both judges and the sources, play the scenario, and keep what each judge said."""
    from prometheus_client import CollectorRegistry

    from agent.sdk.monitor import Monitor

    prometheus = require_binary("prometheus")
    tmp = tmp_path_factory.mktemp("own-judges")
    side_port, sdk_port, prom_port = free_port(), free_port(), free_port()
    data = spec_data(side_port, tmp / "state", tmp)
    spec_path = tmp / "slo.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    spec = parse_spec(data)
    write(spec, tmp / "out")
    prometheus_config(tmp / "prometheus.yml", tmp / "out" / "prometheus" / "rules" / SERVICE,
                      free_port(), {"service": sdk_port, "slo-agent": side_port})
    mon = Monitor(spec=spec, registry=CollectorRegistry(),
                  sidecar_url=f"http://127.0.0.1:{side_port}", otel=False)
    server, _ = mon.serve(sdk_port)
    sources = judges_own.Sources(tmp, mon)

    def sidecar() -> subprocess.Popen[bytes]:
        log = open(tmp / "sidecar.log", "ab")  # noqa: SIM115 - closed with the process
        return subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "-c", str(spec_path),
                                 "--log-level", "warning"], stdout=log, stderr=log, cwd=ROOT,
                                env=sources.env())

    procs = [sidecar(),
             start([prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}"], tmp / "prometheus.log")]
    j = Judges(f"http://127.0.0.1:{side_port}", f"http://127.0.0.1:{prom_port}", spec)
    out = Run(kinds={p.o.name: p.o.signal.value + " (own)" for p in plans(spec)},
              tiers={p.o.name: [t.name for t in p.tiers] for p in plans(spec)})

    def ready() -> bool:
        return bool(urllib.request.urlopen(f"{j.sidecar}/readyz", timeout=2).status == 200)

    try:
        wait(ready, 60, "the sidecar")
        wait(lambda: len(query(j.prom, "up == 1")) == 2, 60, "every target up")
        threading.Thread(target=sources.run, daemon=True).start()
        t0 = time.time()
        for phase, seconds in PHASES:
            if phase in ("incident", "recovery"):
                sources.set_broken(phase == "incident")
            elif phase == "restart":
                procs[0].terminate()
                procs[0].wait(30)
                procs[0] = sidecar()
                wait(ready, 60, "the restarted sidecar")
            sample_phase(j, out, t0, phase, seconds)
        yield out
    finally:
        sources.stop.set()
        mon.close()
        server.shutdown()
        stop_all(procs)
        print_tracebacks(tmp)


@pytest.mark.servers
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_sidecar_and_rules_agree_on_the_sidecars_own_sources(run: Run, name: str) -> None:
    problems = disagreements(run, name)
    assert not problems, "\n".join(problems)
    if name in judges_own.STEADY:
        return
    # the incident was seen by both, so agreement is not agreement on nothing
    seen_side = {s.side[name] for s in run.samples}
    seen_prom = {s.prom[name] for s in run.samples}
    assert "critical" in seen_side and "critical" in seen_prom, \
        (run.kinds[name], name, sorted(seen_side), sorted(seen_prom))
