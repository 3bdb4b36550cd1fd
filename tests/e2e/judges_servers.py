"""Model servers for the two-judges test, built from the scrape preset table itself: for every
preset in :data:`agent.signals.presets.PRESETS` one server exposes every series the preset maps,
in the shape its mapping reads (a histogram for a quantile, a counter for a rate, a gauge, the
bad/good/total counters of a ratio, the sum/count counters of a mean), so a mapping added to a
preset is served, and judged, without touching the test.

Each kind is driven between two values from :func:`levels`: ``healthy`` (well inside its
warning level) and ``broken`` (well past its critical level), on the side its record says is
worse. Counters are integrated from rates, so both judges read the same totals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agent.signals import SignalKind, record
from agent.signals.presets import PRESETS
from agent.units import Unit
from tests.helpers import free_port

#: histogram buckets of the servers: the levels of :func:`levels` fall between them
BOUNDS = (0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)
#: requests a second of a server that maps no throughput
RATE = 40.0
MODEL = "llama"


@dataclass(frozen=True)
class Levels:
    """A kind's driven values and its objective's levels, in base units."""

    healthy: float
    warning: float
    critical: float
    broken: float

    def at(self, broken: bool) -> float:
        return self.broken if broken else self.healthy


def levels(kind: SignalKind) -> Levels:
    """Levels by the record's unit and direction: far enough apart that a judge reading another
    window or another minimum shows as a disagreement, not as noise at a level."""
    r = record(kind)
    unit, worse_up = r.unit, r.higher_is_worse
    if unit is Unit.RATIO:
        return Levels(0.01, 0.1, 0.2, 0.4) if worse_up else Levels(0.99, 0.9, 0.8, 0.6)
    if unit is Unit.SECONDS:
        return Levels(0.3, 1.0, 2.0, 5.0)
    if unit is Unit.PER_SECOND:
        return Levels(4.0, 10.0, 20.0, 40.0) if worse_up else Levels(40.0, 20.0, 10.0, 4.0)
    return Levels(3.0, 10.0, 50.0, 80.0) if worse_up else Levels(80.0, 50.0, 10.0, 3.0)


def level_text(kind: SignalKind, value: float) -> str:
    """A level as a spec writes it (``10%``, ``1s``, ``20/s``, ``$2``, ``10``)."""
    unit = record(kind).unit
    if unit is Unit.RATIO:
        return f"{value * 100:g}%"
    if unit is Unit.SECONDS:
        return f"{value:g}s"
    if unit is Unit.PER_SECOND:
        return f"{value:g}/s"
    if unit is Unit.USD:
        return f"${value:g}"
    return f"{value:g}"


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""


@dataclass
class PresetServer:
    """One model server speaking a preset's series; ``broken`` flips every kind it maps."""

    preset: str
    broken: bool = False
    deployed: bool = False       # before its deploy a server exposes no series at all
    lock: threading.Lock = field(default_factory=threading.Lock)
    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    histograms: dict[str, tuple[list[float], float]] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    @property
    def table(self) -> dict[SignalKind, dict[str, Any]]:
        return dict(PRESETS[self.preset]["metrics"])

    def _model(self, m: Mapping[str, Any]) -> dict[str, str]:
        label = PRESETS[self.preset]["model_label"]
        return {label: MODEL} if label and m.get("model_scoped", True) else {}

    def _inc(self, name: str, labels: Mapping[str, str], by: float) -> None:
        key = (name, tuple(sorted(labels.items())))
        self.counters[key] = self.counters.get(key, 0.0) + by
        self.types.setdefault(name, "counter")

    def rate(self) -> float:
        t = self.table.get(SignalKind.THROUGHPUT)
        return levels(SignalKind.THROUGHPUT).at(self.broken) if t is not None else RATE

    def step(self, dt: float) -> None:
        with self.lock:
            if not self.deployed:
                return
            reqs = self.rate() * dt
            counted: dict[str, float] = {}       # counters other mappings count requests by
            means = []
            for kind, m in self.table.items():
                r, v = record(kind), levels(kind).at(self.broken)
                model = self._model(m)
                if m.get("sum") is not None:
                    means.append((m, v, model))
                elif m.get("metric") is None:          # a ratio of counters
                    share = v if r.higher_is_worse else 1.0 - v
                    bad, good = reqs * share, reqs * (1.0 - share)
                    b, g, t = m.get("bad"), m.get("good"), m.get("total")
                    if b is not None and b == t:        # one counter, the bad ones by label
                        bad_labels = m.get("bad_labels", {})
                        self._inc(b, {**model, **bad_labels}, bad)
                        self._inc(b, {**model, **{k: "stop" for k in bad_labels}}, good)
                        counted[b] = reqs
                        continue
                    for name, by in ((b, bad), (g, good), (t, reqs)):
                        if name is not None:
                            self._inc(name, model, by)
                            counted[name] = by
                elif r.quantile:
                    buckets, total = self.histograms.get(m["metric"], ([0.0] * (len(BOUNDS) + 1),
                                                                      0.0))
                    k = next((i for i, b in enumerate(BOUNDS) if v <= b), len(BOUNDS))
                    buckets[k] += reqs
                    self.histograms[m["metric"]] = (buckets, total + v * reqs)
                    self.types[m["metric"]] = "histogram"
                elif r.unit is Unit.PER_SECOND:
                    self._inc(m["metric"], model, v * dt)
                    counted[m["metric"]] = v * dt
                else:
                    self.gauges[m["metric"]] = v
                    self.types[m["metric"]] = "gauge"
            for m, v, model in means:                  # a mean over requests counted above
                n = counted.get(m["count"])
                if n is None:
                    n = counted[m["count"]] = reqs
                    self._inc(m["count"], model, n)
                self._inc(m["sum"], model, v / m.get("scale", 1.0) * n)

    def text(self) -> bytes:
        out: list[str] = []
        with self.lock:
            model = self._model({})
            for name, kind in sorted(self.types.items()):
                out.append(f"# TYPE {name} {kind}")
                if kind == "gauge":
                    out.append(f"{name}{_labels(model)} {self.gauges[name]}")
                elif kind == "histogram":
                    buckets, total = self.histograms[name]
                    acc = 0.0
                    for b, c in zip([*BOUNDS, float("inf")], buckets, strict=True):
                        acc += c
                        le = "+Inf" if b == float("inf") else repr(b)
                        out.append(f"{name}_bucket{_labels({**model, 'le': le})} {acc}")
                    out.append(f"{name}_count{_labels(model)} {acc}")
                    out.append(f"{name}_sum{_labels(model)} {total}")
                else:
                    for (n, labels), value in sorted(self.counters.items()):
                        if n == name:
                            out.append(f"{name}{_labels(dict(labels))} {value}")
        return ("\n".join(out) + "\n").encode()


@dataclass
class Servers:
    """Every preset's server on its own loopback port, stepped by one thread."""

    servers: dict[str, PresetServer]
    ports: dict[str, int]
    _stop: threading.Event = field(default_factory=threading.Event)
    _http: list[ThreadingHTTPServer] = field(default_factory=list)

    @classmethod
    def start(cls) -> Servers:
        servers = {p: PresetServer(p) for p in PRESETS}
        out = cls(servers, {})
        for preset, s in servers.items():
            http = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(s))
            threading.Thread(target=http.serve_forever, daemon=True).start()
            out._http.append(http)
            out.ports[preset] = http.server_address[1]
        threading.Thread(target=out._run, daemon=True).start()
        return out

    def _run(self) -> None:
        """Counters follow the wall clock, however late a busy machine wakes the thread."""
        last = time.monotonic()
        while not self._stop.wait(0.1):
            now = time.monotonic()
            for s in self.servers.values():
                s.step(now - last)
            last = now

    def deploy(self) -> None:
        """The servers start serving: their series begin, counters from zero."""
        for s in self.servers.values():
            with s.lock:
                s.deployed = True
            s.step(0.0)

    def set_broken(self, broken: bool) -> None:
        for s in self.servers.values():
            with s.lock:
                s.broken = broken

    def close(self) -> None:
        self._stop.set()
        for http in self._http:
            http.shutdown()
            http.server_close()


def _handler(server: PresetServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = server.text()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
