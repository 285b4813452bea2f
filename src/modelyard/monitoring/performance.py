"""Realized performance per window from the labels, and CBPE's estimate beside it.

A window's labelled rows are counted into a confusion matrix that is stored in the evaluation
domain (PyCM's statistics, report, plot, compare and the pycm-api routes all work on it).
A window is counted again only when one of its labels changed since it was last counted
(late labels); otherwise its stored matrix is reused, so a new day's window does not count
the old ones again. Predicted rows (the coverage's denominator) are summed from the log.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.config import MonitoringSettings
from modelyard.evaluation import service as evaluation
from modelyard.evaluation.counting import Counted, label_kind
from modelyard.evaluation.exceptions import ConfusionMatrixNotFound
from modelyard.monitoring import cbpe, repository
from modelyard.monitoring.classes import ClassIndex
from modelyard.monitoring.exceptions import NoReference
from modelyard.monitoring.frames import read_logged
from modelyard.monitoring.models import PerformanceWindow
from modelyard.monitoring.schemas import PerformanceRead, PerformanceWindowRead
from modelyard.monitoring.windows import WINDOW_SECONDS, epoch_seconds, from_epoch, window_starts
from modelyard.registry import service as registry
from modelyard.registry.schemas import ServingTarget

__all__ = ["class_metrics", "performance", "performance_of"]


def class_metrics(matrix: npt.NDArray[Any], classes: list[Any]) -> dict[str, Any]:
    """Accuracy and each class's precision, recall and F1 (PyCM's PPV, TPR, F1) of a matrix
    with rows actual and columns predicted; None where a ratio has no denominator."""
    total = float(matrix.sum())
    diagonal = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    actual = matrix.sum(axis=1).astype(float)
    per_class: dict[str, dict[str, float | None]] = {}
    for index, label in enumerate(classes):
        precision = diagonal[index] / predicted[index] if predicted[index] else None
        recall = diagonal[index] / actual[index] if actual[index] else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall
            else None
        )
        per_class[str(label)] = {"precision": precision, "recall": recall, "f1": f1}
    return {
        "accuracy": float(diagonal.sum() / total) if total else None,
        "per_class": per_class,
    }


def _count(labels: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64], k: int) -> Any:
    # Answers outside the classes (a model that answered something else) are left out.
    kept = predicted >= 0
    codes = labels[kept] * k + predicted[kept]
    return np.bincount(codes, minlength=k * k).reshape(k, k)


def _validation_uid(
    session: Session, caller: User, target: ServingTarget, owner_id: int | None
) -> str | None:
    """The validation matrix a training of this server stored for the version's run (the
    training tags the version ``run:<id>`` and names the matrix after the run)."""
    version = registry.get_version(
        session, caller, target.model_name, str(target.version), owner_id
    )
    runs = [t.removeprefix("run:") for t in version.tags if t.startswith("run:")]
    if not runs:
        return None
    return repository.matrix_uid_named(session, target.owner_id, f"validation of run {runs[0]}")


def performance(
    session: Session,
    ev: evaluation.Evaluation,
    settings: MonitoringSettings,
    caller: User,
    name: str,
    ref: str,
    *,
    window: str,
    since: datetime | None,
    until: datetime | None,
    owner_id: int | None,
    estimate: bool,
) -> PerformanceRead:
    """A version's realized (and estimated) performance per window, counted where needed."""
    target = registry.serving_target(session, caller, name, ref, owner_id)
    found = performance_of(
        session, ev, settings, target, window=window, since=since, until=until, estimate=estimate
    )
    found.validation_matrix_uid = _validation_uid(session, caller, target, owner_id)
    return found


def performance_of(
    session: Session,
    ev: evaluation.Evaluation,
    settings: MonitoringSettings,
    target: ServingTarget,
    *,
    window: str,
    since: datetime | None,
    until: datetime | None,
    estimate: bool,
) -> PerformanceRead:
    """``performance`` of a version already resolved (a monitor's job)."""
    if not target.classes:
        raise NoReference(f"model {target.model_name!r} version {target.version} has no classes")
    classes = list(target.classes)
    k = len(classes)
    labels = repository.feedback_in(session, target.version_id, since, until)
    label_times = window_starts(epoch_seconds([r.predicted_at for r in labels]), window)
    label_index = np.fromiter((r.label_index for r in labels), np.int64, len(labels))
    predicted_index = np.fromiter((r.predicted_index for r in labels), np.int64, len(labels))
    logged = repository.logged_rows_per_start(
        session, target.model_id, target.version, since, until
    )
    log_starts = window_starts(epoch_seconds([r.created_at for r in logged]), window)
    log_rows = np.fromiter((r.n_rows for r in logged), np.int64, len(logged))
    starts = sorted(set(label_times.tolist()) | set(log_starts.tolist()))
    stored = {
        int(w.start.timestamp()): w
        for w in repository.performance_windows(session, target.version_id, window, since, until)
    }
    estimates = (
        _estimates(session, settings, target, classes, window, since, until) if estimate else {}
    )
    size = WINDOW_SECONDS[window]
    windows: list[PerformanceWindowRead] = []
    for start in starts:
        begin, end = from_epoch(start), from_epoch(start + size)
        predicted = int(log_rows[log_starts == start].sum())
        in_window = label_times == start
        labelled = int(in_window.sum())
        record = stored.get(start)
        if labelled:
            record = _counted(
                session,
                ev,
                target,
                classes,
                window,
                begin,
                end,
                record,
                label_index[in_window],
                predicted_index[in_window],
                k,
            )
        windows.append(
            PerformanceWindowRead(
                start=begin,
                end=end,
                predicted=predicted,
                labelled=labelled,
                coverage=labelled / predicted if predicted else None,
                matrix_uid=record.matrix_uid if record is not None and labelled else None,
                accuracy=record.metrics.get("accuracy")
                if record is not None and labelled
                else None,
                per_class=record.metrics.get("per_class", {})
                if record is not None and labelled
                else {},
                estimated=estimates.get(start),
            )
        )
    return PerformanceRead(
        model=target.model_name,
        version=target.version,
        window=window,
        classes=classes,
        windows=windows,
    )


def _counted(
    session: Session,
    ev: evaluation.Evaluation,
    target: ServingTarget,
    classes: list[Any],
    window: str,
    begin: datetime,
    end: datetime,
    record: PerformanceWindow | None,
    labels: npt.NDArray[np.int64],
    predicted: npt.NDArray[np.int64],
    k: int,
) -> PerformanceWindow:
    changed, _, _ = repository.label_changes(session, target.version_id, begin, end)
    if record is not None and changed is not None and record.labels_seen >= changed:
        return record  # no label of the window changed since it was counted
    matrix = _count(labels, predicted, k)
    counted = Counted(classes=classes, kind=label_kind(classes, "classes"), matrix=matrix)
    name = f"{target.model_name} v{target.version} {window} {begin.isoformat()}"
    stored = evaluation.store_counted(session, ev, target.owner_id, counted, name)
    if record is not None and record.matrix_uid is not None:
        with suppress(ConfusionMatrixNotFound):  # its owner deleted it
            evaluation.delete(session, ev, record.matrix_uid, target.owner_id)
    metrics = class_metrics(matrix, classes)
    if record is None:
        record = PerformanceWindow(
            version_id=target.version_id, window=window, start=begin, end=end
        )
        session.add(record)
    record.matrix_uid = stored.uid
    record.labelled = len(labels)
    record.metrics = metrics
    record.labels_seen = changed or begin
    session.flush()
    return record


def _estimates(
    session: Session,
    settings: MonitoringSettings,
    target: ServingTarget,
    classes: list[Any],
    window: str,
    since: datetime | None,
    until: datetime | None,
) -> dict[int, dict[str, Any]]:
    """CBPE per window, calibrated on the version's labelled rows (those that kept the
    model's probabilities) before the range, or, when there are none, in it."""
    reference = repository.labelled_probabilities(session, target.version_id, until=since)
    if not reference:
        reference = repository.labelled_probabilities(session, target.version_id, until=until)
    calibration = cbpe.fit_calibration(
        np.array([r[0] for r in reference], dtype=np.float64).reshape(-1, len(classes)),
        np.array([r[1] for r in reference], dtype=np.int64),
    )
    names = [c.name for c in target.input_schema] if target.input_schema else []
    logged = read_logged(
        session,
        target.model_id,
        target.version,
        names,
        ClassIndex(classes),
        since,
        until,
        max_rows=settings.max_window_rows,
        inputs=False,
    )
    usable = np.isfinite(logged.probabilities).all(axis=1) & (logged.predicted >= 0)
    starts = window_starts(logged.times, window)
    found: dict[int, dict[str, Any]] = {}
    for start in np.unique(starts[usable]).tolist():
        rows = usable & (starts == start)
        probabilities = calibration.apply(logged.probabilities[rows])
        matrix = cbpe.expected_matrix(probabilities, logged.predicted[rows])
        total = float(matrix.sum())
        found[int(start)] = {
            "accuracy": float(np.trace(matrix) / total) if total else None,
            "rows": int(rows.sum()),
            "matrix": np.round(matrix, 3).tolist(),
            "calibrated_on": len(reference),
        }
    return found
