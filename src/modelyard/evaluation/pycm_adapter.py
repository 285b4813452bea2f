"""Everything that touches PyCM: matrices, statistics, .obj files, HTML reports, compare,
multi-label matrices and curves. The rest of the domain sees plain Python values.

PyCM answers "None" (a string) or NaN where a statistic is undefined; ``to_json_value`` turns
both into ``None`` so they leave the service as JSON null.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pycm
from pycm.errors import (
    pycmCompareError,
    pycmCurveError,
    pycmMatrixError,
    pycmMultiLabelError,
    pycmVectorError,
)
from pycm.output import rounder

from modelyard.evaluation.counting import Label
from modelyard.evaluation.exceptions import InvalidEvaluationInput
from modelyard.spreadsheet import safe_cell, safe_row

__all__ = [
    "CompareResult",
    "CurveResult",
    "Headline",
    "MultiLabelResult",
    "build_matrix",
    "compare",
    "curve",
    "headline",
    "load_obj",
    "multilabel",
    "obj_bytes",
    "report_html",
    "statistics",
    "statistics_csv",
    "to_json_value",
]

CurveKind = Literal["ROC", "PR"]
# PyCM's errors share no base class of their own.
_PYCM_ERRORS = (
    pycmCompareError,
    pycmCurveError,
    pycmMatrixError,
    pycmMultiLabelError,
    pycmVectorError,
)
Matrix = npt.NDArray[np.int64] | npt.NDArray[np.float64]


def to_json_value(value: Any) -> Any:
    """A PyCM value as JSON can carry it: "None", NaN and infinities become None."""
    if value is None or isinstance(value, bool | np.bool_):
        return None if value is None else bool(value)
    if isinstance(value, str):
        return None if value == "None" else value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [to_json_value(item) for item in value]
    return str(value)


def build_matrix(classes: Sequence[Label], matrix: Matrix) -> pycm.ConfusionMatrix:
    """A PyCM matrix from counts; weighted (fractional) counts keep PyCM's sorted class order."""
    try:
        if np.issubdtype(matrix.dtype, np.integer):
            rows = matrix.tolist()
            table = {
                a: dict(zip(classes, row, strict=True))
                for a, row in zip(classes, rows, strict=True)
            }
            return pycm.ConfusionMatrix(matrix=table, classes=list(classes))
        # PyCM's matrix input takes integers only; its own .obj format takes any number.
        return load_obj(obj_bytes(classes, matrix.tolist()))
    except _PYCM_ERRORS as exc:
        raise InvalidEvaluationInput(str(exc)) from exc


def obj_bytes(classes: Sequence[Label], rows: Sequence[Sequence[float]], digit: int = 5) -> bytes:
    """The matrix in PyCM's .obj JSON format, as ``ConfusionMatrix.save_obj`` writes it."""
    table = [
        [a, [[p, value] for p, value in zip(classes, row, strict=True)]]
        for a, row in zip(classes, rows, strict=True)
    ]
    document = {
        "Actual-Vector": None,
        "Predict-Vector": None,
        "Prob-Vector": None,
        "Matrix": table,
        "Digit": digit,
        "Sample-Weight": None,
        "Transpose": False,
        "Imbalanced": None,
    }
    return json.dumps(document).encode()


def load_obj(data: bytes) -> pycm.ConfusionMatrix:
    """Read a PyCM .obj document."""
    return pycm.ConfusionMatrix(file=io.StringIO(data.decode()))


@dataclass(frozen=True)
class Headline:
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None


def headline(cm: pycm.ConfusionMatrix) -> Headline:
    """Accuracy and the macro precision, recall and F1."""
    return Headline(
        accuracy=to_json_value(cm.Overall_ACC),
        precision=to_json_value(cm.PPV_Macro),
        recall=to_json_value(cm.TPR_Macro),
        f1=to_json_value(cm.F1_Macro),
    )


def statistics(cm: pycm.ConfusionMatrix) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every overall statistic and every per-class statistic (keyed by the class as text)."""
    return to_json_value(cm.overall_stat), to_json_value(cm.class_stat)


def _escaped_copy(cm: pycm.ConfusionMatrix) -> pycm.ConfusionMatrix:
    labels = [html.escape(str(c), quote=True) for c in cm.classes]
    rows = cm.to_array().tolist()
    if len(set(labels)) != len(labels):  # e.g. 1 and 1.0 cannot both be labels; be safe
        labels = [f"{i}: {label}" for i, label in enumerate(labels)]
    return build_matrix(labels, np.array(rows))


def report_html(cm: pycm.ConfusionMatrix) -> str:
    """PyCM's HTML report, with class labels escaped (PyCM writes them into the HTML raw)."""
    # PyCM writes its reports to files only; a private folder per call keeps calls apart.
    with tempfile.TemporaryDirectory(prefix="modelyard-pycm-") as folder:
        base = str(Path(folder) / "report")
        result = _escaped_copy(cm).save_html(base, address=False)
        if not result["Status"]:
            raise RuntimeError(f"PyCM could not write the report: {result['Message']}")
        return (Path(folder) / "report.html").read_text(encoding="utf-8")


def statistics_csv(cm: pycm.ConfusionMatrix) -> str:
    """PyCM's per-class statistics as CSV, laid out as ``save_csv`` writes them (``Class``,
    then each class name in quotes; a row per statistic), each cell safe in a spreadsheet."""
    # PyCM's csv_print writes class names between quotes as they are: a label holding a quote
    # broke the file, one starting with '=' was a formula. The same layout, written here.
    classes = list(cm.classes)
    if not classes or not cm.class_stat:
        return ""
    buffer = io.StringIO()
    header = ",".join('"' + str(safe_cell(str(c))).replace('"', '""') + '"' for c in classes)
    buffer.write(f"Class,{header}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    for key in sorted(cm.class_stat):
        writer.writerow(
            safe_row([key, *(rounder(cm.class_stat[key][c], cm.digit) for c in classes)])
        )
    return buffer.getvalue()


@dataclass(frozen=True)
class CompareResult:
    scores: dict[str, dict[str, float | None]]
    order: list[str]
    best_name: str | None


def compare(
    matrices: Mapping[str, pycm.ConfusionMatrix],
    *,
    class_weight: Mapping[str, float] | None = None,
    class_benchmark_weight: Mapping[str, float] | None = None,
    overall_benchmark_weight: Mapping[str, float] | None = None,
) -> CompareResult:
    """PyCM's Compare: class and overall scores, the order, the single best (or None)."""
    first = next(iter(matrices.values()))
    weights = None
    if class_weight is not None:
        by_text = {str(c): c for c in first.classes}
        unknown = sorted(set(class_weight) - set(by_text))
        if unknown:
            raise InvalidEvaluationInput(f"class_weight names unknown classes: {unknown[:5]}")
        weights = {by_text[key]: value for key, value in class_weight.items()}
    try:
        result = pycm.Compare(
            dict(matrices),
            class_weight=weights,
            class_benchmark_weight=dict(class_benchmark_weight) if class_benchmark_weight else None,
            overall_benchmark_weight=(
                dict(overall_benchmark_weight) if overall_benchmark_weight else None
            ),
        )
    except _PYCM_ERRORS as exc:
        raise InvalidEvaluationInput(str(exc)) from exc
    return CompareResult(
        scores=to_json_value(result.scores),
        order=[str(name) for name in result.sorted],
        best_name=result.best_name,
    )


@dataclass(frozen=True)
class MultiLabelResult:
    classes: list[Label]
    multihot_actual: list[list[int]]
    multihot_predicted: list[list[int]]
    by_class: dict[Label, pycm.ConfusionMatrix]
    by_sample: list[pycm.ConfusionMatrix]


def _binary(actual: npt.NDArray[np.int8], predicted: npt.NDArray[np.int8]) -> pycm.ConfusionMatrix:
    # Counted here, not by PyCM's vector input, so an all-0 or all-1 column still gives a 2x2.
    counts = np.bincount(actual.astype(np.intp) * 2 + predicted, minlength=4).reshape(2, 2)
    return build_matrix([0, 1], counts.astype(np.int64))


def multilabel(
    actual: Sequence[Sequence[Label]],
    predicted: Sequence[Sequence[Label]],
    classes: Sequence[Label] | None,
) -> MultiLabelResult:
    """PyCM's MultiLabelCM: multi-hot encodings, one binary matrix per class and per sample."""
    try:
        result = pycm.MultiLabelCM(
            actual_vector=[set(item) for item in actual],
            predict_vector=[set(item) for item in predicted],
            classes=list(classes) if classes is not None else None,
        )
    except (*_PYCM_ERRORS, TypeError) as exc:
        raise InvalidEvaluationInput(str(exc)) from exc
    hot_actual = np.array(result.actual_vector_multihot, dtype=np.int8)
    hot_predicted = np.array(result.predict_vector_multihot, dtype=np.int8)
    labels: list[Label] = list(result.classes)
    return MultiLabelResult(
        classes=labels,
        multihot_actual=hot_actual.tolist(),
        multihot_predicted=hot_predicted.tolist(),
        by_class={c: _binary(hot_actual[:, i], hot_predicted[:, i]) for i, c in enumerate(labels)},
        by_sample=[_binary(a, p) for a, p in zip(hot_actual, hot_predicted, strict=True)],
    )


AXES: dict[CurveKind, tuple[str, str]] = {"ROC": ("FPR", "TPR"), "PR": ("TPR", "PPV")}


@dataclass(frozen=True)
class CurveResult:
    kind: CurveKind
    classes: list[Label]
    thresholds: list[float]
    x: dict[Label, list[float | None]]
    y: dict[Label, list[float | None]]
    auc: dict[Label, float | None]


def curve(
    kind: CurveKind,
    actual: Sequence[Label],
    probabilities: npt.NDArray[np.float64],
    classes: Sequence[Label],
    thresholds: Sequence[float] | None,
    sample_weight: Sequence[float] | None,
) -> CurveResult:
    """PyCM's ROCCurve or PRCurve: points per class and the area under each."""
    curve_class = pycm.ROCCurve if kind == "ROC" else pycm.PRCurve
    try:
        result = curve_class(
            actual_vector=np.asarray(actual),
            probs=probabilities,
            classes=list(classes),
            thresholds=list(thresholds) if thresholds is not None else None,
            sample_weight=list(sample_weight) if sample_weight is not None else None,
        )
        areas = result.area()
    except _PYCM_ERRORS as exc:
        raise InvalidEvaluationInput(str(exc)) from exc
    x_axis, y_axis = AXES[kind]
    labels: list[Label] = list(result.classes)
    return CurveResult(
        kind=kind,
        classes=labels,
        thresholds=[float(t) for t in result.thresholds],
        x={c: to_json_value(result.data[c][x_axis]) for c in labels},
        y={c: to_json_value(result.data[c][y_axis]) for c in labels},
        auc={c: to_json_value(areas.get(c)) for c in labels},
    )
