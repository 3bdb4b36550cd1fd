"""Running totals of what came in through the OTLP door, per (model, version): the counters and
histograms the SDK would have exported from the inference process, which an OTLP-fed service
does not. The sidecar re-exports them under the catalogue's names, so the generated rules and
dashboards read OTLP-fed models exactly as SDK-fed ones. Only OTLP data lands here: an SDK-fed
model is exported by its own process and never twice.

Histograms are kept as all-time sketches (bounded: 4096 buckets each), so the exported buckets
can sit on any bound the spec names; a bucket's count is exact to the sketch's 1 %, and to the
OTLP histogram's own bucket resolution (see the OTLP door).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detectors.sketch import QuantileSketch

HISTOGRAMS = ("latency", "ttft", "tpot")


@dataclass
class OtlpModel:
    counts: dict[str, float] = field(default_factory=dict)      # ok / error / fallback
    tokens: dict[str, float] = field(default_factory=dict)      # input / output
    sketches: dict[str, QuantileSketch] = field(default_factory=dict)

    def add_sketch(self, attr: str, sk: QuantileSketch) -> None:
        total = self.sketches.get(attr)
        if total is None:
            total = self.sketches[attr] = QuantileSketch(sk.accuracy)
        total.merge(sk)

    def state(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "tokens": dict(self.tokens),
                "sketches": {k: v.to_dict() for k, v in self.sketches.items()}}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> OtlpModel:
        return cls({str(k): float(v) for k, v in (s.get("counts") or {}).items()},
                   {str(k): float(v) for k, v in (s.get("tokens") or {}).items()},
                   {str(k): QuantileSketch.from_dict(v)
                    for k, v in (s.get("sketches") or {}).items() if k in HISTOGRAMS})


@dataclass
class OtlpTotals:
    models: dict[tuple[str, str], OtlpModel] = field(default_factory=dict)

    def model(self, name: str, version: str) -> OtlpModel:
        m = self.models.get((name, version))
        if m is None:
            m = self.models[(name, version)] = OtlpModel()
        return m

    def state(self) -> dict[str, Any]:
        return {"models": [{"model": k[0], "version": k[1], **m.state()}
                           for k, m in self.models.items()]}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> OtlpTotals:
        out = cls()
        for entry in s.get("models") or []:
            out.models[(str(entry["model"]), str(entry["version"]))] = \
                OtlpModel.from_state(entry)
        return out


__all__ = ["HISTOGRAMS", "OtlpModel", "OtlpTotals"]
