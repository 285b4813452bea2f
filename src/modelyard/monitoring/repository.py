"""Every SQL query of the monitoring domain.

The request log is the serving domain's table; monitoring only reads it here (answers by
predict id, rows per window), so its queries live beside monitoring's own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, case, cast, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from modelyard.db import UTCDateTime
from modelyard.evaluation.models import ConfusionMatrixRecord
from modelyard.monitoring.models import (
    FeedbackLabel,
    Monitor,
    MonitorEvaluation,
    PerformanceWindow,
    WebhookDelivery,
)
from modelyard.serving.models import PredictionLog

__all__ = [
    "add",
    "answers_by_predict_id",
    "claim_monitor_run",
    "count_logged_rows",
    "count_requests",
    "delete_monitor",
    "due_monitor_ids",
    "existing_labels",
    "feedback_in",
    "get_evaluation",
    "has_logs",
    "iter_logged",
    "label_changes",
    "labelled_probabilities",
    "list_deliveries",
    "list_evaluations",
    "list_monitors",
    "logged_rows_per_start",
    "matrix_uid_named",
    "monitor_states",
    "performance_windows",
    "upsert_labels",
]


def add(session: Session, item: Any) -> Any:
    session.add(item)
    session.flush()
    return item


def has_logs(session: Session, model_id: int) -> bool:
    statement = select(PredictionLog.id).where(PredictionLog.model_id == model_id).limit(1)
    return session.scalar(statement) is not None


def answers_by_predict_id(session: Session, predict_ids: Sequence[str]) -> Sequence[Any]:
    """The logged answers of these predict ids: the output as its JSON text (decoded once, by
    the caller, only where a label needs it)."""
    statement = select(
        PredictionLog.id,
        PredictionLog.predict_id,
        PredictionLog.model_id,
        PredictionLog.version_id,
        PredictionLog.n_rows,
        PredictionLog.status,
        cast(PredictionLog.output, Text).label("output"),
        PredictionLog.created_at,
    ).where(PredictionLog.predict_id.in_(predict_ids))
    return session.execute(statement).all()


def existing_labels(session: Session, log_ids: Sequence[int]) -> Sequence[Any]:
    statement = select(
        FeedbackLabel.log_id, FeedbackLabel.row_index, FeedbackLabel.updated_at
    ).where(FeedbackLabel.log_id.in_(log_ids))
    return session.execute(statement).all()


def upsert_labels(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert labels; a row already labelled gets the new label (idempotent feedback)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    table: Table = FeedbackLabel.__table__  # type: ignore[assignment]
    statement: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    statement = statement.on_conflict_do_update(
        index_elements=["log_id", "row_index"],
        set_={
            "label_index": statement.excluded.label_index,
            "updated_at": statement.excluded.updated_at,
        },
    )
    session.execute(statement, list(rows))


def feedback_in(
    session: Session, version_id: int, since: datetime | None, until: datetime | None
) -> Sequence[Any]:
    """(predicted_at, label_index, predicted_index) of a version's labels in a time range."""
    statement = select(
        FeedbackLabel.predicted_at, FeedbackLabel.label_index, FeedbackLabel.predicted_index
    ).where(FeedbackLabel.version_id == version_id)
    if since is not None:
        statement = statement.where(FeedbackLabel.predicted_at >= since)
    if until is not None:
        statement = statement.where(FeedbackLabel.predicted_at < until)
    return session.execute(statement).all()


def label_changes(
    session: Session, version_id: int, since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None, datetime | None]:
    """The newest label change, and the first and last prediction time of the labelled rows."""
    statement = select(
        func.max(FeedbackLabel.updated_at),
        func.min(FeedbackLabel.predicted_at),
        func.max(FeedbackLabel.predicted_at),
    ).where(FeedbackLabel.version_id == version_id)
    if since is not None:
        statement = statement.where(FeedbackLabel.predicted_at >= since)
    if until is not None:
        statement = statement.where(FeedbackLabel.predicted_at < until)
    row = session.execute(statement).one()
    return _aware(row[0]), _aware(row[1]), _aware(row[2])


def labelled_probabilities(
    session: Session, version_id: int, *, until: datetime | None
) -> list[tuple[list[float], int]]:
    """(probabilities, label index) of a version's labelled rows that kept probabilities,
    predicted before ``until``."""
    statement = select(FeedbackLabel.probabilities, FeedbackLabel.label_index).where(
        FeedbackLabel.version_id == version_id, FeedbackLabel.probabilities.is_not(None)
    )
    if until is not None:
        statement = statement.where(FeedbackLabel.predicted_at < until)
    return [(row[0], row[1]) for row in session.execute(statement) if isinstance(row[0], list)]


def matrix_uid_named(session: Session, owner_id: int, name: str) -> str | None:
    """The newest of the owner's confusion matrices called ``name`` (evaluation's table)."""
    statement = (
        select(ConfusionMatrixRecord.uid)
        .where(ConfusionMatrixRecord.owner_id == owner_id, ConfusionMatrixRecord.name == name)
        .order_by(ConfusionMatrixRecord.id.desc())
        .limit(1)
    )
    return session.scalar(statement)


def _aware(value: Any) -> Any:
    # Aggregates bypass the column's type on SQLite (a naive value, or text).
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return UTCDateTime().process_result_value(value, None)


def _log_conditions(
    model_id: int, version: int, since: datetime | None, until: datetime | None
) -> list[Any]:
    conditions: list[Any] = [
        PredictionLog.model_id == model_id,
        PredictionLog.version == version,
        PredictionLog.status == 200,
    ]
    if since is not None:
        conditions.append(PredictionLog.created_at >= since)
    if until is not None:
        conditions.append(PredictionLog.created_at < until)
    return conditions


def count_logged_rows(
    session: Session, model_id: int, version: int, since: datetime | None, until: datetime | None
) -> int:
    statement = select(func.coalesce(func.sum(PredictionLog.n_rows), 0)).where(
        *_log_conditions(model_id, version, since, until)
    )
    return int(session.scalar(statement) or 0)


def logged_rows_per_start(
    session: Session, model_id: int, version: int, since: datetime | None, until: datetime | None
) -> Sequence[Any]:
    """(created_at, n_rows) of each answered request in the range: counted into windows by
    the caller (windows of an hour, a day or a week are the same on every database then)."""
    statement = select(PredictionLog.created_at, PredictionLog.n_rows).where(
        *_log_conditions(model_id, version, since, until)
    )
    return session.execute(statement).all()


def iter_logged(
    session: Session,
    model_id: int,
    version: int,
    since: datetime | None,
    until: datetime | None,
    *,
    batch: int = 2000,
) -> Iterator[Sequence[Any]]:
    """The answered requests in the range, oldest first, ``batch`` at a time: id, time,
    input and output as stored (JSON text)."""
    after = 0
    conditions = _log_conditions(model_id, version, since, until)
    while True:
        statement = (
            select(
                PredictionLog.id,
                PredictionLog.created_at,
                cast(PredictionLog.input, Text).label("input"),
                cast(PredictionLog.output, Text).label("output"),
            )
            .where(*conditions, PredictionLog.id > after)
            .order_by(PredictionLog.id)
            .limit(batch)
        )
        rows = session.execute(statement).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id


def performance_windows(
    session: Session, version_id: int, window: str, since: datetime | None, until: datetime | None
) -> Sequence[PerformanceWindow]:
    statement = select(PerformanceWindow).where(
        PerformanceWindow.version_id == version_id, PerformanceWindow.window == window
    )
    if since is not None:
        statement = statement.where(PerformanceWindow.end > since)
    if until is not None:
        statement = statement.where(PerformanceWindow.start < until)
    return session.scalars(statement.order_by(PerformanceWindow.start)).all()


def list_monitors(
    session: Session, owner_id: int | None, version_id: int | None = None
) -> Sequence[Monitor]:
    statement = select(Monitor)
    if owner_id is not None:
        statement = statement.where(Monitor.owner_id == owner_id)
    if version_id is not None:
        statement = statement.where(Monitor.version_id == version_id)
    return session.scalars(statement.order_by(Monitor.id)).all()


def delete_monitor(session: Session, monitor: Monitor) -> None:
    session.execute(delete(Monitor).where(Monitor.id == monitor.id))


def due_monitor_ids(session: Session, now: datetime) -> list[int]:
    statement = select(Monitor.id).where(Monitor.enabled.is_(True), Monitor.next_run_at <= now)
    return list(session.scalars(statement.order_by(Monitor.next_run_at)).all())


def claim_monitor_run(
    session: Session, monitor_id: int, seen_next_run: datetime, next_run: datetime
) -> bool:
    """Move a due monitor's next run on, only if no one else did since it was read: of two
    replicas (or workers) that found it due, exactly one wins."""
    result = session.execute(
        update(Monitor)
        .where(Monitor.id == monitor_id, Monitor.next_run_at == seen_next_run)
        .values(next_run_at=next_run)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_evaluations(session: Session, monitor_id: int, limit: int) -> Sequence[MonitorEvaluation]:
    statement = (
        select(MonitorEvaluation)
        .where(MonitorEvaluation.monitor_id == monitor_id)
        .order_by(MonitorEvaluation.id.desc())
        .limit(limit)
    )
    return session.scalars(statement).all()


def list_deliveries(session: Session, monitor_id: int, limit: int) -> Sequence[WebhookDelivery]:
    statement = (
        select(WebhookDelivery)
        .where(WebhookDelivery.monitor_id == monitor_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return session.scalars(statement).all()


def insert_rows(session: Session, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    session.execute(insert(table), list(rows))


def count_requests(
    session: Session, model_id: int, version: int, since: datetime, until: datetime
) -> tuple[int, int]:
    """(requests, failed requests) of a version in a range: every logged status."""
    statement = select(
        func.count(), func.coalesce(func.sum(case((PredictionLog.status != 200, 1), else_=0)), 0)
    ).where(
        PredictionLog.model_id == model_id,
        PredictionLog.version == version,
        PredictionLog.created_at >= since,
        PredictionLog.created_at < until,
    )
    row = session.execute(statement).one()
    return int(row[0]), int(row[1])


def get_evaluation(
    session: Session, monitor_id: int, window_start: datetime
) -> MonitorEvaluation | None:
    statement = select(MonitorEvaluation).where(
        MonitorEvaluation.monitor_id == monitor_id, MonitorEvaluation.window_start == window_start
    )
    return session.scalar(statement)


def monitor_states(session: Session) -> Sequence[Any]:
    """Every monitor's id, name, state and value (the Prometheus gauges)."""
    return session.execute(select(Monitor.id, Monitor.name, Monitor.state, Monitor.value)).all()
