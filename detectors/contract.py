"""Data contracts validated by great-expectations, on the batches users hand over.

The suite is built from the contract section of the spec (passed in as a plain mapping so this
package imports nothing of the agent's): columns and types, nulls with ``mostly``, value ranges and
freshness. GX is imported on first use only — it costs seconds and hundreds of MB — and runs in an
ephemeral context, so nothing is written to disk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Column types are checked natively (detectors.quality.column_type): GX 1.x's
# expect_column_values_to_be_in_type_list rejects pandas 3 string columns even when the observed
# type is in the list ('str' not accepted in ['str']), so it cannot judge a contract's types.
TYPE_EXPECTATION = "expect_column_to_have_contract_type"


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str          # GX expectation type, e.g. expect_column_values_to_not_be_null
    column: str | None
    success: bool
    signal: str               # the spec signal this maps onto: schema_drift, null_ratio, ...
    observed: Any = None
    unexpected_count: int | None = None
    unexpected_ratio: float | None = None


@dataclass(frozen=True)
class ContractReport:
    dataset: str
    rows: int
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def success(self) -> bool:
        return not self.failures


def _expectations(contract: Mapping[str, Any], now: float) -> list[tuple[Any, str]]:
    import great_expectations as gx

    e = gx.expectations
    out: list[tuple[Any, str]] = []
    columns: Mapping[str, str] = contract.get("columns") or {}
    for col in columns:
        out.append((e.ExpectColumnToExist(column=col), "schema_drift"))
    if columns and not contract.get("allow_extra_columns", True):
        out.append((e.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=True),
                    "schema_drift"))
    for col, ratio in (contract.get("max_null_ratio") or {}).items():
        out.append((e.ExpectColumnValuesToNotBeNull(column=col, mostly=1.0 - float(ratio)),
                    "null_ratio"))
    for col, rng in (contract.get("ranges") or {}).items():
        lo, hi = rng.get("min"), rng.get("max")
        out.append((e.ExpectColumnValuesToBeBetween(column=col, min_value=lo, max_value=hi),
                    "range"))
    for col, allowed in (contract.get("allowed_values") or {}).items():
        # as given and as text: a CSV code read as 1 matches an allowed "1" and the other way
        value_set = list(dict.fromkeys([*allowed, *(str(a) for a in allowed)]))
        out.append((e.ExpectColumnValuesToBeInSet(column=col, value_set=value_set),
                    "disallowed_value_share"))
    fresh = contract.get("freshness") or {}
    if fresh.get("column"):
        oldest_ok = datetime.fromtimestamp(now - float(fresh.get("max_lag", 3600)), tz=UTC)
        out.append((e.ExpectColumnMaxToBeBetween(column=fresh["column"], min_value=oldest_ok),
                    "freshness_lag"))
    return out


def validate_contract(frame: Any, contract: Mapping[str, Any], dataset: str = "dataset",
                      now: float | None = None) -> ContractReport:
    """Validate a pandas DataFrame against a contract; one outcome per expectation."""
    import time

    now = time.time() if now is None else now
    frame = _utc_datetimes(frame, contract)
    context = ephemeral_context()
    source = context.data_sources.add_pandas(f"{dataset}-source")
    asset = source.add_dataframe_asset(name=dataset)
    batch = asset.add_batch_definition_whole_dataframe("batch").get_batch(
        batch_parameters={"dataframe": frame})
    outcomes = _type_outcomes(frame, contract)
    outcomes += validate_batch(batch, contract, dataset, now)
    return ContractReport(dataset, len(frame), tuple(outcomes))


def ephemeral_context() -> Any:
    """A GX context that writes nothing to disk and draws no progress bars."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    try:  # no progress bars on the agent's stderr
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False,
                                                             metric_calculations=False)
    except (ImportError, AttributeError, TypeError):  # cosmetic only; settings moved
        pass
    return context


def validate_batch(batch: Any, contract: Mapping[str, Any], dataset: str,
                   now: float) -> list[ExpectationOutcome]:
    """The contract's expectations on a GX batch of any datasource (a DataFrame, a SQL
    query): one outcome per expectation."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"{dataset}-contract")
    signals: dict[tuple[str, str | None], str] = {}
    for expectation, signal in _expectations(contract, now):
        suite.add_expectation(expectation)
        signals[(expectation.expectation_type, getattr(expectation, "column", None))] = signal
    result = batch.validate(suite)
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        if cfg is None:
            continue
        res = r.result or {}
        pct = res.get("unexpected_percent")
        observed = res.get("observed_value")
        outcomes.append(ExpectationOutcome(
            expectation=cfg.type, column=cfg.kwargs.get("column"), success=bool(r.success),
            signal=signals.get((cfg.type, cfg.kwargs.get("column")), "contract"),
            observed=_plain(observed), unexpected_count=res.get("unexpected_count"),
            unexpected_ratio=None if pct is None or not math.isfinite(pct) else pct / 100.0,
        ))
    return outcomes


def _type_outcomes(frame: Any, contract: Mapping[str, Any]) -> list[ExpectationOutcome]:
    from detectors.quality import column_type

    return type_outcomes({str(c): column_type(t) for c, t in frame.dtypes.items()}, contract)


def type_outcomes(observed: Mapping[str, str], contract: Mapping[str, Any]
                  ) -> list[ExpectationOutcome]:
    """The contract's column types against the observed ones (checked natively, see above)."""
    from detectors.quality import schema_diff

    expected: Mapping[str, str] = contract.get("columns") or {}
    retyped = {c: o for c, _, o in schema_diff(expected, observed).retyped}
    return [ExpectationOutcome(TYPE_EXPECTATION, col, col not in retyped, "schema_drift",
                               observed=retyped.get(col, observed.get(col)))
            for col in expected if col in observed]


def _utc_datetimes(frame: Any, contract: Mapping[str, Any]) -> Any:
    """Freshness compares with an aware timestamp; make the freshness column UTC-aware."""
    import numpy as np
    import pandas as pd

    col = (contract.get("freshness") or {}).get("column")
    if not col or col not in frame.columns:
        return frame
    out = frame.copy()
    values = out[col]
    if pd.api.types.is_bool_dtype(values.dtype):
        out[col] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
    elif pd.api.types.is_numeric_dtype(values.dtype):
        # epoch seconds, as detectors.quality.newest_event_time reads them (not nanoseconds)
        # a copy: pandas may hand back a read-only view of a float64 column's own buffer
        seconds = values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        seconds[~np.isfinite(seconds)] = np.nan
        out[col] = pd.to_datetime(seconds, errors="coerce", utc=True, unit="s")
    else:
        out[col] = pd.to_datetime(values, errors="coerce", utc=True)
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
