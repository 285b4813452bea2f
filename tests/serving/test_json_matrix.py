"""``{"X": rows}`` of numbers read straight into a matrix (``json_matrix``): the general path's
answer, bit for bit, or None so the general path decides."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from modelyard.registry.input_schema import Column, coerce_arrays
from modelyard.serving import json_matrix, service
from modelyard.serving.json_matrix import numeric_matrix
from modelyard.serving.service import MAX_LOGGED_ROWS, loads_strict
from tests.helpers import Account
from tests.registry.factories import register_ok, skops_classifier

FLOATS = [Column(name=f"f{i}") for i in range(3)]
MIXED = [Column(name="a"), Column(name="n", type="int"), Column(name="flag", type="bool")]


def general(raw: bytes, columns: list[Column] | None) -> np.ndarray | None:
    matrix, _ = coerce_arrays(loads_strict(raw)["X"], columns)
    return matrix


@pytest.mark.parametrize(
    ("raw", "columns"),
    [
        (orjson.dumps({"X": np.random.default_rng(1).normal(size=(40, 3)).tolist()}), FLOATS),
        (orjson.dumps({"X": np.random.default_rng(2).normal(size=(7, 5)).tolist()}), None),
        # Integers (the float float() makes), the sign of zero, the extremes of float64, the
        # ends of int64 and uint64, exponents and spaces.
        (
            b'{"X": [[1, -0, -0.0], [5e-324, 1.7976931348623157e308, 2.2250738585072014e-308]]}',
            None,
        ),
        (b'{"X":[[-9223372036854775808,18446744073709551615,9007199254740993]]}', FLOATS),
        (b' {\n "X" : [ [ 1E3 , 2.5e-7 , -1e+2 ] ] } \n', FLOATS),
        (b'{"X": [[0.5, 3, 1], [2, -4, 0]]}', MIXED),
    ],
)
def test_numbers_give_the_general_paths_matrix_bit_for_bit(
    raw: bytes, columns: list[Column] | None
) -> None:
    expected = general(raw, columns)
    assert expected is not None
    got = numeric_matrix(raw, columns, 10_000)
    assert got is not None
    assert got.dtype == np.float64 and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()
    assert got.flags.writeable and got.flags.c_contiguous  # a model may change it in place


@pytest.mark.parametrize(
    ("raw", "columns"),
    [
        (b'{"X": [[1, true, 2]]}', FLOATS),  # the general path reads true as 1.0
        (b'{"X": [[1, "2.5", 2]]}', FLOATS),  # ... and a numeric string as a number
        (b'{"X": [[1, null, 2]]}', FLOATS),
        (b'{"X": [[1, 2, 3], [4, 5]]}', None),  # ragged
        (b'{"X": [[1, 2, 3, 4], [5, 6]]}', [Column(name="a"), Column(name="b"), Column(name="c")]),
        (b'{"X": [[[], 1, 2], [[1, 2], 3, 4]]}', FLOATS),  # lists in rows, six numbers in all
        (b'{"X": [[{"a": 1}, 2, 3]]}', FLOATS),
        (b'{"X": [1, 2, 3]}', None),  # not rows
        (b'{"X": [{"f0": 1, "f1": 2, "f2": 3}]}', FLOATS),  # records
        (b'[{"f0": 1, "f1": 2, "f2": 3}]', FLOATS),
        (b'{"X": [[1, 2, 3]], "X": [[4, 5, 6]]}', FLOATS),  # a repeated key
        (b'{"X": [[1, 2, 3]], "y": 1}', FLOATS),
        (b'{"X": []}', FLOATS),
        (b'{"X": [[]]}', None),
        (b'{"X": [[1e400, 2, 3]]}', FLOATS),  # beyond float64
        (b'{"X": [[100000000000000000000000000000, 2, 3]]}', FLOATS),  # beyond 64 bits
        (b'{"X": [[NaN, 2, 3]]}', FLOATS),
        (b'{"X": [[1, 2, 3]]} trailing', FLOATS),
        (b'{"X": [[1.5, 2, 3]]}', [Column(name="n", type="int")] * 3),
        (b'{"X": [[1, 2, 0]]}', [Column(name="flag", type="bool")] * 3),
        (b'{"X": [[1, 2, 3]]}', [Column(name="s", type="str")] * 3),
        (b'{"X": [[1, 2, 3]]}', []),
    ],
)
def test_anything_else_is_left_to_the_general_path(
    raw: bytes, columns: list[Column] | None
) -> None:
    assert numeric_matrix(raw, columns, 10_000) is None


def test_more_rows_than_the_limit_or_a_large_body_are_left_to_the_general_path() -> None:
    raw = orjson.dumps({"X": [[1.5, 2.5, 3.5]] * 5})
    assert numeric_matrix(raw, FLOATS, 5) is not None
    assert numeric_matrix(raw, FLOATS, 4) is None  # which refuses them with its 413
    big = orjson.dumps({"X": [[0.123456789] * 3] * (json_matrix.MAX_BODY_BYTES // 30)})
    assert len(big) > json_matrix.MAX_BODY_BYTES
    assert numeric_matrix(big, FLOATS, 10**6) is None


def test_a_refused_integer_does_not_spoil_the_threads_parser() -> None:
    assert numeric_matrix(b'{"X": [[100000000000000000000000000000, 2, 3]]}', FLOATS, 9) is None
    got = numeric_matrix(b'{"X": [[1.5, 2, 3]]}', FLOATS, 9)
    assert got is not None and got.tolist() == [[1.5, 2.0, 3.0]]
    # A document still alive on this thread's parser (simdjson will not reuse it then).
    kept = json_matrix._parser().parse(b'{"a": [1]}')
    assert numeric_matrix(b'{"X": [[1.5, 2, 3]]}', FLOATS, 9) is None
    del kept
    got = numeric_matrix(b'{"X": [[4.5, 5, 6]]}', FLOATS, 9)
    assert got is not None and got.tolist() == [[4.5, 5.0, 6.0]]


def test_threads_parse_at_once_each_its_own_body() -> None:
    bodies = [np.random.default_rng(i).normal(size=(30, 3)) for i in range(4)]
    raws = [orjson.dumps({"X": body.tolist()}) for body in bodies]
    failures: list[Any] = []

    def work(index: int) -> None:
        for _ in range(300):
            got = numeric_matrix(raws[index], FLOATS, 100)
            if got is None or not np.array_equal(got, bodies[index]):
                failures.append((index, got))
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_request_read_as_a_matrix_is_answered_and_logged_as_sent(
    client: TestClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_ok(client, alice, "m", skops_classifier(3))
    decoded: list[bytes] = []  # bodies the general path decoded

    def counted(raw: bytes) -> Any:
        decoded.append(raw)
        return loads_strict(raw)

    monkeypatch.setattr(service, "loads_strict", counted)
    rows = [[0.5, 1, -2.25], [3, 4.5, 6]]
    answered = client.post("/api/v1/models/m/predict", json={"X": rows}, headers=alice.headers)
    assert answered.status_code == 200, answered.text
    assert decoded == []  # read as a matrix, never decoded
    by_records = client.post(
        "/api/v1/models/m/predict",
        json=[{"x0": 0.5, "x1": 1, "x2": -2.25}, {"x0": 3, "x1": 4.5, "x2": 6}],
        headers=alice.headers,
    )
    assert len(decoded) == 1  # records: the general path
    assert by_records.json()["probabilities"] == answered.json()["probabilities"]
    assert client.app.state.serving.log.flush()  # type: ignore[attr-defined]
    page = client.get("/api/v1/models/m/requests?limit=10", headers=alice.headers).json()
    assert page["items"][-1]["input"] == {"X": rows}
    assert page["items"][-1]["n_rows"] == 2


def test_a_huge_request_is_logged_as_its_row_count_on_either_path(
    client: TestClient, alice: Account
) -> None:
    register_ok(client, alice, "m", skops_classifier(3))
    rows = MAX_LOGGED_ROWS + 1
    numbers = {"X": [[0.25, 1.5, 2.75]] * rows}
    records = [{"x0": 0.25, "x1": 1.5, "x2": 2.75}] * rows
    for body in (numbers, records):
        answered = client.post("/api/v1/models/m/predict", json=body, headers=alice.headers)
        assert answered.status_code == 200, answered.text
    assert client.app.state.serving.log.flush()  # type: ignore[attr-defined]
    page = client.get("/api/v1/models/m/requests?limit=10", headers=alice.headers).json()
    assert [item["input"] for item in page["items"]] == [{"truncated": True, "rows": rows}] * 2
