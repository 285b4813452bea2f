"""A model version's data as points: rows, labels and confidences, then feature vectors.

Training rows come from the version's CSV sample (a seeded sample of the asked size);
production rows from its request log (the newest answered requests), each with the class and
confidence the model answered. Features are the model's embedding when its runtime has one
(``embed(texts) -> array``, e.g. a sentence-embedding text classifier), otherwise the inputs by
schema type: numbers robust-scaled (median and interquartile range), text columns one-hot over
their most frequent values. The encoder is fitted on the training rows when there are any, so
new production rows are encoded the same way later.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.registry.input_schema import Column, coerce_records
from modelyard.registry.loaders import ModelRuntime

__all__ = [
    "DataError",
    "Encoder",
    "Points",
    "fit_encoder",
    "production_points",
    "training_points",
]

_NUMERIC = frozenset({"float", "int", "bool"})
_MISSING_TEXT = frozenset({"", "nan", "na", "n/a", "null", "none", "inf", "-inf", "infinity"})


class DataError(ValueError):
    """The data cannot be turned into points; the message says why."""


@dataclass
class Points:
    """Rows of one source (training or production) and what the model said of them."""

    records: list[dict[str, Any]] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)
    confidences: list[float | None] = field(default_factory=list)
    request_ids: list[int] = field(default_factory=list)
    # Columns whose every cell is a number or its text, read once as floats (inf and NaN as
    # written): the training sample's, so its 10,000 x 50 cells are not parsed cell by cell
    # for the model's predictions and again for the features.
    floats: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    def numbers(self, name: str) -> np.ndarray:
        """``_number`` of the column's cells: NaN where a cell is no finite number."""
        read = self.floats.get(name)
        if read is None:
            return _numbers([r.get(name) for r in self.records])
        return np.where(np.isfinite(read), read, math.nan)


def _as_points(rows: Points | list[dict[str, Any]]) -> Points:
    return rows if isinstance(rows, Points) else Points(records=rows)


def _columns_or_names(columns: list[Column] | None, header: list[str]) -> list[Column]:
    if columns is not None:
        return columns
    return [Column(name=name) for name in header]


def training_points(
    sample: bytes,
    columns: list[Column] | None,
    size: int,
    *,
    seed: int,
    runtime: ModelRuntime | None,
) -> Points:
    """A seeded sample of at most ``size`` rows of the CSV training sample, with predictions."""
    try:
        reader = csv.reader(io.StringIO(sample.decode("utf-8-sig")))
        header = next(reader, [])
        # As csv.DictReader: blank lines are no rows.
        rows = [row for row in reader if row]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"the training sample is not a CSV file: {exc}") from exc
    cols = _columns_or_names(columns, header)
    names = [c.name for c in cols]
    missing = [n for n in names if n not in header]
    if missing:
        raise DataError(f"the training sample lacks the columns {missing}")
    if len(rows) > size:
        picked = np.random.default_rng(seed).choice(len(rows), size=size, replace=False)
        rows = [rows[i] for i in sorted(picked)]
    # A repeated header name means its last column (as csv.DictReader); a short row has None.
    where = {name: i for i, name in enumerate(header)}
    width = len(header)
    padded: list[list[str | None]] = [
        list(r) if len(r) >= width else [*r, *[None] * (width - len(r))] for r in rows
    ]
    table = list(zip(*padded, strict=False)) if padded else [() for _ in header]
    cells = [table[where[n]] for n in names]
    points = Points(
        records=[dict(zip(names, row, strict=True)) for row in zip(*cells, strict=True)]
    )
    for column, values in zip(cols, cells, strict=True):
        if column.type in _NUMERIC:
            read = _floats(values)
            if read is not None:
                points.floats[column.name] = read
    points.labels, points.confidences = _predict(points, cols, runtime)
    return points


def _predict(
    points: Points, columns: list[Column], runtime: ModelRuntime | None
) -> tuple[list[Any], list[float | None]]:
    """What the model says of training rows; nothing when it cannot say (bad cells)."""
    nothing: tuple[list[Any], list[float | None]] = ([None] * len(points), [None] * len(points))
    if runtime is None or not points:
        return nothing
    matrix = _finite_matrix(points, columns)
    errors: list[Any] = []
    if matrix is None:
        cleaned = [
            {k: (None if isinstance(v, str) and v.strip().lower() in _MISSING_TEXT else v)
             for k, v in r.items()}
            for r in points.records
        ]  # fmt: skip
        matrix, errors = coerce_records(cleaned, columns)
    if matrix is None or errors:
        return nothing
    try:
        prediction = runtime.predict(matrix)
    except Exception:
        return nothing
    labels = list(prediction.predictions)
    if prediction.probabilities is None:
        return labels, [None] * len(labels)
    confidences = np.max(np.asarray(prediction.probabilities, dtype=np.float64), axis=1)
    return labels, [float(c) for c in confidences]


def _finite_matrix(points: Points, columns: list[Column]) -> np.ndarray | None:
    """The rows as a float matrix when every cell is a finite number (or its text, which numpy
    reads as ``float`` does) and whole in an int column: the matrix the cell-by-cell
    ``coerce_records`` would build. None otherwise, for that path to judge; a bool column's
    text ("yes", "1.0") has rules of its own, so it always goes that way."""
    if any(c.type not in ("float", "int") or c.name not in points.floats for c in columns):
        return None
    matrix = np.column_stack([points.floats[c.name] for c in columns])
    if not np.isfinite(matrix).all():
        return None
    whole = [j for j, c in enumerate(columns) if c.type == "int"]
    if whole and not np.array_equal(matrix[:, whole], np.floor(matrix[:, whole])):
        return None
    return matrix


def _rows_of(body: Any, columns: list[Column] | None) -> list[dict[str, Any]] | None:
    rows = body.get("X") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        return None  # a truncated entry ({"truncated": true}) or an unparsed body
    records: list[dict[str, Any]] = []
    for row in rows:
        if isinstance(row, dict):
            records.append(row)
        elif isinstance(row, list):
            names = [c.name for c in columns] if columns else [str(i) for i in range(len(row))]
            records.append(dict(zip(names, row, strict=False)))
        else:
            return None
    return records


def production_points(
    logs: list[Any], columns: list[Column] | None, size: int
) -> tuple[Points, list[str]]:
    """The rows of logged requests (newest first) up to ``size``, with the model's answers."""
    points = Points()
    skipped = 0
    for entry in logs:
        records = _rows_of(entry.input, columns)
        output = entry.output if isinstance(entry.output, dict) else {}
        predictions = output.get("predictions")
        probabilities = output.get("probabilities")
        if records is None or not isinstance(predictions, list):
            skipped += 1
            continue
        for index, record in enumerate(records):
            if len(points) >= size:
                break
            points.records.append(record)
            points.labels.append(predictions[index] if index < len(predictions) else None)
            confidence = None
            if isinstance(probabilities, list) and index < len(probabilities):
                row = probabilities[index]
                if isinstance(row, list) and row:
                    confidence = float(max(row))
            points.confidences.append(confidence)
            points.request_ids.append(entry.id)
        if len(points) >= size:
            break
    notes = [f"{skipped} logged requests without their rows were left out"] if skipped else []
    return points, notes


# --- features --------------------------------------------------------------------------------


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range
            return math.nan
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "yes"):
            return 1.0
        if text in ("false", "no"):
            return 0.0
        try:
            number = float(text)
        except ValueError:
            return math.nan
    else:
        return math.nan
    return number if math.isfinite(number) else math.nan


def _floats(values: Sequence[Any]) -> np.ndarray | None:
    """The values as floats in one numpy call, which reads numbers and their text as Python's
    ``float`` does (None as NaN); None when one of them is something else (a word, a list)."""
    try:
        array = np.array(values, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    return array if array.shape == (len(values),) else None


def _numbers(values: Sequence[Any]) -> np.ndarray:
    """``_number`` of each value, as a vector: in one call when ``_floats`` can, else one by one."""
    array = _floats(values)
    if array is None:
        return np.array([_number(v) for v in values], dtype=np.float64)
    array[~np.isfinite(array)] = math.nan
    return array


@dataclass
class Encoder:
    """Turns rows into feature vectors; fitted once, then applied to any later rows."""

    numeric: list[str]
    text: list[str]
    medians: list[float]
    scales: list[float]
    categories: dict[str, list[str]]
    embedding: bool = False

    @property
    def width(self) -> int:
        return len(self.numeric) + sum(len(c) + 1 for c in self.categories.values())

    def texts(self, records: list[dict[str, Any]]) -> list[str]:
        names = self.text or self.numeric
        return [
            " ".join(str(r.get(n)) for n in names if r.get(n) not in (None, "")) for r in records
        ]

    def encode(
        self, rows: Points | list[dict[str, Any]], runtime: ModelRuntime | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """The feature matrix of ``rows`` and notes on what was filled in."""
        points = _as_points(rows)
        records = points.records
        if self.embedding:
            return _embed(runtime, self.texts(records)), []
        notes: list[str] = []
        blocks: list[np.ndarray] = []
        if self.numeric:
            values = np.empty((len(records), len(self.numeric)))
            for j, name in enumerate(self.numeric):
                values[:, j] = points.numbers(name)
            for j, name in enumerate(self.numeric):
                gaps = np.isnan(values[:, j])
                if gaps.any():
                    notes.append(
                        f"column {name!r}: {int(gaps.sum())} missing or non-numeric values "
                        "filled with the training median"
                    )
                    values[gaps, j] = self.medians[j]
            blocks.append((values - np.asarray(self.medians)) / np.asarray(self.scales))
        for name, known in self.categories.items():
            index = {value: i for i, value in enumerate(known)}
            hot = np.zeros((len(records), len(known) + 1))
            for i, record in enumerate(records):
                hot[i, index.get(_category(record.get(name)), len(known))] = 1.0
            blocks.append(hot)
        if not blocks:
            raise DataError("the model's inputs have no columns to build features from")
        return np.hstack(blocks), notes


def _category(value: Any) -> str:
    return "" if value is None else str(value)


def _embed(runtime: ModelRuntime | None, texts: list[str]) -> np.ndarray:
    embed = getattr(runtime, "embed", None)
    if embed is None:
        raise DataError("the model's embedding is not available")
    if not texts:
        return np.zeros((0, 0))
    try:
        vectors = np.asarray(embed(texts), dtype=np.float64)
    except Exception as exc:
        raise DataError(f"the model's embedding failed: {type(exc).__name__}: {exc}") from exc
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise DataError(f"the model's embedding has shape {vectors.shape}, not (rows, dims)")
    if not np.isfinite(vectors).all():
        raise DataError("the model's embedding holds NaN or infinite values")
    return vectors


def fit_encoder(
    columns: list[Column] | None,
    rows: Points | list[dict[str, Any]],
    *,
    runtime: ModelRuntime | None,
    max_categories: int,
) -> Encoder:
    """An encoder fitted on ``rows``: the model's embedding if it has one, else by type."""
    points = _as_points(rows)
    records = points.records
    if columns is None:
        names = sorted({k for r in records for k in r})
        columns = [Column(name=n) for n in names]
    numeric = [c.name for c in columns if c.type in _NUMERIC]
    text = [c.name for c in columns if c.type not in _NUMERIC]
    if runtime is not None and callable(getattr(runtime, "embed", None)):
        return Encoder(numeric, text, [], [], {}, embedding=True)
    medians: list[float] = []
    scales: list[float] = []
    for name in numeric:
        values = points.numbers(name)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            medians.append(0.0)
            scales.append(1.0)
            continue
        q1, median, q3 = np.percentile(finite, [25, 50, 75])
        spread = q3 - q1
        if spread <= 0:
            spread = float(np.std(finite)) or 1.0
        medians.append(float(median))
        scales.append(float(spread))
    categories = {
        name: [
            value
            for value, _ in Counter(_category(r.get(name)) for r in records).most_common(
                max_categories
            )
        ]
        for name in text
    }
    return Encoder(numeric, text, medians, scales, categories)
