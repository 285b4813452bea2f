"""The Open Inference Protocol (KServe v2 REST): health, metadata, readiness, infer, errors."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.helpers import Account
from tests.registry.factories import classifier, register_ok, skops_classifier

FLOAT_SCHEMA = [{"name": f"f{i}", "type": "float"} for i in range(4)]
MIXED_SCHEMA = [
    {"name": "age", "type": "float"},
    {"name": "visits", "type": "int"},
    {"name": "smoker", "type": "bool"},
    {"name": "score", "type": "float"},
]
ROWS = [[0.5, -1.0, 2.0, 0.1], [-2.0, 0.3, 0.0, 1.5], [1.2, 1.1, -0.7, 0.0]]


@pytest.fixture
def model(client: TestClient, alice: Account) -> dict[str, Any]:
    return register_ok(client, alice, "clf", skops_classifier(4), schema=FLOAT_SCHEMA)


def tensor_body(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    flat = [value for row in rows for value in row]
    return {
        "inputs": [{"name": "input-0", "shape": [len(rows), 4], "datatype": "FP64", "data": flat}],
        **extra,
    }


def test_health_and_server_metadata_need_no_credentials(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2").json()
    assert meta["name"] == "modelyard" and meta["extensions"] == ["binary_tensor_data"]


def test_model_metadata_describes_the_tensors(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    meta = client.get("/v2/models/clf", headers=alice.headers)
    assert meta.status_code == 200, meta.text
    body = meta.json()
    assert body["name"] == "clf" and body["versions"] == ["1"]
    assert body["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert [o["name"] for o in body["outputs"]] == ["predict", "predict_proba"]
    assert body["outputs"][1]["shape"] == [-1, 2]
    assert client.get("/v2/models/clf/versions/1", headers=alice.headers).json() == body
    ready = client.get("/v2/models/clf/ready", headers=alice.headers)
    assert ready.json() == {"name": "clf", "ready": True}


def test_infer_with_one_tensor_matches_the_model_in_process(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    response = client.post("/v2/models/clf/infer", json=tensor_body(ROWS), headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.headers["X-Predict-Id"]
    body = response.json()
    assert body["model_name"] == "clf" and body["model_version"] == "1"
    assert body["id"] == response.headers["X-Predict-Id"]
    outputs = {o["name"]: o for o in body["outputs"]}
    reference = classifier(4)
    expected = reference.predict_proba(np.array(ROWS))
    proba = outputs["predict_proba"]
    assert proba["shape"] == [3, 2] and proba["datatype"] == "FP64"
    assert np.allclose(np.array(proba["data"]).reshape(3, 2), expected)
    predict = outputs["predict"]
    assert predict["shape"] == [3] and predict["datatype"] == "INT64"
    assert predict["data"] == reference.predict(np.array(ROWS)).tolist()


def test_infer_as_the_serving_benchmark_sends_it(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    # gen_payloads.py's v2 template: one FP64 tensor, only predict_proba asked for, an id.
    body = tensor_body(ROWS[:1], outputs=[{"name": "predict_proba"}], id="req-7")
    response = client.post("/v2/models/clf/versions/1/infer", json=body, headers=alice.headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"] == "req-7"
    assert [o["name"] for o in answer["outputs"]] == ["predict_proba"]
    assert answer["outputs"][0]["shape"] == [1, 2]


def test_nested_data_is_accepted(client: TestClient, alice: Account, model: dict[str, Any]) -> None:
    body = {"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP64", "data": ROWS}]}
    response = client.post("/v2/models/clf/infer", json=body, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["shape"] == [3]


def test_infer_with_one_tensor_per_column(client: TestClient, alice: Account) -> None:
    register_ok(client, alice, "mixed", skops_classifier(4), schema=MIXED_SCHEMA)
    meta = client.get("/v2/models/mixed", headers=alice.headers).json()
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    body = {
        "inputs": [
            {"name": "age", "shape": [2], "datatype": "FP64", "data": [25.0, 61.5]},
            {"name": "visits", "shape": [2], "datatype": "INT64", "data": [3, 0]},
            {"name": "smoker", "shape": [2, 1], "datatype": "BOOL", "data": [True, False]},
            {"name": "score", "shape": [2], "datatype": "FP32", "data": [0.5, 1.0]},
        ]
    }
    response = client.post("/v2/models/mixed/infer", json=body, headers=alice.headers)
    assert response.status_code == 200, response.text
    expected = classifier(4).predict(np.array([[25.0, 3, 1, 0.5], [61.5, 0, 0, 1.0]]))
    assert response.json()["outputs"][0]["data"] == expected.tolist()


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (
            {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1.0] * 7}]},
            400,
            "holds 8 values, data has 7",
        ),
        (
            {
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, "a", 4]}
                ]
            },
            400,
            "is not a FP64 value",
        ),
        (tensor_body(ROWS, outputs=[{"name": "embedding"}]), 400, "unknown output 'embedding'"),
        (
            {"inputs": [{"name": "nope", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
            400,
            "unknown input 'nope'",
        ),
        ({"inputs": []}, 422, "inputs"),
        ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP99", "data": []}]}, 422, ""),
        (
            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
            422,
            "",
        ),
    ],
)
def test_bad_requests_get_a_protocol_error(
    client: TestClient,
    alice: Account,
    model: dict[str, Any],
    body: dict[str, Any],
    status: int,
    fragment: str,
) -> None:
    response = client.post("/v2/models/clf/infer", json=body, headers=alice.headers)
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) == {"error"} and isinstance(error["error"], str)
    assert fragment in error["error"]
    assert response.headers["X-Predict-Id"]


def test_credentials_and_ownership(
    client: TestClient, alice: Account, bob: Account, model: dict[str, Any]
) -> None:
    anonymous = client.post("/v2/models/clf/infer", json=tensor_body(ROWS))
    assert anonymous.status_code == 401 and set(anonymous.json()) == {"error"}
    for path in ("/v2/models/clf", "/v2/models/clf/ready"):
        foreign = client.get(path, headers=bob.headers)
        assert foreign.status_code == 404 and set(foreign.json()) == {"error"}
    foreign = client.post("/v2/models/clf/infer", json=tensor_body(ROWS), headers=bob.headers)
    assert foreign.status_code == 404


def test_v2_calls_are_in_the_request_log(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    response = client.post("/v2/models/clf/infer", json=tensor_body(ROWS), headers=alice.headers)
    predict_id = response.headers["X-Predict-Id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = client.get("/api/v1/models/clf/requests", headers=alice.headers).json()
        if log["items"]:
            break
        time.sleep(0.05)
    entry = log["items"][0]
    assert entry["predict_id"] == predict_id and entry["source"] == "v2"
    assert entry["n_rows"] == 3 and entry["status"] == 200
