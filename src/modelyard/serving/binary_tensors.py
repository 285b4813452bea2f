"""Triton's binary tensor extension of the Open Inference Protocol's REST face.

A request (or response) with binary tensors is a JSON header followed by the tensors' raw bytes;
the ``Inference-Header-Content-Length`` header gives the JSON part's length, and each binary
tensor's ``parameters.binary_data_size`` its length, in the order the tensors are listed.
Numbers are little-endian, in C order; ``BOOL`` is one byte per value; a ``BYTES`` element is
its length (4 bytes, little-endian) followed by its bytes. This is the wire format of
``tritonclient.http`` (``InferInput.set_data_from_numpy(binary_data=True)``,
``InferRequestedOutput(binary_data=True)``, ``InferResult``).
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from modelyard.errors import InvalidInput

__all__ = [
    "BINARY_DATA",
    "BINARY_DATA_OUTPUT",
    "BINARY_DATA_SIZE",
    "HEADER_LENGTH",
    "NUMPY_DTYPES",
    "BadTensor",
    "decode_tensor",
    "encode_tensor",
    "split_body",
]

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_DATA_SIZE = "binary_data_size"
BINARY_DATA = "binary_data"
BINARY_DATA_OUTPUT = "binary_data_output"

NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_LENGTH = struct.Struct("<I")


class BadTensor(InvalidInput):
    """A tensor the protocol cannot read: the protocol answers these with 400."""

    status_code = 400
    code = "bad_request"


def split_body(raw: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """The JSON header of a request body and its binary part (a view: the tensors' bytes are
    not copied)."""
    if header_length is None:
        return raw, memoryview(b"")
    try:
        length = int(header_length)
    except ValueError as exc:
        raise BadTensor(
            f"{HEADER_LENGTH} must be a number of bytes, not {header_length!r}"
        ) from exc
    if not 0 < length <= len(raw):
        raise BadTensor(
            f"{HEADER_LENGTH} is {length}, but the body has {len(raw)} bytes: "
            "the JSON header cannot be read"
        )
    return raw[:length], memoryview(raw)[length:]


def decode_tensor(name: str, datatype: str, shape: list[int], chunk: memoryview) -> np.ndarray:
    """One input's raw bytes as a flat array (a view on the body for numbers, no copy)."""
    count = math.prod(shape)
    if datatype == "BYTES":
        return np.array(_decode_bytes(name, count, chunk), dtype=object)
    dtype = NUMPY_DTYPES.get(datatype)
    if dtype is None:
        raise BadTensor(f"input {name!r}: {datatype} cannot be sent as binary data")
    if len(chunk) != count * dtype.itemsize:
        raise BadTensor(
            f"input {name!r}: shape {shape} of {datatype} takes {count * dtype.itemsize} bytes, "
            f"{BINARY_DATA_SIZE} is {len(chunk)}"
        )
    values = np.frombuffer(chunk, dtype=dtype)
    if datatype == "BOOL" and bool((values.view(np.uint8) > 1).any()):
        raise BadTensor(f"input {name!r}: a BOOL value is one byte, 0 or 1")
    if dtype.kind == "f" and not bool(np.isfinite(values).all()):
        # JSON cannot carry NaN or infinity either; a model would fail on them or, worse, not.
        raise BadTensor(f"input {name!r}: NaN and infinity are not valid {datatype} inputs")
    return values


def _decode_bytes(name: str, count: int, chunk: memoryview) -> list[str]:
    items: list[str] = []
    offset, size = 0, len(chunk)
    while offset < size:
        if len(items) == count:
            raise BadTensor(f"input {name!r}: more than the {count} BYTES elements its shape holds")
        if offset + _LENGTH.size > size:
            raise BadTensor(f"input {name!r}: BYTES element {len(items)} has no 4-byte length")
        (length,) = _LENGTH.unpack_from(chunk, offset)
        offset += _LENGTH.size
        if offset + length > size:
            raise BadTensor(
                f"input {name!r}: BYTES element {len(items)} says {length} bytes, "
                f"{size - offset} are left"
            )
        try:
            items.append(str(chunk[offset : offset + length], "utf-8"))
        except UnicodeDecodeError as exc:
            raise BadTensor(
                f"input {name!r}: BYTES element {len(items)} is not UTF-8 text"
            ) from exc
        offset += length
    if len(items) != count:
        raise BadTensor(f"input {name!r}: shape holds {count} BYTES elements, got {len(items)}")
    return items


def encode_tensor(datatype: str, values: list[Any]) -> bytes:
    """An output's values (flat, or rows) as the extension's raw bytes."""
    if datatype == "BYTES":
        encoded = [str(value).encode() for value in values]
        return b"".join(_LENGTH.pack(len(item)) + item for item in encoded)
    return np.asarray(values, dtype=NUMPY_DTYPES[datatype]).tobytes()
