"""The v2 routes' bodies: JSON whatever the Content-Type, and Triton's binary tensor extension
(bodies built and answers read by tritonclient's own functions, bad ones built by hand)."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest
import skops.io as sio
import tritonclient.http as triton
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from tests.helpers import Account
from tests.registry.factories import classifier, register_ok, skops_classifier, training_data

FLOAT_SCHEMA = [{"name": f"f{i}", "type": "float"} for i in range(4)]
TEXT_SCHEMA = [{"name": "word", "type": "str"}, {"name": "size", "type": "float"}]
ROWS = np.array([[0.5, -1.0, 2.0, 0.1], [-2.0, 0.3, 0.0, 1.5]])
HEADER = "Inference-Header-Content-Length"


@pytest.fixture
def model(client: TestClient, alice: Account) -> dict[str, Any]:
    return register_ok(client, alice, "clf", skops_classifier(4), schema=FLOAT_SCHEMA)


def _binary_body(
    rows: np.ndarray, outputs: list[triton.InferRequestedOutput] | None = None
) -> tuple[bytes, int]:
    tensor = triton.InferInput("input-0", list(rows.shape), triton_datatype(rows))
    tensor.set_data_from_numpy(rows, binary_data=True)
    body, header_length = triton.InferenceServerClient.generate_request_body(
        [tensor], outputs=outputs
    )
    return body, header_length


def triton_datatype(values: np.ndarray) -> str:
    from tritonclient.utils import np_to_triton_dtype

    datatype: str = np_to_triton_dtype(values.dtype)
    return datatype


def _post(
    client: TestClient, account: Account, body: bytes, headers: dict[str, str] | None = None
) -> Any:
    return client.post(
        "/v2/models/clf/infer", content=body, headers={**account.headers, **(headers or {})}
    )


def _result(response: Any) -> triton.InferResult:
    return triton.InferenceServerClient.parse_response_body(
        response.content, header_length=response.headers.get(HEADER)
    )


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/octet-stream"])
def test_a_json_body_is_read_whatever_its_content_type(
    client: TestClient, alice: Account, model: dict[str, Any], content_type: str | None
) -> None:
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": ROWS.tolist()}]}
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = _post(client, alice, json.dumps(body).encode(), headers)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == classifier(4).predict(ROWS).tolist()


def test_binary_inputs_and_outputs_as_tritonclient_sends_and_reads_them(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    outputs = [
        triton.InferRequestedOutput("predict_proba", binary_data=True),
        triton.InferRequestedOutput("predict", binary_data=False),
    ]
    body, header_length = _binary_body(ROWS, outputs)
    response = _post(client, alice, body, {HEADER: str(header_length)})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    head_length = int(response.headers[HEADER])
    head = json.loads(response.content[:head_length])
    proba_head, predict_head = head["outputs"]
    # 2 rows x 2 classes of FP64 after the JSON header; predict stays in the JSON.
    assert proba_head["parameters"] == {"binary_data_size": 32} and "data" not in proba_head
    assert len(response.content) == head_length + 32
    assert predict_head["data"] == classifier(4).predict(ROWS).tolist()
    result = _result(response)
    assert np.allclose(result.as_numpy("predict_proba"), classifier(4).predict_proba(ROWS))


def test_binary_data_output_asks_for_every_output_as_binary(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    body = {
        "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": ROWS.tolist()}],
        "parameters": {"binary_data_output": True},
    }
    response = _post(client, alice, json.dumps(body).encode())
    assert response.status_code == 200, response.text
    result = _result(response)
    assert result.as_numpy("predict").dtype == np.int64
    assert result.as_numpy("predict").tolist() == classifier(4).predict(ROWS).tolist()


def test_text_columns_travel_as_length_prefixed_bytes(client: TestClient, alice: Account) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    features, labels = training_data(1, rows=40)
    words = np.where(labels == 1, "big", "small")
    frame = np.column_stack([words, features[:, 0]]).astype(object)
    pipeline = make_pipeline(
        make_column_transformer((OneHotEncoder(), [0]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, np.where(labels == 1, "yes", "no"))
    register_ok(client, alice, "words", sio.dumps(pipeline), schema=TEXT_SCHEMA)
    word = triton.InferInput("word", [2], "BYTES")
    word.set_data_from_numpy(np.array(["big", "small"], dtype=object), binary_data=True)
    size = triton.InferInput("size", [2], "FP64")
    size.set_data_from_numpy(np.array([0.5, -0.5]), binary_data=True)
    body, header_length = triton.InferenceServerClient.generate_request_body([word, size])
    response = client.post(
        "/v2/models/words/infer",
        content=body,
        headers={**alice.headers, HEADER: str(header_length)},
    )
    assert response.status_code == 200, response.text
    labels_out = [v.decode() for v in _result(response).as_numpy("predict")]
    expected = pipeline.predict(np.array([["big", 0.5], ["small", -0.5]], dtype=object))
    assert labels_out == expected.tolist()
    meta = client.get("/v2/models/words", headers=alice.headers).json()
    assert meta["outputs"][0]["datatype"] == "BYTES"


def _tensor_header(datatype: str, shape: list[int], size: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": "x",
        "datatype": datatype,
        "shape": shape,
        "parameters": {"binary_data_size": size},
        **extra,
    }


def _raw_request(tensors: list[dict[str, Any]], tail: bytes, **top: Any) -> tuple[bytes, str]:
    head = json.dumps({"inputs": tensors, **top}).encode()
    return head + tail, str(len(head))


FOUR = np.arange(8, dtype="<f8").tobytes()  # 2 rows x 4 FP64


@pytest.mark.parametrize(
    ("body", "header_length", "fragment"),
    [
        (_raw_request([_tensor_header("FP64", [2, 4], 64)], FOUR)[0], "abc", "number of bytes"),
        (_raw_request([_tensor_header("FP64", [2, 4], 64)], FOUR)[0], "0", "cannot be read"),
        (_raw_request([_tensor_header("FP64", [2, 4], 64)], FOUR)[0], "99999", "cannot be read"),
        (*_raw_request([_tensor_header("FP64", [2, 4], 60)], FOUR[:60]), "takes 64 bytes"),
        (*_raw_request([_tensor_header("FP64", [2, 4], 64)], FOUR + b"xx"), "belong to no input"),
        (*_raw_request([_tensor_header("FP64", [2, 4], 72)], FOUR), "64 bytes follow"),
        (*_raw_request([_tensor_header("FP64", [2, 4], -1)], FOUR), "binary_data_size"),
        (*_raw_request([_tensor_header("FP64", [2, 4], True)], FOUR), "binary_data_size"),
        (
            *_raw_request([_tensor_header("FP64", [2, 4], 64, data=[1.0] * 8)], FOUR),
            "both data and binary_data_size",
        ),
        (
            *_raw_request(
                [_tensor_header("FP64", [2, 4], 64)],
                np.array([np.nan] + [1.0] * 7).tobytes(),
            ),
            "NaN",
        ),
        (
            *_raw_request([_tensor_header("BOOL", [2, 4], 8)], bytes([0, 1, 2, 0, 0, 0, 0, 0])),
            "0 or 1",
        ),
        (
            *_raw_request([_tensor_header("BYTES", [2, 4], 6)], struct.pack("<I", 9) + b"ab"),
            "says 9 bytes",
        ),
        (
            *_raw_request([_tensor_header("BYTES", [2, 4], 2)], b"ab"),
            "no 4-byte length",
        ),
        (
            *_raw_request([_tensor_header("BYTES", [2, 4], 5)], struct.pack("<I", 1) + b"\xff"),
            "not UTF-8",
        ),
        (
            *_raw_request([_tensor_header("BYTES", [2, 4], 5)], struct.pack("<I", 1) + b"a"),
            "holds 8 BYTES elements, got 1",
        ),
        (
            *_raw_request(
                [_tensor_header("FP64", [2, 4], 64)],
                FOUR,
                outputs=[{"name": "predict", "parameters": {"binary_data": "yes"}}],
            ),
            "must be true or false",
        ),
        (
            *_raw_request(
                [_tensor_header("FP64", [2, 4], 64)],
                FOUR,
                outputs=[{"name": "predict", "parameters": {"classification": 2}}],
            ),
            "classification",
        ),
    ],
)
def test_bad_binary_requests_get_a_400_in_the_protocols_shape(
    client: TestClient,
    alice: Account,
    model: dict[str, Any],
    body: bytes,
    header_length: str,
    fragment: str,
) -> None:
    response = _post(client, alice, body, {HEADER: header_length})
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"} and fragment in response.json()["error"]
    assert response.headers["X-Predict-Id"]


def test_binary_data_size_without_the_header_length_is_refused(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    body = {"inputs": [_tensor_header("FP64", [2, 4], 64)]}
    response = _post(client, alice, json.dumps(body).encode())
    assert response.status_code == 400
    assert "Inference-Header-Content-Length" in response.json()["error"]


def test_a_tensor_with_no_data_is_refused(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    body = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [2, 4]}]}
    response = _post(client, alice, json.dumps(body).encode())
    assert response.status_code == 400 and "has no data" in response.json()["error"]


def test_a_header_that_is_not_json_is_a_422(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    response = _post(client, alice, b"{nope" + FOUR, {HEADER: "5"})
    assert response.status_code == 422 and set(response.json()) == {"error"}


def test_metadata_lists_every_version_and_the_labels_datatype(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    register_ok(client, alice, "clf", skops_classifier(4), schema=FLOAT_SCHEMA)
    meta = client.get("/v2/models/clf/versions/1", headers=alice.headers).json()
    assert meta["versions"] == ["1", "2"]
    assert meta["outputs"][0] == {"name": "predict", "datatype": "INT64", "shape": [-1]}
    infer = client.post(
        "/v2/models/clf/infer",
        json={
            "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": ROWS.tolist()}]
        },
        headers=alice.headers,
    ).json()
    assert infer["outputs"][0]["datatype"] == meta["outputs"][0]["datatype"]


def test_a_quarantined_version_is_not_ready_and_says_so_by_its_status(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from modelyard.registry.models import ModelVersion

    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        version = session.scalars(select(ModelVersion)).one()
        version.quarantined_at = datetime.now(UTC)
        version.quarantine_reason = "crashed"
    ready = client.get("/v2/models/clf/ready", headers=alice.headers)
    # tritonclient's is_model_ready reads the status only: anything but 200 is "not ready".
    assert ready.status_code == 400
    assert ready.json()["ready"] is False and "quarantined" in ready.json()["error"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compressed_body_is_inflated_as_tritonclient_compresses_it(
    client: TestClient, alice: Account, model: dict[str, Any], encoding: str
) -> None:
    import gzip
    import zlib

    body, header_length = _binary_body(ROWS)
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    response = _post(
        client, alice, packed, {HEADER: str(header_length), "Content-Encoding": encoding}
    )
    assert response.status_code == 200, response.text
    assert _result(response).as_numpy("predict").tolist() == classifier(4).predict(ROWS).tolist()


def test_bad_compressed_bodies_are_refused(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    import gzip

    body, header_length = _binary_body(ROWS)
    headers = {HEADER: str(header_length)}
    unknown = _post(client, alice, body, {**headers, "Content-Encoding": "br"})
    assert unknown.status_code == 400 and "not supported" in unknown.json()["error"]
    broken = _post(client, alice, b"not gzip", {**headers, "Content-Encoding": "gzip"})
    assert broken.status_code == 400 and "not valid gzip" in broken.json()["error"]
    cut = _post(client, alice, gzip.compress(body)[:-12], {**headers, "Content-Encoding": "gzip"})
    assert cut.status_code == 400 and "cut short" in cut.json()["error"]
    # 40 MB of zeros in 40 KB: inflated no further than the server's body limit (32 MB).
    bomb = gzip.compress(bytes(40 * 1024 * 1024))
    too_big = _post(client, alice, bomb, {"Content-Encoding": "gzip"})
    assert too_big.status_code == 413 and set(too_big.json()) == {"error"}


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("shape", [[3_000_000, 0], [2**62, 0], [2**70, 0], [2**31, 4]])
def test_a_shape_that_carries_no_data_is_refused_before_rows_are_built(
    client: TestClient, alice: Account, model: dict[str, Any], shape: list[int], binary: bool
) -> None:
    # [rows, 0] holds no data whatever its row count, and once made as many empty rows (8 s and
    # 150 MB for 3,000,000) or a 500 from numpy (2**62); a dimension numpy cannot hold is refused.
    tensor: dict[str, Any] = {"name": "input-0", "shape": shape, "datatype": "FP32"}
    if binary:
        tensor["parameters"] = {"binary_data_size": 0}
        body = json.dumps({"inputs": [tensor]}).encode()
        answer = _post(client, alice, body, {HEADER: str(len(body))})
    else:
        tensor["data"] = []
        answer = _post(client, alice, json.dumps({"inputs": [tensor]}).encode())
    assert answer.status_code in (400, 422), answer.text
    assert "error" in answer.json()
