"""Values of the data signals an objective can watch on a dataset (file or SDK batches): freshness,
nulls, drift against the reference file, new categories and disallowed values.

Each returns ``(value, detail)``; a value that cannot be given is ``None`` and ``detail["reason"]``
says why, in words a user can act on. Nothing here produces NaN.
"""

from __future__ import annotations

import math
from typing import Any

from agent.sidecar.state.agent_state import DatasetState
from detectors.drift import DriftThresholds, Levels
from detectors.quality import NULL_MIN_ROWS, freshness_lag
from detectors.rates import wilson_interval
from detectors.verdict import decide

#: the key of a drift row that holds its share of unseen categories
NEW_SHARE = "new_category_share"
MIN_ROWS = NULL_MIN_ROWS   # the one null-ratio judgement's minimum (detectors.quality)

Value = tuple[float | None, dict[str, Any]]


def freshness(spec: Any, name: str, d: DatasetState, now: float) -> Value:
    """Seconds since the newest event (or update mark): what the objective judges and what
    /metrics exports, one number. A dataset this sidecar polls (a file or a database) that
    this run has not read yet has none: the event time restored from the snapshot says nothing
    of now (the pipeline went on while the sidecar was down)."""
    polled_here = any(ds.name == name and (ds.path or ds.sql) for ds in spec.sources.datasets)
    if polled_here and not d.polled:
        return None, {"reason": f"dataset {name!r} not read since the sidecar started: the "
                                "restored newest event says nothing of now"}
    return freshness_lag(now, d.newest_event, d.last_mark), {}


def null_ratio(d: DatasetState, column: str | None) -> Value:
    """The worst column by the Wilson lower bound (what is judged), with bad/total counts so the
    evaluator judges it like every other ratio."""
    if not d.rows:
        return None, {"reason": "no rows in the latest batch" if d.rows == 0 else
                      "no batch seen yet"}
    cols = [column] if column else list(d.nulls)
    known = [c for c in cols if c in d.nulls]
    if not known:
        return None, {"reason": f"column {column!r} is not in the latest batch" if column
                      else "no columns in the latest batch"}
    lower = {c: wilson_interval(d.nulls[c], d.rows)[0] for c in known}
    worst = max(known, key=lambda c: (lower[c], d.nulls[c]))
    detail: dict[str, Any] = {"column": worst, "bad": float(d.nulls[worst]),
                              "total": float(d.rows), "wilson_lower": lower[worst],
                              "min_rows": MIN_ROWS}
    if d.rows < MIN_ROWS:
        detail["reason"] = (f"{d.rows} rows in the latest batch; a null ratio is judged on at "
                            f"least {MIN_ROWS}")
    return d.nulls[worst] / d.rows, detail


def _rows(d: DatasetState, column: str | None) -> list[dict[str, Any]]:
    return [r for r in d.drift if r.get("column") and (column is None or r["column"] == column)]


def dataset_drift(d: DatasetState, column: str | None, t: DriftThresholds) -> Value:
    """The worst column's effect (0 when none is significant) and, per column, the threshold it
    is judged against; None when no column could be tested."""
    rows = _rows(d, column)
    tested = [r for r in rows if r.get("p_adjusted") is not None and r.get("effect") is not None]
    detail: dict[str, Any] = {
        r["column"]: {"test": r["test"], "effect": r.get("effect"),
                      "statistic": r.get("statistic"), "p_adjusted": r.get("p_adjusted"),
                      **({"reason": r["reason"]} if r.get("reason") else {})} for r in rows}
    if d.drift_skipped:
        detail["skipped"] = d.drift_skipped
    if not tested:
        errors = [r["reason"] for r in d.drift if not r.get("column") and r.get("reason")]
        reasons = errors or [r["reason"] for r in rows if r.get("reason")]
        detail["reason"] = reasons[0] if reasons else (
            f"column {column!r} is not drift-tested" if column and d.drift
            else "no file compared with its reference yet")
        return None, detail
    q = None if t.calibration is None else quantile_key(t.calibration)
    judged = [{**r, "calibrated": None if q is None else (r.get("calibrated") or {}).get(q)}
              for r in tested]
    value, per_column, against = judge_columns(judged, t)
    for name, entry in per_column.items():
        detail[name] = {**detail.get(name, {}), **entry}
    detail["judged_against"] = against
    return value, detail


def quantile_key(q: float) -> str:
    """How a calibration quantile names its threshold in a stored row (JSON keys are text)."""
    return f"{q:.6g}"


_RANK = {"ok": 0, "warning": 1, "critical": 2}
PENDING = ("not calibrated yet: judged on the distribution-free quantile until its calibration "
           "is done (off the tick)")


def judge_columns(rows: list[dict[str, Any]], t: DriftThresholds
                  ) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """(value, per-column detail, the levels the value is judged against).

    Each column (``test``, ``effect``, ``p_adjusted``, ``calibrated``, ``n_window``,
    ``n_reference``) gets its levels from ``t.resolve``: calibrated on the reference, the floor
    derived from the sizes (or set explicitly), or fixed levels; ``rule`` says which decided.
    The objective's value is the effect of the column furthest past its threshold (relative
    to it), 0 when no column is significant, judged against that column's levels, so one
    number tells why it alarmed.
    """
    per: dict[str, Any] = {}
    worst: tuple[tuple[int, float], dict[str, Any]] | None = None
    for r in rows:
        n, m = r.get("n_window"), r.get("n_reference")
        if n and m:
            lv = t.resolve(r["test"], r.get("calibrated"), int(n), int(m))
            if r.get("pending") and lv.source != "fixed":
                lv = Levels(lv.warning, lv.critical, "floor", lv.warning, PENDING)
            warn, source, crit = lv.warning, lv.source, lv.critical
            floor, why = lv.floor, lv.floor_reason
        else:    # a row stored without its sizes: the registered fixed floors
            warn, source, crit = t.levels(r["test"], r.get("calibrated"))
            floor, why = None, None
        effect, significant = float(r["effect"]), float(r["p_adjusted"]) < t.alpha
        status, rule = decide(effect, significant, Levels(warn, crit, source, floor, why))
        shown_crit = crit if math.isfinite(crit) else None    # no critical level given
        entry = {"test": r["test"], "effect": effect, "statistic": r.get("statistic"),
                 "p_adjusted": r["p_adjusted"], "threshold": warn, "threshold_source": source,
                 "critical_threshold": shown_crit, "calibrated": r.get("calibrated"),
                 "significant": significant, "status": status.value, "rule": rule,
                 "floor": floor, "floor_reason": why}
        per[r["column"]] = entry
        rank = (_RANK[status.value], effect / warn if significant and warn > 0 else -1.0)
        if worst is None or rank > worst[0]:
            worst = (rank, {"column": r["column"], "warning": warn, "critical": shown_crit,
                            "source": source, "effect": effect if significant else 0.0})
    assert worst is not None
    against = worst[1]
    return against.pop("effect"), per, against


def new_categories(d: DatasetState, column: str | None) -> Value:
    rows = [r for r in _rows(d, column) if r.get(NEW_SHARE) is not None]
    if not rows:
        return None, {"reason": "no categorical column compared with the reference yet"
                      if column is None else f"column {column!r} is not a categorical column "
                      "compared with the reference"}
    worst = max(rows, key=lambda r: r[NEW_SHARE])
    return worst[NEW_SHARE], {
        r["column"]: {"share": r[NEW_SHARE], "categories": r.get("new_categories", []),
                      "more": r.get("new_categories_more", 0)} for r in rows}


def disallowed(d: DatasetState, column: str | None) -> Value:
    checks = {c: v for c, v in d.allowed.items() if column is None or c == column}
    shares = {c: v["share"] for c, v in checks.items() if v.get("share") is not None}
    if not shares:
        reasons = [v["reason"] for v in checks.values() if v.get("reason")]
        return None, {"reason": reasons[0] if reasons else
                      "no batch checked against contract.allowed_values yet"}
    worst = max(shares, key=lambda c: shares[c])
    return shares[worst], {c: {"share": v.get("share"), "values": v.get("values", []),
                               "more": v.get("more", 0)} for c, v in checks.items()}
