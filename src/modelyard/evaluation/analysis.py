"""Evaluations that are answered, not stored: multi-label matrices and ROC/PR curves.

Part of the domain's service layer, kept apart from ``service`` (stored matrices) for length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
import pycm
from sqlalchemy.orm import Session

from modelyard.evaluation import plots, pycm_adapter
from modelyard.evaluation.counting import (
    Counted,
    Label,
    check_classes,
    check_label_lengths,
    label_kind,
)
from modelyard.evaluation.exceptions import InvalidEvaluationInput, LimitExceeded
from modelyard.evaluation.schemas import (
    ConfusionMatrixBrief,
    CurveRead,
    CurveRequest,
    MultiLabelRead,
    MultiLabelRequest,
)
from modelyard.evaluation.service import Evaluation, store_counted

__all__ = ["curve", "curve_png", "multilabel"]


def _invalid(message: str, field: str) -> InvalidEvaluationInput:
    return InvalidEvaluationInput(message, details=[{"loc": ["body", field], "msg": message}])


def brief(cm: pycm.ConfusionMatrix) -> ConfusionMatrixBrief:
    head = pycm_adapter.headline(cm)
    return ConfusionMatrixBrief(
        accuracy=head.accuracy,
        precision=head.precision,
        recall=head.recall,
        f1=head.f1,
        matrix=cm.to_array().tolist(),
    )


def _check_multilabel(body: MultiLabelRequest, ev: Evaluation) -> list[Label] | None:
    limits = ev.settings
    n = len(body.actual)
    if n > limits.max_multilabel_samples:
        raise LimitExceeded(f"at most {limits.max_multilabel_samples} samples")
    if n == 0:
        raise _invalid("actual must not be empty", "actual")
    if len(body.predicted) != n:
        raise _invalid(
            f"actual has {n} samples but predicted has {len(body.predicted)}", "predicted"
        )
    labels = list(chain.from_iterable(chain(body.actual, body.predicted)))
    if not labels:
        raise _invalid("no sample holds a label", "actual")
    kind = label_kind(labels, "actual")
    if kind == "float" and not all(math.isfinite(v) for v in labels):
        raise _invalid("labels hold NaN or infinity", "actual")
    distinct = set(labels)
    if body.classes is None and len(distinct) > limits.max_classes:
        raise LimitExceeded(f"{len(distinct)} classes; at most {limits.max_classes}")
    check_label_lengths(list(distinct), limits.max_label_length)
    if body.classes is None:
        return None
    return check_classes(body.classes, kind, limits.max_classes, limits.max_label_length)


def multilabel(
    session: Session, ev: Evaluation, owner_id: int, body: MultiLabelRequest
) -> MultiLabelRead:
    """PyCM's MultiLabelCM; with ``store``, each class's 2x2 matrix is kept as a matrix."""
    classes = _check_multilabel(body, ev)
    result = pycm_adapter.multilabel(body.actual, body.predicted, classes)
    stored = None
    if body.store:
        stored = {}
        for label, cm in result.by_class.items():
            counted = Counted(classes=[0, 1], kind="int", matrix=cm.to_array().astype(np.int64))
            name = f"{body.name or 'multi-label'}: {label}"[:200]
            stored[str(label)] = store_counted(session, ev, owner_id, counted, name).uid
    return MultiLabelRead(
        classes=result.classes,
        multihot_actual=result.multihot_actual,
        multihot_predicted=result.multihot_predicted,
        by_class={str(label): brief(cm) for label, cm in result.by_class.items()},
        by_sample=[brief(cm) for cm in result.by_sample],
        stored=stored,
    )


def _finite_rows(rows: Sequence[Sequence[Any]], width: int) -> npt.NDArray[np.float64]:
    for i, row in enumerate(rows):
        if len(row) != width:
            raise _invalid(
                f"probabilities row {i} has {len(row)} values; expected {width}, one per class",
                "probabilities",
            )
    try:
        array = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _invalid("probabilities must be numbers", "probabilities") from exc
    if not np.isfinite(array).all():
        raise _invalid("probabilities hold NaN or infinity", "probabilities")
    return array


def _curve_labels(
    actual: list[Label], classes: list[Label] | None
) -> tuple[list[Label], list[Label]]:
    if classes is None:
        return actual, sorted(set(actual))
    known = set(classes)
    if all(label in known for label in actual):
        return actual, classes
    # pycm-api's own example sends actual labels 0/1 with classes ["class0", "class1"]: the
    # labels are positions in the class list.
    positions = range(len(classes))
    if all(type(label) is int and label in positions for label in actual):
        return [classes[label] for label in actual], classes  # type: ignore[index]
    stray = sorted({repr(label) for label in actual if label not in known})[:5]
    raise _invalid(f"actual labels not in classes: {', '.join(stray)}", "classes")


def _thresholds(
    body: CurveRequest, probabilities: npt.NDArray[np.float64], most: int
) -> list[float] | None:
    if body.thresholds is not None:
        if len(body.thresholds) > most:
            raise LimitExceeded(f"at most {most} thresholds")
        if not all(math.isfinite(t) for t in body.thresholds) or not body.thresholds:
            raise _invalid("thresholds must be finite numbers", "thresholds")
        return body.thresholds
    distinct = np.unique(probabilities)
    if len(distinct) <= most:
        return None  # PyCM's own choice: every distinct score
    # Each threshold costs PyCM a matrix per class; past the limit, spread them evenly.
    picks = np.unique(np.linspace(0, len(distinct) - 1, most).round().astype(np.intp))
    return [float(v) for v in distinct[picks]]


def curve(ev: Evaluation, body: CurveRequest) -> CurveRead:
    """PyCM's ROCCurve (FPR/TPR) or PRCurve (recall/precision) with the AUC per class."""
    limits = ev.settings
    n = len(body.actual)
    if n > limits.max_curve_samples:
        raise LimitExceeded(f"at most {limits.max_curve_samples} samples")
    if n == 0:
        raise _invalid("actual must not be empty", "actual")
    if len(body.probabilities) != n:
        raise _invalid(
            f"actual has {n} samples but probabilities has {len(body.probabilities)} rows",
            "probabilities",
        )
    kind = label_kind(body.actual, "actual")
    given = None
    if body.classes is not None:
        given = check_classes(
            body.classes,
            label_kind(body.classes, "classes"),
            limits.max_classes,
            limits.max_label_length,
        )
    actual, classes = _curve_labels(list(body.actual), given)
    if kind == "float" and not all(math.isfinite(v) for v in actual):  # type: ignore[arg-type]
        raise _invalid("actual holds NaN or infinity", "actual")
    if len(classes) < 2:
        raise _invalid("a curve needs at least two classes", "actual")
    if len(classes) > limits.max_classes:
        raise LimitExceeded(f"{len(classes)} classes; at most {limits.max_classes}")
    probabilities = _finite_rows(body.probabilities, len(classes))
    weights = None
    if body.sample_weight is not None:
        if len(body.sample_weight) != n or not all(
            math.isfinite(w) and w >= 0 for w in body.sample_weight
        ):
            raise _invalid(
                "sample_weight needs one finite, non-negative weight per sample", "sample_weight"
            )
        weights = body.sample_weight
    thresholds = _thresholds(body, probabilities, limits.max_curve_thresholds)
    result = pycm_adapter.curve(body.type, actual, probabilities, classes, thresholds, weights)
    x_axis, y_axis = ("FPR", "TPR") if body.type == "ROC" else ("recall", "precision")
    return CurveRead(
        type=body.type,
        x_axis=x_axis,
        y_axis=y_axis,
        classes=result.classes,
        thresholds=result.thresholds,
        points={str(c): {"x": result.x[c], "y": result.y[c]} for c in result.classes},
        auc={str(c): result.auc[c] for c in result.classes},
    )


def curve_png(read: CurveRead) -> bytes:
    """The curve as a PNG, one line per class."""
    return plots.curve_png(
        f"{read.type} curve",
        read.x_axis,
        read.y_axis,
        {label: (p["x"], p["y"]) for label, p in read.points.items()},
        read.auc,
        diagonal=read.type == "ROC",
    )
