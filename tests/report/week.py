"""A scripted week of a small service, driven through the sidecar's engine on a simulated clock:
steady traffic with four incidents at known times (an error burst that burns the budget fast,
a latency regression, a fallback storm, a null spike with a schema change). What the engine
exported is kept as OpenMetrics text every ``SCRAPE`` seconds, as Prometheus would have scraped
it, for ``promtool tsdb create-blocks-from openmetrics``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from agent import catalogue as cat
from agent.sidecar.engine import Engine
from agent.sidecar.ingest import payload
from agent.sidecar.ingest.apply import apply
from agent.sidecar.state import persistence
from agent.spec import parse_spec
from agent.spec.document import Spec
from detectors.sketch import QuantileSketch

SERVICE = "shop-api"
DAY, HOUR, MINUTE = 86400, 3600, 60
TICK = 120             # the sidecar's interval in the simulation
SCRAPE = 240           # Prometheus's scrape interval (two ticks) of the backfilled series
RATE = 10.0            # requests per second, steadily
#: what the backfill keeps of the sidecar's families: the series a review reads
KEPT = {m.name for m in (cat.OBJECTIVE_STATE, cat.OBJECTIVE_VALUE, cat.OBJECTIVE_PENDING,
                         cat.OBJECTIVE_WARNING, cat.OBJECTIVE_CRITICAL, cat.BUDGET_REMAINING,
                         cat.BURN_RATE, cat.CONTRACT_FAILURES, cat.SCHEMA_CHANGES)}


def spec_data(port: int, state_dir: str) -> dict[str, Any]:
    return {
        "service": SERVICE, "models": [{"name": "clf", "version": "v1"}],
        "sidecar": {"listen": f"127.0.0.1:{port}", "state_dir": state_dir,
                    "interval": f"{TICK}s"},
        "sources": {"gpu": {"mode": "off"}, "datasets": [
            {"name": "tx", "contract": {"columns": {"amount": "float", "country": "string"}}}]},
        "objectives": [
            {"name": "errors", "signal": "error_rate", "selector": {"model": "clf"},
             "warning": "2%", "critical": "10%", "for": "0s", "objective": "99%",
             "window": "30d"},
            {"name": "latency", "signal": "latency", "quantile": "p95",
             "selector": {"model": "clf"}, "warning": "250ms", "critical": "1s", "for": "5m",
             "objective": "99%", "window": "30d", "sli_threshold": "250ms"},
            {"name": "fallbacks", "signal": "fallback_rate", "selector": {"model": "clf"},
             "warning": "5%", "critical": "20%", "for": "0s"},
            {"name": "nulls", "signal": "null_ratio",
             "selector": {"dataset": "tx", "column": "amount"}, "warning": "2%",
             "critical": "10%", "for": "0s"},
        ]}


@dataclass(frozen=True)
class Incident:
    objective: str
    start: float          # seconds after the week began
    length: float
    what: str


INCIDENTS = (
    Incident("errors", 1 * DAY + 10 * HOUR, 50 * MINUTE, "25% of calls fail"),
    Incident("latency", 3 * DAY + 14 * HOUR, 30 * MINUTE, "calls take 600ms"),
    Incident("fallbacks", 4 * DAY + 9 * HOUR, 20 * MINUTE, "30% answered by a fallback"),
    Incident("nulls", 5 * DAY + 3 * HOUR, 60 * MINUTE, "15% of amount is null"),
)


@lru_cache(maxsize=4)
def _sketch(base: float, n: int) -> dict[str, Any]:
    sk = QuantileSketch()
    for k in range(n):
        sk.add(base + 0.0001 * (k % 50))
    return sk.to_dict()


def active(name: str, t: float, start: float) -> bool:
    return any(i.objective == name and i.start <= t - start < i.start + i.length
               for i in INCIDENTS)


@dataclass
class Week:
    spec: Spec
    start: float
    end: float
    engine: Engine
    requests: dict[str, float] = field(default_factory=lambda: {"ok": 0.0, "error": 0.0,
                                                                  "fallback": 0.0})
    scraped: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def run(self) -> None:
        eng = self.engine
        eng.snapshot_due = math.inf            # one snapshot at the end, not one per tick
        t = self.start
        while t <= self.end:
            batch = payload.parse(json.dumps(self._batch(t)).encode())
            apply(eng.state, self.spec, batch, t)
            eng.tick(t)
            if (t - self.start) % SCRAPE == 0:
                self._scrape(t)
            t += TICK

    def _batch(self, t: float) -> dict[str, Any]:
        n = RATE * TICK
        err = 0.25 if active("errors", t, self.start) else 0.002
        fb = 0.3 if active("fallbacks", t, self.start) else 0.01
        counts = {"error": round(n * err), "fallback": round(n * fb)}
        counts["ok"] = int(n) - counts["error"] - counts["fallback"]
        for k, v in counts.items():
            self.requests[k] += v
        items: list[dict[str, Any]] = [
            {"type": "requests", "model": "clf", "version": "v1", "at": t,
             "counts": counts, "latency": _sketch(0.6 if active("latency", t, self.start)
                                                  else 0.08, int(n))}]
        if int(t - self.start) % (10 * MINUTE) == 0:
            nulls = 150 if active("nulls", t, self.start) else 2
            columns = {"amount": "float", "country": "string"}
            if active("nulls", t, self.start):
                columns["coupon"] = "string"           # a column the contract never had
            items.append({"type": "dataset_batch", "dataset": "tx", "rows": 1000,
                          "observed_at": t, "columns": columns,
                          "nulls": {"amount": nulls, "country": 0}})
        return {"schema": 1, "service": SERVICE, "instance": "week:1", "sent_at": t,
                "items": items}

    def _scrape(self, t: float) -> None:
        """What Prometheus would have stored at ``t``: the kept families of the last tick, and
        the SDK's request counter."""
        for fam in self.engine.published:
            if fam.name not in KEPT and f"{fam.name}_total" not in KEPT:
                continue
            self.types[fam.name] = fam.type
            series = self.scraped.setdefault(fam.name, {})
            for s in fam.samples:
                key = s.name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items())) \
                    + "}"
                series.setdefault(key, []).append(f"{key} {s.value!r} {t:.0f}")
        name = cat.REQUESTS.name.removesuffix("_total")
        self.types[name] = "counter"
        series = self.scraped.setdefault(name, {})
        for outcome, total in self.requests.items():
            key = (f'{cat.REQUESTS.name}{{model="clf",outcome="{outcome}",'
                   f'service="{SERVICE}",version="v1"}}')
            series.setdefault(key, []).append(f"{key} {total!r} {t:.0f}")

    def openmetrics(self) -> str:
        lines = []
        for fam, series in self.scraped.items():
            lines.append(f"# TYPE {fam} {self.types.get(fam, 'gauge')}")
            for samples in series.values():
                lines.extend(samples)
        return "\n".join([*lines, "# EOF", ""])

    def save(self) -> None:
        persistence.save(self.engine.state_dir, self.spec.service, self.engine.state.state())


def scripted(state_dir: Path, port: int, end: float) -> Week:
    """The week ending at ``end`` (whole minutes), driven through a fresh engine."""
    spec = parse_spec(spec_data(port, str(state_dir)))
    end = end // TICK * TICK
    start = end - 7 * DAY
    eng = Engine(spec, state_dir=state_dir, clock=lambda: end)
    week = Week(spec, start, end, eng)
    week.run()
    return week
