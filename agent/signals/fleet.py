"""Fleet-wide drift in PromQL: the twins of ``detectors/bins.py`` over counts summed across
replicas.

Each sidecar counts its sampled values between the reference's quantile edges (numeric
features) or per reference category (categorical ones); counts add across replicas, so the
fleet's window over ``drift.fleet_window`` is ``sum by (service, model, version, feature, le)
(increase(...))`` and every statistic below is computed on those sums, never on one replica's
statistic. Every recorded series aggregates the replica labels (``instance``, ``pod``, …) away
and carries the objective's labels, so it is unique across rule groups.

What the fleet rule computes, per feature:

- numeric: KS distance over the edges, ``max |F_window(edge) - F_reference(edge)|`` (the
  reference's cumulative share is averaged over replicas), and PSI over the ``fleet_bins``
  equal-probability bins, each share floored at 1e-4 (:func:`detectors.bins.psi_from_cumulative`);
  the effect is the KS distance;
- categorical: PSI of the summed category counts against the average reference shares; the
  effect is the PSI; the new-category share is ``__new__`` over all counted values.

Minimum data, as the sidecar's: a feature is judged only with at least ``drift.min_samples``
values counted in the window (n) and in the reference (m); with fewer it records no effect, so
no alert (the sidecar's "not enough data"). The sidecar's own window is the values it sampled
over the same ``fleet_window`` (:mod:`agent.sidecar.judge.drift_signals`).

Guard: the effect counts (the score is the effect, else 0: the per-replica score's meaning) when
significant with the fleet's n and the reference's m. KS: ``D > ks_critical(n, m, a)``; PSI:
``PSI > chi2_{1-a}(K - 1) (1/n + 1/m)`` with K the category labels (the reference's,
``__other__``, ``__new__``) and m ``drift.reference_size`` (category shares carry no reference
size). ``a`` is the objective's
alpha (else ``drift.alpha``) divided by the model's number of features (Bonferroni, counted in
PromQL) unless ``drift.correction`` is ``none``: the sidecar's Benjamini–Hochberg needs the sorted
p-values of all features, which PromQL cannot rank; Bonferroni is the stricter bound on the same
family. The chi-square quantile is Wilson–Hilferty (as :func:`detectors.bins.chi2_quantile`)
with the normal quantile of ``1 - a`` by Abramowitz–Stegun 26.2.23 (|error| < 4.5e-4), because
``a`` depends on the feature count, known only in PromQL. Without a fixed ``warning:`` the
per-feature level is the null quantile at the fleet's own n: ``max(ks_critical(n, m,
1 - calibration), drift.min_ks_effect)`` (PSI: ``max(psi_critical(...), drift.min_psi)``), the
chi-square quantile then computed at generation time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from itertools import pairwise
from statistics import NormalDist
from typing import Any

from agent import catalogue as cat
from agent.signals.query_shapes import with_
from agent.signals.record import ColumnLevels, Fleet, PromValue, Query, Recordings
from agent.units import format_duration

PREDICTION = "__prediction__"
NEW = "__new__"
PREDICTIONS_ONLY, FEATURES_ONLY = f'feature="{PREDICTION}"', f'feature!="{PREDICTION}"'
_P = f"{cat.RECORD_PREFIX}:fleet_drift"
# recorded series (names written here only)
WINDOW_BUCKET = f"{_P}_window_bucket:increase"
WINDOW_COUNT = f"{_P}_window_count:increase"                 # n of a numeric feature
WINDOW_CUM = f"{_P}_window:cumulative_ratio"
REFERENCE_CUM = f"{_P}_reference:cumulative_ratio"
REFERENCE_COUNT = f"{_P}_reference:count"                   # m
WINDOW_BIN = f"{_P}_window:bin_ratio"
REFERENCE_BIN = f"{_P}_reference:bin_ratio"
KS = f"{_P}:ks_ratio"
PSI = f"{_P}:psi"
CATEGORY = f"{_P}_category:increase"
CATEGORY_COUNT = f"{_P}_category_count:increase"           # n of a categorical feature
CATEGORY_WINDOW = f"{_P}_category_window:ratio"
CATEGORY_REFERENCE = f"{_P}_category_reference:ratio"
CATEGORY_PSI = f"{_P}_category:psi"
CATEGORY_DOF = f"{_P}_category:dof"
FEATURES = f"{_P}_features:count"                           # features of the model
NORMAL_Z = f"{_P}:normal_quantile"                           # z of 1 - adjusted alpha
EFFECT = f"{_P}:effect"
CRITICAL = f"{_P}:critical"
SCORE = f"{_P}:score"
THRESHOLD = f"{_P}:threshold"
NEW_SHARE = f"{_P}:new_category_ratio"

GROUP = cat.DRIFT_WINDOW_RANK.labels                         # service, model, version, feature
_G = ", ".join(GROUP)
_MODEL = ", ".join(x for x in GROUP if x != "feature")
_ON = f"{_MODEL}, objective, signal"             # a model's series within the objective


def fleet_of(drift: Any, o: Any, labels: Mapping[str, str], rec: str) -> Fleet:
    """The fleet parameters of an objective: the spec's ``drift`` settings and its own. The
    fleet's floors are the fixed ones unless the spec sets its own (``min_ks_effect``,
    ``min_psi``): a floor derived from the sizes needs per-column sizes the rules do not keep."""
    from detectors.levels import FIXED_MIN_KS, FIXED_MIN_PSI

    warning = o.warning_threshold
    min_ks = FIXED_MIN_KS if drift.min_ks_effect is None else drift.min_ks_effect
    min_psi = FIXED_MIN_PSI if drift.min_psi is None else drift.min_psi
    return Fleet(labels, rec, format_duration(drift.fleet_window), drift.fleet_window,
                 drift.fleet_bins, o.alpha or drift.alpha, drift.correction,
                 o.drift_calibration(drift.calibration), min_ks, min_psi,
                 drift.reference_size, None if warning is None else warning.value,
                 drift.min_samples)


def _matchers(f: Fleet, predictions: bool, model_only: bool = False, *more: str) -> str:
    """The raw selector, restricted to the predictions or to the input features."""
    labels = {k: v for k, v in f.labels.items() if not (model_only and k == "feature")}
    pick = PREDICTIONS_ONLY if predictions else FEATURES_ONLY
    return cat.label_matchers(labels, [pick, *more])


def _at(name: str, rec: str, le: str) -> str:
    return name + with_(rec, f'le="{le}"')


def shifted(name: str, rec: str, labels: list[str]) -> str:
    """The series at the previous ``le``, labelled with the next one: PromQL cannot subtract
    neighbouring buckets generically, but the generator knows every edge."""
    return " or ".join(f'label_replace({_at(name, rec, lo)}, "le", "{hi}", "le", ".*")'
                       for lo, hi in pairwise(labels))


def bins_from_cumulative(name: str, rec: str, labels: list[str]) -> str:
    """Per-bin shares from cumulative ones: c_k - c_(k-1), the first bin as it is."""
    return f"({name}{rec} - ({shifted(name, rec, labels)})) or {_at(name, rec, labels[0])}"


def psi_terms(window: str, reference: str) -> str:
    """Sum of (w - r) ln(w / r) with both shares floored at eps, matched label for label."""
    from detectors.levels import PSI_EPS  # generators only, never the SDK

    w, r = f"clamp_min({window}, {PSI_EPS:g})", f"clamp_min({reference}, {PSI_EPS:g})"
    return f"sum by ({_G}) (({w} - {r}) * ln({w} / {r}))"


def le_labels(bins: int) -> list[str]:
    """The ``le`` labels the sidecars export for ``bins`` bins."""
    from detectors.levels import le_labels as labels  # generators only, never the SDK

    return labels(bins)


def _c(alpha: float) -> float:
    """c(alpha) of the KS critical value."""
    return math.sqrt(-math.log(alpha / 2) / 2)


def _wilson_hilferty(k: str, z: str) -> str:
    """The chi-square quantile of ``k`` degrees of freedom at normal quantile ``z``."""
    return f"{k} * (1 - 2 / (9 * {k}) + {z} * sqrt(2 / (9 * {k}))) ^ 3"


def _normal_upper(alpha: str) -> str:
    """z with P(Z > z) = alpha (0 < alpha <= 0.5), Abramowitz–Stegun 26.2.23."""
    t = f"sqrt(-2 * ln({alpha}))"
    return (f"{t} - (2.515517 + 0.802853 * {t} + 0.010328 * {t} ^ 2) / "
            f"(1 + 1.432788 * {t} + 0.189269 * {t} ^ 2 + 0.001308 * {t} ^ 3)")


def numeric_rules(f: Fleet, predictions: bool) -> list[tuple[str, str]]:
    m, r, w = _matchers(f, predictions), f.rec, f.window
    les = le_labels(f.bins)
    hist, ref = cat.DRIFT_WINDOW_RANK.name, cat.DRIFT_REFERENCE_RANK.name
    return [
        (WINDOW_BUCKET, f"sum by ({_G}, le) (increase({hist}_bucket{m}[{w}]))"),
        (WINDOW_COUNT, f"sum by ({_G}) (increase({hist}_count{m}[{w}]))"),
        (WINDOW_CUM, f"{WINDOW_BUCKET}{r} / ignoring(le) group_left() "
                     f"({WINDOW_COUNT}{r} >= {f.min_samples:d})"),
        (REFERENCE_CUM, f"avg by ({_G}, le) ({ref}_bucket{m} / ignoring(le) group_left() "
                        f"({ref}_count{m} >= {f.min_samples:d}))"),
        (REFERENCE_COUNT, f"avg by ({_G}) ({ref}_count{m} >= {f.min_samples:d})"),
        (KS, f"max by ({_G}) (abs({WINDOW_CUM}{r} - {REFERENCE_CUM}{r}))"),
        (WINDOW_BIN, bins_from_cumulative(WINDOW_CUM, r, les)),
        (REFERENCE_BIN, bins_from_cumulative(REFERENCE_CUM, r, les)),
        (PSI, psi_terms(f"{WINDOW_BIN}{r}", f"{REFERENCE_BIN}{r}")),
    ]


def category_rules(f: Fleet, predictions: bool) -> list[tuple[str, str]]:
    m, r, w = _matchers(f, predictions), f.rec, f.window
    samples, ref = cat.DRIFT_CATEGORY_SAMPLES.name, cat.DRIFT_REFERENCE_CATEGORY.name
    n = f"({CATEGORY_COUNT}{r} >= {f.min_samples:d})"
    return [
        (CATEGORY, f"sum by ({_G}, category) (increase({samples}{m}[{w}]))"),
        (CATEGORY_COUNT, f"sum by ({_G}) ({CATEGORY}{r})"),
        (CATEGORY_REFERENCE, f"avg by ({_G}, category) ({ref}{m})"),
        # a reference category nobody saw in the window has share 0, not no share
        (CATEGORY_WINDOW, f"{CATEGORY}{r} / ignoring(category) group_left() {n} or "
                          f"({CATEGORY_REFERENCE}{r} * 0 + ignoring(category) "
                          f"group_left() ({n} * 0))"),
        (CATEGORY_PSI, psi_terms(f"{CATEGORY_WINDOW}{r}",
                                 f"({CATEGORY_REFERENCE}{r} or {CATEGORY_WINDOW}{r} * 0)")),
        (CATEGORY_DOF, f"count by ({_G}) ({CATEGORY_REFERENCE}{r}) - 1 > 0"),
    ]


def guard_rules(f: Fleet, predictions: bool) -> list[tuple[str, str]]:
    """The model's feature count, the effect, its critical value and the score per feature."""
    r = f.rec
    n_num, m_num = f"{WINDOW_COUNT}{r}", f"{REFERENCE_COUNT}{r}"
    n_cat, m_cat = f"{CATEGORY_COUNT}{r}", f"{f.reference_size:d}"
    k = f"{CATEGORY_DOF}{r}"
    spread = f"sqrt(({n_num} + {m_num}) / ({n_num} * {m_num}))"
    inverse = f"(1 / {n_cat} + 1 / {m_cat})"
    out: list[tuple[str, str]] = []
    if f.correction == "none" or predictions:      # one test: alpha as it is
        ks_crit = f"{spread} * {_c(f.alpha):.10g}"
        z = f"{NormalDist().inv_cdf(1 - f.alpha):.10g}"
        psi_crit = f"{inverse} * {_wilson_hilferty(k, z)}"
    else:                                          # Bonferroni over the model's features
        mm = _matchers(f, predictions, model_only=True)
        counted = (f"sum by ({_G}) ({cat.DRIFT_WINDOW_RANK.name}_count{mm}) or "
                   f"sum by ({_G}) ({cat.DRIFT_CATEGORY_SAMPLES.name}{mm})")
        on = f"on({_ON}) group_left"
        out += [(FEATURES, f"count by ({_MODEL}) ({counted})"),
                (NORMAL_Z, _normal_upper(f"{f.alpha:.10g} / {FEATURES}{r}"))]
        ks_crit = f"{spread} * {on} sqrt(-ln({f.alpha / 2:.10g} / {FEATURES}{r}) / 2)"
        psi_crit = (f"{inverse} * {k} * (1 - 2 / (9 * {k}) + sqrt(2 / (9 * {k})) * {on} "
                    f"{NORMAL_Z}{r}) ^ 3")
    out += [
        (EFFECT, f"{KS}{r} or {CATEGORY_PSI}{r}"),
        (CRITICAL, f"({ks_crit}) or ({psi_crit})"),
        (SCORE, f"{EFFECT}{r} * ({EFFECT}{r} > bool {CRITICAL}{r})"),
    ]
    if f.calibration is not None:
        a = 1 - f.calibration
        ks_level = f"clamp_max(clamp_min({spread} * {_c(a):.10g}, {f.min_ks:.10g}), 1)"
        z_cal = f"{NormalDist().inv_cdf(f.calibration):.10g}"
        psi_level = f"clamp_min({inverse} * {_wilson_hilferty(k, z_cal)}, {f.min_psi:.10g})"
        out.append((THRESHOLD, f"({ks_level}) or ({psi_level})"))
    return out


def drift_rules(predictions: bool) -> Recordings:
    """The recordings of a drift objective fed by the SDK (none for a dataset file)."""
    def rules(q: Query) -> list[tuple[str, str]]:
        f = q.fleet
        if q.dataset or f is None:
            return []
        return (numeric_rules(f, predictions) + category_rules(f, predictions)
                + guard_rules(f, predictions))
    return rules


def new_share_rules(q: Query) -> list[tuple[str, str]]:
    """New-category share per feature: ``__new__`` over all values counted in the window."""
    f = q.fleet
    if q.dataset or f is None:
        return []
    m, w = _matchers(f, False), f.window
    samples = cat.DRIFT_CATEGORY_SAMPLES.name
    new = _matchers(f, False, False, f'category="{NEW}"')
    return [(NEW_SHARE, f"sum by ({_G}) (increase({samples}{new}[{w}])) / "
                        f"(sum by ({_G}) (increase({samples}{m}[{w}])) >= "
                        f"{f.min_samples:d})")]


def fleet_settle(q: Query) -> float | None:
    """Input changes leave the fleet's window after the window itself."""
    return None if q.dataset or q.fleet is None else q.fleet.window_seconds


def fleet_value(dataset: PromValue, rec: str = SCORE) -> PromValue:
    """The worst feature's recorded fleet value; a dataset file's objective reads its checker's
    gauges as before."""
    def value(q: Query) -> str:
        if q.dataset or q.fleet is None:
            return dataset(q)
        return f"max({rec}{q.fleet.rec})"
    return value


def fleet_panel(by: str, recorded: str, pick: str, replica: cat.Metric
                ) -> Callable[[str], str]:
    """A service-dashboard panel: the fleet's recorded series where an objective records them,
    else the worst replica's own gauge (same labels, so the fleet's wins)."""
    def expr(m: str) -> str:
        fleet_m = with_(m, pick) if pick else m
        return (f"max by ({by}) ({recorded}{fleet_m}) or "
                f"max by ({by}) ({replica.name}{m})")
    return expr


def fleet_columns(dataset: ColumnLevels) -> ColumnLevels:
    """(features whose fleet score passes their level at the fleet's n, those levels)."""
    def levels(q: Query) -> tuple[str, str]:
        if q.dataset or q.fleet is None:
            return dataset(q)
        r = q.fleet.rec
        return f"{SCORE}{r} > {THRESHOLD}{r}", f"{THRESHOLD}{r}"
    return levels
