"""The sidecar's own sources for the two-judges test (:mod:`tests.e2e.test_two_judges_own`): a GPU
read through NVML (a fake ``pynvml`` module, :mod:`tests.e2e.fake_nvml`, first on the sidecar's
``PYTHONPATH``, driven by a JSON file), two dataset files the sidecar polls (``feed``: freshness,
nulls, schema, rows and contract values; ``tx``: drift of a feature and of a prediction column
and new categories against its reference file) and a model whose sampled rows set the drift
detection time of an SDK drift objective (the SDK ships them; fewer rows, slower detection), and
a second model whose sampled rows shift in the incident (SDK-fed drift: the sidecar's window of
``drift.fleet_window`` against the rules' sum of counts over it).

:data:`OBJECTIVES` are one objective per kind so driven; :class:`Sources` turns every one bad in
the incident and good again after it. Levels sit far from both the healthy and the broken value.
"""

from __future__ import annotations

import json
import os
import threading
import time
from itertools import count
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

FAKE_NVML = Path(__file__).parent / "fake_nvml"
NVML_ENV = "SLO_AGENT_TEST_FAKE_NVML"
MODEL = "ranker"
SHIFTED = "scorer"      # the SDK-fed model whose rows shift in the incident
COUNTRIES = ["DE", "FR", "GB", "NL", "US"]
#: rows of the tx reference and of each tx batch: enough for a KS test at the drift settings
REFERENCE_ROWS, BATCH_ROWS = 600, 400
FEED_ROWS, FEED_FEW = 400, 40
#: the drift settings: small windows, so a few rows a second fill them; the scorer's rows a
#: second times fleet_window stay under window_size (the sidecar's window is then every value of
#: the fleet window, the values the rules count)
DRIFT = {"reference_size": 100, "window_size": 300, "min_samples": 50, "alpha": 0.01,
         "fleet_window": "8s"}
#: the null shares of the incident's feed batches, and how long the first lasts (seconds)
NULLS, NULLS_FIRST = (0.6, 0.35), 7.0
#: the feed's freshness lag (seconds) when healthy, and in the incident first past the warning
#: level, then past the critical (the first for LAG_FIRST seconds), each under 1.5 times its level
#: (the reading runs up to about a second over) and held longer than the judges may lag each
#: other plus `for`, so a rule on a level a half off disagrees; a lag rising steadily moved the
#: crossing a few seconds only, inside that tolerance. The newest event time is kept as a
#: maximum, so each step up takes its own length (3 s) to arrive
LAG, LAGS, LAG_FIRST = 6.0, (9.0, 12.0), 8.0
#: sampled rows a second: healthy, and in the incident (detection slows past its levels)
RATE, RATE_BAD = 40.0, 2.0
#: the scorer's sampled rows a second (every phase), its shift in the incident (in standard
#: deviations: every shifted value lies past the reference) and its first burst (the reference
#: and a window's minimum, before the deploy starts)
SCORER_RATE, SCORER_SHIFT, SCORER_FIRST = 20.0, 6.0, 160

OBJECTIVES: list[dict[str, Any]] = [
    {"name": "gpu-util", "signal": "gpu_utilization", "warning": "80%", "critical": "95%"},
    {"name": "gpu-memory", "signal": "gpu_memory_ratio", "warning": "80%", "critical": "95%"},
    {"name": "gpu-temp", "signal": "gpu_temperature", "warning": "80", "critical": "90"},
    {"name": "feed-fresh", "signal": "freshness_lag", "selector": {"dataset": "feed"},
     "warning": "8s", "critical": "11s"},
    {"name": "feed-nulls", "signal": "null_ratio",
     "selector": {"dataset": "feed", "column": "amount"}, "warning": "10%", "critical": "30%"},
    {"name": "feed-schema", "signal": "schema_drift", "selector": {"dataset": "feed"},
     "warning": "0", "critical": "1"},
    {"name": "feed-rows", "signal": "row_count", "selector": {"dataset": "feed"},
     "warning": "200", "critical": "100"},
    {"name": "feed-codes", "signal": "disallowed_value_share",
     "selector": {"dataset": "feed", "column": "country"}, "warning": "5%", "critical": "20%"},
    {"name": "tx-amount-drift", "signal": "feature_drift",
     "selector": {"dataset": "tx", "column": "amount"}, "warning": "0.1", "critical": "0.3"},
    {"name": "tx-score-drift", "signal": "prediction_drift",
     "selector": {"dataset": "tx", "column": "score"}, "warning": "0.1", "critical": "0.3"},
    {"name": "tx-new-countries", "signal": "new_category_share",
     "selector": {"dataset": "tx", "column": "country"}, "warning": "5%", "critical": "20%"},
    # the SDK drift objective whose detection time is watched: its rows stay undrifted (its
    # drift is driven through the tx file above); only their rate falls in the incident. They
    # are a low-discrepancy normal sequence (:func:`steady_values`), not random draws: the
    # sidecar's exact KS test alarms on a fraction alpha of undrifted random windows by
    # chance, the rules' binned one on fewer, and such an alarm is chance, not a disagreement
    # (the scorer's rows below are the same sequence, shifted in the incident)
    {"name": "sdk-x-drift", "signal": "feature_drift", "selector": {"model": MODEL},
     "warning": "0.1", "critical": "0.5"},
    {"name": "sdk-y-drift", "signal": "feature_drift", "selector": {"model": SHIFTED},
     "warning": "0.2", "critical": "0.5"},
    # the same rows with the default warning: calibrated (the sidecar's threshold from its
    # reference; the rules' the fleet's null quantile at its own n), a clear shift in both
    {"name": "sdk-y-drift-calibrated", "signal": "feature_drift", "selector": {"model": SHIFTED},
     "critical": "0.5"},
    {"name": "sdk-drift-detection", "signal": "drift_detection_time",
     "selector": {"objective": "sdk-x-drift"}, "warning": "8s", "critical": "16s"},
]
#: objectives compared but not turned critical by the incident (see above)
STEADY = {"sdk-x-drift"}


def steady_values() -> Any:
    """Standard normal values whose every run of consecutive ones is spread as the distribution
    is (the inverse normal CDF of the base-2 van der Corput sequence): any window of them is
    within a few per cent of the reference in KS distance, so no test alarms on them by chance."""
    inv = NormalDist().inv_cdf
    for i in count(1):
        u, denom = 0.0, 1.0
        while i:
            i, bit = divmod(i, 2)
            denom *= 2
            u += bit / denom
        yield inv(u)


def datasets(tmp: Path, poll: float) -> list[dict[str, Any]]:
    return [
        {"name": "feed", "path": str(tmp / "feed.csv"), "poll_interval": f"{poll:g}s",
         "contract": {"columns": {"ts": "float", "amount": "float", "country": "string",
                                  "batch": "int", "qty": "int"},
                      "allowed_values": {"country": COUNTRIES},
                      "freshness": {"column": "ts", "max_lag": "1h"}}},
        {"name": "tx", "path": str(tmp / "tx.csv"), "reference": str(tmp / "tx-ref.csv"),
         "poll_interval": f"{poll:g}s", "drift": {"columns": ["amount", "score", "country"]}},
    ]


def _tx(n: int, seed: int, shift: float, new: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    country = rng.choice(COUNTRIES, n).astype(object)
    country[: round(n * new)] = "XX"
    return pd.DataFrame({"amount": rng.normal(100 + 40 * shift, 20, n).round(3),
                         "score": rng.beta(2 + 6 * shift, 5, n).round(4),
                         "country": country})


def _feed(n: int, ts: float, nulls: float, bad_codes: float, schema_ok: bool) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    amount = rng.normal(100, 20, n).round(3)
    amount[: round(n * nulls)] = np.nan
    country = rng.choice(COUNTRIES, n).astype(object)
    country[n - round(n * bad_codes):] = "XX"
    frame = pd.DataFrame({"ts": np.full(n, ts), "amount": amount, "country": country,
                          "batch": np.full(n, 1) if schema_ok else np.full(n, "b1"),
                          "qty": rng.integers(1, 9, n)})
    # in the incident qty is gone and batch is text: two changes
    return frame if schema_ok else frame.drop(columns="qty")


def _write(frame: pd.DataFrame, path: Path) -> None:
    """Whole files only: written aside and renamed over, as a pipeline publishes a batch."""
    tmp = path.with_suffix(".part")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


class Sources:
    """The GPU file, the dataset files and the sampled rows; ``set_broken`` flips them all."""

    def __init__(self, tmp: Path, mon: Any) -> None:
        self.tmp = tmp
        self.nvml = tmp / "nvml.json"
        self.broken = False
        self.frozen_at = time.time()
        self.stop = threading.Event()
        self.lock = threading.Lock()     # one writer of the feed at a time, the phase's
        _write(_tx(REFERENCE_ROWS, 1, 0.0, 0.0), tmp / "tx-ref.csv")

        @mon.inference(model=MODEL, version="v1", features=lambda x: {"x": x})
        def predict(x: float) -> float:
            return x

        @mon.inference(model=SHIFTED, version="v1", features=lambda y: {"y": y})
        def score(y: float) -> float:
            return y

        self.predict, self.score = predict, score
        self.set_broken(False)

    def env(self) -> dict[str, str]:
        """The sidecar's environment: the fake NVML first on its path."""
        path = os.pathsep.join(p for p in (str(FAKE_NVML), os.environ.get("PYTHONPATH")) if p)
        return {**os.environ, "PYTHONPATH": path, NVML_ENV: str(self.nvml)}

    def set_broken(self, broken: bool) -> None:
        gpu = ({"utilization": 0.99, "memory_used": 0.98, "temperature": 95} if broken else
               {"utilization": 0.3, "memory_used": 0.4, "temperature": 60})
        part = self.nvml.with_suffix(".part")
        part.write_text(json.dumps(gpu))
        os.replace(part, self.nvml)
        _write(_tx(BATCH_ROWS, 2, 1.0 if broken else 0.0, 0.3 if broken else 0.0),
               self.tmp / "tx.csv")
        with self.lock:
            self.broken = broken
            if broken:
                self.frozen_at = time.time()   # the incident's clock: lag and nulls
            self._feed_now()

    def _feed(self) -> None:
        with self.lock:
            self._feed_now()

    def _feed_now(self) -> None:
        bad = self.broken
        _write(_feed(FEED_FEW if bad else FEED_ROWS, time.time() - self._lag(),
                     self._nulls(), 0.4 if bad else 0.0, not bad), self.tmp / "feed.csv")

    def _lag(self) -> float:
        """The newest event's lag: :data:`LAG` while healthy, :data:`LAGS` in the incident."""
        if not self.broken:
            return LAG
        return LAGS[0] if time.time() - self.frozen_at < LAG_FIRST else LAGS[1]

    def _nulls(self) -> float:
        """The null spike: first a share well past the critical level, then one past it whose
        Wilson bound on the batch's few rows is not (both judges: back to warning)."""
        if not self.broken:
            return 0.0
        return NULLS[0] if time.time() - self.frozen_at < NULLS_FIRST else NULLS[1]

    def run(self) -> None:
        """A new feed batch every half second; sampled rows at the phase's rate."""
        rng = np.random.default_rng(3)
        steady, scores = steady_values(), steady_values()
        last = 0.0
        for _ in range(SCORER_FIRST):
            self.score(next(scores))
        while not self.stop.is_set():
            for _ in range(rng.poisson((RATE_BAD if self.broken else RATE) / 10)):
                self.predict(next(steady))
            for _ in range(rng.poisson(SCORER_RATE / 10)):
                self.score(next(scores) + (SCORER_SHIFT if self.broken else 0.0))
            if time.time() - last >= 0.5:
                self._feed()
                last = time.time()
            time.sleep(0.1)
