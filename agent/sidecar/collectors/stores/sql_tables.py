"""A dataset in a SQL database, read through SQLAlchemy with aggregate queries only.

Per poll, in one read-only transaction that is never committed: the schema (the catalogue's,
through the dialect's inspector, for a table; the result's description for a query), the newest
event time, rows and null counts in the window, counts per category (the most frequent, capped),
cumulative counts at the reference's quantile edges, and, where asked, a bounded random sample
for an exact KS. PostgreSQL gets a server-side statement timeout, a read-only session and UTC;
any other dialect gets the same queries (the poller's watchdog reports a slow one). Errors come
out as :class:`StoreError` with a message a user can act on and never the URL's password.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agent.sidecar.collectors.stores.aggregates import (
    Aggregates,
    allowed_result,
    epoch,
    label,
    missing_allowed,
    typed_allowed,
)
from agent.spec.dataset_sql import SINCE_LAST_POLL, SqlSource
from detectors.ks import sorted_window

#: PostgreSQL type names (a query's result description) as contract types
_PG_TYPES = {"bool": "bool", "int2": "int", "int4": "int", "int8": "int", "oid": "int",
             "float4": "float", "float8": "float", "numeric": "float", "money": "float",
             "timestamp": "datetime", "timestamptz": "datetime", "date": "datetime"}
CONNECT_TIMEOUT = 10


class StoreError(Exception):
    """A failure said in words: what went wrong and what to do. Never holds a secret.
    ``reachable``: False when the database was never reached (no URL, no connection), which
    ``validate`` reports without failing."""

    def __init__(self, message: str, reachable: bool = True) -> None:
        super().__init__(message)
        self.reachable = reachable


def masked(url: str) -> str:
    """The URL as shown: the password masked (``postgresql+psycopg://monitor:***@db/x``)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "***"


def _sa_kind(t: Any) -> str:
    import sqlalchemy as sa

    if isinstance(t, sa.Boolean):
        return "bool"
    if isinstance(t, sa.Integer):
        return "int"
    if isinstance(t, sa.Float | sa.Numeric):
        return "float"
    if isinstance(t, sa.DateTime | sa.Date):
        return "datetime"
    return "string"


def _value_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float) or type(v).__name__ == "Decimal":
        return "float"
    if isinstance(v, datetime):
        return "datetime"
    return "string"


def _userinfo_password(url: str) -> str | None:
    """The password as a URL parser that splits at the last ``@`` reads it, decoded."""
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return None if password is None else unquote(password)


def shown_url(parsed: Any) -> str:
    """The URL as shown: its password masked, and masked too wherever else it appears (a
    database name or a query parameter holding it)."""
    pw, mark = parsed.password, "SLOAGENTMASKED"     # a mark the rendering keeps as it is
    if pw and len(pw) >= 3:
        def mask(v: Any) -> Any:
            return v.replace(pw, mark) if isinstance(v, str) else tuple(map(mask, v))

        parsed = parsed.set(database=mask(parsed.database or "") or None,
                            query={k: mask(v) for k, v in parsed.query.items()})
    return str(parsed.render_as_string(hide_password=True)).replace(mark, "***")


class SqlStore:
    """One SQL dataset: its engine (no pooled connection is kept between polls) and the window
    cursor of ``since_last_poll``."""

    def __init__(self, source: SqlSource, poll_interval: float) -> None:
        self.source = source
        self.poll_interval = poll_interval
        self.cursor: Any = None        # the newest time value the last complete read saw
        self._engine: Any = None
        self._url = ""
        self.shown = f"${source.url_env}"

    def engine(self) -> Any:
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError
        from sqlalchemy.pool import NullPool

        env = self.source.url_env
        url = os.environ.get(env, "")
        if not url:
            raise StoreError(f"environment variable {env} is not set: put the database's "
                             "SQLAlchemy URL in it (sql.url_env)", reachable=False)
        if self._engine is not None and url == self._url:
            return self._engine
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            raise StoreError(f"{env} does not hold a SQLAlchemy URL (expected e.g. "
                             "postgresql+psycopg://monitor:***@host:5432/db)") from None
        if parsed.password != _userinfo_password(url):
            raise StoreError(f"{env}: the URL's user or password holds a character it must "
                             "percent-encode ('@' as %40, '/' as %2F, ':' in the user as %3A): "
                             "read as it stands, part of the password would be the host")
        self.shown = shown_url(parsed)
        args: dict[str, Any] = {}
        timeout_ms = int(self.source.timeout * 1000)
        if parsed.get_backend_name() == "postgresql":
            args = {"connect_timeout": CONNECT_TIMEOUT, "options":
                    f"-c statement_timeout={timeout_ms} -c default_transaction_read_only=on "
                    f"-c idle_in_transaction_session_timeout={timeout_ms} -c TimeZone=UTC"}
        try:
            self._engine = sa.create_engine(parsed, poolclass=NullPool, connect_args=args)
        except NoSuchModuleError:
            raise StoreError(f"{env}: no SQLAlchemy dialect {parsed.drivername!r} is installed "
                             "(postgresql+psycopg is; others need their driver)") from None
        except Exception as exc:
            raise StoreError(f"{env}: {self.scrub(str(exc))}") from None
        self._url = url
        return self._engine

    def scrub(self, text: str) -> str:
        """``text`` without the URL or its secrets (see :func:`agent.redact.scrub`)."""
        from agent.redact import scrub

        out = scrub(text, self._url, self.shown) if self._url else text
        url = os.environ.get(self.source.url_env, "")
        return scrub(out, url, self.shown) if url and url != self._url else out

    @contextmanager
    def open(self) -> Iterator[SqlRead]:
        """One read-only transaction (rolled back at the end) over the dataset's rows."""
        import sqlalchemy.exc as sx

        engine = self.engine()
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "postgresql":
                    conn = conn.execution_options(postgresql_readonly=True)
                yield SqlRead(self, conn)
        except StoreError:
            raise
        except sx.NoSuchTableError:
            raise StoreError(f"table {self.source.table!r} does not exist, or the role in "
                             f"{self.source.url_env} cannot see it (GRANT USAGE ON SCHEMA, "
                             "GRANT SELECT)") from None
        except sx.DBAPIError as exc:
            message = self._explain(exc)
            raise StoreError(message, not message.startswith("cannot connect")) from None
        except sx.SQLAlchemyError as exc:
            raise StoreError(self.scrub(f"{type(exc).__name__}: {exc}")[:400]) from None

    def _explain(self, exc: Any) -> str:
        """A driver error in words: the first line of the database's message, scrubbed."""
        orig = getattr(exc, "orig", None)
        text = str(orig if orig is not None else exc).strip().splitlines()
        first = self.scrub(text[0] if text else type(exc).__name__)[:300]
        code = getattr(orig, "sqlstate", None) or ""
        if "statement timeout" in first or code == "57014":
            return (f"query cancelled after the statement timeout ({self.source.timeout:g}s): "
                    "shorten sql.window, index the time column, or raise sql.timeout")
        if code == "42501" or "permission denied" in first:
            return (f"the role in {self.source.url_env} may not read this: {first} (GRANT "
                    "SELECT on the table, and USAGE on its schema)")
        low = first.lower()
        if code.startswith("28") or "authentication failed" in low or "password" in low:
            return f"{self.shown} refused the login: {first}"
        if code.startswith("08") or "connect" in low:
            return f"cannot connect to {self.shown}: {first}"
        return f"{type(orig or exc).__name__}: {first}"


class SqlRead:
    """The queries of one poll, over one connection."""

    def __init__(self, store: SqlStore, conn: Any) -> None:
        import sqlalchemy as sa

        self.store, self.conn = store, conn
        src = store.source
        self.types: dict[str, Any] = {}
        self.kinds: dict[str, str] = {}
        if src.table is not None:
            schema, _, name = src.table.rpartition(".")
            cols = sa.inspect(conn).get_columns(name, schema=schema or None)
            for c in cols:
                self.types[str(c["name"])] = c["type"]
                self.kinds[str(c["name"])] = _sa_kind(c["type"])
            self.src: Any = sa.table(name, *[sa.column(n, t) for n, t in self.types.items()],
                                     schema=schema or None)
        else:
            self.kinds = self._query_kinds(str(src.query))
            self.src = sa.text(str(src.query)).columns(
                *[sa.column(n) for n in self.kinds]).subquery("src")
        if not self.kinds:
            raise StoreError(f"{src.what} has no columns the role can see")
        self.where: Any = sa.true()
        self.rows = 0
        self.newest_raw: Any = None

    def _query_kinds(self, query: str) -> dict[str, str]:
        """Column types of a query's result: the driver's type names where it gives them
        (psycopg), else the Python types of a few rows."""
        import sqlalchemy as sa

        result = self.conn.execute(sa.text(f"SELECT * FROM ({query}) AS src LIMIT 100"))
        desc = result.cursor.description or []
        names = [str(d[0]) for d in desc]
        if len(set(names)) != len(names) or not names:
            dup = sorted({n for n in names if names.count(n) > 1})
            raise StoreError("the query's result must have distinct column names; repeated: "
                             f"{', '.join(dup)} (name them with AS)" if dup else
                             "the query returns no columns")
        rows = result.fetchall()
        kinds: dict[str, str] = {}
        for i, (n, d) in enumerate(zip(names, desc, strict=True)):
            kinds[n] = self._driver_kind(d[1]) or next(
                (_value_kind(r[i]) for r in rows if r[i] is not None), "string")
        return kinds

    def _driver_kind(self, type_code: Any) -> str | None:
        if self.conn.dialect.name != "postgresql" or not isinstance(type_code, int):
            return None
        try:
            from psycopg.postgres import types
        except ImportError:
            return None
        info = types.get(type_code)
        return _PG_TYPES.get(info.name, "string") if info is not None else "string"

    def col(self, name: str) -> Any:
        return self.src.c[name]

    def present(self, name: str) -> Any:
        """``name`` holds a value: not NULL and, in a float column, not NaN (a NaN is a null,
        as pandas counts it)."""
        import sqlalchemy as sa

        col = self.col(name)
        if self.kinds.get(name) != "float":
            return col.is_not(None)
        return sa.and_(col.is_not(None), sa.not_(self.is_nan(col)))

    def is_nan(self, col: Any) -> Any:
        """NaN in any dialect: PostgreSQL holds NaN equal to itself (so ``x <> x`` never finds
        it) and compares it natively; elsewhere the value's text is ``NaN`` whatever the
        dialect's equality says, and a database without NaN never has that text."""
        import sqlalchemy as sa

        if self.conn.dialect.name == "postgresql":
            return col == sa.cast(sa.literal("NaN"), sa.Float)
        return sa.func.upper(sa.cast(col, sa.String)) == "NAN"

    def count_present(self, name: str) -> Any:
        import sqlalchemy as sa

        if self.kinds.get(name) != "float":
            return sa.func.count(self.col(name))
        return sa.func.count(sa.case((self.present(name), 1)))

    def check_column(self, name: str, what: str) -> None:
        if name not in self.kinds:
            raise StoreError(f"{what} {name!r} is not a column of {self.store.source.what}; "
                             f"columns: {', '.join(self.kinds)}")

    def stats(self, now: float) -> Aggregates:
        """Newest event (the whole source), rows and nulls in the window."""
        import sqlalchemy as sa

        s = self.store.source
        tc_name = s.time_column
        newest_raw = None
        if tc_name is not None:
            self.check_column(tc_name, "time_column")
            if self.kinds[tc_name] not in ("datetime", "int", "float"):
                raise StoreError(f"time_column {tc_name!r} is {self.kinds[tc_name]}; expected a "
                                 "timestamp, a date or epoch seconds")
            tc = self.col(tc_name)
            newest_raw = self.conn.execute(sa.select(sa.func.max(tc)).select_from(self.src)
                                           .where(self.present(tc_name))).scalar()
            self.where = self._window(tc, newest_raw, now)
            if s.window != "all" and self.kinds[tc_name] == "float":
                self.where = sa.and_(self.where, self.present(tc_name))   # NaN is no time
        cols = list(self.kinds)
        stmt = sa.select(sa.func.count(), *[self.count_present(c) for c in cols]
                         ).select_from(self.src).where(self.where)
        row = self.conn.execute(stmt).one()
        self.rows = rows = int(row[0])
        nonnull = {c: int(n or 0) for c, n in zip(cols, row[1:1 + len(cols)], strict=True)}
        agg = Aggregates(rows, dict(self.kinds), {c: rows - nonnull[c] for c in cols},
                         epoch(newest_raw))
        self.newest_raw = newest_raw
        return agg

    def _window(self, tc: Any, newest: Any, now: float) -> Any:
        import sqlalchemy as sa

        s = self.store.source
        numeric = self.kinds[s.time_column or ""] in ("int", "float")
        if s.window == "all":
            return sa.true()
        if s.window == SINCE_LAST_POLL:
            if newest is None:
                return sa.false()
            start = self.store.cursor
            if start is None:
                start = newest - (self.store.poll_interval if numeric
                                  else timedelta(seconds=self.store.poll_interval))
            return sa.and_(tc > start, tc <= newest)
        since = now - float(s.window)
        if numeric:
            return tc > since
        bound = datetime.fromtimestamp(since, tz=UTC)
        t = self.types.get(s.time_column or "")
        if self.conn.dialect.name != "postgresql" and not getattr(t, "timezone", False):
            bound = bound.replace(tzinfo=None)          # a naive column holds UTC
        return tc > bound

    def categories(self, columns: Sequence[str], cap: int
                   ) -> tuple[dict[str, Counter[str]], dict[str, int]]:
        import sqlalchemy as sa

        out: dict[str, Counter[str]] = {}
        rest: dict[str, int] = {}
        for c in columns:
            if c not in self.kinds:
                continue
            col = self.col(c)
            n = sa.func.count().label("n")
            found = self.conn.execute(
                sa.select(col, n).select_from(self.src).where(self.where, self.present(c))
                .group_by(col).order_by(sa.desc("n"), col).limit(cap + 1)).all()
            counts: Counter[str] = Counter()
            for value, k in found[:cap]:
                counts[label(value, self.kinds[c])] += int(k)
            out[c] = counts
            if len(found) > cap:
                total = self.conn.execute(sa.select(self.count_present(c))
                                          .select_from(self.src).where(self.where)).scalar()
                rest[c] = int(total or 0) - sum(counts.values())
        return out, rest

    def bins(self, edges: Mapping[str, NDArray[np.float64]]) -> dict[str, NDArray[np.int64]]:
        """Cumulative counts at each column's edges, then its non-null count: one statement,
        ``sum(case when x <= edge ...)`` per edge (the ``le`` buckets of detectors.bins)."""
        import sqlalchemy as sa

        cols = [c for c in edges if c in self.kinds and self.kinds[c] in ("int", "float")]
        if not cols:
            return {}
        exprs: list[Any] = []
        for c in cols:
            col = self.col(c)
            exprs += [sa.func.sum(sa.case((col <= float(e), 1), else_=0)) for e in edges[c]]
            exprs.append(self.count_present(c))       # NaN is in no bin
        row = self.conn.execute(sa.select(*exprs).select_from(self.src).where(self.where)
                                ).one()
        out, i = {}, 0
        for c in cols:
            k = len(edges[c]) + 1
            out[c] = np.asarray([int(x or 0) for x in row[i:i + k]], dtype=np.int64)
            i += k
        return out

    def sample(self, columns: Sequence[str], n: int
               ) -> tuple[dict[str, NDArray[np.float64]], dict[str, int]]:
        """Values of the numeric columns in a random sample of ``n`` window rows."""
        import sqlalchemy as sa

        cols = [c for c in columns if c in self.kinds and self.kinds[c] in ("int", "float")]
        if not cols:
            return {}, {}
        rows = self.conn.execute(sa.select(*[self.col(c) for c in cols]).select_from(self.src)
                                 .where(self.where).order_by(sa.func.random()).limit(n)).all()
        out = {}
        for i, c in enumerate(cols):
            vals = [float(r[i]) for r in rows if r[i] is not None]
            out[c] = sorted_window(np.asarray(vals, dtype=np.float64))     # NaN dropped
        return out, ({c: self.rows for c in cols} if self.rows > n else {})

    def allowed(self, allowed: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
        import sqlalchemy as sa

        out: dict[str, dict[str, Any]] = {}
        for c, values in allowed.items():
            if c not in self.kinds:
                out[c] = missing_allowed()
                continue
            kind = self.kinds[c]
            col = self.col(c)
            target = sa.cast(col, sa.String) if kind == "datetime" else col
            ok = typed_allowed("string" if kind == "datetime" else kind, values)
            bad = sa.not_(target.in_(ok)) if ok else sa.true()
            head = self.conn.execute(sa.select(
                sa.func.count(col), sa.func.sum(sa.case((bad, 1), else_=0)),
                sa.func.count(sa.distinct(sa.case((bad, col))))).select_from(self.src)
                .where(self.where, self.present(c))).one()
            n = sa.func.count().label("n")
            worst = self.conn.execute(
                sa.select(col, n).select_from(self.src).where(self.where, self.present(c), bad)
                .group_by(col).order_by(sa.desc("n"), col).limit(5)).all()
            out[c] = allowed_result(int(head[0] or 0), int(head[1] or 0),
                                    [(v, int(k)) for v, k in worst], int(head[2] or 0), kind)
        return out

