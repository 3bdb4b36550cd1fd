"""A real small model: a scikit-learn classifier trained at start on data it generates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

NUMERIC = ("amount", "age", "tenure", "velocity", "merchant_risk")
COUNTRIES = ("de", "fr", "es", "it", "nl")


@dataclass
class FraudModel:
    clf: Any
    rng: np.random.Generator

    def predict(self, features: dict[str, Any]) -> float:
        row = [_num(features.get(n)) for n in NUMERIC]
        row.append(float(COUNTRIES.index(features.get("country", "de"))
                         if features.get("country") in COUNTRIES else 0))
        return float(self.clf.predict_proba(np.asarray([row]))[0, 1])


def _num(value: Any) -> float:
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def sample_features(rng: np.random.Generator, shift: float = 0.0) -> dict[str, Any]:
    """One transaction; ``shift`` moves amount and velocity (the demo's input drift)."""
    return {
        "amount": float(np.exp(rng.normal(3.5 + shift, 0.8))),
        "age": float(rng.integers(18, 90)),
        "tenure": float(rng.gamma(2.0, 2.0)),
        "velocity": float(rng.poisson(3 + 4 * shift)),
        "merchant_risk": float(rng.beta(2, 5)),
        "country": str(rng.choice(COUNTRIES, p=[0.4, 0.2, 0.15, 0.15, 0.1])),
    }


def train(seed: int = 0, n: int = 4000) -> FraudModel:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    rows = [sample_features(rng) for _ in range(n)]
    X = np.asarray([[r[k] for k in NUMERIC] + [COUNTRIES.index(r["country"])] for r in rows])
    logit = 0.02 * (X[:, 0] - 40) + 0.4 * (X[:, 3] - 3) + 3 * (X[:, 4] - 0.3)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    return FraudModel(clf, rng)
