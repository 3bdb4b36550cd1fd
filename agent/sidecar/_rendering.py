"""The text exposition of the published families, rendered once per tick rather than per scrape.

Byte for byte what prometheus_client's ``generate_latest`` writes (the same escaping functions,
the same float spelling, the same order), with each label set formatted once and remembered:
an objective's labels are the same from tick to tick, and formatting them was most of a scrape
(0.75 s of generate_latest at 5,000 objectives). A scrape then serves the tick's bytes, so its
time follows its size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.utils import floatToGoString

_ESCAPING = openmetrics.UNDERSCORES
#: label sets remembered (each a few hundred bytes); emptied past it
LABEL_CACHE = 200_000


class Renderer:
    """Renders families as generate_latest does, remembering label strings between ticks."""

    def __init__(self) -> None:
        self._labels: dict[tuple[tuple[str, str], ...], str] = {}
        self._names: dict[str, str] = {}

    def render(self, families: Iterable[Any]) -> bytes:
        out: list[str] = []
        for metric in families:
            self._family(metric, out)
        return "".join(out).encode("utf-8")

    def _family(self, metric: Any, out: list[str]) -> None:
        mname, mtype = metric.name, metric.type
        if mtype == "counter":
            mname += "_total"
        elif mtype == "info":
            mname += "_info"
            mtype = "gauge"
        elif mtype == "stateset":
            mtype = "gauge"
        elif mtype == "gaugehistogram":
            mtype = "histogram"
        elif mtype == "unknown":
            mtype = "untyped"
        escaped = openmetrics.escape_metric_name(mname, _ESCAPING)
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {escaped} {doc}\n")
        out.append(f"# TYPE {escaped} {mtype}\n")
        om: dict[str, list[str]] = {}
        specials = {metric.name + s: s for s in ("_created", "_gsum", "_gcount")}
        for s in metric.samples:
            suffix = specials.get(s.name)
            line = self._line(s)
            if suffix is not None:
                om.setdefault(suffix, []).append(line)
            else:
                out.append(line)
        for suffix, lines in sorted(om.items()):
            name = openmetrics.escape_metric_name(metric.name + suffix, _ESCAPING)
            out.append(f"# HELP {name} {doc}\n")
            out.append(f"# TYPE {name} gauge\n")
            out.extend(lines)

    def _line(self, s: Any) -> str:
        name = self._names.get(s.name)
        if name is None:
            if len(self._names) >= LABEL_CACHE:
                self._names.clear()
            name = self._names[s.name] = openmetrics.escape_metric_name(s.name, _ESCAPING)
        labelstr = ""
        if s.labels:
            key = tuple(s.labels.items())
            labelstr = self._labels.get(key)    # type: ignore[assignment]
            if labelstr is None:
                if len(self._labels) >= LABEL_CACHE:
                    self._labels.clear()
                labelstr = self._labels[key] = "{" + ",".join(
                    _label(k, v) for k, v in sorted(s.labels.items())) + "}"
        timestamp = "" if s.timestamp is None else f" {int(float(s.timestamp) * 1000):d}"
        return f"{name}{labelstr} {floatToGoString(s.value)}{timestamp}\n"


def _label(name: str, value: str) -> str:
    # the arguments generate_latest passes (its own annotation says otherwise)
    escaped = openmetrics._escape(value, openmetrics.ALLOWUTF8, False)  # type: ignore[arg-type]
    return f'{openmetrics.escape_label_name(name, _ESCAPING)}="{escaped}"'
