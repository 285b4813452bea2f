"""The user's objects to request bodies: numpy arrays, pandas objects, records, estimators.

numpy, pandas and skops are imported only when such an object is given (the client itself needs
none of them); an object is recognised by its type's module, never by importing the library.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "csv_bytes",
    "model_upload",
    "predict_body",
    "vector",
]


def _module(value: Any) -> str:
    return type(value).__module__.split(".", 1)[0]


def _is_dataframe(value: Any) -> bool:
    return _module(value) == "pandas" and type(value).__name__ == "DataFrame"


def _plain(value: Any) -> Any:
    """numpy scalars and arrays to JSON's own types (NaN refused: JSON has none)."""
    if _module(value) == "numpy":
        return value.tolist()
    return value


def predict_body(data: Any) -> Any:
    """``{"X": rows}`` for a matrix (numpy array, list of lists), records for a DataFrame or
    a list of mappings; one mapping is one record."""
    if _is_dataframe(data):
        # pandas' own JSON writer turns its dtypes (timestamps, NA, numpy ints) into JSON.
        return json.loads(data.to_json(orient="records", date_format="iso"))
    if _module(data) == "numpy":
        rows = data.tolist()
        return {"X": rows if data.ndim == 2 else [rows]}
    if isinstance(data, Mapping):
        if "X" in data and len(data) == 1:
            return {"X": _plain(data["X"])}
        return [dict(data)]
    if isinstance(data, Iterable) and not isinstance(data, str | bytes):
        rows = [_plain(row) for row in data]
        if rows and all(isinstance(row, Mapping) for row in rows):
            return [{key: _plain(value) for key, value in row.items()} for row in rows]
        return {"X": rows}
    raise TypeError(
        f"cannot send {type(data).__name__} to predict: give a numpy array, a pandas "
        "DataFrame, a list of rows or a list of records"
    )


def vector(values: Any) -> list[Any]:
    """A list of labels from a list, a numpy array or a pandas Series."""
    if _module(values) in {"numpy", "pandas"}:
        return list(values.tolist())
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise TypeError(f"expected a sequence of labels, got {type(values).__name__}")
    return [_plain(value) for value in values]


def csv_bytes(data: Any) -> bytes:
    """A training sample as CSV: a DataFrame, a path, or CSV bytes/text as they are."""
    if _is_dataframe(data):
        buffer = io.StringIO()
        data.to_csv(buffer, index=False)
        return buffer.getvalue().encode()
    if isinstance(data, bytes):
        return data
    if isinstance(data, Path):
        return data.read_bytes()
    if isinstance(data, str):
        return Path(data).read_bytes() if "\n" not in data else data.encode()
    raise TypeError(f"cannot send {type(data).__name__} as a CSV sample")


def model_upload(model: Any) -> tuple[str, bytes, str]:
    """(file name, bytes, format) of a model: a path to a file, or a fitted scikit-learn
    estimator, written with skops (the format the server loads without running code)."""
    if isinstance(model, str | Path):
        path = Path(model)
        return path.name, path.read_bytes(), "auto"
    if _module(model) == "sklearn" or (hasattr(model, "fit") and hasattr(model, "predict")):
        import skops.io as sio

        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "model.skops"
            sio.dump(model, target)
            return "model.skops", target.read_bytes(), "skops"
    raise TypeError(
        f"cannot push {type(model).__name__}: give a fitted scikit-learn estimator or the "
        "path of a skops or ONNX file"
    )
