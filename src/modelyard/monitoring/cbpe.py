"""Confidence-based performance estimation (CBPE, as NannyML names it): the confusion matrix a
window is expected to have, from the probabilities the model answered, before labels arrive.

Each class's probability is first calibrated on labelled reference rows (isotonic regression
of "the row is this class" on the class's probability, then rows scaled to sum to 1). A row
predicted as class j then adds its calibrated probabilities to column j: row a of that column
is the expected count of rows of class a predicted as j. The expected accuracy is the share
on the diagonal. With well calibrated probabilities the expectation is unbiased; how close one
window comes depends on its size (the binomial spread of the realized accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Calibration", "expected_matrix", "fit_calibration"]

# Fewer labelled rows than this: the probabilities are taken as they are.
MIN_CALIBRATION_ROWS = 30


@dataclass
class Calibration:
    """One isotonic map per class, or None: that class's probabilities are kept."""

    maps: list[Any]  # sklearn's IsotonicRegression, fitted, or None

    def apply(self, probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        calibrated = probabilities.copy()
        for column, fitted in enumerate(self.maps):
            if fitted is not None:
                calibrated[:, column] = fitted.predict(probabilities[:, column])
        totals = calibrated.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.where(totals > 0, calibrated / totals, probabilities)
        return np.asarray(scaled, dtype=np.float64)


def fit_calibration(
    probabilities: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]
) -> Calibration:
    """Calibrate each class on labelled rows (``labels``: class indexes)."""
    k = probabilities.shape[1]
    maps: list[Any] = [None] * k
    if len(labels) < MIN_CALIBRATION_ROWS:
        return Calibration(maps)
    for column in range(k):
        outcome = (labels == column).astype(np.float64)
        if outcome.min() == outcome.max():
            continue  # one outcome only: nothing to learn
        from sklearn.isotonic import IsotonicRegression  # imported when first needed

        fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        fitted.fit(probabilities[:, column], outcome)
        maps[column] = fitted
    return Calibration(maps)


def expected_matrix(
    probabilities: npt.NDArray[np.float64], predicted: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Rows actual, columns predicted: the expected counts (see the module)."""
    k = probabilities.shape[1]
    matrix = np.zeros((k, k))
    for column in range(k):
        chosen = predicted == column
        if chosen.any():
            matrix[:, column] = probabilities[chosen].sum(axis=0)
    return matrix
