"""Parquet and CSV files read by DuckDB: the file is scanned for aggregates, never loaded whole,
so a file larger than the sidecar's memory can be watched.

Types are reported as pandas reads the file (what the sidecar always reported): the pandas
metadata a parquet file carries when pandas wrote it, but for an object column; otherwise
pyarrow's rules (an integer or boolean column with nulls reads as float or object, dates and
decimals as objects), and for CSV the types pandas infers (booleans, integers, floats, text; an
empty column is float). NaN counts as null, as in pandas; -0.0 is a value of its own, as its
text is (categories and allowed values compare text). A reference file is read through DuckDB
into the frame pandas would read, sampled when it is big (:func:`read_reference`).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from agent.sidecar.collectors.stores.aggregates import (
    Aggregates,
    allowed_result,
    epoch,
    label,
    missing_allowed,
    typed_allowed,
)
from detectors.ks import sorted_window
from detectors.quality import column_type

#: pandas' default NA strings (pandas.read_csv), so a CSV's nulls are the same nulls
PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
             "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
#: the CSV types pandas infers by default (no date parsing)
CSV_TYPES = ["BOOLEAN", "BIGINT", "DOUBLE", "VARCHAR"]
#: files past this many rows: numeric values taken from a reservoir sample (KS on a bounded
#: sample)
MAX_VALUES = 2_000_000
#: a reference file past this many rows is read as a sample of this many
REFERENCE_ROWS = 1_000_000
_FLOAT = ("DOUBLE", "FLOAT", "REAL")
_INT = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
        "UINTEGER", "UBIGINT", "UHUGEINT")


def file_format(path: Path, fmt: str = "auto") -> str:
    return fmt if fmt != "auto" else ("parquet" if path.suffix in (".parquet", ".pq") else "csv")


def read_frame(path: Path, fmt: str = "auto") -> Any:
    """A whole (small) file as a pandas DataFrame: a contract batch."""
    import pandas as pd

    return pd.read_parquet(path) if file_format(path, fmt) == "parquet" else pd.read_csv(path)


def read_reference(path: Path, fmt: str = "auto", max_rows: int | None = None) -> Any:
    """A reference file as a pandas DataFrame, read by DuckDB with bounded memory: as pandas
    reads it, whole up to ``max_rows`` (:data:`REFERENCE_ROWS`), past that a uniform sample of
    ``max_rows`` rows kept in file order (time-like columns are told by their order)."""
    import pyarrow as pa

    cap = REFERENCE_ROWS if max_rows is None else max_rows
    with open_file(path, fmt) as r:
        r.stats(None)                                            # the types pandas reads
        cur = r.con.cursor()
        cur.execute("SET preserve_insertion_order = true").fetchall()   # rows in file order
        cur.execute("SET enable_progress_bar = false").fetchall()
        # a parquet file whole (its index too: the file's pandas metadata restores it)
        reader = cur.sql("SELECT * FROM " + ("whole_file" if r.fmt == "parquet" else "src")
                         ).to_arrow_reader(64 * 1024)
        table = _sample(reader, cap) if r.rows > cap else reader.read_all()
        if r.fmt == "parquet":
            import pyarrow.parquet as pq

            # the file's own schema (and its pandas metadata: index, categories, dtypes)
            table = table.cast(pq.read_schema(path))
            return table.to_pandas()
        frame = table.to_pandas()
        for c, kind in r.kinds.items():        # pandas' CSV inference, as FileRead names it
            if kind == "float" and frame[c].dtype.kind != "f":
                frame[c] = frame[c].astype("float64")
            elif kind == "string" and not pa.types.is_string(table.schema.field(c).type):
                frame[c] = frame[c].astype(object)
        return frame


def _sample(reader: Any, cap: int) -> Any:
    """A uniform sample of ``cap`` rows in file order: each row gets a random key and the
    ``cap`` smallest keys are kept (rows whose key cannot make it are dropped batch by batch,
    so memory stays near ``2 * cap`` rows)."""
    import pyarrow as pa

    rng = np.random.default_rng(7)
    parts: list[Any] = []
    keys, pos = np.empty(0), np.empty(0, dtype=np.int64)
    threshold, at = np.inf, 0

    def smallest() -> None:
        nonlocal parts, keys, pos
        best = np.argpartition(keys, cap - 1)[:cap]
        parts = pa.Table.from_batches(parts, reader.schema).take(best).to_batches()
        keys, pos = keys[best], pos[best]

    for batch in reader:
        k = rng.random(batch.num_rows)
        p = np.arange(at, at + batch.num_rows, dtype=np.int64)
        at += batch.num_rows
        sel = np.flatnonzero(k < threshold)
        if sel.size < batch.num_rows:
            batch, k, p = batch.take(pa.array(sel)), k[sel], p[sel]
        if batch.num_rows:
            parts.append(batch)
            keys, pos = np.concatenate([keys, k]), np.concatenate([pos, p])
        if keys.size >= 2 * cap:
            smallest()
            threshold = float(keys.max())
    if keys.size > cap:
        smallest()
    table = pa.Table.from_batches(parts, reader.schema)
    return table.take(np.argsort(pos, kind="stable"))


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duck_kind(duck_type: str) -> str:
    """A DuckDB type as a contract type, before the pandas reading rules."""
    t = duck_type.upper()
    if t == "BOOLEAN":
        return "bool"
    if t in _INT:
        return "int"
    if t in _FLOAT:
        return "float"
    if t.startswith("TIMESTAMP"):
        return "datetime"
    return "string"        # VARCHAR, DATE, TIME, DECIMAL, NULL, nested: objects in pandas


def pandas_kind(duck_type: str, nulls: int, rows: int, fmt: str,
                meta: dict[str, str] | None) -> str:
    """What pandas would call the column (see the module docstring). The metadata's dtype is
    restored except ``object``: pyarrow converts such a column by its stored type (a column of
    floats, ints or bools with ``None`` was stored as double, int64 or bool), as without
    metadata."""
    if meta is not None and meta["numpy_type"] != "object":    # a categorical's is its codes'
        return column_type(_PandasDtype(meta["numpy_type"], meta["pandas_type"]))
    kind = duck_kind(duck_type)
    if fmt == "csv" and rows and nulls == rows:
        return "float"                     # an empty CSV column is all-NaN float
    if nulls and kind == "int":
        return "float"
    if nulls and kind == "bool":
        return "string"
    return kind


class _PandasDtype:
    """A dtype as pandas' parquet metadata spells it, for :func:`column_type`."""

    def __init__(self, numpy_type: str, pandas_type: str) -> None:
        self.name = "category" if pandas_type == "categorical" else numpy_type
        self.kind = {"bool": "b", "object": "O"}.get(numpy_type)

    def __str__(self) -> str:
        return self.name


class FileRead:
    """One open DuckDB connection over one file (a view named ``src``)."""

    def __init__(self, con: Any, fmt: str, meta: dict[str, dict[str, str]]) -> None:
        self.con, self.fmt, self.meta = con, fmt, meta
        described = con.execute("DESCRIBE src").fetchall()
        self.duck = {str(r[0]): str(r[1]) for r in described}
        self.kinds: dict[str, str] = {}
        self.rows = 0

    def stats(self, time_column: str | None) -> Aggregates:
        """Rows, null counts (NaN is null), the schema as pandas reads it and the newest event:
        one scan."""
        cols = list(self.duck)
        exprs = ["count(*)"]
        for c in cols:
            q = quote(c)
            exprs.append(f"count(CASE WHEN NOT isnan({q}) THEN 1 END)"
                         if self.duck[c].upper() in _FLOAT else f"count({q})")
        time_expr = None
        if time_column is not None and time_column in self.duck:
            time_expr = self._time(time_column)
            exprs.append(f"max({time_expr})")
        row = self.con.execute(f"SELECT {', '.join(exprs)} FROM src").fetchone()
        assert row is not None
        self.rows = rows = int(row[0])
        nonnull = {c: int(n) for c, n in zip(cols, row[1:1 + len(cols)], strict=True)}
        nulls = {c: rows - nonnull[c] for c in cols}
        self.kinds = {c: pandas_kind(self.duck[c], nulls[c], rows, self.fmt, self.meta.get(c))
                      for c in cols}
        newest = epoch(row[1 + len(cols)]) if time_expr is not None else None
        return Aggregates(rows, dict(self.kinds), nulls, newest)

    def _time(self, column: str) -> str:
        """The column as event times: timestamps and dates as they are, text parsed, numbers
        as epoch seconds (NaN and infinities left out, as pandas does; see
        :func:`detectors.quality.newest_event_time`), anything else no time."""
        q, t = quote(column), self.duck[column].upper()
        if t.startswith("TIMESTAMP") or t == "DATE":
            return q
        if t in _INT or t in _FLOAT:
            return f"CASE WHEN isfinite(CAST({q} AS DOUBLE)) THEN CAST({q} AS DOUBLE) END"
        if t == "VARCHAR":
            return f"TRY_CAST({q} AS TIMESTAMPTZ)"
        return "NULL"

    def categories(self, columns: Sequence[str], cap: int
                   ) -> tuple[dict[str, Counter[str]], dict[str, int]]:
        """Counts per category (the ``cap`` most frequent) and the rows past the cap."""
        out: dict[str, Counter[str]] = {}
        rest: dict[str, int] = {}
        for c in columns:
            if c not in self.duck:
                continue
            q, floats = quote(c), self.duck[c].upper() in _FLOAT
            nan = f" AND NOT isnan({q})" if floats else ""
            found = self.con.execute(
                f"SELECT {q}, count(*) AS n FROM src WHERE {q} IS NOT NULL{nan} "
                f"GROUP BY {_groups(q, floats)} ORDER BY n DESC, {q} LIMIT {int(cap) + 1}"
            ).fetchall()
            counts: Counter[str] = Counter()
            for value, n in found[:cap]:
                counts[label(value, self.kinds.get(c, "string"))] += int(n)
            out[c] = counts
            if len(found) > cap:
                total = self.con.execute(f"SELECT count(*) FROM src WHERE {q} IS NOT NULL{nan}"
                                         ).fetchone()
                rest[c] = int(total[0] if total else 0) - sum(counts.values())
        return out, rest

    def values(self, columns: Sequence[str], cap: int
               ) -> tuple[dict[str, Any], dict[str, int]]:
        """Sorted non-NaN values per numeric column: all of them, or a reservoir sample of
        ``cap`` rows when the file has more (and how many rows it came from)."""
        cols = [c for c in columns if c in self.duck]
        if not cols:
            return {}, {}
        sample = f" USING SAMPLE reservoir({int(cap)} ROWS) REPEATABLE (7)" \
            if self.rows > cap else ""
        got = self.con.execute("SELECT " + ", ".join(
            f"CAST({quote(c)} AS DOUBLE) AS {quote(c)}" for c in cols) + f" FROM src{sample}"
        ).fetchnumpy()
        out = {}
        for c in cols:
            arr = got[c]
            arr = np.ma.filled(arr, np.nan) if isinstance(arr, np.ma.MaskedArray) else arr
            out[c] = sorted_window(np.asarray(arr, dtype=np.float64))
        return out, ({c: self.rows for c in cols} if sample else {})

    def allowed(self, allowed: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
        """Per contract column: non-null rows, rows whose text is not allowed, the most frequent
        of those values and how many distinct ones there are."""
        out: dict[str, dict[str, Any]] = {}
        for c, values in allowed.items():
            if c not in self.duck:
                out[c] = missing_allowed()
                continue
            kind, duck = self.kinds.get(c, "string"), self.duck[c].upper()
            # compared as the value pandas holds: an int column with nulls holds floats
            cmp = "float" if kind == "float" else duck_kind(duck)
            q = quote(c)
            target = f"CAST({q} AS DOUBLE)" if cmp == "float" else \
                f"CAST({q} AS VARCHAR)" if cmp == "string" and duck != "VARCHAR" else q
            floats = duck in _FLOAT
            nan = f" AND NOT isnan({q})" if floats else ""
            bad_when, params = _disallowed(target, typed_allowed(cmp, values))
            key = f"({q}, signbit({q}))" if floats else q      # -0.0 and 0.0: two texts
            head = self.con.execute(
                f"SELECT count(*), count(CASE WHEN {bad_when} THEN 1 END), "
                f"count(DISTINCT CASE WHEN {bad_when} THEN {key} END) FROM src "
                f"WHERE {q} IS NOT NULL{nan}", params).fetchone()
            assert head is not None
            worst = self.con.execute(
                f"SELECT {q}, count(*) AS n FROM src WHERE {q} IS NOT NULL{nan} AND {bad_when} "
                f"GROUP BY {_groups(q, floats)} ORDER BY n DESC, {q} LIMIT 5", params
            ).fetchall()
            out[c] = allowed_result(int(head[0]), int(head[1]), worst, int(head[2]), kind)
        return out


def _groups(q: str, floats: bool) -> str:
    """A column's GROUP BY keys, one group per text pandas shows: DuckDB holds -0.0 equal to
    0.0, ``str`` tells them apart (``-0.0``), so a float's sign is a key too."""
    return f"{q}, signbit({q})" if floats else q


def _disallowed(target: str, ok: list[Any]) -> tuple[str, dict[str, Any]]:
    """The condition (and its parameters) under which ``target``'s value is not one of ``ok``:
    a zero is allowed only with the sign an allowed zero has (as text, ``-0.0`` is not
    ``0.0``; DuckDB holds them equal)."""
    rest = [v for v in ok if not (isinstance(v, float) and v == 0)]
    zeros = {math.copysign(1.0, v) < 0 for v in ok if isinstance(v, float) and v == 0}
    allowed = [f"list_contains($ok, {target})"] if rest else []
    if zeros:
        sign = "" if len(zeros) == 2 else \
            f" AND {'' if True in zeros else 'NOT '}signbit({target})"
        allowed.append(f"({target} = 0{sign})")
    return (f"NOT ({' OR '.join(allowed)})" if allowed else "TRUE"), \
        ({"ok": rest} if rest else {})


def _pandas_meta(con: Any, path: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Per column, the pandas dtype a parquet file written by pandas records; and the columns
    that hold its index."""
    try:
        rows = con.execute("SELECT value FROM parquet_kv_metadata(?) WHERE key = 'pandas'",
                           [str(path)]).fetchall()
        meta = json.loads(rows[0][0]) if rows else None
    except Exception:          # no metadata, unreadable metadata: pyarrow's rules apply
        return {}, []
    if not isinstance(meta, dict):
        return {}, []
    index = [str(c) for c in meta.get("index_columns") or [] if isinstance(c, str)]
    return {str(c.get("name")): {"numpy_type": str(c.get("numpy_type")),
                                 "pandas_type": str(c.get("pandas_type"))}
            for c in meta.get("columns", []) if isinstance(c, dict) and c.get("name")
            is not None}, index


@contextmanager
def open_file(path: Path, fmt: str = "auto", memory_limit: str = "256MB",
              threads: int = 2) -> Iterator[FileRead]:
    """A DuckDB connection over ``path`` with bounded memory (past ``memory_limit`` it spills
    to a folder in the system's temporary directory, never the working directory); closed on
    exit."""
    import duckdb

    kind = file_format(path, fmt)
    con = duckdb.connect(config={"memory_limit": memory_limit, "threads": threads,
                                 "preserve_insertion_order": False,
                                 "temp_directory": str(Path(tempfile.gettempdir())
                                                       / "slo-agent-duckdb")})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")    # a main-thread read would print one
        where = _literal(str(path))
        if kind == "parquet":
            con.execute(f"CREATE VIEW whole_file AS SELECT * FROM read_parquet({where})")
            meta, index = _pandas_meta(con, path)
            cols = [str(r[0]) for r in con.execute("DESCRIBE whole_file").fetchall()]
            index = [c for c in index if c in cols]
            # the index pandas wrote is no column of the data (read_parquet makes it the index)
            drop = f" EXCLUDE ({', '.join(map(quote, index))})" \
                if index and len(index) < len(cols) else ""
            con.execute(f"CREATE VIEW src AS SELECT *{drop} FROM whole_file")
        else:
            def csv(sample: int) -> None:
                con.execute(
                    f"CREATE OR REPLACE VIEW src AS SELECT * FROM read_csv({where}, "
                    f"header = true, null_padding = true, sample_size = {sample}, "
                    f"auto_type_candidates = {CSV_TYPES!r}, nullstr = {PANDAS_NA!r})")
            csv(20_480)
            try:      # the sniffer looked at the first rows; a later one may not fit
                con.execute("SELECT count(*) FROM src").fetchone()
            except duckdb.ConversionException:
                csv(-1)
            meta = {}
        yield FileRead(con, kind, meta)
    finally:
        con.close()
