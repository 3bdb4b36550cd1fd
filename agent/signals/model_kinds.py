"""Model signals: input and prediction drift, fallbacks, feedback, tokens and spend."""

from __future__ import annotations

from dataclasses import replace

import agent.signals.fleet as fleet
import agent.signals.inputs as inp
import agent.signals.query_shapes as pq
from agent import catalogue as cat
from agent.signals.record import (
    Aggregation,
    Compute,
    Direction,
    Example,
    Judge,
    Panel,
    Producer,
    Query,
    SignalKind,
    SignalRecord,
    SLIType,
)
from agent.units import Base, Unit

_UP, _EV, _TS = Direction.HIGHER_IS_WORSE, SLIType.EVENTS, SLIType.TIMESLICES
_MODEL_SEL = ("model", "version")
_SCRAPED = ("model", "version", "scrape")
_SDK, _SIDECAR = (Producer.SDK,), (Producer.SIDECAR,)
_MAX = Aggregation.MAX
_M = {"model": "m"}
_ALL = cat.OUTCOMES
_SENTIMENTS = cat.SENTIMENTS
_FALLBACKS = pq.counter_events(cat.REQUESTS, f'outcome="{cat.OUTCOMES[2]}"')
_NEGATIVE = pq.counter_events(cat.FEEDBACK, f'sentiment="{_SENTIMENTS[1]}"')
_FILE: pq.DriftSet = (cat.DATASET_DRIFT_SCORE, cat.DATASET_DRIFT_EFFECT,
                      cat.DATASET_DRIFT_P_VALUE)
_FEATURES: pq.DriftSet = (cat.DRIFT_SCORE, cat.DRIFT_EFFECT, cat.DRIFT_P_VALUE)
_PREDICTIONS: pq.DriftSet = (cat.PREDICTION_DRIFT_SCORE, cat.PREDICTION_DRIFT_EFFECT,
                             cat.PREDICTION_DRIFT_P_VALUE)
_EFFECT = "effect size (KS D / PSI)"
_CALIBRATED = "SDK-fed: the whole fleet's, from counts summed over replicas; without " \
              "`warning:` each column's threshold is calibrated: the rules compare against a " \
              "dataset file's exported threshold, or the fleet's null quantile at its own " \
              "sample count (see Drift thresholds)"


def _only_dataset(build: inp.Inputs) -> inp.Inputs:
    """The fleet rules compute their levels themselves: only a dataset file exports them."""
    return lambda s, segments: build(s, segments) if s.dataset or s.fleet is None else []


def _drift(kind: SignalKind, title: str, sdk: pq.DriftSet, selectors: tuple[str, ...],
           meaning: str, labels: dict[str, str], note: str, windows: str,
           threshold: cat.Metric, predictions: bool, examples: tuple[Example, ...]
           ) -> SignalRecord:
    """SDK-fed drift is the fleet's (summed counts, :mod:`agent.signals.fleet`); a dataset file's
    is its checker's gauges. The no-data source is the counts: any replica alive keeps them
    present."""
    return SignalRecord(
        kind, title, Unit.EFFECT_SIZE, _UP, selectors, _TS, "model", meaning,
        default_warning="0.1", default_critical="0.25", unit_text=_EFFECT, note=note,
        producers=_SIDECAR, metric=sdk[0], aggregation=_MAX, examples=examples,
        value=fleet.fleet_value(pq.drift_value(sdk, _FILE)),
        source=pq.drift_source(sdk, _FILE, (cat.DRIFT_WINDOW_RANK.name + "_count",) + (
            () if predictions else (cat.DRIFT_CATEGORY_SAMPLES.name,))),
        column_levels=fleet.fleet_columns(
            pq.drift_columns(sdk, _FILE, (threshold, cat.DATASET_DRIFT_THRESHOLD))),
        column_level_inputs=_only_dataset(inp.gauge(
            threshold, {**labels, "source": "calibrated"},
            dataset=(cat.DATASET_DRIFT_THRESHOLD, {"column": "c", "test": "ks",
                                                   "source": "calibrated"}))),
        compute=Compute("drift", {"dataset": "drift", "windows": windows}),
        status_detail="features", settle=fleet.fleet_settle,
        recordings=fleet.drift_rules(predictions),
        inputs=inp.rank_counts(
            fleet.PREDICTION if predictions else labels.get("feature", "f"),
            inp.gauge(sdk[0], labels, dataset=(_FILE[0], {"column": "c", "test": "ks"}),
                      significance=(sdk[1], sdk[2]),
                      dataset_significance=(_FILE[1], _FILE[2])),
            watched=(sdk[0], sdk[1])))


def _cost_inputs(s: inp.Synth, segments: list[inp.Segment]) -> list[dict[str, str]]:
    """Full traffic, and spend at the segment's dollars per 1,000 calls."""
    return [{"series": inp.series(cat.REQUESTS.name, {**s.base, "outcome": cat.OUTCOMES[0]}),
             "values": inp.counter([(t, s.per_tick) for t, _ in segments])},
            {"series": inp.series(cat.COST.name, s.base),
             "values": inp.counter([(t, d[0][0] * s.per_tick / 1000) for t, d in segments])}]


def _spend_inputs(s: inp.Synth, segments: list[inp.Segment]) -> list[dict[str, str]]:
    """The day's spend as one lump at each segment's start, so increase(...[1d]) shows it at
    once and forgets it exactly a day later."""
    lumps: list[tuple[int, float]] = [(1, 0.0)]
    for ticks, dist in segments:
        lumps += [(1, dist[0][0]), (max(1, ticks - 1), 0.0)]
    return [{"series": inp.series(cat.COST.name, s.base), "values": inp.counter(lumps)}]


_RECORDS = (
    _drift(SignalKind.FEATURE_DRIFT, "Feature drift", _FEATURES,
           ("model", "version", "feature", "dataset", "column"),
           "effect size of the worst input feature's shift against the reference (KS D for "
           "numbers, PSI for categories) when significant, else 0",
           {"feature": "f", "test": "ks"},
           "or dataset, column: a polled file against its reference; " + _CALIBRATED,
           "features", cat.DRIFT_THRESHOLD, False, (
               Example(_M, "0.1", "0.2"),
               Example({"dataset": "tx"}, "0.1", "0.2", {"alpha": 0.001}, name="dataset"),
               # without `warning:` each column against its calibrated threshold
               Example(_M, None, "0.3", name="calibrated"),
               Example({"dataset": "tx", "column": "amount"}, None, "0.3",
                       name="calibrated-dataset"))),
    _drift(SignalKind.PREDICTION_DRIFT, "Prediction drift", _PREDICTIONS,
           (*_MODEL_SEL, "dataset", "column"),
           "effect size of the predictions' shift against the reference when significant, "
           "else 0", {"test": "ks"}, _CALIBRATED, "predictions",
           cat.PREDICTION_DRIFT_THRESHOLD, True, (Example(_M, "0.1", "0.2"),)),
    SignalRecord(SignalKind.FALLBACK_RATE, "Fallback rate", Unit.RATIO, _UP, _MODEL_SEL, _EV,
                 "model", "share of calls answered by a fallback", grafana_unit="percentunit",
                 producers=_SDK, metric=cat.REQUESTS, examples=(Example(_M, "2%", "10%"),),
                 value=pq.ratio(_FALLBACKS), events=_FALLBACKS,
                 compute=Compute("counts", {"bad": cat.OUTCOMES[2], "of": _ALL}),
                 judge=Judge.BAD_RATIO,
                 inputs=inp.counter_ratio(cat.REQUESTS, "outcome", cat.OUTCOMES[2],
                                          cat.OUTCOMES[0])),
    SignalRecord(SignalKind.NEGATIVE_FEEDBACK_RATE, "Negative feedback rate", Unit.RATIO, _UP,
                 _MODEL_SEL, _EV, "model", "share of user feedback that is negative",
                 grafana_unit="percentunit", producers=_SDK, metric=cat.FEEDBACK,
                 examples=(Example(_M, "10%", "30%"),),
                 value=pq.ratio(_NEGATIVE), events=_NEGATIVE,
                 compute=Compute("counts", {"bad": _SENTIMENTS[1], "of": _SENTIMENTS}),
                 judge=Judge.BAD_RATIO,
                 inputs=inp.counter_ratio(cat.FEEDBACK, "sentiment", _SENTIMENTS[1],
                                          _SENTIMENTS[0])),
    SignalRecord(SignalKind.TOKEN_RATE, "Token rate", Unit.PER_SECOND, _UP, _SCRAPED, _TS,
                 "cost", "tokens processed per second (input and output)", learnable=True,
                 producers=(Producer.SDK, Producer.SCRAPE), metric=cat.TOKENS,
                 examples=(Example(_M, "3x baseline", "10x baseline",
                                   {"objective": "99%", "sli_threshold": 100}),),
                 value=lambda q: f"sum(rate({cat.TOKENS.name}{q.m}[{q.w}]))",
                 compute=Compute("per_second", {"attrs": ("tokens",)}),
                 inputs=inp.rate(cat.TOKENS, {"token_type": cat.TOKEN_TYPES[1]})),
    SignalRecord(SignalKind.COST_PER_1K, "Cost per 1,000 requests", Unit.USD, _UP, _MODEL_SEL,
                 _TS, "cost", "spend in US dollars per 1,000 inference calls (requests, not "
                 "tokens)", learnable=True, grafana_unit="currencyUSD",
                 note="per 1,000 requests (calls), not per 1,000 tokens",
                 producers=_SDK, metric=cat.COST, examples=(Example(_M, "$2", "$5"),),
                 value=lambda q: (f"1000 * sum(rate({cat.COST.name}{q.m}[{q.w}])) / "
                                  f"sum(rate({cat.REQUESTS.name}{q.m}[{q.w}]))"),
                 compute=Compute("per_request", {"attr": "cost", "per": 1000.0, "of": _ALL}),
                 inputs=_cost_inputs),
    SignalRecord(SignalKind.DAILY_SPEND, "Daily spend", Unit.USD, _UP, _MODEL_SEL, _TS, "cost",
                 "spend in US dollars over the last day", default_warning="120% budget",
                 relative_to=Base.BUDGET,
                 default_critical="150% budget", grafana_unit="currencyUSD",
                 producers=_SDK, metric=cat.COST,
                 examples=(Example(_M, "120% budget", "150% budget", {"budget": 100}),),
                 value=lambda q: f"sum(increase({cat.COST.name}{q.m}[1d]))", settle=86400.0,
                 compute=Compute("window_sum", {"attr": "cost", "seconds": 86400.0}),
                 inputs=_spend_inputs),
    SignalRecord(SignalKind.DRIFT_DETECTION_TIME, "Drift detection time", Unit.SECONDS, _UP,
                 ("objective",), _TS, "model",
                 "time a shift of a drift objective's critical size takes to be detected",
                 required=("objective",), grafana_unit="s",
                 note="time a shift of a drift objective's critical size takes to be detected; "
                      "e.g. 15m / 1h",
                 producers=_SIDECAR, metric=cat.DRIFT_DETECTION, aggregation=_MAX,
                 # the every-kind spec names each example objective k-<kind>
                 examples=(Example({"objective": "k-feature-drift"}, "15m", "1h"),),
                 compute=Compute("detection"), status_detail="detail",
                 inputs=inp.gauge(cat.DRIFT_DETECTION, {"signal": "feature_drift"})),
)

_RATE = "$__rate_interval"
PANELS = {
    SignalKind.FEATURE_DRIFT: Panel(
        "Model", 1, "Feature drift (effect size when significant)",
        fleet.fleet_panel("model, feature", fleet.SCORE, fleet.FEATURES_ONLY, cat.DRIFT_SCORE),
        "{{model}} {{feature}}",
        "Input drift of the whole fleet per model and feature (counts summed over replicas): "
        "KS D over the reference's quantile edges (numbers) or PSI (categories) when "
        "significant at the fleet's sample count, else 0; where no drift objective records the "
        "fleet's, the worst replica's own view. Dashed at the drift objective's levels.",
        sdk_only=True),
    SignalKind.DRIFT_DETECTION_TIME: Panel(
        "Model", 3, "Drift detection time (shift of the critical size)", None, "{{objective}}",
        "How long a shift of each drift objective's critical size takes to be detected at its "
        "warning level; dashed at the detection-time objective's levels.", by="objective"),
    SignalKind.PREDICTION_DRIFT: Panel(
        "Model", 4, "Prediction drift",
        fleet.fleet_panel("model", fleet.SCORE, fleet.PREDICTIONS_ONLY,
                          cat.PREDICTION_DRIFT_SCORE), "{{model}}",
        "Drift of the whole fleet's predictions per model (effect size when significant at the "
        "fleet's sample count, else 0; where no objective records the fleet's, the worst "
        "replica's own view); dashed at the prediction-drift objective's levels.",
        sdk_only=True),
    SignalKind.FALLBACK_RATE: Panel(
        "Model", 5, "Fallback rate", lambda m: pq.ratio(_FALLBACKS)(Query(m, _RATE)),
        "fallback",
        "Share of calls answered by a fallback; fallback objectives add their own line, dashed "
        "at their levels.", style="lines"),
    SignalKind.NEGATIVE_FEEDBACK_RATE: Panel(
        "Model", 7, "Negative feedback rate", lambda m: pq.ratio(_NEGATIVE)(Query(m, _RATE)),
        "negative", "Share of feedback that is negative; feedback objectives add their own "
        "line, dashed at their levels.", style="lines"),
    SignalKind.TOKEN_RATE: Panel(
        "Cost", 1, "Tokens per second",
        lambda m: f"sum by (model, token_type) (rate({cat.TOKENS.name}{m}[{_RATE}]))",
        "{{model}} {{token_type}}", "Tokens processed per second by model and gen_ai token "
        "type; token-rate objectives add their own line, dashed at absolute levels.",
        style="lines", width=8),
    SignalKind.COST_PER_1K: Panel(
        "Cost", 2, "Cost per 1,000 requests",
        lambda m: (f"1000 * sum(rate({cat.COST.name}{m}[{_RATE}])) / "
                   f"sum(rate({cat.REQUESTS.name}{m}[{_RATE}]))"), "USD / 1k requests",
        "Spend per 1,000 calls (requests, not tokens); cost objectives add their own line, "
        "dashed at absolute levels.", style="lines", width=8),
    SignalKind.DAILY_SPEND: Panel(
        "Cost", 3, "Daily spend against budget",
        lambda m: f"sum(increase({cat.COST.name}{m}[1d]))", "spend, last 24h",
        "Spend over the trailing 24 hours; each daily-spend objective adds its own line dashed "
        "at its levels (shares of its budget) and its budget line.", style="lines", width=8),
}

RECORDS = tuple(replace(r, panel=PANELS.get(r.kind)) for r in _RECORDS)
