"""A dataset that lives in a SQL database: ``sources.datasets[].sql``.

The sidecar sends aggregate queries (counts, null counts, the newest event time, counts per
reference bin and per category) and reads back only aggregates; the connection URL comes from an
environment variable because it carries credentials, and is never written in the spec.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from agent.spec.fields import ENV_RE, Duration, StrictModel, as_duration, problems_error

#: a table name, optionally schema-qualified: quoted by the dialect when queried
TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$")
COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$ ]{0,62}$")
_READ = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
#: words that write, lock or create (SELECT ... INTO): refused even inside a WITH; a column
#: named like one is written quoted
_WRITES = re.compile(r"\b(insert|update|delete|merge|drop|alter|create|truncate|grant|revoke|"
                     r"copy|call|lock|vacuum|refresh|into)\b", re.IGNORECASE)
SINCE_LAST_POLL = "since_last_poll"


def check_query(query: str) -> str:
    """One read-only SELECT (or WITH ... SELECT) statement, without its trailing semicolon.

    The real guard is the read-only transaction and the role's grants (see the README); this
    refuses what is plainly not a read so a typo fails at ``validate``, not on the database."""
    text = query.strip().rstrip(";").strip()
    bare = _QUOTED.sub("''", _COMMENT.sub(" ", text))
    if not _READ.match(bare):
        raise PydanticCustomError("spec_value", "expected one read-only SELECT (or WITH ... "
                                  "SELECT) statement")
    if ";" in bare:
        raise PydanticCustomError("spec_value", "expected one statement: remove the ';' inside "
                                  "the query")
    found = _WRITES.search(bare)
    if found:
        raise PydanticCustomError("spec_value", "a dataset query only reads: remove "
                                  "{word} (the sidecar runs it in a read-only transaction)",
                                  {"word": repr(found.group(1).upper())})
    return text


class SqlSource(StrictModel):
    """Where a dataset's rows are: a table or a read-only query, the column that orders them in
    time and which rows each poll looks at (``window``)."""

    url_env: str = Field(description="environment variable holding the SQLAlchemy URL, e.g. "
                         "postgresql+psycopg://monitor:...@db:5432/features")
    table: str | None = Field(default=None, description="table (or view), optionally "
                              "schema.table; its schema is read from the catalogue")
    query: str | None = Field(default=None, description="a read-only SELECT whose rows are the "
                              "dataset (instead of table)")
    time_column: str | None = Field(default=None, description="event-time column: freshness "
                                    "is now - max(it), and the window is taken on it")
    window: Duration | Literal["since_last_poll", "all"] = Field(
        default=3600.0, description="rows each poll looks at: newer than now minus this "
        "duration (e.g. 1h), since_last_poll (newer than the newest one the last poll saw) or "
        "all (the whole table: every poll scans it)")
    timeout: Duration = Field(default=30.0, description="statement timeout of each query; a "
                              "slower one is cancelled and reported")
    max_categories: int = Field(default=1000, ge=10, le=100_000, description="categories read "
                                "back per column (most frequent first); the rest are counted "
                                "together")
    ks_sample: int | None = Field(default=None, ge=100, le=1_000_000, description="exact KS on "
                                  "a random sample of this many rows per poll; unset: numeric "
                                  "drift from counts per reference quantile bin (drift.fleet_bins)")
    great_expectations: bool = Field(default=False, description="run the contract through Great "
                                     "Expectations against the database (the gx extra) besides "
                                     "the sidecar's own checks")

    @model_validator(mode="before")
    @classmethod
    def _no_inline_url(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("url", "dsn", "password", "connection_string"):
                if key in data:
                    raise problems_error([(key, "a connection URL carries credentials and is "
                                           "never written in the spec; put it in an "
                                           "environment variable and name it in url_env",
                                           "<redacted>")])
        return data

    @field_validator("url_env")
    @classmethod
    def _env(cls, v: str) -> str:
        if not ENV_RE.match(v):
            raise PydanticCustomError("spec_value", "expected an environment variable name such "
                                      "as FEATURES_DB_URL")
        return v

    @field_validator("table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        if v is not None and not TABLE_RE.match(v):
            raise PydanticCustomError("spec_value", "expected a table name or schema.table "
                                      "(letters, digits, '_', '$'); for anything else write a "
                                      "query")
        return v

    @field_validator("time_column")
    @classmethod
    def _column(cls, v: str | None) -> str | None:
        if v is not None and not COLUMN_RE.match(v):
            raise PydanticCustomError("spec_value", "expected a column name (letters, digits, "
                                      "'_', '$', spaces; at most 63 characters)")
        return v

    @field_validator("query")
    @classmethod
    def _query(cls, v: str | None) -> str | None:
        return None if v is None else check_query(v)

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, v: Any) -> Any:
        if v in (SINCE_LAST_POLL, "all"):
            return v
        return as_duration(v)

    _v_timeout = field_validator("timeout", mode="before")(lambda cls, v: as_duration(v))

    @model_validator(mode="after")
    def _shape(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise problems_error([("table", "give a table or a query (one of them)", None)])
        if self.window != "all" and self.time_column is None:
            raise problems_error([("time_column", f"window {self.window!r} is taken on the "
                                   "event-time column: name it in time_column (or set window: "
                                   "all)", None)])
        if isinstance(self.window, float) and self.window <= 0:
            raise problems_error([("window", "a window must be longer than 0s", self.window)])
        if self.timeout <= 0:
            raise problems_error([("timeout", "a statement timeout must be longer than 0s",
                                   self.timeout)])
        return self

    @property
    def what(self) -> str:
        """The source as shown on /status: the table, or 'query'."""
        return self.table or "query"
