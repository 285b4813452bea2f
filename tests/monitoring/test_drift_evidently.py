"""Drift statistics equal to Evidently's on the same data.

The figures below were computed once with Evidently 0.4.40 on exactly the samples built here
from a seeded generator: ``get_stattest(reference, current, kind, None)`` for its default test
(``kind``: ``ColumnType.Numerical`` or ``ColumnType.Categorical``) and ``psi_stat_test`` for
PSI, both with their default thresholds. Evidently 0.7.23's implementation of these tests is
the same (its ``legacy`` package).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelyard.monitoring import drift

CATEGORIES = ["a", "b", "c", "d"]

EVIDENTLY: dict[str, dict[str, Any]] = {
    "num_small": {
        "test": "ks",
        "score": 0.005720713212956687,
        "drifted": True,
        "psi": 0.08773923958254497,
    },
    "num_big": {
        "test": "wasserstein",
        "score": 0.3175620565682943,
        "drifted": True,
        "psi": 0.10774662812031693,
    },
    "cat_small": {
        "test": "chisquare",
        "score": 9.285653719604889e-10,
        "drifted": True,
        "psi": 0.11347252896501064,
    },
    "cat_big": {
        "test": "jensenshannon",
        "score": 0.04351146935251112,
        "drifted": False,
        "psi": 0.015172404586437444,
    },
    "binary_small": {
        "test": "z",
        "score": 0.6659721114429791,
        "drifted": False,
        "psi": 0.001235132869228694,
    },
    "num_few_values_big": {
        "test": "jensenshannon",
        "score": 0.016706170043812408,
        "drifted": False,
        "psi": 0.0022332660279944343,
    },
}


def _samples() -> dict[str, tuple[np.ndarray, np.ndarray, drift.Kind]]:
    rng = np.random.default_rng(42)
    found: dict[str, tuple[np.ndarray, np.ndarray, drift.Kind]] = {}
    found["num_small"] = (
        np.round(rng.normal(size=500), 6),
        np.round(rng.normal(0.2, 1.1, size=400), 6),
        "num",
    )
    found["num_big"] = (
        np.round(rng.normal(size=3000), 6),
        np.round(rng.normal(0.3, 1.0, size=2000), 6),
        "num",
    )
    found["cat_small"] = (
        rng.choice(CATEGORIES, size=800, p=[0.4, 0.3, 0.2, 0.1]),
        rng.choice(CATEGORIES, size=300, p=[0.3, 0.3, 0.2, 0.2]),
        "cat",
    )
    found["cat_big"] = (
        rng.choice(CATEGORIES, size=2500, p=[0.4, 0.3, 0.2, 0.1]),
        rng.choice(CATEGORIES, size=900, p=[0.35, 0.3, 0.2, 0.15]),
        "cat",
    )
    found["binary_small"] = (
        rng.choice(["x", "y"], size=600, p=[0.7, 0.3]),
        rng.choice(["x", "y"], size=200, p=[0.6, 0.4]),
        "cat",
    )
    found["num_few_values_big"] = (
        rng.integers(0, 4, size=2000).astype(float),
        rng.integers(0, 4, size=700).astype(float),
        "num",
    )
    return found


@pytest.mark.parametrize("case", sorted(EVIDENTLY))
def test_equal_to_evidentlys_figures(case: str) -> None:
    reference, current, kind = _samples()[case]
    expected = EVIDENTLY[case]
    result = drift.compare(reference, current, kind)
    assert result.stattest == expected["test"]
    assert result.statistic == pytest.approx(expected["score"], rel=1e-9)
    assert result.drifted == expected["drifted"]
    assert result.psi == pytest.approx(expected["psi"], rel=1e-9)
