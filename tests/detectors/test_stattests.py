"""Every registered drift test, walked end to end on inputs of its data kind: a clean window
is not drift, a shifted one is critical, its threshold calibrates, and detect_drift reports it
under its registered name. A test registered without a working piece fails here by name."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from detectors import stattests
from detectors.calibration import CalibrationCache
from detectors.drift import DriftInput, DriftThresholds, detect_drift
from detectors.ks import sorted_reference
from detectors.thresholds import Status


def _inputs(kind: str, shifted: bool) -> tuple[Any, Any]:
    rng = np.random.default_rng(7)
    if kind == "numeric":
        ref = sorted_reference(rng.normal(0, 1, 4000))
        return ref, rng.normal(1.5 if shifted else 0.0, 1, 2000)
    cats = ["a", "b", "c", "d"]
    ref = dict(zip(cats, (1000, 1000, 1000, 1000), strict=True))
    p = [0.7, 0.1, 0.1, 0.1] if shifted else [0.25] * 4
    return ref, list(rng.choice(cats, 2000, p=p))


def _data(st: stattests.StatTest, ref: Any, win: Any) -> DriftInput:
    data = DriftInput()
    refs, windows = data.columns(st.kind)
    refs["col"], windows["col"] = ref, win
    return data


def test_every_data_kind_has_a_test() -> None:
    assert {st.kind for st in stattests.REGISTRY.values()} == {"numeric", "categorical"}


@pytest.mark.parametrize("name", sorted(stattests.REGISTRY))
def test_each_registered_test_end_to_end(name: str) -> None:
    st = stattests.get(name)
    assert 0 < st.floor <= st.warning <= st.critical, name
    assert st.statistic and st.effect
    for shifted, expected in ((False, {Status.OK}), (True, {Status.CRITICAL})):
        ref, win = _inputs(st.kind, shifted)
        [out] = st.run([ref], [win])
        assert math.isfinite(out.statistic) and 0.0 <= out.p_value <= 1.0, (name, out)
        assert out.n_window == 2000 and out.effect >= 0.0
        [r] = detect_drift(_data(st, ref, win), DriftThresholds(), CalibrationCache())
        assert r.test == name and r.status in expected, (name, shifted, r)
        assert r.threshold is not None and r.threshold >= st.floor
        threshold = st.calibrate(ref, 2000, 0.99, CalibrationCache())
        assert math.isfinite(threshold) and threshold > 0, name
    # fixed levels (calibration off) are the registered defaults
    assert DriftThresholds(calibration=None).levels(name, None) == (st.warning, "floor",
                                                                    st.critical)


def test_registering_twice_or_a_second_test_for_a_kind_is_refused() -> None:
    st = stattests.for_kind("numeric")
    with pytest.raises(ValueError, match="registered already"):
        stattests.register(st.name, "numeric", statistic="x", effect="x", warning=0.1,
                           critical=0.2, floor=0.01, calibrate=st.calibrate)(st.run)
    with pytest.raises(ValueError, match="numeric data is registered already"):
        stattests.register("other", "numeric", statistic="x", effect="x", warning=0.1,
                           critical=0.2, floor=0.01, calibrate=st.calibrate)(st.run)
    assert "other" not in stattests.REGISTRY


def test_an_unknown_test_is_named() -> None:
    with pytest.raises(KeyError, match="no drift test named 'nope'"):
        stattests.get("nope")
