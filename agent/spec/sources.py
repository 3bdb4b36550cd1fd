"""What the sidecar collects from outside the SDK: scrape targets, GPUs and dataset files."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from agent.signals.presets import PRESETS
from agent.spec.dataset_sql import SqlSource
from agent.spec.fields import (
    ENV_RE,
    Duration,
    Ratio,
    StrictModel,
    as_duration,
    as_ratio,
    check_name,
    check_url,
    problems_error,
)
from agent.spec.signals import SignalKind


class MetricMap(StrictModel):
    """How one signal kind reads a target's series: ``metric``; or ``bad``/``good`` with
    ``total`` counters (an error ratio); or ``sum``/``count`` counters times ``scale`` (a mean).
    ``labels`` filter every series it reads; ``bad_labels`` the bad counter's only."""

    metric: str | None = None
    bad: str | None = None
    good: str | None = None
    total: str | None = None
    sum: str | None = None
    count: str | None = None
    scale: float = Field(default=1.0, gt=0)
    labels: dict[str, str] = Field(default_factory=dict)
    bad_labels: dict[str, str] = Field(default_factory=dict)
    model_scoped: bool = Field(default=True, description="the target's model filter applies "
                               "(false for server-wide series, e.g. TorchServe's Requests5XX)")

    @model_validator(mode="after")
    def _shape(self) -> MetricMap:
        shapes = [self.metric is not None,
                  self.bad is not None or self.good is not None or self.total is not None,
                  self.sum is not None or self.count is not None]
        if sum(shapes) != 1:
            raise problems_error([("metric", "give one of: metric; bad/good with total (or "
                                   "bad and good); sum with count", None)])
        counters = sum(x is not None for x in (self.bad, self.good, self.total))
        if shapes[1] and counters < 2:
            raise problems_error([("total", "a ratio needs two of bad, good and total", None)])
        if shapes[2] and (self.sum is None or self.count is None):
            raise problems_error([("count", "a mean needs both sum and count", None)])
        return self

    @property
    def is_ratio(self) -> bool:
        return self.bad is not None or self.good is not None or self.total is not None

    def series(self) -> str:
        """The main series, for absent-data alerts."""
        return next(x for x in (self.metric, self.total, self.bad, self.good, self.count)
                    if x is not None)


_INLINE = {"bearer_token": "bearer_token_env", "token": "bearer_token_env",
           "username": "username_env", "password": "password_env"}


class ScrapeAuth(StrictModel):
    """Credentials for a scrape, named by environment variable: a secret is never written in
    the spec. Either a bearer token, or basic auth (user and password)."""

    bearer_token_env: str | None = Field(default=None, description="variable holding a bearer "
                                         "token (sent as Authorization: Bearer ...)")
    username_env: str | None = Field(default=None, description="variable holding the basic-auth "
                                     "user")
    password_env: str | None = Field(default=None, description="variable holding the basic-auth "
                                     "password")

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        if isinstance(data, dict):
            inline = [(k, env) for k, env in _INLINE.items() if k in data]
            if inline:
                raise problems_error([(k, "a secret is never written in the spec; put it in an "
                                       f"environment variable and name it in {env}",
                                       "<redacted>") for k, env in inline])
        return data

    @field_validator("bearer_token_env", "username_env", "password_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        if v is not None and not ENV_RE.match(v):
            raise PydanticCustomError("spec_value", "expected an environment variable name such "
                                      "as VLLM_METRICS_TOKEN")
        return v

    @model_validator(mode="after")
    def _one_scheme(self) -> ScrapeAuth:
        basic = self.username_env is not None or self.password_env is not None
        if self.bearer_token_env is not None and basic:
            raise problems_error([("bearer_token_env", "give a bearer token or basic auth "
                                   "(username_env, password_env), not both", None)])
        if basic and (self.username_env is None or self.password_env is None):
            raise problems_error([("password_env" if self.password_env is None
                                   else "username_env", "basic auth needs both username_env "
                                   "and password_env", None)])
        if not basic and self.bearer_token_env is None:
            raise problems_error([("bearer_token_env", "give bearer_token_env, or username_env "
                                   "and password_env", None)])
        return self


class ScrapeTarget(StrictModel):
    """An existing exposition whose metrics map onto signal kinds (e.g. a model server's queue):
    a ``preset`` for vLLM, TGI, Triton or TorchServe, and/or explicit ``metrics``."""

    name: str
    url: Annotated[str, Field(pattern=r"^https?://")]
    interval: Duration = 15.0
    timeout: Duration = 5.0
    preset: Literal["vllm", "tgi", "triton", "torchserve"] | None = None
    model: str | None = Field(default=None, description="with a preset: only this model's "
                              "series (the server's model label)")
    labels: dict[str, str] = Field(default_factory=dict, description="label matchers for "
                                   "every mapped series")
    metrics: dict[SignalKind, str | MetricMap] = Field(default_factory=dict)
    auth: ScrapeAuth | None = Field(default=None, description="credentials read from the "
                                    "environment; the URL is shown and logged redacted")
    allow_link_local: bool = Field(default=False, description="scrape a link-local or cloud "
                                   "metadata address (169.254.0.0/16, fe80::/10, "
                                   "metadata.google.internal...): refused by default")

    @model_validator(mode="after")
    def _reach(self) -> ScrapeTarget:
        from urllib.parse import urlsplit

        from agent.redact import redact_url
        from agent.spec.reach import refused

        why = None if self.allow_link_local else refused(urlsplit(self.url).hostname or "")
        if why:
            raise problems_error([("url", f"{why}: refused (it can hand out the machine's "
                                   "cloud credentials); set allow_link_local: true on the "
                                   "target if this is really intended", redact_url(self.url))])
        return self

    @model_validator(mode="after")
    def _model_label(self) -> ScrapeTarget:
        if self.model is not None and (self.preset is None
                                       or PRESETS[self.preset]["model_label"] is None):
            raise problems_error([("model", "model filters a preset that labels its series by "
                                   "model (vllm, triton, torchserve)", self.model)])
        return self

    def mappings(self) -> dict[SignalKind, MetricMap]:
        """The preset's mappings, the target's own over them, every one with the target's
        label matchers (and the model's)."""
        out: dict[SignalKind, MetricMap] = {}
        model: dict[str, str] = {}
        if self.preset is not None:
            preset = PRESETS[self.preset]
            if self.model is not None:
                model = {preset["model_label"]: self.model}
            for kind, m in preset["metrics"].items():
                out[kind] = MetricMap(**m)
        for kind, m in self.metrics.items():
            out[kind] = MetricMap(metric=m) if isinstance(m, str) else m
        return {k: m.model_copy(update={"labels": {**self.labels,
                                                   **(model if m.model_scoped else {}),
                                                   **m.labels}})
                for k, m in out.items()}

    _v_d = field_validator("interval", "timeout", mode="before")(lambda cls, v: as_duration(v))
    _v_url = model_validator(mode="before")(lambda cls, data: check_url(data))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "a scrape target name")


class GPU(StrictModel):
    mode: Literal["auto", "on", "off"] = "auto"
    devices: list[int | str] = Field(default_factory=list,
                                     description="indexes or UUIDs; empty=all")
    interval: Duration = 5.0
    dcgm_compat: bool = True

    _v_interval = field_validator("interval", mode="before")(lambda cls, v: as_duration(v))


ColumnType = Literal["int", "float", "string", "bool", "datetime", "category"]
COLUMN_TYPES: tuple[str, ...] = get_args(ColumnType)


class Range(StrictModel):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _order(self) -> Range:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise problems_error([("max", f"max ({self.max}) is below min ({self.min})", self.max)])
        return self


class Freshness(StrictModel):
    column: str | None = Field(default=None, description="event-time column; None: file mtime "
                                                         "or the last mark_fresh()")
    max_lag: Duration = 3600.0
    _v_lag = field_validator("max_lag", mode="before")(lambda cls, v: as_duration(v))


class Contract(StrictModel):
    """What a dataset promises: the native checks and the great-expectations suite both read it."""

    columns: dict[str, ColumnType] = Field(default_factory=dict)
    allow_extra_columns: bool = True
    max_null_ratio: dict[str, Ratio] = Field(default_factory=dict)
    ranges: dict[str, Range] = Field(default_factory=dict)
    allowed_values: dict[str, list[str | int | float | bool]] = Field(
        default_factory=dict, description="per column, the only values allowed (compared as "
        "text); the share of other rows is the disallowed_value_share signal")
    freshness: Freshness | None = None

    @field_validator("max_null_ratio", mode="before")
    @classmethod
    def _ratios(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: as_ratio(x) for k, x in v.items()}
        return v

    @model_validator(mode="after")
    def _known_columns(self) -> Contract:
        if not self.columns:
            return self
        types = "|".join(COLUMN_TYPES)
        problems = [
            (f"{section}.{col}", f"column {col!r} is not in columns; add `{col}: <{types}>` "
             f"under contract.columns (declared: {', '.join(sorted(self.columns))})", col)
            for section, cols in (("max_null_ratio", self.max_null_ratio), ("ranges", self.ranges),
                                  ("allowed_values", self.allowed_values))
            for col in cols if col not in self.columns
        ]
        if self.freshness and self.freshness.column and self.freshness.column not in self.columns:
            col = self.freshness.column
            problems.append(("freshness.column", f"column {col!r} is not in columns; add "
                             f"`{col}: datetime` under contract.columns (the freshness column "
                             "holds event times)", col))
        if problems:
            raise problems_error(problems)
        return self


class DatasetDrift(StrictModel):
    """Which columns of a dataset file are drift-tested against its reference."""

    columns: list[str] | None = Field(default=None, description="test only these; None: all")
    exclude: list[str] = Field(default_factory=list, description="never test these")
    skip_identifiers: bool = Field(default=True, description="skip integer/text columns unique "
                                                             "per row (ids); reported as skipped")
    categorical: list[str] = Field(default_factory=list, description="numeric columns to test "
                                   "as categories (codes); text and bool columns always are")
    time_like: list[str] | None = Field(
        default=None, description="columns that are clocks, dates, sequences or ids: left out "
        "of the drift test (offered as freshness and volume); null: recognised by dtype, order "
        "and name; a list: exactly these")


SQL_POLL = 60.0     # seconds between a database's polls unless poll_interval says otherwise


class Dataset(StrictModel):
    name: str
    path: str | None = Field(default=None, description="CSV or Parquet file polled for checks")
    sql: SqlSource | None = Field(default=None, description="a table or read-only query in a "
                                  "SQL database, polled with aggregate queries (instead of path)")
    reference: str | None = Field(default=None, description="CSV or Parquet reference for drift")
    format: Literal["auto", "csv", "parquet"] = "auto"
    poll_interval: Annotated[float | None, Field(ge=0), WithJsonSchema({
        "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}, {"type": "null"}],
        "description": "a file: how often its mtime, size and inode are checked (it is read "
                       "when one changed), default the sidecar's interval; a database: how "
                       "often it is queried, default 60s"})] = None
    contract: Contract = Field(default_factory=Contract)
    drift: DatasetDrift = Field(default_factory=DatasetDrift)
    allow_symlinks_out: bool = Field(default=False, description="read path and reference even "
                                     "when a symlink leads out of the folder they are written "
                                     "in (refused by default: see agent/spec/paths.py)")

    @property
    def named_columns(self) -> set[str]:
        """Columns the spec itself names for this dataset (contract and drift settings): the
        only ones, with the reference's, that may become labels on the open /metrics."""
        c, d = self.contract, self.drift
        out = set(c.columns) | set(c.max_null_ratio) | set(c.ranges) | set(c.allowed_values)
        if c.freshness is not None and c.freshness.column:
            out.add(c.freshness.column)
        return out | set(d.columns or []) | set(d.categorical) | set(d.exclude)

    _v_poll = field_validator("poll_interval", mode="before")(
        lambda cls, v: None if v is None else as_duration(v))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "a dataset name")

    @model_validator(mode="after")
    def _one_place(self) -> Dataset:
        if self.path is not None and self.sql is not None:
            raise problems_error([("sql", "a dataset is a file (path) or a database (sql), not "
                                   "both: declare two datasets", None)])
        fresh = self.contract.freshness
        if self.sql is not None and fresh is not None and fresh.column and \
                fresh.column != self.sql.time_column:
            raise problems_error([("contract.freshness.column", "a SQL dataset's freshness is "
                                   "read on sql.time_column: leave this out or give the same "
                                   "column", fresh.column)])
        return self

    @property
    def freshness_column(self) -> str | None:
        """The event-time column freshness reads: the contract's, else the SQL time column."""
        fresh = self.contract.freshness
        if fresh is not None and fresh.column:
            return fresh.column
        return self.sql.time_column if self.sql is not None else None

    def poll_every(self, sidecar_interval: float = SQL_POLL) -> float:
        """Seconds between polls: ``poll_interval``, else the sidecar's interval for a file (a
        ``stat``, microseconds) and 60s for a database (a query)."""
        if self.poll_interval is not None:
            return self.poll_interval
        return SQL_POLL if self.sql is not None else sidecar_interval


class Sources(StrictModel):
    scrape: list[ScrapeTarget] = Field(default_factory=list)
    gpu: GPU = Field(default_factory=GPU)
    datasets: list[Dataset] = Field(default_factory=list)
