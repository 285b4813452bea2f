"""Feedback files read in batches: a CSV or parquet upload never sits in memory whole.

Both have a ``predict_id`` and a ``label`` column, and may have ``row`` (the row of a
multi-row request). A batch is a list of ``(predict_id, row, label)``; ``row`` is None where
the file leaves it out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelyard.monitoring.exceptions import InvalidFeedbackFile
from modelyard.monitoring.schemas import MAX_LABEL_LENGTH, FeedbackItem

__all__ = ["Entry", "csv_batches", "item_batches", "parquet_batches", "sniff_format"]

Entry = tuple[str, int | None, Any]
BATCH = 5000
PARQUET_MAGIC = b"PAR1"
MAX_ID_LENGTH = 64


def sniff_format(content_type: str, head: bytes) -> str:
    """``parquet`` or ``csv`` from the declared type, else from the first bytes."""
    kind = content_type.split(";")[0].strip().lower()
    if "parquet" in kind or head.startswith(PARQUET_MAGIC):
        return "parquet"
    if kind in ("text/csv", "application/csv", "text/plain") or b"predict_id" in head[:4096]:
        return "csv"
    raise InvalidFeedbackFile(
        "send feedback as JSON, CSV (text/csv) or parquet (application/vnd.apache.parquet)"
    )


def item_batches(items: list[FeedbackItem]) -> Iterator[list[Entry]]:
    for start in range(0, len(items), BATCH):
        yield [(i.predict_id, i.row, i.label) for i in items[start : start + BATCH]]


def _row_number(text: str | None, line: int) -> int | None:
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 9:
        raise InvalidFeedbackFile(
            f"line {line}: row must be a whole number from 0", details={"line": line}
        )
    return int(text)


def _checked_id(value: Any, line: int) -> str:
    text = "" if value is None else str(value)
    if not text or len(text) > MAX_ID_LENGTH:
        raise InvalidFeedbackFile(
            f"line {line}: predict_id must be 1 to {MAX_ID_LENGTH} characters",
            details={"line": line},
        )
    return text


def csv_batches(file: IO[bytes]) -> Iterator[list[Entry]]:
    """A CSV file with a header row naming ``predict_id``, ``label`` and maybe ``row``."""
    text = io.TextIOWrapper(file, encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, None)
        if not header:
            raise InvalidFeedbackFile("the CSV file is empty: it needs a header row")
        names = [h.strip().lower() for h in header]
        if "predict_id" not in names or "label" not in names:
            raise InvalidFeedbackFile(
                "the CSV header must name predict_id and label (and may name row)",
                details={"header": header[:20]},
            )
        id_at, label_at = names.index("predict_id"), names.index("label")
        row_at = names.index("row") if "row" in names else None
        width = max(id_at, label_at, row_at or 0) + 1
        batch: list[Entry] = []
        for record in reader:
            if not record:
                continue  # a blank line is no row, as csv.DictReader
            line = reader.line_num
            if len(record) < width:
                raise InvalidFeedbackFile(
                    f"line {line}: expected at least {width} fields, found {len(record)}",
                    details={"line": line},
                )
            row = _row_number(record[row_at], line) if row_at is not None else None
            label = record[label_at]
            if len(label) > MAX_LABEL_LENGTH:
                raise InvalidFeedbackFile(
                    f"line {line}: a label is at most {MAX_LABEL_LENGTH} characters",
                    details={"line": line},
                )
            batch.append((_checked_id(record[id_at], line), row, label))
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidFeedbackFile(f"the CSV file cannot be read: {exc}") from exc


def parquet_batches(file: IO[bytes]) -> Iterator[list[Entry]]:
    """A parquet file with columns ``predict_id``, ``label`` and maybe ``row``."""
    try:
        parquet = pq.ParquetFile(file)
        names = parquet.schema_arrow.names
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidFeedbackFile(f"the parquet file cannot be read: {exc}") from exc
    if "predict_id" not in names or "label" not in names:
        raise InvalidFeedbackFile(
            "the parquet file must have the columns predict_id and label (and may have row)",
            details={"columns": names[:20]},
        )
    columns = ["predict_id", "label"] + (["row"] if "row" in names else [])
    _check_parquet_columns(parquet, columns)
    line = 0
    try:
        for record_batch in parquet.iter_batches(batch_size=BATCH, columns=columns):
            _check_lengths(record_batch.column("predict_id"), MAX_ID_LENGTH, "predict_id", line)
            _check_lengths(record_batch.column("label"), MAX_LABEL_LENGTH, "label", line)
            ids = record_batch.column("predict_id").to_pylist()
            labels = record_batch.column("label").to_pylist()
            rows = record_batch.column("row").to_pylist() if "row" in columns else [None] * len(ids)
            batch: list[Entry] = []
            for predict_id, row, label in zip(ids, rows, labels, strict=True):
                line += 1
                if row is not None and (not isinstance(row, int) or row < 0):
                    raise InvalidFeedbackFile(
                        f"row {line}: row must be a whole number from 0", details={"line": line}
                    )
                if label is None or not isinstance(label, str | int | float | bool):
                    raise InvalidFeedbackFile(
                        f"row {line}: label must be a text, a number or a boolean",
                        details={"line": line},
                    )
                batch.append((_checked_id(predict_id, line), row, label))
            yield batch
    except (pa.ArrowException, OSError) as exc:
        raise InvalidFeedbackFile(f"the parquet file cannot be read: {exc}") from exc


def _text_or_scalar(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


def _check_parquet_columns(parquet: pq.ParquetFile, columns: list[str]) -> None:
    """Refuse, from the metadata alone, columns of the wrong kind or far too many bytes.

    A compressed column may expand to hundreds of megabytes; a row group whose columns
    declare more than the longest allowed values could take is refused before it is read.
    """
    schema = parquet.schema_arrow
    for name in columns:
        if not _text_or_scalar(schema.field(name).type):
            raise InvalidFeedbackFile(
                f"the parquet column {name} must hold text, numbers or booleans",
                details={"column": name, "type": str(schema.field(name).type)[:100]},
            )
    metadata = parquet.metadata
    indexes = {metadata.schema.column(i).name: i for i in range(metadata.num_columns)}
    widest = {"predict_id": MAX_ID_LENGTH, "label": MAX_LABEL_LENGTH, "row": 8}
    for group_index in range(metadata.num_row_groups):
        group = metadata.row_group(group_index)
        for name in columns:
            limit = group.num_rows * (widest[name] * 4 + 16) + 1024 * 1024
            if group.column(indexes[name]).total_uncompressed_size > limit:
                raise InvalidFeedbackFile(
                    f"the parquet column {name} holds values longer than allowed",
                    details={"column": name, "row_group": group_index},
                )


def _check_lengths(column: pa.Array, most: int, name: str, line: int) -> None:
    """Refuse values longer than ``most`` before any becomes a Python object."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return
    lengths = pc.utf8_length(column)
    too_long = pc.greater(lengths, most)
    if pc.any(too_long).as_py():
        first = pc.index(too_long, True).as_py()
        raise InvalidFeedbackFile(
            f"row {line + first + 1}: a {name} is at most {most} characters",
            details={"line": line + first + 1},
        )
