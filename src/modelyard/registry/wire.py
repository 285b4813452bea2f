"""The frames between the API process and a model worker (``model_worker``).

One frame: a 12-byte prefix (header length, payload length; little-endian), a small JSON
header, then the payload: the raw buffers of the numpy arrays the header lists
(``"arrays": [{"dtype", "shape"}, ...]``), one after the other. Nothing is ever pickled, so
a worker whose native code was driven astray by a crafted model can send the API process
numbers, JSON and nothing else: the dtypes are an allow-list of plain numbers, the shapes are
checked against the payload's length, and every array is read straight into a buffer
allocated for it (no copy). A matrix of anything but numbers (the text models' strings) and
labels that are not numbers travel as JSON in the header.
"""

from __future__ import annotations

import math
import socket
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

__all__ = [
    "ALLOWED_DTYPES",
    "FrameError",
    "decode_column",
    "encode_column",
    "recv_frame",
    "send_frame",
]

_PREFIX = struct.Struct("<IQ")
# Headers hold labels as JSON (10,000 rows of long strings at most): far below this.
MAX_HEADER_BYTES = 64 * 1024 * 1024
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024 * 1024
ALLOWED_DTYPES = frozenset(
    {"<f8", "<f4", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1"}
)


class FrameError(Exception):
    """The peer closed the connection, or sent something that is not a frame of ours."""


def send_frame(
    sock: socket.socket, header: dict[str, Any], arrays: Sequence[np.ndarray] = ()
) -> None:
    """Send ``header`` and ``arrays`` (C-contiguous) as one frame, in one ``sendmsg`` when the
    socket takes it all (the arrays' buffers are handed to the kernel as they are)."""
    views = [memoryview(np.ascontiguousarray(a)).cast("B") for a in arrays]  # type: ignore[arg-type]
    header = {**header, "arrays": [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays]}
    head = orjson.dumps(header, option=orjson.OPT_SERIALIZE_NUMPY)
    payload = sum(v.nbytes for v in views)
    parts: list[memoryview] = [memoryview(_PREFIX.pack(len(head), payload)), memoryview(head)]
    parts.extend(v for v in views if v.nbytes)
    total = sum(p.nbytes for p in parts)
    sent = sock.sendmsg(parts)
    if sent == total:
        return
    # A partial send (a large payload, or a socket with a timeout): the rest piece by piece.
    for part in parts:
        if sent >= part.nbytes:
            sent -= part.nbytes
            continue
        sock.sendall(part[sent:])
        sent = 0


def _recv_into(sock: socket.socket, view: memoryview) -> None:
    got = 0
    while got < view.nbytes:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise FrameError("the peer closed the connection")
        got += n


def _array_spec(spec: Any) -> tuple[np.dtype[Any], tuple[int, ...]]:
    if not isinstance(spec, dict) or spec.get("dtype") not in ALLOWED_DTYPES:
        raise FrameError("an array of a type that is not allowed")
    shape = spec.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > 2
        or not all(isinstance(n, int) and 0 <= n < 2**40 for n in shape)
    ):
        raise FrameError("an array with a shape that is not allowed")
    return np.dtype(spec["dtype"]), tuple(shape)


def recv_frame(
    sock: socket.socket, max_payload: int = MAX_PAYLOAD_BYTES
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """One frame: its header and its arrays, each read into a buffer of its own (a payload over
    ``max_payload`` bytes is refused before anything is allocated for it)."""
    prefix = bytearray(_PREFIX.size)
    _recv_into(sock, memoryview(prefix))
    head_size, payload = _PREFIX.unpack(prefix)
    if head_size > MAX_HEADER_BYTES or payload > max_payload:
        raise FrameError("a frame larger than allowed")
    head = bytearray(head_size)
    _recv_into(sock, memoryview(head))
    try:
        header = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"a header that is not JSON: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(header.get("arrays", []), list):
        raise FrameError("a header that is not an object")
    specs = [_array_spec(spec) for spec in header.get("arrays", [])]
    # Python integers: a crafted shape cannot overflow into a small product.
    if sum(dtype.itemsize * math.prod(shape) for dtype, shape in specs) != payload:
        raise FrameError("the arrays do not fill the payload")
    arrays = []
    for dtype, shape in specs:
        array = np.empty(shape, dtype=dtype)
        if array.nbytes:
            _recv_into(sock, memoryview(array).cast("B"))  # type: ignore[arg-type]
        arrays.append(array)
    return header, arrays


def encode_column(values: Any, arrays: list[np.ndarray]) -> dict[str, Any] | None:
    """How a column of answers travels: ``{"array": i}`` (appended to ``arrays``) when numpy
    holds it in an allowed dtype, else ``{"json": [...]}``; None stays None."""
    if values is None:
        return None
    array = np.asarray(values)
    if array.dtype.str in ALLOWED_DTYPES and array.ndim <= 2:
        arrays.append(array)
        return {"array": len(arrays) - 1}
    return {"json": array.tolist() if isinstance(values, np.ndarray) else values}


def decode_column(spec: Any, arrays: list[np.ndarray]) -> list[Any] | None:
    """The values ``encode_column`` sent, as Python lists (what ``Prediction`` holds)."""
    if spec is None:
        return None
    if isinstance(spec, dict) and isinstance(spec.get("array"), int):
        index = spec["array"]
        if not 0 <= index < len(arrays):
            raise FrameError("a column names an array the frame does not hold")
        values: list[Any] = arrays[index].tolist()
        return values
    if isinstance(spec, dict) and isinstance(spec.get("json"), list):
        json_values: list[Any] = spec["json"]
        return json_values
    raise FrameError("a column that is neither an array nor JSON")
