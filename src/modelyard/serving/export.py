"""The request log as CSV or parquet, streamed in pages so a long log never sits in memory whole."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db import Database
from modelyard.registry import service as registry
from modelyard.serving import repository
from modelyard.serving.models import PredictionLog
from modelyard.serving.service import utc_bounds
from modelyard.spreadsheet import safe_row

__all__ = ["COLUMNS", "export_request_log", "export_request_log_parquet"]

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
    # A model name, a predict id or an error text may hold what a client sent.
    return safe_row([*values, json.dumps(item.input), json.dumps(item.output)])


def _pages(
    database: Database, model_id: int, max_rows: int, filters: dict[str, Any]
) -> Iterator[list[list[Any]]]:
    """The log's rows as cells, a page at a time, newest first (at least one page, maybe empty)."""
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
            page = [_cells(item) for item in items]
        yield page
        if len(items) < _PAGE:
            return
        sent += len(items)
        before_id = items[-1].id


def _lines(
    database: Database, model_id: int, max_rows: int, filters: dict[str, Any]
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for page in _pages(database, model_id, max_rows, filters):
        writer.writerows(page)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _parquet_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.int64()),
            ("predict_id", pa.string()),
            ("created_at", pa.timestamp("us", tz="UTC")),
            ("model_name", pa.string()),
            ("version", pa.int32()),
            ("user_id", pa.int64()),
            ("source", pa.string()),
            ("status", pa.int32()),
            ("error", pa.string()),
            ("n_rows", pa.int32()),
            ("latency_ms", pa.float64()),
            ("input", pa.string()),
            ("output", pa.string()),
        ]
    )


class _Chunks(io.RawIOBase):
    """A write-only file whose bytes are taken out after each row group, to stream them."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        chunk, self._parts = b"".join(self._parts), []
        return chunk


def _parquet_chunks(
    database: Database, model_id: int, max_rows: int, filters: dict[str, Any]
) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema()
    sink = _Chunks()
    # One row group per page: the file streams out as it is written, footer last.
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for page in _pages(database, model_id, max_rows, filters):
            if page:
                rows = [dict(zip(COLUMNS, cells, strict=True)) for cells in page]
                for row in rows:
                    row["created_at"] = datetime.fromisoformat(row["created_at"])
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
            yield sink.take()
    yield sink.take()


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


def export_request_log_parquet(
    session: Session,
    database: Database,
    caller: User,
    name: str,
    owner_id: int | None,
    *,
    max_rows: int,
    **filters: Any,
) -> Iterator[bytes]:
    """A parquet file of the same log, streamed a row group at a time: the CSV's columns,
    typed (``created_at`` a UTC timestamp; ``input`` and ``output`` JSON text)."""
    model = registry.resolve_model(session, caller, name, owner_id)
    return _parquet_chunks(database, model.id, max_rows, utc_bounds(filters))
