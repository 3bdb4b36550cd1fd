"""The columnar wire format (schema 2) between the SDK and the sidecar, declared once here.

A body is ``MAGIC | version (u8) | head length (u32 LE) | head | data``. The head is the JSON
envelope of a schema-1 batch (same items, same fields), except that a ``samples`` item carries
``rows`` and ``columns`` instead of ``features`` / ``predictions``::

    {"type": "samples", "model": "m", "version": "", "at": 1.7e9, "rows": 500,
     "columns": [{"name": "amount", "dtype": "f4", "offset": 0, "length": 500},
                 {"name": "country", "values": ["de", null, ...]}],
     "predictions": {"dtype": "f4", "offset": 2000, "length": 500}}

A numeric column is ``length`` little-endian floats at ``offset`` in the data section (8-byte
aligned; NaN is a missing value). Feature columns are float32: drift statistics cannot tell 7
significant digits from 16, and a sampled call with 8 features costs 32 bytes instead of 200 in
JSON. A column with an int of 2^24 or more (ids, counters) goes as float64, so no integer is
rounded, and so does one with a magnitude past float32's range (below its smallest step,
~1.4e-45, a value reads as 0). A numeric column a spec
declares categorical is read as the float32 value's shortest text. Text, booleans and mixed
columns go as a JSON list of scalars in the head.

A latency or TTFT sketch in a ``requests`` item sends its bucket ``keys`` as ``i4`` and its
``counts`` as ``i8`` blocks of the data section (``{"dtype": "i4", "offset": 0, "length": 340}``);
its other fields stay in the head. A hand-written client may still send lists there.

Only the standard library is used here (``array``, ``struct``, ``json``): the base install has
no numpy. The sidecar decodes with numpy (``agent/sidecar/ingest/columnar.py``).
"""

from __future__ import annotations

import json
import math
import struct
from array import array
from typing import Any

CONTENT_TYPE = "application/vnd.slo-agent.columnar"
SCHEMA = 2
MAGIC = b"SLOC"
VERSION = 1
HEADER = struct.Struct("<4sBI")
ALIGN = 8
#: float32 holds every integer below this exactly
F4_EXACT = float(1 << 24)
F4_MAX = 3.4028234663852886e38        # past this float32 may round to infinity
_INF = math.inf
_NAN = math.nan


def numeric_column(values: list[Any]) -> str | None:
    """``"f4"`` or ``"f8"`` when every value is a number (not a bool) or None; else None.
    float64 when float32 would change what a value is: an int past 2^24, a finite value that
    float32 makes infinite."""
    wide = False
    for v in values:
        t = type(v)
        if t is float:
            if math.isfinite(v) and abs(v) > F4_MAX:
                wide = wide or abs(array("f", [v])[0]) == _INF
        elif v is None:
            continue
        elif t is int:
            if abs(v) >= F4_EXACT:
                wide = True
        else:
            return None
    return "f8" if wide else "f4"


_BIG_ENDIAN = array("H", [1]).tobytes() != b"\x01\x00"


_DTYPE = {"f": "f4", "d": "f8", "i": "i4", "q": "i8"}
#: the sketch fields sent as blocks, and their array type codes
SKETCHES = ("latency", "ttft")
SKETCH_BLOCKS = (("keys", "i"), ("counts", "q"))


class _Data:
    """The data section being built: aligned blocks of little-endian floats."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, arr: array[float]) -> dict[str, Any]:
        if _BIG_ENDIAN:
            arr.byteswap()
        raw = arr.tobytes()
        block = {"dtype": _DTYPE[arr.typecode], "offset": self.size, "length": len(arr)}
        pad = -len(raw) % ALIGN
        self.parts.append(raw + b"\0" * pad)
        self.size += len(raw) + pad
        return block


def _floats_only(values: list[Any]) -> array[float] | None:
    """The column as float32 when it holds only floats that float32 keeps finite (one C-speed
    type pass, one conversion, one sum: no per-value Python); None otherwise (NaN or infinity
    in the column, or a value past float32's range: the careful path decides)."""
    if set(map(type, values)) != {float}:
        return None
    narrow = array("f", values)
    return narrow if math.isfinite(sum(narrow)) else None


def _column(data: _Data, values: list[Any]) -> dict[str, Any]:
    fast = _floats_only(values) if values else None
    if fast is not None:
        return data.add(fast)
    dtype = numeric_column(values)
    if dtype is None:
        return {"values": [v if not isinstance(v, float) or math.isfinite(v) else None
                           for v in values]}
    clean = [_NAN if v is None or not math.isfinite(v) else v for v in values]
    return data.add(array("f" if dtype == "f4" else "d", clean))


def _sketch(data: _Data, sketch: dict[str, Any]) -> dict[str, Any]:
    out = dict(sketch)
    for key, code in SKETCH_BLOCKS:
        values = sketch.get(key)
        if isinstance(values, list):
            out[key] = data.add(array(code, values))
    return out


def encode(envelope: dict[str, Any], dumps: Any = None) -> bytes:
    """A schema-2 body from an envelope whose samples items hold ``columns`` (name -> values,
    all of length ``rows``) and ``predictions`` (a list). Other items are copied as they are;
    ``dumps`` turns the head into JSON bytes (the transport's strict encoder)."""
    data = _Data()
    items = []
    for item in envelope["items"]:
        if item.get("type") == "samples" and "columns" in item:
            cols = item["columns"]
            out = {k: v for k, v in item.items() if k not in ("columns", "predictions")}
            out["columns"] = [{"name": name, **_column(data, values)}
                              for name, values in cols.items()]
            preds = item.get("predictions") or []
            if preds:
                out["predictions"] = _column(data, preds)
            items.append(out)
        elif item.get("type") == "requests" and any(k in item for k in SKETCHES):
            items.append({k: _sketch(data, v) if k in SKETCHES and isinstance(v, dict) else v
                          for k, v in item.items()})
        else:
            items.append(item)
    head_doc = {**envelope, "schema": SCHEMA, "items": items}
    head = dumps(head_doc) if dumps is not None else json.dumps(
        head_doc, separators=(",", ":"), allow_nan=False).encode()
    head += b" " * (-(HEADER.size + len(head)) % ALIGN)   # data starts 8-byte aligned
    return HEADER.pack(MAGIC, VERSION, len(head)) + head + b"".join(data.parts)


def rows_of(item: dict[str, Any]) -> dict[str, Any]:
    """The schema-1 (JSON) form of an SDK samples item held as columns: one dict per row (a
    value a row did not have is null: the sidecar reads a missing key and a null alike), and as
    many predictions as rows (padded with null)."""
    cols = item["columns"]
    names = list(cols)
    feats: list[Any] = [dict(zip(names, row, strict=True))
                        for row in zip(*cols.values(), strict=True)] if names else \
        [{} for _ in range(item.get("rows", 0))]
    preds = list(item.get("predictions") or [])
    n = max(len(feats), len(preds))
    feats += [None] * (n - len(feats))
    preds += [None] * (n - len(preds))
    out = {k: v for k, v in item.items() if k not in ("columns", "rows")}
    out["features"] = feats
    out["predictions"] = preds
    return out
