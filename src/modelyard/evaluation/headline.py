"""The headline of an integer confusion matrix, computed from its counts without PyCM.

A create answers accuracy and the macro precision, recall and F1; building a
``pycm.ConfusionMatrix`` for them computes every one of PyCM's statistics (about 0.3 ms for a
2x2 matrix, most of a small create's domain work). The four values need a diagonal and the row
and column sums. They are computed here the way PyCM 4.6 computes them, so they are the same
floats, not merely close (tests/evaluation/test_headline.py compares them with PyCM's over many
random matrices):

- accuracy ``sum(TP) / POP`` (``overall_accuracy_calc``), undefined for an empty matrix;
- per class ``TPR = TP / (TP + FN)``, ``PPV = TP / (TP + FP)`` and
  ``F1 = 2 TP / (2 TP + FP + FN)`` (``TTPN_calc``, ``F_calc``), undefined when the denominator
  is 0;
- each macro value the Python ``sum`` of the per-class values in class order divided by the
  number of classes (``macro_calc``); undefined when any class's value is, since PyCM's sum
  then meets its string "None".

Undefined is ``None`` here, as ``pycm_adapter.to_json_value`` makes PyCM's "None". Weighted
(fractional) matrices, and counts so large that a float could not hold their sums exactly,
are left to PyCM (``None`` from ``integer_headline``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from modelyard.evaluation.pycm_adapter import Headline

__all__ = ["integer_headline"]

# Below this every count, sum and 2 TP + FP + FN is an exact float: dividing them then gives
# PyCM's value for F1, which divides floats made of the counts.
_EXACT = 2**53


def _ratio(numerators: list[int], denominators: list[int]) -> list[float] | None:
    """Each quotient, or None when one of them is undefined (a zero denominator)."""
    if 0 in denominators:
        return None
    return [n / d for n, d in zip(numerators, denominators, strict=True)]


def _macro(values: list[float] | None) -> float | None:
    if values is None:
        return None
    return sum(values) / len(values)


def integer_headline(matrix: npt.NDArray[Any]) -> Headline | None:
    """PyCM's accuracy and macro precision, recall and F1 of ``matrix`` (rows actual), or
    None when PyCM must compute them (not integer counts, or counts too large)."""
    if not np.issubdtype(matrix.dtype, np.integer) or matrix.ndim != 2:
        return None
    k = matrix.shape[0]
    if k < 1 or matrix.shape[1] != k:
        return None
    # In Python ints: a few hundred cells at most (the class limit), and no numpy call that
    # could hand the GIL to another thread (see counting._PYTHON_COUNT).
    rows: list[list[int]] = matrix.tolist()
    cells = [value for row in rows for value in row]
    if min(cells) < 0 or max(cells) >= _EXACT // (2 * k * k):
        return None
    tp = [rows[i][i] for i in range(k)]
    actual = [sum(row) for row in rows]  # TP + FN per class
    predicted = [sum(column) for column in zip(*rows, strict=True)]  # TP + FP per class
    total = sum(actual)
    f1_denominators = [a + p for a, p in zip(actual, predicted, strict=True)]  # 2 TP + FP + FN
    return Headline(
        accuracy=sum(tp) / total if total else None,
        precision=_macro(_ratio(tp, predicted)),
        recall=_macro(_ratio(tp, actual)),
        f1=_macro(_ratio([2 * t for t in tp], f1_denominators)),
    )
