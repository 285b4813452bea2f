"""Every SQL query of the serving domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy.orm import Session

from modelyard.serving.models import PredictionLog

__all__ = ["count_logs", "insert_logs", "list_logs"]


_LOG_TABLE: Table = PredictionLog.__table__  # type: ignore[assignment]


def insert_logs(session: Session | Connection, rows: Sequence[dict[str, Any]]) -> None:
    # The table, not the class: a Core executemany, without the ORM's bulk bookkeeping per
    # row (the request log writes one row per prediction). A Connection too: the log's writer
    # keeps one of its own (serving.log).
    session.execute(insert(_LOG_TABLE), list(rows))


def _conditions(
    *,
    model_id: int | None = None,
    user_id: int | None = None,
    source: str | None = None,
    version: int | None = None,
    status: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
) -> list[Any]:
    conditions: list[Any] = []
    if model_id is not None:
        conditions.append(PredictionLog.model_id == model_id)
    if user_id is not None:
        conditions.append(PredictionLog.user_id == user_id)
    if source is not None:
        conditions.append(PredictionLog.source == source)
    if version is not None:
        conditions.append(PredictionLog.version == version)
    if status is not None:
        conditions.append(PredictionLog.status == status)
    if since is not None:
        conditions.append(PredictionLog.created_at >= since)
    if until is not None:
        conditions.append(PredictionLog.created_at < until)
    if before_id is not None:
        conditions.append(PredictionLog.id < before_id)
    return conditions


def list_logs(
    session: Session, *, limit: int, offset: int, oldest_first: bool = False, **filters: Any
) -> Sequence[PredictionLog]:
    order = PredictionLog.id.asc() if oldest_first else PredictionLog.id.desc()
    statement = (
        select(PredictionLog)
        .where(*_conditions(**filters))
        .order_by(order)
        .limit(limit)
        .offset(offset)
    )
    return session.scalars(statement).all()


def count_logs(session: Session, **filters: Any) -> int:
    statement = select(func.count()).select_from(PredictionLog).where(*_conditions(**filters))
    return int(session.scalar(statement) or 0)
