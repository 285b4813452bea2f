"""CBPE on a synthetic model whose calibration is known: the estimated accuracy is within
three binomial standard deviations of the realized one (the stated tolerance), also when the
model's probabilities are miscalibrated and calibrated on a labelled reference first."""

from __future__ import annotations

import numpy as np

from modelyard.monitoring import cbpe


def _model(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True probabilities of class 1, and labels drawn from them."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(2, 2, size=n)
    labels = (rng.random(n) < truth).astype(np.int64)
    return truth, labels


def _estimate(probabilities: np.ndarray, calibration: cbpe.Calibration) -> tuple[float, np.ndarray]:
    both = np.column_stack([1 - probabilities, probabilities])
    calibrated = calibration.apply(both)
    predicted = np.argmax(both, axis=1)
    matrix = cbpe.expected_matrix(calibrated, predicted)
    return float(np.trace(matrix) / matrix.sum()), predicted


def _tolerance(accuracy: float, n: int) -> float:
    return 3 * float(np.sqrt(accuracy * (1 - accuracy) / n))


def test_calibrated_probabilities_estimate_the_realized_accuracy() -> None:
    truth, labels = _model(20_000, seed=1)
    estimated, predicted = _estimate(truth, cbpe.Calibration([None, None]))
    realized = float(np.mean(predicted == labels))
    assert abs(estimated - realized) < _tolerance(realized, len(labels))


def test_miscalibrated_probabilities_are_calibrated_on_the_reference_first() -> None:
    reference_truth, reference_labels = _model(5_000, seed=2)
    truth, labels = _model(20_000, seed=3)

    def overconfident(p: np.ndarray) -> np.ndarray:
        return np.clip(0.5 + (p - 0.5) * 1.9, 0.0, 1.0)

    reference = overconfident(reference_truth)
    calibration = cbpe.fit_calibration(
        np.column_stack([1 - reference, reference]), reference_labels
    )
    raw, _ = _estimate(overconfident(truth), cbpe.Calibration([None, None]))
    estimated, predicted = _estimate(overconfident(truth), calibration)
    realized = float(np.mean(predicted == labels))
    tolerance = _tolerance(realized, len(labels))
    assert abs(raw - realized) > tolerance  # uncalibrated, the estimate is off
    assert abs(estimated - realized) < tolerance


def test_too_few_labelled_rows_leave_the_probabilities_as_they_are() -> None:
    calibration = cbpe.fit_calibration(np.array([[0.2, 0.8]] * 5), np.array([1] * 5))
    assert calibration.maps == [None, None]
