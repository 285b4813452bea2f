"""The headline computed from counts equals PyCM's, value for value, over many random matrices.

PyCM 4.6 stays the source of truth: each case builds ``pycm.ConfusionMatrix`` through the
adapter and compares its headline with ``integer_headline``'s by ``==`` (the same float, not a
close one), including ``None`` where PyCM answers "None" (a class never predicted, never seen,
or an empty matrix).
"""

from __future__ import annotations

import random
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest

from modelyard.evaluation import pycm_adapter
from modelyard.evaluation.counting import Label, count_vectors, matrix_from_rows
from modelyard.evaluation.headline import integer_headline
from modelyard.evaluation.service import _compute

CASES = 1500


def _labels(rng: random.Random, k: int) -> list[Label]:
    kind = rng.choice(["int", "str", "float", "bool"] if k == 2 else ["int", "str", "float"])
    if kind == "int":
        return rng.sample(range(-50, 50), k)
    if kind == "str":
        return [f"c{i}" for i in rng.sample(range(1000), k)]
    if kind == "float":
        return [i / 4 for i in rng.sample(range(-100, 100), k)]
    return [True, False] if rng.random() < 0.5 else [False, True]


def _matrix(rng: random.Random, k: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    shape = rng.choice(["sparse", "dense", "empty_rows", "diagonal", "zero", "large"])
    if shape == "zero":
        return np.zeros((k, k), dtype=np.int64)
    high = 10**9 if shape == "large" else rng.choice([2, 5, 50])
    matrix = np.array([[rng.randrange(high) for _ in range(k)] for _ in range(k)], dtype=np.int64)
    if shape == "sparse":
        matrix[np.array([[rng.random() < 0.7 for _ in range(k)] for _ in range(k)])] = 0
    elif shape == "empty_rows":
        for index in rng.sample(range(k), rng.randrange(1, k)):
            if rng.random() < 0.5:
                matrix[index, :] = 0  # a class never seen
            else:
                matrix[:, index] = 0  # a class never predicted
    elif shape == "diagonal":
        matrix = np.diag(np.diagonal(matrix))
    return matrix


def _pycm_headline(labels: list[Label], matrix: np.ndarray[Any, Any]) -> dict[str, Any]:
    return asdict(pycm_adapter.headline(pycm_adapter.build_matrix(labels, matrix)))


def test_equals_pycm_over_random_matrices() -> None:
    rng = random.Random(20261201)
    undefined = 0
    for case in range(CASES):
        k = rng.choice([2, 2, 3, 4, 5, 8, rng.randrange(2, 40)])
        labels = _labels(rng, k)
        matrix = _matrix(rng, k)
        fast = integer_headline(matrix)
        assert fast is not None, case
        expected = _pycm_headline(labels, matrix)
        assert asdict(fast) == expected, (case, labels, matrix.tolist())
        undefined += expected["precision"] is None
    # The cases reached PyCM's "None" often, and its defined values as often.
    assert CASES // 5 < undefined < CASES * 4 // 5


def test_equals_pycm_on_counted_vectors() -> None:
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randrange(1, 40)
        pool = rng.sample(["a", "b", "c", "d", "e"], rng.randrange(2, 6))
        actual = [rng.choice(pool) for _ in range(n)]
        predicted = [rng.choice(pool) for _ in range(n)]
        counted = count_vectors(
            actual,
            predicted,
            classes=pool,
            max_length=100,
            max_classes=10,
            max_label_length=10,
        )
        computed = _compute(counted)
        cm = pycm_adapter.build_matrix(counted.classes, counted.matrix)
        assert computed.classes == list(cm.classes)
        assert computed.rows == cm.to_array().tolist()
        assert computed.headline == asdict(pycm_adapter.headline(cm))


def test_an_empty_class_is_none_not_nan() -> None:
    # Class 2 is neither seen nor predicted: PyCM's TPR, PPV and F1 of it are "None".
    matrix = np.array([[3, 1, 0], [1, 3, 0], [0, 0, 0]])
    fast = integer_headline(matrix)
    assert fast is not None
    assert (fast.accuracy, fast.precision, fast.recall, fast.f1) == (0.75, None, None, None)
    assert asdict(fast) == _pycm_headline([0, 1, 2], matrix)


@pytest.mark.parametrize(
    "matrix",
    [
        np.array([[1.5, 0.5], [0.25, 2.0]]),  # weighted counts: PyCM's own arithmetic and order
        np.array([[2**60, 1], [1, 1]], dtype=np.int64),  # sums beyond a float's exact integers
    ],
)
def test_leaves_to_pycm_what_floats_could_change(matrix: np.ndarray[Any, Any]) -> None:
    assert integer_headline(matrix) is None


def test_weighted_and_huge_matrices_still_get_pycm_headline() -> None:
    counted = matrix_from_rows(
        [[2**60, 1], [1, 1]], ["x", "y"], max_classes=10, max_label_length=10
    )
    computed = _compute(counted)
    cm = pycm_adapter.build_matrix(["x", "y"], counted.matrix)
    assert computed.headline == asdict(pycm_adapter.headline(cm))
