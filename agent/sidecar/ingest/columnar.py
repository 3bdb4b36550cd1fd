"""The door for columnar (schema 2) batches: decode with numpy, check every invariant, and hand
the engine the same validated ``Batch`` the JSON door produces.

Everything but the sample columns is the schema-1 envelope and goes through the very same
pydantic models (``ingest.BATCH``), so each invariant the JSON door states holds here too. Sample
columns are checked vectorised: names (1-128 characters, unique, a JSON-door ``Name``), equal
lengths, offsets inside the data section, known dtypes, no infinity (NaN is a missing value, as
null is in JSON), at most 100,000 rows. A refusal is a 400/422 naming the column
(``items[2].columns.amount``). The format itself is declared in ``agent/sdk/columnar_format.py``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from agent.sdk.columnar_format import (
    ALIGN,
    CONTENT_TYPE,
    HEADER,
    MAGIC,
    SCHEMA,
    SKETCH_BLOCKS,
    SKETCHES,
    VERSION,
)
from agent.sidecar.ingest import payload as m
from agent.sidecar.ingest.payload import IngestError
from agent.sidecar.state.agent_state import AgentState

MAX_ROWS = 100_000
MAX_COLUMNS = 2000
DTYPES: dict[str, np.dtype[Any]] = {"f4": np.dtype("<f4"), "f8": np.dtype("<f8")}
#: sketch blocks: keys as int32, counts as int64, within the JSON door's bounds
SKETCH_DTYPES: dict[str, tuple[np.dtype[Any], int, int]] = {
    "keys": (np.dtype("<i4"), -100_000, 100_000), "counts": (np.dtype("<i8"), 0, 10**12)}
MAX_SKETCH_KEYS = 4096
_SCALARS: TypeAdapter[list[m.Scalar]] = TypeAdapter(
    Annotated[list[m.Scalar], Field(max_length=MAX_ROWS)])
_NAME: TypeAdapter[str] = TypeAdapter(m.Name)

__all__ = ["CONTENT_TYPE", "ColumnSamples", "parse"]


class ColumnSamples(m.Samples):
    """A samples item whose features are columns (name -> float array or list of scalars) of
    ``rows`` values each, and whose predictions are one such column. ``features`` stays empty."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    rows: int = 0
    columns: dict[str, Any] = Field(default_factory=dict)
    prediction_column: Any = None
    #: the columns as rows of one array, when the body laid them back to back (the SDK does)
    block: Any = None

    def cap_features(self, known: set[str], limit: int) -> list[str]:
        """Admit names up to ``limit`` per model (as the JSON door does); drop the rest,
        returning their names."""
        dropped = []
        for name in [n for n in self.columns if n not in known]:
            if len(known) < limit:
                known.add(name)
            else:
                del self.columns[name]
                dropped.append(name)
        return dropped

    def apply_to(self, state: AgentState, categorical: set[str], now: float) -> int:
        """Fold the columns into the model's windows, as ``apply._samples`` folds rows: text
        and booleans are categories, a feature keeps its kind; returns the rows taken."""
        ms = state.model(self.model, self.version)
        ms.samples_seen += self.rows
        ms.sampled.add(now, float(self.rows))
        columns = self.columns
        if self.block is not None and len(self.block) == len(columns):
            names = list(columns)
            wanted = [j for j, name in enumerate(names)
                      if name not in categorical and name not in ms.categorical]
            if wanted:
                block = self.block if len(wanted) == len(names) else self.block[wanted]
                ms.add_numeric_block([names[j] for j in wanted], block)
                taken = {names[j] for j in wanted}
                columns = {k: v for k, v in columns.items() if k not in taken}
        for name, col in columns.items():
            numeric = isinstance(col, np.ndarray)
            is_cat = name in categorical or name in ms.categorical or (
                name not in ms.numeric and not numeric and
                any(isinstance(v, (str, bool)) for v in col))
            if is_cat:
                ms.add_categorical(name, _texts(col) if numeric else col)
            else:
                ms.add_numeric(name, col if numeric else _floats(col))
        preds = self.prediction_column
        if preds is not None and len(preds):
            ms.add_predictions(preds if isinstance(preds, np.ndarray) else _floats(
                [p for p in preds if not isinstance(p, str)]))
        return self.rows

    def to_rows(self) -> tuple[list[dict[str, Any]], list[Any]]:
        """The JSON form (rows of name -> value, null for missing; predictions), for tests and
        for readers that want rows."""
        lists = {k: _scalars(v) for k, v in self.columns.items()}
        rows = [dict(zip(lists, vals, strict=True)) for vals in zip(*lists.values(), strict=True)]
        if not lists:
            rows = [{} for _ in range(self.rows)]
        preds = self.prediction_column
        return rows, [] if preds is None else _scalars(preds)


def _scalars(col: Any) -> list[Any]:
    if isinstance(col, np.ndarray):
        return [None if v != v else v for v in col.astype(np.float64).tolist()]
    return list(col)


def _texts(col: np.ndarray) -> list[str | None]:
    """A numeric column read as categories: each value's shortest text (as ``str(float)`` gives
    for the value the SDK shipped), NaN as missing."""
    return [None if v != v else str(v) for v in (col.tolist() if col.dtype == np.float64
                                                 else list(col))]


def _floats(values: list[Any]) -> np.ndarray:
    """JSON scalars as floats: bools 0/1, None and text NaN (dropped by the windows)."""
    return np.array([float(v) if isinstance(v, (bool, int, float)) else np.nan
                     for v in values], dtype=np.float64)


def _fail(path: str, message: str, status: int = 422) -> IngestError:
    return IngestError(status, f"invalid field {path}: {message}",
                       [{"path": path, "message": message}])


def _column(spec: Any, data: memoryview, rows: int | None, path: str) -> Any:
    """One column: a float array (checked: dtype, bounds, length, no infinity) or a list of
    JSON scalars (checked by the JSON door's Scalar type)."""
    if not isinstance(spec, dict):
        raise _fail(path, "expected an object with dtype/offset/length or values")
    if "values" in spec:
        extra = set(spec) - {"name", "values"}
        if extra:
            raise _fail(path, f"unexpected keys {sorted(extra)}")
        try:
            values = _SCALARS.validate_python(spec["values"], strict=True)
        except ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            loc = "".join(f"[{p}]" if isinstance(p, int) else "" for p in err["loc"][:1])
            raise _fail(f"{path}{loc}", err["msg"]) from None
        if rows is not None and len(values) != rows:
            raise _fail(path, f"{len(values)} values, the item has {rows} rows")
        return values
    arr = _block(spec, data, DTYPES, path, MAX_ROWS, "rows", rows, named=True)
    if np.isinf(arr).any():
        raise _fail(path, "infinity is not a value (NaN stands for a missing one)")
    return arr


def _block(spec: dict[str, Any], data: memoryview, dtypes: dict[str, np.dtype[Any]],
           path: str, limit: int, what: str, rows: int | None = None, named: bool = False
           ) -> Any:
    """The array a ``{"dtype", "offset", "length"}`` block (a column's may carry its ``name``)
    points at, checked: known dtype, non-negative integers, at most ``limit`` values (``rows``
    when given), inside the data section."""
    extra = set(spec) - {"dtype", "offset", "length"} - ({"name"} if named else set())
    if extra:
        raise _fail(path, f"unexpected keys {sorted(extra)}")
    dtype = dtypes.get(str(spec.get("dtype")))
    if dtype is None:
        raise _fail(f"{path}.dtype", f"expected one of {sorted(dtypes)}")
    offset, length = spec.get("offset"), spec.get("length")
    for key, value in (("offset", offset), ("length", length)):
        if type(value) is not int or value < 0:
            raise _fail(f"{path}.{key}", "expected a non-negative integer")
    assert isinstance(offset, int) and isinstance(length, int)
    if length > limit:
        raise _fail(f"{path}.length", f"more than {limit} {what}")
    if rows is not None and length != rows:
        raise _fail(f"{path}.length", f"{length} values, the item has {rows} rows")
    end = offset + length * dtype.itemsize
    if end > len(data):
        raise _fail(f"{path}.offset", f"the block ends at byte {end}, past the data section "
                    f"({len(data)} bytes)")
    return np.frombuffer(data, dtype=dtype, count=length, offset=offset)


def _sketch(sketch: Any, data: memoryview, path: str) -> Any:
    """A sketch whose keys/counts are data blocks: checked vectorised (dtype, bounds, range),
    then handed to the JSON door as lists, which checks every invariant again (one count per
    key, the total)."""
    if not isinstance(sketch, dict):
        return sketch
    out = dict(sketch)
    for key, _ in SKETCH_BLOCKS:
        spec = sketch.get(key)
        if not isinstance(spec, dict):
            continue
        where = f"{path}.{key}"
        dtype, lo, hi = SKETCH_DTYPES[key]
        arr = _block(spec, data, {dtype.str[1:]: dtype}, where, MAX_SKETCH_KEYS, "buckets")
        length = arr.size
        if length and (int(arr.min()) < lo or int(arr.max()) > hi):
            raise _fail(where, f"values must lie in [{lo}, {hi}]")
        out[key] = arr.tolist()
    return out


def _samples(raw: dict[str, Any], i: int, data: memoryview
             ) -> tuple[dict[str, Any], Any, int, Any]:
    path = f"items[{i}]"
    rows = raw.get("rows", 0)
    if type(rows) is not int or not 0 <= rows <= MAX_ROWS:
        raise _fail(f"{path}.rows", f"expected an integer from 0 to {MAX_ROWS}")
    specs = raw.get("columns", [])
    if not isinstance(specs, list) or len(specs) > MAX_COLUMNS:
        raise _fail(f"{path}.columns", f"expected a list of at most {MAX_COLUMNS} columns")
    stacked = _stacked(specs, data, rows)
    if stacked is not None:
        names, block = stacked
        preds = raw.get("predictions")
        pred_col = None if preds is None else _column(preds, data, None, f"{path}.predictions")
        return dict(zip(names, block, strict=True)), pred_col, rows, block
    columns: dict[str, Any] = {}
    for j, spec in enumerate(specs):
        name = spec.get("name") if isinstance(spec, dict) else None
        try:
            name = _NAME.validate_python(name, strict=True)
        except ValidationError:
            raise _fail(f"{path}.columns[{j}].name",
                        "expected a name of 1 to 128 characters") from None
        if name in columns:
            raise _fail(f"{path}.columns.{name}", "a second column of this name")
        columns[name] = _column(spec, data, rows, f"{path}.columns.{name}")
    preds = raw.get("predictions")
    pred_col = None if preds is None else _column(preds, data, None, f"{path}.predictions")
    return columns, pred_col, rows, None


_BLOCK_KEYS = frozenset(("name", "dtype", "offset", "length"))


def _stacked(specs: list[Any], data: memoryview, rows: int
             ) -> tuple[list[str], np.ndarray] | None:
    """The columns as one (columns x rows) array, a view of the body, when every one is a
    block of one dtype laid back to back (each 8-byte aligned), each name 1-128 characters and
    unique, no value infinite: what the SDK writes, checked at once. None otherwise: the
    columns are then read (and refused, naming the column) one by one."""
    if not specs or not rows or not isinstance(specs[0], dict):
        return None
    dtype = DTYPES.get(str(specs[0].get("dtype")))
    start = specs[0].get("offset")
    if dtype is None or type(start) is not int or start < 0:
        return None
    step = -(-rows * dtype.itemsize // ALIGN) * ALIGN     # each block starts 8-byte aligned
    # checked a field at a time over all columns (C-level passes, no Python per column)
    if set(map(type, specs)) != {dict} or set(map(len, specs)) != {len(_BLOCK_KEYS)}:
        return None
    try:
        names = [spec["name"] for spec in specs]
        offsets = [spec["offset"] for spec in specs]
        lengths = [spec["length"] for spec in specs]
        dtypes = {spec["dtype"] for spec in specs}
    except (KeyError, TypeError):
        return None
    end = start + len(specs) * step
    if dtypes != {specs[0]["dtype"]} or set(map(type, offsets)) != {int} or \
            set(map(type, lengths)) != {int} or offsets != list(range(start, end, step)) or \
            lengths.count(rows) != len(lengths) or set(map(type, names)) != {str} or \
            min(map(len, names)) < 1 or max(map(len, names)) > 128:
        return None
    if len(set(names)) != len(names) or start + (len(specs) - 1) * step + rows * \
            dtype.itemsize > len(data):
        return None
    block: np.ndarray = np.ndarray((len(specs), rows), dtype=dtype, buffer=data, offset=start,
                                   strides=(step, dtype.itemsize))
    if np.isinf(block).any():
        return None
    return names, block


def document(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add the columnar body to the ingest operation of an OpenAPI document (in place)."""
    op = openapi["paths"]["/v1/ingest"]["post"]
    op["requestBody"]["content"][CONTENT_TYPE] = {"schema": {
        "type": "string", "format": "binary",
        "description": "Schema 2: b'SLOC', version (u8), head length (u32 LE), the head (the "
                       "JSON Batch with samples items carrying rows and columns instead of "
                       "features/predictions, and sketches whose keys/counts are i4/i8 "
                       "blocks), then the data section of little-endian columns (float32 or "
                       "float64, NaN = missing; sketch keys int32, counts int64). Declared in "
                       "agent/sdk/columnar_format.py; JSON (application/json) stays accepted."}}
    op["responses"].setdefault("415", {"description": "neither JSON nor the columnar format",
                                       "content": op["responses"]["400"]["content"]})
    return openapi


def parse(body: bytes) -> m.Batch:
    """Bytes of a schema-2 body → the validated Batch (samples items as ``ColumnSamples``), or
    IngestError(400/422) naming the field or column at fault."""
    if len(body) < HEADER.size:
        raise IngestError(400, "body: shorter than the columnar header")
    magic, version, head_len = HEADER.unpack_from(body)
    if magic != MAGIC or version != VERSION:
        raise IngestError(400, f"body: not a columnar batch of version {VERSION} (magic "
                          f"{MAGIC!r}); JSON bodies are sent as application/json")
    end = HEADER.size + head_len
    if end > len(body):
        raise IngestError(400, f"body: the head claims {head_len} bytes, "
                          f"{len(body) - HEADER.size} follow")
    try:
        doc = json.loads(body[HEADER.size:end])
    except (ValueError, RecursionError) as exc:
        raise IngestError(400, f"head is not valid JSON: {exc}"[:300]) from None
    if not isinstance(doc, dict):
        raise _fail("<body>", "the head must be a JSON object")
    if doc.get("schema") != SCHEMA:
        raise _fail("schema", f"a columnar body declares schema {SCHEMA}")
    items = doc.get("items")
    if not isinstance(items, list):
        raise _fail("items", "expected a list")
    data = memoryview(body)[end:]
    decoded: dict[int, tuple[dict[str, Any], Any, int, Any]] = {}
    plain = []
    for i, raw in enumerate(items):
        if isinstance(raw, dict) and raw.get("type") == "samples" and (
                "columns" in raw or "rows" in raw):
            decoded[i] = _samples(raw, i, data)
            raw = {k: v for k, v in raw.items() if k not in ("columns", "rows", "predictions")}
        elif isinstance(raw, dict) and raw.get("type") == "requests":
            raw = {k: _sketch(v, data, f"items[{i}].{k}") if k in SKETCHES else v
                   for k, v in raw.items()}
        plain.append(raw)
    batch = m.parse(json.dumps({**doc, "schema": 1, "items": plain},
                               separators=(",", ":")).encode())
    for i, (columns, preds, rows, block) in decoded.items():
        base = batch.items[i]
        batch.items[i] = ColumnSamples.model_construct(
            **dict(base), rows=rows, columns=columns, prediction_column=preds, block=block)
    return batch
