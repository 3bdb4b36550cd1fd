"""False alarms of the fleet drift rule over many clean windows, in a real Prometheus (issue #26:
"with no shift, over repeated windows, the fleet rule's false alarms are no more than one sidecar
seeing all traffic, and fewer than the max-over-replicas rule's").

Live windows would take hours, so the windows are backfilled: WINDOWS consecutive fleet windows
of clean traffic for N replicas (every replica the same reference, as with one reference file),
each replica's values counted by the sidecar's own counting code (``RankCounts``) into the
counter series it exports, written as OpenMetrics with one sample per window end, turned into
TSDB blocks by ``promtool tsdb create-blocks-from openmetrics`` and served by a real Prometheus.
The generated fleet drift alert (``slo-agent generate``'s rule group, its recording rules inlined
into the alert expression, since recording rules only run in real time) is then evaluated at
every window end, where ``increase(...[fleet_window])`` spans exactly one window. Compared with:
(a) one detector seeing all the fleet's traffic (``detect_drift`` on the pooled window, as a
sidecar would), (b) max over the N replicas' own detectors (any replica alarming). A loose
calibration (0.9, alpha 0.2) makes rates measurable from a few hundred windows; fixed seed.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import promql_parser as pp
import pytest
import yaml

from agent import catalogue as cat
from agent.render.files import write
from agent.sidecar.state._fleet_counts import RankCounts
from agent.spec import parse_spec
from detectors import bins
from detectors.calibration import CalibrationCache
from detectors.drift import DriftInput, DriftThresholds, detect_drift
from detectors.thresholds import Status
from detectors.windows import FeatureWindow
from tests.e2e.fleet_harness import FEATURE, MODEL, SERVICE, VERSION, fleet_spec, wait_for
from tests.helpers import free_port, require_binary

N, PER_REPLICA, REFERENCE, WINDOWS, STEP = 8, 200, 2000, 400, 60
CALIBRATION, ALPHA, MIN_KS = 0.9, 0.2, 0.01
DRIFT = {"reference_size": REFERENCE, "window_size": PER_REPLICA, "min_samples": PER_REPLICA,
         "calibration": CALIBRATION, "alpha": ALPHA, "min_ks_effect": MIN_KS,
         "fleet_window": f"{STEP}s"}

pytestmark = [pytest.mark.servers]


# -- the generated rules, inlined ----------------------------------------------------------------
def _label_set(expr: str, labels: dict[str, str]) -> str:
    for k, v in sorted(labels.items()):
        expr = f'label_replace({expr}, "{k}", "{v}", "", "")'
    return expr


def inline(group: dict[str, Any], expr: str) -> str:
    """``expr`` with every series the group records replaced by the recording rule's own
    expression (itself inlined), carrying the rule's labels and filtered by the selector's other
    matchers, so Prometheus can evaluate it at any past time."""
    rules = [r for r in group["rules"] if "record" in r]
    done: list[tuple[str, dict[str, str], str]] = []

    def replace(node: Any) -> Any:
        if not isinstance(node, pp.VectorSelector) or node.name not in {r["record"]
                                                                          for r in rules}:
            return None
        matchers = [(m.name, m.op, m.value) for m in node.matchers.matchers]
        for name, labels, text in done:
            if name != node.name:
                continue
            if all(labels.get(k) == v for k, op, v in matchers
                   if k in labels and op == pp.MatchOp.Equal):
                out = _label_set(f"({text})", labels)
                for k, op, v in matchers:
                    if k in labels:
                        continue
                    assert op == pp.MatchOp.Equal, f"cannot inline matcher {k}{op}{v!r}"
                    out = f'({out}) and on({k}) label_replace(vector(1), "{k}", "{v}", "", "")'
                return pp.parse(f"({out})")
        raise AssertionError(f"{node} refers to no earlier recording rule of {group['name']}")

    for r in rules:
        text = str(pp.transform(pp.parse(str(r["expr"])), replace))
        done.append((r["record"], dict(r.get("labels") or {}), text))
    return str(pp.transform(pp.parse(expr), replace))


# -- backfill ------------------------------------------------------------------------------------
def _series(name: str, replica: int, extra: str = "") -> str:
    return (f'{name}{{service="{SERVICE}",model="{MODEL}",version="{VERSION}",'
            f'feature="{FEATURE}",job="slo-agent",instance="replica-{replica}"{extra}}}')


def openmetrics(reference: np.ndarray, windows: np.ndarray, t0: int) -> str:
    """The counter series N sidecars export, one sample per window end (t0 + k * STEP, the
    first with nothing counted yet), counted by the sidecar's RankCounts."""
    win, ref = cat.DRIFT_WINDOW_RANK.name, cat.DRIFT_REFERENCE_RANK.name
    lines = {win: [f"# TYPE {win} histogram"], ref: [f"# TYPE {ref} histogram"]}
    fams: dict[str, dict[str, list[str]]] = {win: {}, ref: {}}
    for i in range(N):
        fw = FeatureWindow(PER_REPLICA, REFERENCE)
        fw.set_reference(reference)
        counts = RankCounts(10)
        for k in range(WINDOWS + 1):
            if k:
                counts.observe(fw, windows[k - 1, i])
            ts = t0 + k * STEP
            for fam, buckets, total, rank_sum in (
                    (win, counts.window_buckets(), counts.count, counts.rank_sum),
                    (ref, counts.reference_buckets(), REFERENCE, counts.reference_rank_sum)):
                for le, c in buckets:
                    key = _series(f"{fam}_bucket", i, f',le="{le}"')
                    fams[fam].setdefault(key, []).append(f"{key} {c:g} {ts}")
                for suffix, value in (("_count", float(total)), ("_sum", rank_sum)):
                    key = _series(fam + suffix, i)
                    fams[fam].setdefault(key, []).append(f"{key} {value!r} {ts}")
    for fam, series in fams.items():
        for samples in series.values():
            lines[fam].extend(samples)
    return "\n".join(lines[win] + lines[ref] + ["# EOF", ""])


class Prom:
    def __init__(self, url: str) -> None:
        self.url = url

    def range(self, q: str, start: int, end: int) -> dict[int, list[dict[str, Any]]]:
        """Result per evaluation time (exactly start + j * STEP), as label sets and values."""
        data = urllib.parse.urlencode({"query": q, "start": start, "end": end,
                                       "step": STEP}).encode()
        doc = json.loads(urllib.request.urlopen(f"{self.url}/api/v1/query_range", data=data,
                                                timeout=120).read())
        assert doc["status"] == "success", doc
        out: dict[int, list[dict[str, Any]]] = {}
        for s in doc["data"]["result"]:
            for ts, v in s["values"]:
                out.setdefault(int(ts), []).append({"metric": s["metric"], "value": float(v)})
        return out


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    prometheus, promtool = require_binary("prometheus"), require_binary("promtool")
    tmp = tmp_path_factory.mktemp("backfill")
    spec = fleet_spec(9464, str(tmp / "state"), drift=DRIFT)
    write(parse_spec(spec), tmp / "out")
    path = tmp / "out" / "prometheus" / "rules" / SERVICE / "m-drift.rules.yml"
    group = yaml.safe_load(path.read_text())["groups"][0]
    rng = np.random.default_rng(26)
    reference = np.sort(rng.normal(size=REFERENCE))
    windows = rng.normal(size=(WINDOWS, N, PER_REPLICA))
    t0 = (int(time.time()) // STEP - WINDOWS - 5) * STEP
    (tmp / "series.om").write_text(openmetrics(reference, windows, t0))
    res = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                          str(tmp / "series.om"), str(tmp / "tsdb")], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    (tmp / "prometheus.yml").write_text("global: {}\n")
    port = free_port()
    log = open(tmp / "prometheus.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    try:
        prom = Prom(f"http://127.0.0.1:{port}")
        wait_for(lambda: urllib.request.urlopen(f"{prom.url}/-/ready", timeout=2).status == 200,
                 60, "Prometheus ready")
        yield prom, group, reference, windows, t0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _rule(group: dict[str, Any], key: str, name: str) -> str:
    return str(next(r["expr"] for r in group["rules"] if r.get(key) == name))


def test_backfilled_fleet_ks_equals_the_summed_counts(backfilled: Any) -> None:
    """The inlined recording rules on the backfilled series give, at every window end, the KS
    distance detectors.bins computes on the replicas' summed counts (the backfill is right)."""
    prom, group, reference, windows, t0 = backfilled
    ks = prom.range(inline(group, _rule(group, "record", "slo:fleet_drift:ks_ratio")),
                    t0 + STEP, t0 + WINDOWS * STEP)
    edges = bins.quantile_edges(reference, bins.levels(10))
    ref_cum = bins.reference_cumulative(reference, edges)
    assert len(ks) == WINDOWS
    for k in range(1, WINDOWS + 1):
        want = bins.ks_from_cumulative(bins.cumulative_counts(windows[k - 1].ravel(), edges),
                                       ref_cum)
        (got,) = ks[t0 + k * STEP]
        assert got["value"] == pytest.approx(want, abs=1e-9), k


def _alarms(results: list[Any]) -> bool:
    return any(r.status is not Status.OK for r in results)


def test_fleet_false_alarms_no_more_than_one_detector_fewer_than_max_over_replicas(
        backfilled: Any) -> None:
    prom, group, reference, windows, t0 = backfilled
    alert = inline(group, _rule(group, "alert", "MDriftWarning"))
    fired = prom.range(alert, t0 + STEP, t0 + WINDOWS * STEP)
    fleet = sum(1 for k in range(1, WINDOWS + 1) if fired.get(t0 + k * STEP))
    t = DriftThresholds(alpha=ALPHA, correction="bh", min_samples=PER_REPLICA,
                        calibration=CALIBRATION, min_ks_effect=MIN_KS)
    cache = CalibrationCache()

    def run(values: np.ndarray) -> list[Any]:
        return detect_drift(DriftInput(numeric_refs={FEATURE: reference},
                                       numeric_windows={FEATURE: values}), t, cache)

    single = sum(_alarms(run(w.ravel())) for w in windows)
    worst = sum(any(_alarms(run(w[i])) for i in range(N)) for w in windows)
    # counts of one seed: z = 2 one-sided margins on the difference of two binomial counts
    assert fleet > 0, "the fleet rule never alarms: the comparison would prove nothing"
    assert fleet <= single + 2 * math.sqrt(fleet + single), (fleet, single)
    assert fleet + 3 * math.sqrt(fleet + worst) < worst, (fleet, worst)
    print(f"\n{WINDOWS} clean windows of {N} x {PER_REPLICA} values: fleet rule alarms in "
          f"{fleet} ({fleet / WINDOWS:.1%}), one detector on all traffic in {single} "
          f"({single / WINDOWS:.1%}), max over the {N} replicas in {worst} "
          f"({worst / WINDOWS:.1%})")


def test_inline_keeps_labels_and_filters() -> None:
    """The inliner itself: a recorded series becomes its expression with the rule's labels,
    and a matcher on another label filters it."""
    group: dict[str, Any] = {"name": "g", "rules": [
        {"record": "a:b", "expr": "sum by (le) (x)", "labels": {"objective": "o"}},
        {"alert": "A", "expr": 'a:b{objective="o",le="0.1"} > 1'}]}
    got = inline(group, group["rules"][1]["expr"])
    assert got.startswith('((label_replace((sum by (le)(x{})), "objective", "o", "", ""))'), got
    assert 'and on (le) label_replace(vector(1), "le", "0.1", "", "")' in got
    with pytest.raises(AssertionError, match="no earlier recording rule"):
        inline(group, 'a:b{objective="other"}')

