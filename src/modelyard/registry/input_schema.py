"""A model version's input schema: parsed from either source form, and applied to request rows.

Accepted forms (both become one list of ``Column``):

* the Machine learning API's ``{"input_schema": {"columns": [{"name", "type"}]}}`` with
  ``numeric``/``boolean`` types;
* mlup's column list ``[{"name", "type", "required", "default"}]`` (also as ``{"columns": [...]}``)
  with ``int``/``float``/``str``/``bool`` types.

``coerce_records`` and ``coerce_arrays`` turn request rows into one numpy matrix in column
order and report every bad cell with its row and column, mlup-style (``loc``, ``msg``, ``type``).
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "Column",
    "ColumnType",
    "RowError",
    "SchemaError",
    "coerce_arrays",
    "coerce_records",
    "fits_columns",
    "parse_input_schema",
]

ColumnType = Literal["float", "int", "bool", "str"]

_TYPE_NAMES: dict[str, ColumnType] = {
    "numeric": "float",
    "number": "float",
    "float": "float",
    "double": "float",
    "int": "int",
    "integer": "int",
    "bool": "bool",
    "boolean": "bool",
    "str": "str",
    "string": "str",
    "text": "str",
    "category": "str",
    "categorical": "str",
}
MAX_COLUMNS = 10_000
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})

RowError = dict[str, Any]


class SchemaError(ValueError):
    """The schema document cannot be understood."""


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    type: ColumnType = "float"
    required: bool = True
    default: Any = None


def _column(raw: Any, index: int) -> Column:
    if not isinstance(raw, dict):
        raise SchemaError(f"column {index} is not an object")
    data = dict(raw)
    type_name = str(data.get("type", "float")).strip().lower()
    if type_name not in _TYPE_NAMES:
        raise SchemaError(f"column {index} has an unknown type {data.get('type')!r}")
    data["type"] = _TYPE_NAMES[type_name]
    try:
        column = Column.model_validate(data)
    except ValidationError as exc:
        raise SchemaError(f"column {index} is invalid: {exc.errors()[0]['msg']}") from exc
    if column.default is not None:
        value, error = _coerce(column.default, column.type)
        if error:
            raise SchemaError(f"column {column.name!r} has a default that is not {column.type}")
        column = column.model_copy(update={"default": value})
    return column


def parse_input_schema(document: Any) -> list[Column]:
    """Read either accepted form; raise ``SchemaError`` saying what is wrong."""
    raw: Any = document
    if isinstance(raw, dict) and "input_schema" in raw:
        raw = raw["input_schema"]
    if isinstance(raw, dict) and "columns" in raw:
        raw = raw["columns"]
    if not isinstance(raw, list) or not raw:
        raise SchemaError("the schema must hold a non-empty list of columns")
    if len(raw) > MAX_COLUMNS:
        raise SchemaError(f"the schema has more than {MAX_COLUMNS} columns")
    columns = [_column(item, index) for index, item in enumerate(raw)]
    names = [column.name for column in columns]
    if len(set(names)) != len(names):
        raise SchemaError("column names must be unique")
    return columns


def _coerce(value: Any, kind: ColumnType) -> tuple[Any, str | None]:
    """The value as ``kind``, or an error type; lax like the sources (``"25"`` is a number)."""
    if kind == "str":
        return (value, None) if isinstance(value, str) else (None, "string_type")
    if kind == "bool":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value), None
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE, None
        return None, "bool_parsing"
    if isinstance(value, bool):
        number: float = float(value)
    elif isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer literal beyond float range
            return None, "finite_number"
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except (ValueError, OverflowError):
            return None, f"{kind}_parsing"
    else:
        return None, f"{kind}_type"
    if not math.isfinite(number):
        return None, "finite_number"
    if kind == "int":
        if not number.is_integer():
            return None, "int_from_float"
        return int(number), None
    return number, None


_MESSAGES = {
    "missing": "Field required",
    "extra_forbidden": "Extra inputs are not permitted",
    "none_forbidden": "Value must not be null",
    "string_type": "Input should be a valid string",
    "bool_parsing": "Input should be a valid boolean",
    "float_parsing": "Input should be a valid number",
    "float_type": "Input should be a valid number",
    "int_parsing": "Input should be a valid integer",
    "int_type": "Input should be a valid integer",
    "int_from_float": "Input should be a valid integer, got a number with a fractional part",
    "finite_number": "Input should be a finite number",
    "dict_type": "Row should be an object of named features",
    "list_type": "Row should be a list of values",
    "row_length": "Row has the wrong number of values",
}


def _error(row: int, column: str | int | None, kind: str) -> RowError:
    loc: list[str | int] = ["rows", row] if column is None else ["rows", row, column]
    return {"loc": loc, "msg": _MESSAGES.get(kind, kind), "type": kind}


def _cell(value: Any, column: Column, row: int, errors: list[RowError]) -> Any:
    if value is None:
        if column.default is not None:
            return column.default
        if column.required:
            errors.append(_error(row, column.name, "none_forbidden"))
        return None
    coerced, error = _coerce(value, column.type)
    if error:
        errors.append(_error(row, column.name, error))
    return coerced


def _matrix(rows: list[list[Any]], columns: list[Column]) -> np.ndarray:
    if all(column.type != "str" for column in columns):
        # Missing optional values become NaN, which imputers in a pipeline understand.
        return np.array(
            [[math.nan if v is None else float(v) for v in row] for row in rows], dtype=np.float64
        )
    return np.array(rows, dtype=object)


def coerce_records(
    records: list[Any], columns: list[Column], *, max_errors: int = 100
) -> tuple[np.ndarray | None, list[RowError]]:
    """Named-feature rows → a matrix in column order, or the errors (row, column, why)."""
    names = {column.name for column in columns}
    rows: list[list[Any]] = []
    errors: list[RowError] = []
    for index, record in enumerate(records):
        if len(errors) >= max_errors:
            break
        if not isinstance(record, dict):
            errors.append(_error(index, None, "dict_type"))
            continue
        errors.extend(_error(index, key, "extra_forbidden") for key in record if key not in names)
        row = []
        for column in columns:
            if column.name in record:
                row.append(_cell(record[column.name], column, index, errors))
            elif column.default is not None:
                row.append(column.default)
            elif column.required:
                errors.append(_error(index, column.name, "missing"))
                row.append(None)
            else:
                row.append(None)
        rows.append(row)
    if errors:
        return None, errors[:max_errors]
    return _matrix(rows, columns), []


def _numeric_matrix(arrays: list[Any], columns: list[Column]) -> np.ndarray | None:
    """The matrix of rows that are all plain finite numbers fitting their columns, made by
    numpy in one call; None when anything needs the cell-by-cell path (strings, nulls, bad
    shapes, out-of-range values), which then says exactly what is wrong."""
    if any(column.type == "str" for column in columns):
        return None
    width = len(columns)
    if any(column.type == "bool" for column in columns):
        raw = _discovered(arrays, width)
    else:
        raw = _converted(arrays, width)
    if raw is None:
        return None
    matrix = raw.astype(np.float64, copy=False)
    if raw.dtype.kind == "f" and not np.isfinite(matrix).all():
        return None
    return matrix if fits_columns(matrix, columns) else None


def fits_columns(matrix: np.ndarray, columns: list[Column]) -> bool:
    """Whether a float64 matrix of finite numbers fits its columns as the cell-by-cell path
    would take them: no ``str`` column, whole numbers in ``int`` ones, 0 or 1 in ``bool``."""
    for index, column in enumerate(columns):
        if column.type == "float":
            continue
        if column.type == "str":
            return False
        values = matrix[:, index]
        if column.type == "int" and not np.array_equal(values, np.floor(values)):
            return False
        if column.type == "bool" and not np.isin(values, (0.0, 1.0)).all():
            return False
    return True


def _discovered(arrays: list[Any], width: int) -> np.ndarray | None:
    """Rows of numbers and booleans only (numpy's own type discovery), else None."""
    try:
        # Without a dtype, numpy keeps strings as strings and None as an object, so only
        # numbers and booleans come out numeric; ragged rows raise.
        raw = np.array(arrays)
    except (ValueError, TypeError, OverflowError):
        return None
    if raw.ndim != 2 or raw.shape[1] != width or raw.dtype.kind not in "biuf":
        return None
    return raw


def _converted(arrays: list[Any], width: int) -> np.ndarray | None:
    """Rows of ``width`` values each, every one converted as ``float()`` would, else None.

    For float and int columns only: there the cell-by-cell path takes a value exactly when
    ``float()`` does (numbers, booleans, numeric strings) and it is finite, which the caller
    checks (a null comes out NaN here, so it fails that check too). Half the cost of numpy's
    type discovery on a list of lists, which looks at every value twice.
    """
    if not all(type(row) is list and len(row) == width for row in arrays):
        return None
    try:
        flat = np.fromiter(chain.from_iterable(arrays), np.float64, len(arrays) * width)
    except (ValueError, TypeError, OverflowError):
        return None
    return flat.reshape(len(arrays), width)


def coerce_arrays(
    arrays: list[Any], columns: list[Column] | None, *, max_errors: int = 100
) -> tuple[np.ndarray | None, list[RowError]]:
    """Positional rows → a matrix; with a schema, each value is checked against its column."""
    errors: list[RowError] = []
    if not columns:
        first = next((row for row in arrays if isinstance(row, list)), [])
        columns = [Column(name=str(i)) for i in range(len(first))]
    fast = _numeric_matrix(arrays, columns)
    if fast is not None:
        return fast, []
    width = len(columns)
    rows: list[list[Any]] = []
    for index, row in enumerate(arrays):
        if len(errors) >= max_errors:
            break
        if not isinstance(row, list):
            errors.append(_error(index, None, "list_type"))
            continue
        if len(row) != width:
            errors.append(
                {
                    "loc": ["rows", index],
                    "msg": f"Row has {len(row)} values; the model takes {width}",
                    "type": "row_length",
                }
            )
            continue
        rows.append([_cell(v, c, index, errors) for v, c in zip(row, columns, strict=True)])
    if errors:
        return None, errors[:max_errors]
    return _matrix(rows, columns), []
