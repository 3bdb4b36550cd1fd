"""The fleet drift rules (agent/signals/fleet.py), evaluated by the real promtool: on random
bucket and category counters of 2-4 replicas, KS, PSI, n, m, the significance guard, the
calibrated level and the score equal ``detectors.bins`` (and ``detectors.categorical``) on the
summed counts; every generated expression parses; and replicas may come and go: one replica
stopping neither pages nor fires NoData, all stopping fires NoData, and no replica label
survives in any alert."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import promql_parser
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import catalogue as cat
from agent.signals import fleet
from agent.signals.examples import every_kind_spec
from agent.sli import ObjectivePlan, plans
from agent.spec import parse_spec
from alerts.rules import absent_alert, objective_group, threshold_alert
from detectors import bins
from detectors.categorical import psi_from_counts
from tests.helpers import promtool_check_exprs, require_binary, run

SERVICE, MODEL, VERSION, ALPHA, REF_SIZE = "fleet", "m", "v1", 0.01, 5000
CAL = 0.999


def _spec(b: int, calibrated: bool, min_samples: int = 200) -> Any:
    o: dict[str, Any] = {"name": "d", "signal": "feature_drift", "selector": {"model": MODEL},
                         "critical": "0.3", "for": "0s"}
    if not calibrated:
        o["warning"] = "0.1"
    return parse_spec({"service": SERVICE, "models": [{"name": MODEL, "version": VERSION}],
                       "drift": {"fleet_bins": b, "fleet_window": "2m", "alpha": ALPHA,
                                 "calibration": CAL, "reference_size": REF_SIZE,
                                 "min_samples": min_samples},
                       "objectives": [o]})


def _series(name: str, labels: dict[str, str]) -> str:
    return name + cat.label_matchers(labels)


def _z_upper(a: float) -> float:
    """The PromQL rules' normal quantile (Abramowitz–Stegun 26.2.23)."""
    t = math.sqrt(-2 * math.log(a))
    return t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (
        1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t ** 3)


def _wh(k: int, z: float) -> float:
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


@st.composite
def _fleet(draw: st.DrawFn) -> dict[str, Any]:
    """Replicas' counts: numeric features (per-bin window and reference counts) and maybe one
    categorical feature (window counts per category, reference shares per replica)."""
    b = draw(st.integers(2, 12))
    replicas = draw(st.integers(2, 4))
    numeric = draw(st.integers(1, 2))
    counts = st.integers(0, 400)
    win = [[draw(st.lists(counts, min_size=b, max_size=b)) for _ in range(replicas)]
           for _ in range(numeric)]
    for f in win:                                  # n > 0: a window to judge
        f[0][0] += 1
    ref = [[draw(st.lists(st.integers(1, 300), min_size=b, max_size=b))
            for _ in range(replicas)] for _ in range(numeric)]
    k = draw(st.sampled_from([0, 2, 3, 5]))
    cats: dict[str, Any] | None = None
    if k:
        cw = [draw(st.lists(counts, min_size=k + 1, max_size=k + 1)) for _ in range(replicas)]
        cw[0][0] += 1
        cr = [draw(st.lists(st.integers(1, 50), min_size=k, max_size=k))
              for _ in range(replicas)]
        cats = {"window": cw, "reference": [[x / sum(r) for x in r] + [0.0] for r in cr]}
    # drift.min_samples (fewer: no verdict, the sidecar's) at a window's or a replica's
    # reference count or one past it (the boundary), or anywhere
    counts_seen = [sum(map(sum, f)) for f in win] + [sum(r) for f in ref for r in f]
    if cats:
        counts_seen.append(sum(map(sum, cats["window"])))
    edge = draw(st.sampled_from(counts_seen)) + draw(st.integers(0, 1))
    least = draw(st.one_of(st.just(edge), st.integers(5, 900)))
    return {"bins": b, "replicas": replicas, "window": win, "reference": ref,
            "categories": cats, "calibrated": draw(st.booleans()), "min_samples": max(5, least)}


def _inputs(case: dict[str, Any]) -> list[dict[str, str]]:
    les = fleet.le_labels(case["bins"])
    hist, ref = cat.DRIFT_WINDOW_RANK.name, cat.DRIFT_REFERENCE_RANK.name
    out = []
    for j, (win, refs) in enumerate(zip(case["window"], case["reference"], strict=True)):
        for r, (w, rf) in enumerate(zip(win, refs, strict=True)):
            lab = {cat.SERVICE_LABEL: SERVICE, "model": MODEL, "version": VERSION,
                   "feature": f"x{j}", "instance": f"r{r}"}
            for le, cw, cr in zip(les, np.cumsum(w), np.cumsum(rf), strict=True):
                out.append({"series": _series(hist + "_bucket", {**lab, "le": le}),
                            "values": f"0 {cw}"})
                out.append({"series": _series(ref + "_bucket", {**lab, "le": le}),
                            "values": f"{cr} {cr}"})
            out.append({"series": _series(hist + "_count", lab), "values": f"0 {sum(w)}"})
            out.append({"series": _series(ref + "_count", lab),
                        "values": f"{sum(rf)} {sum(rf)}"})
    c = case["categories"]
    if c:
        names = [f"c{i}" for i in range(len(c["window"][0]) - 1)] + [fleet.NEW]
        for r, (w, shares) in enumerate(zip(c["window"], c["reference"], strict=True)):
            lab = {cat.SERVICE_LABEL: SERVICE, "model": MODEL, "version": VERSION,
                   "feature": "cat", "instance": f"r{r}"}
            for name, x, p in zip(names, w, shares, strict=True):
                out.append({"series": _series(cat.DRIFT_CATEGORY_SAMPLES.name,
                                              {**lab, "category": name}), "values": f"0 {x}"})
                out.append({"series": _series(cat.DRIFT_REFERENCE_CATEGORY.name,
                                              {**lab, "category": name}),
                            "values": f"{p!r} {p!r}"})
    return out


def _expected(case: dict[str, Any]) -> list[tuple[str, dict[str, str], float | None]]:
    """(recorded series, labels, value) from detectors.bins on the summed counts; a window
    with fewer than min_samples values (n) has no effect and no score, and a replica's
    reference with fewer is left out of the reference (none left: no reference)."""
    base = {cat.SERVICE_LABEL: SERVICE, "model": MODEL, "version": VERSION,
            "objective": "d", "signal": "feature_drift"}
    features = len(case["window"]) + (1 if case["categories"] else 0)
    a = ALPHA / features
    least = case["min_samples"]
    out: list[tuple[str, dict[str, str], float | None]] = [
        (fleet.FEATURES, base, float(features))]
    scores = []
    for j, (win, refs) in enumerate(zip(case["window"], case["reference"], strict=True)):
        lab = {**base, "feature": f"x{j}"}
        w_cum = np.cumsum(np.sum(win, axis=0))
        n = float(w_cum[-1])
        out.append((fleet.WINDOW_COUNT, lab, n))
        refs = [r for r in refs if sum(r) >= least]
        if not refs:
            continue
        r_cum = np.mean([np.cumsum(r) / sum(r) for r in refs], axis=0)
        m = float(np.mean([sum(r) for r in refs]))
        crit = bins.ks_critical(n, m, a)
        out += [(fleet.REFERENCE_COUNT, lab, m), (fleet.CRITICAL, lab, crit)]
        if n >= least:
            ks = bins.ks_from_cumulative(w_cum, r_cum)
            score = ks if ks > crit else 0.0
            scores.append(score)
            out += [(fleet.KS, lab, ks),
                    (fleet.PSI, lab, bins.psi_from_cumulative(w_cum, r_cum))]
            if abs(ks - crit) > 1e-9:
                out.append((fleet.SCORE, lab, score))
        else:
            out.append((fleet.SCORE, lab, None))
        if case["calibrated"]:
            level = min(max(bins.ks_critical(n, m, 1 - CAL), 0.025), 1.0)
            out.append((fleet.THRESHOLD, lab, level))
    c = case["categories"]
    if c:
        lab = {**base, "feature": "cat"}
        w = np.sum(c["window"], axis=0).astype(float)
        r = np.mean(c["reference"], axis=0)
        n, k = float(w.sum()), len(r)
        crit = (1 / n + 1 / REF_SIZE) * _wh(k - 1, _z_upper(a))
        # the rules' normal quantile is Abramowitz–Stegun's: within 1 % of psi_critical's
        assert crit == pytest.approx(bins.psi_critical(n, REF_SIZE, k, a), rel=0.01)
        out += [(fleet.CATEGORY_COUNT, lab, n), (fleet.CRITICAL, lab, crit)]
        if n >= least:
            psi = psi_from_counts(r, w)
            score = psi if psi > crit else 0.0
            scores.append(score)
            out.append((fleet.CATEGORY_PSI, lab, psi))
            if abs(psi - crit) > 1e-9:
                out.append((fleet.SCORE, lab, score))
        else:
            out.append((fleet.SCORE, lab, None))
        if case["calibrated"]:
            out.append((fleet.THRESHOLD, lab,
                        max(bins.psi_critical(n, REF_SIZE, k, 1 - CAL), 0.01)))
        new = c["window"]
        if n >= least:
            out.append((fleet.CATEGORY_WINDOW, {**lab, "category": fleet.NEW},
                        float(sum(x[-1] for x in new)) / n))
    out.append((cat.RULE_VALUE, {k: v for k, v in base.items()
                                 if k in ("service", "objective", "signal")},
                max(scores) if scores else None))
    return out


def _check(name: str, labels: dict[str, str], value: float | None) -> dict[str, Any]:
    """1 where the recorded series is within float tolerance of the expected value; no
    series at all where the value is None."""
    if value is None:
        return {"expr": name + cat.label_matchers(labels), "eval_time": "1m", "exp_samples": []}
    tol = 1e-9 * max(1.0, abs(value))
    sel = cat.label_matchers(labels)
    return {"expr": f"abs({name}{sel} - {value!r}) <= bool {tol!r}", "eval_time": "1m",
            "exp_samples": [{"labels": sel, "value": 1}]}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(_fleet(), min_size=4, max_size=4))
def test_fleet_rules_equal_detectors_on_summed_counts(cases: list[dict[str, Any]],
                                                      tmp_path_factory: pytest.TempPathFactory
                                                      ) -> None:
    promtool = require_binary("promtool")
    tmp = tmp_path_factory.mktemp("fleet")
    files = []
    for i, case in enumerate(cases):
        p = plans(_spec(case["bins"], case["calibrated"], case["min_samples"]))[0]
        rules = tmp / f"r{i}.rules.yml"
        rules.write_text(yaml.safe_dump({"groups": [objective_group(p, alerts=False)]}))
        test = tmp / f"r{i}.test.yml"
        test.write_text(yaml.safe_dump({
            "rule_files": [rules.name], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": _inputs(case),
                       "promql_expr_test": [_check(*e) for e in _expected(case)]}]}))
        files.append(test.name)
    res = run([promtool, "test", "rules", *files], cwd=tmp)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def _fleet_plans() -> list[ObjectivePlan]:
    spec = parse_spec(every_kind_spec())
    return [p for p in plans(spec) if p.recordings()]


def test_every_generated_expression_parses(tmp_path: Path) -> None:
    exprs = []
    for calibrated in (False, True):
        exprs += [e for _, e in plans(_spec(3, calibrated))[0].recordings()]
    for p in _fleet_plans():
        exprs += [r["expr"] for r in objective_group(p)["rules"]]
    for e in exprs:
        assert promql_parser.parse(e) is not None
    res = promtool_check_exprs(exprs, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


REPLICA = ("instance", "pod")
_KEEP = ("topk", "bottomk", "limitk", "limit_ratio")      # return their input series


def replica_free(e: Any) -> bool:
    """Whether a PromQL expression's result can carry no replica label: every raw series it
    reads is aggregated by labels that exclude the replica's (or without them), and recorded
    series (``slo:``) are per service already."""
    pp = promql_parser
    if isinstance(e, (pp.NumberLiteral, pp.StringLiteral)):
        return True
    if isinstance(e, pp.VectorSelector):
        return bool(e.name) and str(e.name).startswith(f"{cat.RECORD_PREFIX}:")
    if isinstance(e, pp.MatrixSelector):
        return replica_free(e.vector_selector)
    if isinstance(e, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
        return replica_free(e.expr)
    if isinstance(e, pp.Call):
        if e.func.name in ("vector", "time", "absent", "absent_over_time", "scalar"):
            return True
        return all(replica_free(a) for a in e.args)
    if isinstance(e, pp.AggregateExpr):
        if str(e.op) in _KEEP:
            return replica_free(e.expr)
        if e.modifier is None:
            return True
        labels = set(e.modifier.labels)
        if e.modifier.type == pp.AggModifierType.By:
            return not labels & set(REPLICA)
        return set(REPLICA) <= labels
    if isinstance(e, pp.BinaryExpr):
        if str(e.op) in ("and", "unless"):
            return replica_free(e.lhs)
        return replica_free(e.lhs) and replica_free(e.rhs)
    raise AssertionError(f"unexpected PromQL node {type(e).__name__}")


def test_the_replica_audit_can_fail() -> None:
    bad = ["rate(x[5m])", "max by (instance) (x)", "sum without (pod) (x)",
           "sum(x) / rate(y[5m])", "topk(1, x)", "x and sum(y)"]
    good = ["sum(rate(x[5m]))", "max without (instance, pod) (x)", "slo:v{a=\"b\"} > 1",
            "histogram_quantile(0.9, sum by (le) (rate(x[5m])))", "absent_over_time(x[5m])",
            "sum(y) and x"]
    assert [replica_free(promql_parser.parse(x)) for x in bad] == [False] * len(bad)
    assert [replica_free(promql_parser.parse(x)) for x in good] == [True] * len(good)


@pytest.mark.parametrize("name", ["every-kind", "example"])
def test_every_rule_aggregates_the_replica_labels_away(name: str) -> None:
    """Every recorded series and alert of every objective carries no replica label, and the
    no-data selectors name no replica: one alert per service and objective."""
    from agent.spec import load_spec
    from tests.helpers import EXAMPLE_SPEC

    spec = parse_spec(every_kind_spec()) if name == "every-kind" else load_spec(EXAMPLE_SPEC)
    leaks = []
    for p in plans(spec):
        for rule in objective_group(p)["rules"]:
            if not replica_free(promql_parser.parse(rule["expr"])):
                leaks.append((p.o.name, rule.get("record") or rule["alert"], rule["expr"]))
        assert not any(r in p.absent_selector for r in REPLICA), p.absent_selector
    assert leaks == []


def _stop(series: list[dict[str, str]], replicas: tuple[str, ...], at: int
          ) -> list[dict[str, str]]:
    """The inputs with ``replicas``' series ending after ``at`` samples (scrapes stop)."""
    out = []
    for s in series:
        if not any(f'instance="{r}"' in s["series"] for r in replicas):
            out.append(s)
            continue
        values = _expand(s["values"])[:at]
        out.append({"series": s["series"], "values": " ".join(values)})
    return out


def _expand(text: str) -> list[str]:
    """promtool's 'a+bxn' notation as one value per sample."""
    out: list[str] = []
    for part in text.split():
        if part == "_":
            out.append("_")
            continue
        head, n = part.split("x") if "x" in part else (part, "0")
        start, _, step = head.partition("+")
        for i in range(int(n) + 1):
            out.append(repr(float(start) + i * float(step or 0)))
    return out


@pytest.mark.parametrize("kind", ["feature_drift", "prediction_drift", "new_category_share"])
def test_a_replica_going_away_neither_pages_nor_fires_no_data(kind: str, tmp_path: Path
                                                              ) -> None:
    """Two replicas' inputs. Drifting together: one warning alert for the service, with no
    replica label. Healthy, one replica stops: no page and no NoData while the other serves;
    both stop: NoData fires."""
    from alerts.unittests import _beyond, expand, synth, tick_seconds

    promtool = require_binary("promtool")
    p = next(x for x in _fleet_plans() if x.o.signal.value == kind
             and x.o.warning is not None)
    assert tick_seconds(p) == 60.0
    level = p.levels[0]
    assert level.constant is not None
    bad, good = _beyond(p, level.constant, True), _beyond(p, level.constant, False)
    warn, nodata = threshold_alert(p, level), absent_alert(p)
    absent = int(p.spec.alerting.absent_for // 60)
    one_stops, both_stop, total = 30, 120, 200
    drifting = synth(p, [(total, [(bad, 1.0)])])
    assert {s["series"].split('instance="')[1].split('"')[0] for s in drifting} == {
        "replica-a", "replica-b"}
    healthy = _stop(_stop(synth(p, [(total, [(good, 1.0)])]), ("replica-b",), one_stops),
                    ("replica-a",), both_stop)
    fire = int((p.spec.alerting.rate_window + p.o.for_) // 60) + 5
    fired = {"exp_labels": warn["labels"],
             "exp_annotations": {k: expand(v, bad) for k, v in warn["annotations"].items()}}
    no_data = {"exp_labels": {**nodata["labels"], **p.raw_labels},
               "exp_annotations": nodata["annotations"]}
    tests = [
        {"interval": "1m", "input_series": drifting, "alert_rule_test": [
            {"eval_time": f"{fire}m", "alertname": warn["alert"], "exp_alerts": [fired]}]},
        {"interval": "1m", "input_series": healthy, "alert_rule_test": [
            {"eval_time": f"{t}m", "alertname": name, "exp_alerts": []}
            for t in (one_stops + 2, one_stops + absent + 5, both_stop - 1)
            for name in (warn["alert"], nodata["alert"])] + [
            {"eval_time": f"{both_stop + absent + 5}m", "alertname": nodata["alert"],
             "exp_alerts": [no_data]}]},
    ]
    (tmp_path / "r.rules.yml").write_text(yaml.safe_dump({"groups": [objective_group(p)]}))
    (tmp_path / "r.test.yml").write_text(yaml.safe_dump({
        "rule_files": ["r.rules.yml"], "evaluation_interval": "1m", "tests": tests}))
    res = run([promtool, "test", "rules", "r.test.yml"], cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def test_fleet_settle_is_the_fleet_window() -> None:
    """The generated tests wait a whole fleet window for a change to leave the value."""
    assert plans(_spec(4, False))[0].settle == 120.0


@settings(max_examples=40, deadline=None)
@given(window=st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True),
                        st.floats(0, 2, exclude_min=True),
                        st.sampled_from(["30s", "1h", "2h30m", "0s", "-1m", "soon", ""]),
                        st.none()))
def test_fleet_window_is_accepted_or_refused_by_field(window: Any) -> None:
    """The spec door for drift.fleet_window: a positive duration, or a refusal naming it."""
    from agent.spec.errors import SpecError

    data = {"service": "s", "models": [{"name": "m"}], "drift": {"fleet_window": window},
            "objectives": [{"name": "d", "signal": "feature_drift",
                            "selector": {"model": "m"}, "warning": "0.1"}]}
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        assert "fleet_window" in str(exc)
        return
    seconds = spec.drift.fleet_window
    assert seconds >= 1 and math.isfinite(seconds)
    assert f"[{fleet.fleet_of(spec.drift, spec.objectives[0], {}, '').window}]" in \
        objective_group(plans(spec)[0])["rules"][0]["expr"]
