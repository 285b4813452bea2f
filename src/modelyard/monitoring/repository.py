"""Every SQL query of the monitoring domain.

The request log is the serving domain's table; monitoring only reads it here (answers by
predict id, rows per window), so its queries live beside monitoring's own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, case, cast, delete, func, insert, select, update
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
    "LABEL_COLUMNS",
    "add",
    "answers_by_predict_id",
    "claim_monitor_run",
    "count_logged_rows",
    "count_requests",
    "delete_monitor",
    "driver_time",
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


def _marks(session: Session, count: int) -> str:
    style = session.get_bind().dialect.paramstyle
    return ", ".join(["?" if style == "qmark" else "%s"] * count)


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# The three queries below run once per batch of 5,000 labels, a million labels to an upload:
# in the driver's own SQL and values, since SQLAlchemy's per-value processing (a datetime
# parsed on the way out and formatted again on the way in, for each label) cost more than
# the queries. Times stay in the driver's form (SQLite: the stored text; PostgreSQL: a
# datetime) from the log's row to the label's.


def answers_by_predict_id(session: Session, predict_ids: Sequence[str]) -> Sequence[Any]:
    """The logged answers of these predict ids: the output as its JSON text (decoded once, by
    the caller, only where a label needs it), the time in the driver's form."""
    output = "output::text" if _is_postgresql(session) else "output"
    statement = (
        "SELECT id, predict_id, model_id, version_id, n_rows, status, "  # noqa: S608 - placeholders only
        f"{output} AS output, created_at FROM prediction_logs "
        f"WHERE predict_id IN ({_marks(session, len(predict_ids))})"
    )
    return session.connection().exec_driver_sql(statement, tuple(predict_ids)).all()


def existing_labels(session: Session, log_ids: Sequence[int]) -> Sequence[Any]:
    """(log_id, row_index, updated_at in the driver's form) of the rows already labelled."""
    if not log_ids:
        return []
    statement = (
        "SELECT log_id, row_index, updated_at FROM feedback_labels "  # noqa: S608 - placeholders only
        f"WHERE log_id IN ({_marks(session, len(log_ids))})"
    )
    return session.connection().exec_driver_sql(statement, tuple(log_ids)).all()


def driver_time(session: Session, value: datetime) -> Any:
    """``value`` as the driver stores and returns a time column (see above)."""
    dialect = session.get_bind().dialect
    process = FeedbackLabel.__table__.c.updated_at.type.dialect_impl(dialect).bind_processor(
        dialect
    )
    return process(value) if process is not None else value


LABEL_COLUMNS = (
    "model_id",
    "version_id",
    "log_id",
    "row_index",
    "label_index",
    "predicted_index",
    "probabilities",
    "predicted_at",
    "created_at",
    "updated_at",
)


def upsert_labels(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert labels (tuples in ``LABEL_COLUMNS`` order, times in the driver's form,
    probabilities as JSON text); a row already labelled gets the new label."""
    if not rows:
        return
    statement = (
        f"INSERT INTO feedback_labels ({', '.join(LABEL_COLUMNS)}) "  # noqa: S608 - placeholders only
        f"VALUES ({_marks(session, len(LABEL_COLUMNS))}) "
        "ON CONFLICT (log_id, row_index) DO UPDATE SET "
        "label_index = excluded.label_index, updated_at = excluded.updated_at"
    )
    session.connection().exec_driver_sql(statement, list(rows))


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
    session: Session, monitor_id: int, seen_next_run: datetime, next_run: datetime, now: datetime
) -> bool:
    """Move a due monitor's next run on, only if no one else did since it was read: of two
    replicas (or workers) that found it due, exactly one wins. Still due is part of the
    condition: a replica that read the row after another had moved it on (the due list read
    before that commit, the row after it) sees the new time, which must not match."""
    result = session.execute(
        update(Monitor)
        .where(
            Monitor.id == monitor_id,
            Monitor.next_run_at == seen_next_run,
            Monitor.next_run_at <= now,
        )
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
