"""The request log as CSV, streamed in pages so a long log never sits in memory whole."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db import Database
from modelyard.registry import service as registry
from modelyard.serving import repository
from modelyard.serving.models import PredictionLog
from modelyard.serving.service import utc_bounds

__all__ = ["COLUMNS", "export_request_log"]

COLUMNS = [
    "id",
    "predict_id",
    "created_at",
    "model_name",
    "version",
    "user_id",
    "source",
    "status",
    "error",
    "n_rows",
    "latency_ms",
    "input",
    "output",
]
_PAGE = 1000


def _cells(item: PredictionLog) -> list[Any]:
    values = [getattr(item, column) for column in COLUMNS[:-2]]
    values[2] = item.created_at.isoformat()
    return [*values, json.dumps(item.input), json.dumps(item.output)]


def _lines(
    database: Database, model_id: int, max_rows: int, filters: dict[str, Any]
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    sent, before_id = 0, None
    while sent < max_rows:
        # Keyset pages, each in a short session of its own: the request's session is closed
        # by the time the response streams.
        with database.session() as session:
            items = repository.list_logs(
                session,
                limit=min(_PAGE, max_rows - sent),
                offset=0,
                model_id=model_id,
                before_id=before_id,
                **filters,
            )
            for item in items:
                writer.writerow(_cells(item))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(items) < _PAGE:
            return
        sent += len(items)
        before_id = items[-1].id


def export_request_log(
    session: Session,
    database: Database,
    caller: User,
    name: str,
    owner_id: int | None,
    *,
    max_rows: int,
    **filters: Any,
) -> Iterator[str]:
    """CSV lines of one of the caller's models' log, newest first, at most ``max_rows`` rows."""
    model = registry.resolve_model(session, caller, name, owner_id)
    return _lines(database, model.id, max_rows, utc_bounds(filters))
