"""The drift statistics: equal to scipy's on the same data, Evidently's choice of test, and a
shifted sample flagged where an unshifted one is not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from modelyard.monitoring import drift


def _normal(n: int, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc=shift, size=n)


def test_numeric_statistics_equal_scipys() -> None:
    reference, current = _normal(800), _normal(500, 0.3, seed=1)
    assert drift.ks(reference, current) == stats.ks_2samp(reference, current).pvalue
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert drift.wasserstein_norm(reference, current) == pytest.approx(expected, rel=1e-12)


def test_categorical_statistics_equal_scipys() -> None:
    rng = np.random.default_rng(2)
    reference = rng.choice(["a", "b", "c"], size=600, p=[0.5, 0.3, 0.2])
    current = rng.choice(["a", "b", "c"], size=300, p=[0.4, 0.3, 0.3])
    keys = ["a", "b", "c"]
    ref_counts = np.array([np.sum(reference == k) for k in keys], dtype=float)
    cur_counts = np.array([np.sum(current == k) for k in keys], dtype=float)
    expected = stats.chisquare(cur_counts, ref_counts * len(current) / len(reference)).pvalue
    assert drift.chi_square(reference, current) == pytest.approx(expected, rel=1e-12)
    js = distance.jensenshannon(ref_counts / len(reference), cur_counts / len(current))
    assert drift.jensen_shannon(reference, current, "cat") == pytest.approx(js, rel=1e-12)


def test_a_value_the_reference_never_had_drifts() -> None:
    reference = np.array(["a"] * 300 + ["b"] * 300)
    current = np.array(["a"] * 150 + ["b"] * 140 + ["c"] * 10)
    assert drift.chi_square(reference, current) == 0.0
    assert drift.compare(reference, current, "cat").drifted


def test_psi_fills_empty_bins_as_evidently() -> None:
    reference = np.array(["a"] * 50 + ["b"] * 50)
    current = np.array(["a"] * 100)
    ref, cur = np.array([0.5, 0.5]), np.array([1.0, 0.0001])
    assert drift.psi(reference, current, "cat") == pytest.approx(
        float(np.sum((ref - cur) * np.log(ref / cur))), rel=1e-12
    )


@pytest.mark.parametrize(
    ("reference_rows", "kind", "values", "test"),
    [
        (1000, "num", 50, "ks"),
        (1000, "num", 4, "chisquare"),
        (1000, "cat", 2, "z"),
        (1001, "num", 50, "wasserstein"),
        (1001, "cat", 3, "jensenshannon"),
        (1001, "num", 5, "jensenshannon"),
    ],
)
def test_the_default_test_is_evidentlys(
    reference_rows: int, kind: drift.Kind, values: int, test: str
) -> None:
    reference = np.arange(reference_rows) % values
    current = np.arange(100) % values
    if kind == "cat":
        reference, current = reference.astype(str), current.astype(str)
    assert (
        drift.default_test(reference.astype(float) if kind == "num" else reference, current, kind)
        == test
    )


@pytest.mark.parametrize("rows", [500, 5000])
def test_a_shifted_sample_drifts_and_an_unshifted_one_does_not(rows: int) -> None:
    reference = _normal(rows)
    same = drift.compare(reference, _normal(rows, seed=3), "num")
    shifted = drift.compare(reference, _normal(rows, 1.0, seed=4), "num")
    assert (same.drifted, shifted.drifted) == (False, True)
    assert same.stattest == shifted.stattest == ("ks" if rows <= 1000 else "wasserstein")
    rng = np.random.default_rng(5)
    categories = rng.choice(["x", "y", "z"], size=rows, p=[0.6, 0.3, 0.1])
    moved = rng.choice(["x", "y", "z"], size=rows, p=[0.2, 0.3, 0.5])
    unmoved = rng.choice(["x", "y", "z"], size=rows, p=[0.6, 0.3, 0.1])
    assert drift.compare(categories, moved, "cat").drifted
    assert not drift.compare(categories, unmoved, "cat").drifted


def test_thresholds_can_be_set_and_missing_values_are_left_out() -> None:
    reference = np.concatenate([_normal(300), [np.nan, np.inf]])
    current = _normal(300, 0.1, seed=6)
    result = drift.compare(reference, current, "num")
    assert result.reference_rows == 300
    strict = drift.compare(reference, current, "num", {"ks": 0.999})
    assert strict.drifted and strict.threshold == 0.999
