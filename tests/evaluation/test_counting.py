"""Counting labels with numpy gives PyCM's own matrix, for every kind of label."""

from __future__ import annotations

import warnings

import numpy as np
import pycm
import pytest

from modelyard.evaluation.counting import count_vectors, label_kind, matrix_from_rows
from modelyard.evaluation.exceptions import InvalidEvaluationInput, LimitExceeded

LIMITS = {"max_length": 10_000, "max_classes": 50, "max_label_length": 20}


def _pycm_matrix(
    actual: list[object], predicted: list[object]
) -> tuple[list[object], list[list[int]]]:
    cm = pycm.ConfusionMatrix(actual_vector=actual, predict_vector=predicted)
    return list(cm.classes), cm.to_array().tolist()


@pytest.mark.parametrize(
    ("actual", "predicted"),
    [
        ([1, 0, 1, 1, 0, 1, 0, 0], [1, 0, 1, 0, 0, 1, 1, 0]),
        ([3, -7, 3, 1000], [1000, 3, -7, -7]),
        ([0.5, 1.5, 2.5, 0.5], [0.5, 0.5, 2.5, 1.5]),
        (["cat", "dog", "bird", "cat"], ["dog", "dog", "bird", "bird"]),
    ],
)
def test_counts_match_pycm(actual: list[object], predicted: list[object]) -> None:
    counted = count_vectors(actual, predicted, **LIMITS)
    classes, matrix = _pycm_matrix(actual, predicted)
    assert counted.classes == classes
    assert counted.matrix.tolist() == matrix


def test_random_large_vectors_match_pycm() -> None:
    rng = np.random.default_rng(7)
    actual = rng.integers(0, 10, 5000).tolist()
    predicted = rng.integers(0, 10, 5000).tolist()
    counted = count_vectors(actual, predicted, **LIMITS)
    assert counted.matrix.tolist() == _pycm_matrix(actual, predicted)[1]
    assert counted.matrix.dtype == np.int64


def test_wide_integer_labels_are_sorted_not_offset() -> None:
    counted = count_vectors([0, 10**15], [10**15, 10**15], **LIMITS)
    assert counted.classes == [0, 10**15]
    assert counted.matrix.tolist() == [[0, 1], [0, 1]]


def test_booleans_stay_booleans() -> None:
    counted = count_vectors([True, False, True], [True, True, False], **LIMITS)
    assert counted.classes == [False, True]
    assert all(type(c) is bool for c in counted.classes)
    assert counted.kind == "bool"


def test_classes_order_and_add_unseen_classes() -> None:
    counted = count_vectors(["b", "a"], ["b", "b"], classes=["c", "b", "a"], **LIMITS)
    assert counted.classes == ["c", "b", "a"]
    assert counted.matrix.tolist() == [[0, 0, 0], [0, 1, 0], [0, 1, 0]]


def test_one_seen_class_is_enough_when_classes_name_another() -> None:
    counted = count_vectors([1, 1], [1, 1], classes=[0, 1], **LIMITS)
    assert counted.matrix.tolist() == [[0, 0], [0, 2]]


def test_sample_weights_make_a_weighted_matrix() -> None:
    counted = count_vectors([0, 1, 1], [0, 1, 0], sample_weight=[0.5, 2.0, 1.0], **LIMITS)
    assert counted.matrix.tolist() == [[0.5, 0.0], [1.0, 2.0]]


def test_ints_and_floats_together_are_numbers() -> None:
    assert label_kind([1, 2.5], "actual") == "float"


@pytest.mark.parametrize(
    ("actual", "predicted", "message"),
    [
        ([], [], "must not be empty"),
        ([1, 0], [1], "actual has 2 labels but predicted has 1"),
        ([1, "a"], [1, 0], "mixes label types"),
        ([True, 1], [1, 0], "mixes label types"),
        ([1, None], [1, 0], "holds null"),
        ([[1], [0]], [1, 0], "holds list"),
        ([1.0, float("nan")], [1.0, 0.0], "NaN or infinity"),
        ([1.0, float("inf")], [1.0, 0.0], "NaN or infinity"),
        ([1, 1, 1], [1, 1, 1], "one class only"),
        (["a", "b"], [1, 0], "labels are int but actual labels are str"),
        ([2**70, 1], [1, 1], "beyond 64 bits"),
    ],
)
def test_bad_vectors(actual: list[object], predicted: list[object], message: str) -> None:
    with pytest.raises(InvalidEvaluationInput) as caught:
        count_vectors(actual, predicted, **LIMITS)  # type: ignore[arg-type]
    assert message in caught.value.message


def test_limits() -> None:
    with pytest.raises(LimitExceeded):
        count_vectors([0, 1, 2], [0, 1, 2], max_length=2, max_classes=50, max_label_length=20)
    with pytest.raises(LimitExceeded):
        count_vectors(
            list(range(5)), list(range(5)), max_length=10, max_classes=4, max_label_length=5
        )
    with pytest.raises(LimitExceeded):
        count_vectors(["a" * 30, "b"], ["b", "b"], **LIMITS)
    with pytest.raises(LimitExceeded):
        count_vectors([str(i) for i in range(60)], ["0"] * 60, **LIMITS)


def test_labels_outside_classes_and_duplicate_classes() -> None:
    with pytest.raises(InvalidEvaluationInput, match="not in classes"):
        count_vectors([0, 1, 2], [0, 1, 2], classes=[0, 1], **LIMITS)
    with pytest.raises(InvalidEvaluationInput, match="unique"):
        count_vectors([0, 1], [0, 1], classes=[0, 1, 1], **LIMITS)
    with pytest.raises(InvalidEvaluationInput, match="classes are str"):
        count_vectors([0, 1], [0, 1], classes=["0", "1"], **LIMITS)


def test_weights_must_fit() -> None:
    with pytest.raises(InvalidEvaluationInput, match="2 values for 3 labels"):
        count_vectors([0, 1, 1], [0, 1, 0], sample_weight=[1.0, 1.0], **LIMITS)
    with pytest.raises(InvalidEvaluationInput, match="negative"):
        count_vectors([0, 1], [0, 1], sample_weight=[1.0, -1.0], **LIMITS)


def test_ready_matrix() -> None:
    counted = matrix_from_rows([[3, 1], [1, 3]], None, max_classes=10, max_label_length=10)
    assert counted.classes == [0, 1] and counted.matrix.dtype == np.int64
    named = matrix_from_rows([[3, 1], [1, 3]], ["no", "yes"], max_classes=10, max_label_length=10)
    assert named.classes == ["no", "yes"]
    for rows, classes in (
        ([[3, 1]], None),
        ([[1]], None),
        ([[1, -1], [0, 1]], None),
        ([[1, 2], [3, 4]], ["a"]),
    ):
        with pytest.raises(InvalidEvaluationInput):
            matrix_from_rows(rows, classes, max_classes=10, max_label_length=10)


def _outcome(actual: list[object], predicted: list[object], classes: list[object] | None) -> object:
    try:
        counted = count_vectors(
            actual, predicted, classes=classes, max_length=100, max_classes=5, max_label_length=3
        )
    except (InvalidEvaluationInput, LimitExceeded) as exc:
        return (type(exc), exc.message, exc.details)
    return (counted.classes, counted.kind, counted.matrix.dtype, counted.matrix.tolist())


def test_small_vectors_counted_in_python_as_numpy_counts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A few labels are counted in Python (no numpy call that could give the GIL away); the
    # classes, their order, the counts and every error are those of the numpy path.
    rng = np.random.default_rng(11)
    pools: list[list[object]] = [
        [3, -7, 0, 2**40, 12, 5, 6],
        [True, False],
        ["b", "a", "cc", "dddd", "e", "f", "g"],
        [2**63, 1],  # beyond 64 bits: numpy's error
    ]
    cases = []
    for _ in range(600):
        pool = pools[int(rng.integers(len(pools)))]
        size = int(rng.integers(1, min(len(pool), 7) + 1))
        labels = [pool[int(i)] for i in rng.choice(len(pool), size, replace=False)]
        n = int(rng.integers(1, 12))
        actual = [labels[int(i)] for i in rng.integers(0, size, n)]
        predicted = [labels[int(i)] for i in rng.integers(0, size, n + int(rng.random() < 0.05))]
        classes: list[object] | None = None
        if rng.random() < 0.4:
            classes = list(labels)
            rng.shuffle(classes)  # a display order of the caller's
            if rng.random() < 0.3:
                classes = classes[1:]  # a label missing from classes
            elif rng.random() < 0.3:
                classes = [*classes, pool[0] if pool[0] not in classes else "z"]
        cases.append((actual, predicted, classes))
    in_python = [_outcome(*case) for case in cases]
    monkeypatch.setattr("modelyard.evaluation.counting._PYTHON_COUNT", 0)
    with_numpy = [_outcome(*case) for case in cases]
    assert in_python == with_numpy
    errors = sum(isinstance(o, tuple) and isinstance(o[0], type) for o in with_numpy)
    assert 50 < errors < 450  # both the counts and the errors were compared, many times


def test_dense_counting_matches_the_codes_path_and_pycm(monkeypatch: pytest.MonkeyPatch) -> None:
    # Narrow integer labels are counted over every cell of their range (_count_dense); the
    # same vectors counted through class codes, and by PyCM, give the same classes and counts.
    rng = np.random.default_rng(5)
    cases: list[tuple[list[object], list[object], list[object] | None]] = []
    for _ in range(40):
        pool = sorted({int(v) for v in rng.integers(-20, 40, int(rng.integers(2, 12)))})
        if len(pool) < 2:
            continue
        n = int(rng.integers(300, 3000))
        actual = [pool[int(i)] for i in rng.integers(0, len(pool), n)]
        predicted = [pool[int(i)] for i in rng.integers(0, len(pool), n)]
        classes: list[object] | None = None
        if rng.random() < 0.5:
            classes = [*pool, 99] if rng.random() < 0.5 else list(pool)
            rng.shuffle(classes)
        cases.append((actual, predicted, classes))
    bools = rng.random(500) < 0.3
    cases.append((bools.tolist(), bools[::-1].tolist(), None))

    def outcome(case: tuple[list[object], list[object], list[object] | None]) -> object:
        counted = count_vectors(case[0], case[1], classes=case[2], **LIMITS)  # type: ignore[arg-type]
        return (counted.classes, counted.matrix.dtype, counted.matrix.tolist())

    dense = [outcome(case) for case in cases]
    for (actual, predicted, classes), (found, _, matrix) in zip(cases, dense, strict=True):
        with warnings.catch_warnings():  # PyCM warns of classes that no label has
            warnings.simplefilter("ignore", RuntimeWarning)
            cm = pycm.ConfusionMatrix(
                actual_vector=actual, predict_vector=predicted, classes=classes
            )
        assert found == list(cm.classes)
        assert matrix == cm.to_array().tolist()
    monkeypatch.setattr("modelyard.evaluation.counting._count_dense", lambda *_: None)
    assert [outcome(case) for case in cases] == dense


@pytest.mark.parametrize("top", [2**63 - 1, -(2**63) + 2])
def test_dense_counting_at_the_ends_of_int64(top: int) -> None:
    actual = [top, top - 1, top - 2] * 200
    predicted = [top - 1, top - 1, top - 2] * 200
    counted = count_vectors(actual, predicted, **LIMITS)
    assert counted.classes == [top - 2, top - 1, top]
    assert counted.matrix.tolist() == [[200, 0, 0], [0, 200, 0], [0, 200, 0]]
