"""Integer label vectors straight from a JSON body to int64 arrays, no Python object per label.

A create from a million labels per vector spent most of its time making two million Python
ints (the JSON parser) and then arrays of them (counting). simdjson parses the body into its
own tape and copies each vector out in one call. It answers only when the answer is the general
path's own: a body it is not sure of gives None, and the general path then decides (and words
the error) exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import simdjson

__all__ = ["IntVectors", "read_int_vectors"]


@dataclass(frozen=True)
class IntVectors:
    actual: npt.NDArray[np.int64]
    predicted: npt.NDArray[np.int64]
    strings: dict[str, str]  # the body's other members, all strings


def read_int_vectors(
    raw: bytes, actual_key: str, predicted_key: str, string_keys: frozenset[str]
) -> IntVectors | None:
    """The two vectors of ``raw`` when it is exactly an object of ``actual_key`` and
    ``predicted_key``, each a list of integers within int64, and ``string_keys``, each a string.

    None for anything else: another or a missing key, a label that is not an integer (a float,
    even 1.0, a boolean, a string, a null, a list), an integer beyond 64 bits, invalid JSON.
    """
    try:
        document = simdjson.Parser().parse(raw)
    except (ValueError, TypeError, RuntimeError):
        return None  # not JSON, or a number beyond float64 or int64
    if not isinstance(document, simdjson.Object):
        return None
    keys = list(document.keys())
    # A repeated key: the general path's parser keeps the last, this one the first.
    if len(keys) != len(set(keys)) or set(keys) != {actual_key, predicted_key} | string_keys:
        return None
    strings: dict[str, str] = {}
    for key in string_keys:
        value = document[key]
        if not isinstance(value, str):
            return None
        strings[key] = value
    vectors = []
    for key in (actual_key, predicted_key):
        array = document[key]
        if not isinstance(array, simdjson.Array):
            return None
        try:
            # Integers only: a float, boolean, string, null or object raises here.
            vector = np.frombuffer(array.as_buffer(of_type="i"), dtype=np.int64)
        except (ValueError, TypeError, RuntimeError):
            return None
        vectors.append(vector)
    # A nested list is flattened by as_buffer: the two vectors must be the body's only lists
    # (counted by numpy, memchr-fast; a bracket inside a string sends the body the general way).
    if np.count_nonzero(np.frombuffer(raw, np.uint8) == ord("[")) != 2:
        return None
    return IntVectors(actual=vectors[0], predicted=vectors[1], strings=strings)
