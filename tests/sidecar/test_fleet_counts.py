"""Issue 26: every sidecar exports mergeable drift counts. The exported buckets are
``detectors.bins`` applied to exactly the values sent (either wire format), category labels
never leak a raw value the spec does not name, and counters survive restarts and moving
references without ever going down."""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent import catalogue as cat
from agent.sdk import columnar_format as sdk_wire
from agent.sidecar.engine import Engine
from agent.sidecar.exposition import fleet_families
from agent.sidecar.ingest import columnar as wire
from agent.sidecar.ingest import payload as ingest
from agent.sidecar.ingest.apply import apply
from agent.sidecar.state import persistence
from agent.sidecar.state._fleet_counts import NEW, OTHER, FleetCounts
from agent.spec import parse_spec
from detectors import bins
from detectors.windows import FeatureWindow
from tests.helpers import require_binary
from tests.sidecar.conftest import make_spec

REF, WIN, BINS, TOP = 24, 16, 5, 3
NOW = time.time()
ALLOWED = ["de", "fr", "c2", OTHER]


def _spec_dict(tmp: Path, port: int = 9, **drift: Any) -> dict[str, Any]:
    return make_spec(
        tmp, port,
        drift={"window_size": WIN, "reference_size": REF, "min_samples": 5, "fleet_bins": BINS,
               "fleet_categories": TOP, **drift},
        sources={"gpu": {"mode": "off"}, "datasets": [
            {"name": "tx", "contract": {"allowed_values": {"country": ALLOWED}}}]})


SPEC = parse_spec(_spec_dict(Path("/tmp/slo-agent-fleet")))


class _Families:
    def __init__(self, eng: Engine) -> None:
        self.eng = eng

    def collect(self) -> Any:
        return iter(fleet_families(self.eng.spec, self.eng.state.models))


def scrape(eng: Engine) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The fleet families as /metrics text, parsed back by prometheus_client's parser: sample
    name -> {sorted labels: value}."""
    reg = CollectorRegistry()
    reg.register(_Families(eng))
    text = generate_latest(reg).decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def histogram(m: dict[str, Any], metric: cat.Metric, feature: str, model: str = "clf"
              ) -> tuple[list[tuple[str, float]], float, float] | None:
    """(buckets in order, _count, _sum) of one feature, checked well-formed; None if absent."""
    want = {"service": "svc", "model": model, "version": "v1", "feature": feature}
    buckets = [(dict(k)["le"], v) for k, v in m.get(metric.name + "_bucket", {}).items()
               if {a: b for a, b in k if a != "le"} == want]
    if not buckets:
        return None
    buckets.sort(key=lambda b: float(b[0]))
    key = tuple(sorted(want.items()))
    count, total = m[metric.name + "_count"][key], m[metric.name + "_sum"][key]
    values = [v for _, v in buckets]
    assert values == sorted(values), buckets                  # cumulative
    assert buckets[-1][0] == "+Inf" and values[-1] == count   # +Inf == _count
    assert [le for le, _ in buckets[:-1]] == [bins.level_label(q) for q in bins.levels(BINS)]
    return buckets, count, total


def _body(columns: dict[str, list[Any]], preds: list[Any], columnar: bool) -> ingest.Batch:
    rows = len(next(iter(columns.values())))
    item = {"type": "samples", "model": "clf", "version": "v1", "rows": rows,
            "columns": columns, "predictions": preds}
    env = {"schema": 1, "service": "svc", "items": [item]}
    if columnar:
        return wire.parse(sdk_wire.encode(env))
    return ingest.parse(json.dumps({**env, "items": [sdk_wire.rows_of(item)]}).encode())


def _feed(eng: Engine, columns: dict[str, list[Any]], preds: list[Any], columnar: bool) -> None:
    batch = _body(columns, preds, columnar)
    eng.admission.check(batch)
    apply(eng.state, eng.spec, batch, NOW)


def _expected(sent: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(sorted reference, counted values) of what was sent: missing values skipped, the first
    REF values form the reference, every later one is counted."""
    finite = np.array([v for v in sent if v is not None], dtype=np.float64)
    if finite.size < REF:
        return None
    return np.sort(finite[:REF]), finite[REF:]


# quarter steps: exact in float32 (the columnar door) and full of ties (repeated edges)
VALUES = st.one_of(st.none(), st.integers(-12, 12).map(lambda k: k / 4))
BATCH = st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.lists(VALUES, min_size=n, max_size=n), st.booleans()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(BATCH, min_size=1, max_size=8))
def test_exported_counts_are_bins_of_exactly_the_values_sent(
        batches: list[tuple[list[Any], bool]]) -> None:
    eng = Engine(SPEC, state_dir=Path("/tmp/slo-agent-fleet-unused"))
    sent: list[Any] = []
    for values, columnar in batches:
        _feed(eng, {"amount": values}, list(reversed(values)), columnar)
        sent += values
    m = scrape(eng)
    preds = [v for values, _ in batches for v in reversed(values)]
    for feature, stream in (("amount", sent), ("__prediction__", preds)):
        got = histogram(m, cat.DRIFT_WINDOW_RANK, feature)
        ref_got = histogram(m, cat.DRIFT_REFERENCE_RANK, feature)
        exp = _expected(stream)
        if exp is None:
            assert got is None and ref_got is None
            continue
        ref, counted = exp
        assert got is not None and ref_got is not None
        edges = bins.quantile_edges(ref, bins.levels(BINS))
        assert [v for _, v in got[0]] == bins.cumulative_counts(counted, edges).tolist()
        assert got[1] == counted.size
        level = np.append(bins.levels(BINS), 1.0)     # each value at its bin's upper level
        at = np.searchsorted(edges, counted, side="left")
        assert got[2] == pytest.approx(float(level[at].sum()), abs=1e-9)
        want_ref = bins.reference_cumulative(ref, edges) * REF
        assert [v for _, v in ref_got[0]] == pytest.approx(want_ref.tolist())
        assert ref_got[1] == REF
        assert ref_got[2] == pytest.approx(
            float(level[np.searchsorted(edges, ref, side="left")].sum()))


def test_category_labels_name_only_allowed_values_and_count_new_ones() -> None:
    eng = Engine(SPEC, state_dir=Path("/tmp/slo-agent-fleet-unused"))
    # reference: de 8, xx 6, c2 4 (allowed, but it looks like a rank label), zz 3, ww 2, q 1
    reference = ["de"] * 8 + ["xx"] * 6 + ["c2"] * 4 + ["zz"] * 3 + ["ww"] * 2 + ["q"]
    window = ["de", "de", "xx", "c2", "zz", "q", "fr", "brand-new", None]
    _feed(eng, {"country": reference + window}, [], columnar=False)
    m = scrape(eng)
    base = {"service": "svc", "model": "clf", "version": "v1", "feature": "country"}

    def table(metric: cat.Metric) -> dict[str, float]:
        return {dict(k)["category"]: v for k, v in m[metric.name].items()
                if {a: b for a, b in k if a != "category"} == base}

    counts = table(cat.DRIFT_CATEGORY_SAMPLES)
    shares = table(cat.DRIFT_REFERENCE_CATEGORY)
    # de by name (allowed), xx by rank, c2 by rank (a name that looks like a rank never is one)
    assert counts == {"de": 2, "c2": 1, "c3": 1, OTHER: 2, NEW: 2}
    assert shares == pytest.approx({"de": 8 / 24, "c2": 6 / 24, "c3": 4 / 24, OTHER: 6 / 24,
                                    NEW: 0.0})
    assert math.isclose(sum(shares.values()), 1.0)
    text = generate_latest(_registry(eng)).decode()
    for raw in ("xx", "zz", "ww", "brand-new", '"fr"', '"q"'):
        assert raw not in text, raw


def _registry(eng: Engine) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(_Families(eng))
    return reg


def test_counts_survive_a_restart_and_keep_counting(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    first, second = rng.normal(size=60).round(2).tolist(), rng.normal(size=40).round(2).tolist()
    eng = Engine(SPEC, state_dir=tmp_path)
    _feed(eng, {"amount": first, "country": ["de", "xx"] * 30}, first, columnar=True)
    before = scrape(eng)
    eng.snapshot()
    saved = persistence.load(tmp_path, "svc")
    assert saved is not None
    again = Engine(SPEC, state_dir=tmp_path)
    assert again.state.restore(saved) == []
    assert scrape(again) == before              # exported at once, before any new traffic
    _feed(again, {"amount": second, "country": ["xx"] * 40}, second, columnar=False)
    after = scrape(again)
    ref, counted = _expected(first + second)  # type: ignore[misc]
    edges = bins.quantile_edges(ref, bins.levels(BINS))
    got = histogram(after, cat.DRIFT_WINDOW_RANK, "amount")
    assert got is not None
    assert [v for _, v in got[0]] == bins.cumulative_counts(counted, edges).tolist()
    key = tuple(sorted({"service": "svc", "model": "clf", "version": "v1", "feature": "country",
                        "category": "c2"}.items()))
    # reference: 12 de, 12 xx (xx ranks second: c2); window: 18 xx, then 40 after the restart
    assert after[cat.DRIFT_CATEGORY_SAMPLES.name][key] == 18 + 40


def _cumulative(fc: FleetCounts) -> list[float]:
    return [v for _, v in fc.numeric["x"].window_buckets()]


def test_counters_never_decrease_when_a_rolling_reference_moves() -> None:
    fw = FeatureWindow(WIN, REF, kind="rolling")
    fc = FleetCounts(BINS, TOP)
    rng = np.random.default_rng(7)
    last = [0.0] * BINS
    edges_seen = set()
    for step in range(40):                         # a slow upward drift, in batches of 7
        fc.add_numeric("x", fw, rng.normal(loc=step * 0.2, size=7))
        now = _cumulative(fc) if "x" in fc.numeric else last
        assert all(b >= a for a, b in zip(last, now, strict=True)), (step, last, now)
        last = now
        rc = fc.numeric["x"]
        if rc.edges is not None:
            edges_seen.add(tuple(rc.edges))
    assert len(edges_seen) > 3                     # the reference did move (epochs)
    assert last[-1] == 40 * 7 - (REF + WIN) + 1    # counted once the reference existed


def test_a_replaced_file_reference_moves_edges_not_counts() -> None:
    fw = FeatureWindow(WIN, REF, kind="file")
    fc = FleetCounts(BINS, TOP)
    fc.add_numeric("x", fw, [1.0, 2.0])            # no reference yet: nothing counted
    assert fc.numeric["x"].edges is None and fc.numeric["x"].count == 0
    fw.set_reference(np.arange(100.0))
    fc.add_numeric("x", fw, [10.0, 50.0, 90.0])
    before = _cumulative(fc)
    fw.set_reference(np.arange(100.0) + 1000)
    fc.add_numeric("x", fw, [10.0])
    rc = fc.numeric["x"]
    np.testing.assert_array_equal(rc.edges, bins.quantile_edges(np.arange(100.0) + 1000,
                                                                bins.levels(BINS)))
    assert all(b >= a for a, b in zip(before, _cumulative(fc), strict=True))
    assert rc.count == 4 and [v for _, v in rc.reference_buckets()][-1] == 100


def test_features_past_the_cap_are_not_counted() -> None:
    spec = parse_spec({**_spec_dict(Path("/tmp/slo-agent-fleet")),
                       "sidecar": {"listen": "127.0.0.1:9", "interval": "0.5s",
                                   "limits": {"max_features_per_model": 2}}})
    eng = Engine(spec, state_dir=Path("/tmp/slo-agent-fleet-unused"))
    values = [float(i % 5) for i in range(REF + 10)]
    _feed(eng, {f"f{i}": values for i in range(4)}, [], columnar=True)
    m = scrape(eng)
    features = {dict(k)["feature"] for k in m[cat.DRIFT_WINDOW_RANK.name + "_count"]}
    assert features == {"f0", "f1"}


def test_sidecar_metrics_with_counts_pass_promtool(sidecar_factory: Any, tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    port = 9
    sc = sidecar_factory(_spec_dict(tmp_path, port))
    rng = np.random.default_rng(1)
    amount = rng.normal(size=REF + 30).round(3).tolist()
    country = (["de", "xx", "yy"] * 30)[: REF + 30]
    status, body = sc.post({"schema": 1, "service": "svc", "items": [
        {"type": "samples", "model": "clf", "version": "v1",
         "features": [{"amount": a, "country": c} for a, c in zip(amount, country, strict=True)],
         "predictions": amount}]})
    assert status == 202, body
    deadline = time.time() + 20
    text = ""
    while time.time() < deadline:
        text = sc.get("/metrics")[1].decode()
        if f'{cat.DRIFT_WINDOW_RANK.name}_count{{' in text \
                and f'{cat.DRIFT_CATEGORY_SAMPLES.name}{{' in text:
            break
        time.sleep(0.2)
    res = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    fam = parsed[cat.DRIFT_WINDOW_RANK.name]
    assert fam.type == "histogram"
    counts = [s.value for s in fam.samples if s.name.endswith("_count")
              and s.labels["feature"] == "amount"]
    assert counts == [30]
    assert '"xx"' not in text and '"yy"' not in text
    doc = sc.status()
    drift = next(o for o in doc["objectives"] if o["name"] == "drift")
    assert drift["scope"] == "replica" and "fleet" in drift["scope_note"]
    page = sc.get("/objectives/drift")[1].decode()
    assert "computed by the generated rules from every replica" in page
