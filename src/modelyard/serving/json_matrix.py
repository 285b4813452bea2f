"""A body ``{"X": [[numbers], ...]}`` straight to a float64 matrix, no Python object per number.

The general path (``loads_strict``, then ``coerce_arrays``) makes a Python float for every
number, a list for every row, and then a matrix of them: for 100 rows of 20 about 120 us of the
request's worker thread, as much as the model call itself. simdjson parses the body into its own
tape and copies the numbers out in one call (about 60 us, the checks below included), so the
plain numeric body, the one a client sends thousands of times a second, takes that way.

It answers only when the answer is the general path's own: anything it is not sure of returns
None, and the general path then decides (and words the error) exactly as before.
"""

from __future__ import annotations

import re
import threading

import numpy as np
import simdjson

from modelyard.registry.input_schema import Column, fits_columns

__all__ = ["MAX_BODY_BYTES", "numeric_matrix"]

# A larger body takes the general path: the parser a thread keeps grows to its largest body.
MAX_BODY_BYTES = 1024 * 1024

_threads = threading.local()
# How such a body opens: anything else (records, ``data_for_predict``, ...) is not parsed here
# at all, so it is parsed once, by the general path.
_OPENING = re.compile(rb'\s*\{\s*"X"\s*:\s*\[\s*\[')


def _parser() -> simdjson.Parser:
    parser: simdjson.Parser | None = getattr(_threads, "parser", None)
    if parser is None:
        parser = _threads.parser = simdjson.Parser()
    return parser


def numeric_matrix(raw: bytes, columns: list[Column] | None, max_rows: int) -> np.ndarray | None:
    """The matrix of ``raw`` when it is exactly ``{"X": rows}``, 1 to ``max_rows`` rows, each a
    list of as many numbers as ``columns`` (as the first row without a schema) that fit them.

    None for anything else: another or a repeated key, records, a string, a boolean, a null, a
    ragged or nested row, a number beyond float64 or int64 (which simdjson refuses and the
    general path reads), invalid JSON. A JSON integer becomes the float ``float()`` makes of
    it, as on the general path.
    """
    if (
        len(raw) > MAX_BODY_BYTES
        or (columns is not None and not columns)
        or _OPENING.match(raw) is None
    ):
        return None
    parser = _parser()
    try:
        document = parser.parse(raw)
    except (ValueError, TypeError):
        return None  # not JSON, or a number no float64 holds
    except RuntimeError:
        # An integer beyond 64 bits, or this thread's parser still backing a document (which
        # simdjson refuses to reuse; only if an earlier call's objects were kept alive): a
        # fresh parser for the next body, and the general path for this one.
        _threads.parser = None
        return None
    return _matrix(raw, document, columns, max_rows)


def _matrix(
    raw: bytes, document: object, columns: list[Column] | None, max_rows: int
) -> np.ndarray | None:
    if not isinstance(document, simdjson.Object) or len(document) != 1 or "X" not in document:
        return None
    rows = document["X"]
    if not isinstance(rows, simdjson.Array) or not 0 < len(rows) <= max_rows:
        return None
    if columns is not None:
        width = len(columns)
    else:
        first = rows[0]
        width = len(first) if type(first) is simdjson.Array else 0
    if not width or not all(type(row) is simdjson.Array and len(row) == width for row in rows):
        return None
    try:
        # Numbers only: a string, boolean, null or object in a row raises here.
        flat = np.frombuffer(rows.as_buffer(of_type="d"), dtype=np.float64)
    except (ValueError, TypeError, RuntimeError):
        return None
    count = len(rows)
    # Rows of the right length can still hold lists (flattened above): the body then has more
    # brackets than the outer list and its rows. Counted by numpy (memchr-fast); a bracket in a
    # string cannot be, as no string but the key got this far.
    if flat.size != count * width or (
        np.count_nonzero(np.frombuffer(raw, np.uint8) == ord("[")) != count + 1
    ):
        return None
    matrix = flat.reshape(count, width)
    if columns is not None and not fits_columns(matrix, columns):
        return None
    return matrix
