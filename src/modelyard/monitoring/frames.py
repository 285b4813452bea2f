"""Logged requests of a time range as arrays: inputs by feature, answers as class indexes.

The log stores ``{"X": rows}`` of numbers as a float64 matrix in base64 (serving.models); such
an entry is read straight into numpy, without a Python float per cell. Other inputs (records,
rows with text) are read cell by cell.
"""

from __future__ import annotations

import binascii
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pybase64
from sqlalchemy.orm import Session

from modelyard.monitoring import repository
from modelyard.monitoring.classes import ClassIndex
from modelyard.serving.models import LOG_MARKER, decode_logged

__all__ = ["Logged", "read_logged"]


@dataclass
class Logged:
    """Rows of answered requests: ``inputs`` is rows x features (float, or object where a
    feature holds text), ``predicted`` class indexes (-1: none), ``probabilities`` rows x
    classes (NaN where the answer had none)."""

    names: list[str]
    times: npt.NDArray[np.int64]
    inputs: npt.NDArray[Any]
    predicted: npt.NDArray[np.int64]
    probabilities: npt.NDArray[np.float64]
    skipped: int = 0
    truncated: bool = False
    log_ids: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.times.shape[0])


def _matrix(value: Any, width: int) -> npt.NDArray[np.float64] | None:
    if (
        not isinstance(value, dict)
        or value.get(LOG_MARKER) != "float64"
        or not isinstance(value.get("shape"), list)
        or len(value["shape"]) != 2
        or value["shape"][1] != width
    ):
        return None
    try:
        data = pybase64.b64decode(value["base64"], validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None
    rows = value["shape"][0]
    if not isinstance(rows, int) or len(data) != rows * width * 8:
        return None
    return np.frombuffer(data, dtype=np.float64).reshape(rows, width)


def _rows(value: Any, names: list[str]) -> list[list[Any]] | None:
    body = decode_logged(value)
    rows = body.get("X") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        return None
    found: list[list[Any]] = []
    for row in rows:
        if isinstance(row, dict):
            found.append([row.get(name) for name in names])
        elif isinstance(row, list) and len(row) == len(names):
            found.append(row)
        else:
            return None
    return found


def read_logged(
    session: Session,
    model_id: int,
    version: int,
    names: list[str],
    classes: ClassIndex,
    since: datetime | None,
    until: datetime | None,
    *,
    max_rows: int,
    inputs: bool = True,
) -> Logged:
    """The answered requests of a version in ``[since, until)``, up to ``max_rows`` rows."""
    width, k = len(names), len(classes.classes)
    blocks: list[npt.NDArray[Any]] = []
    times: list[npt.NDArray[np.int64]] = []
    predicted: list[int] = []
    probabilities: list[npt.NDArray[np.float64]] = []
    skipped = total = 0
    truncated = False
    log_ids: list[int] = []
    for batch in repository.iter_logged(session, model_id, version, since, until):
        for entry in batch:
            block: npt.NDArray[Any] | None
            try:
                value = orjson.loads(entry.input) if inputs else None
                output = orjson.loads(entry.output or "null")
            except orjson.JSONDecodeError:
                skipped += 1
                continue
            answers = output.get("predictions") if isinstance(output, dict) else None
            if not inputs and isinstance(answers, list):
                block = np.empty((len(answers), 0))
            else:
                block = _matrix(value, width)
            if block is None:
                rows = _rows(value, names)
                block = np.array(rows, dtype=object).reshape(-1, width) if rows else None
            if block is None or not isinstance(answers, list) or len(answers) != len(block):
                skipped += 1
                continue
            if total + len(block) > max_rows:
                truncated = True
                break
            total += len(block)
            blocks.append(block)
            log_ids.append(entry.id)
            times.append(np.full(len(block), int(entry.created_at.timestamp()), dtype=np.int64))
            predicted.extend(classes.index(a) for a in answers)
            scores = output.get("probabilities")
            probabilities.append(_scores(scores, len(block), k))
        if truncated:
            break
    matrix = (
        np.concatenate(blocks)
        if blocks and all(b.dtype == np.float64 for b in blocks)
        else np.concatenate([b.astype(object) for b in blocks])
        if blocks
        else np.empty((0, width))
    )
    return Logged(
        names=names,
        times=np.concatenate(times) if times else np.empty(0, dtype=np.int64),
        inputs=matrix,
        predicted=np.array(predicted, dtype=np.int64),
        probabilities=np.concatenate(probabilities) if probabilities else np.empty((0, k)),
        skipped=skipped,
        truncated=truncated,
        log_ids=log_ids,
    )


def _scores(value: Any, rows: int, k: int) -> npt.NDArray[np.float64]:
    if isinstance(value, list) and len(value) == rows:
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            array = None
        if array is not None and array.shape == (rows, k):
            return array
    return np.full((rows, k), math.nan)
