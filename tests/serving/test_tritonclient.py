"""NVIDIA's own v2 client, ``tritonclient.http``, unchanged, against a real ``modelyard serve``:
the main server and the single-model server (``--model FILE``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import skops.io as sio
import tritonclient.http as triton
from sklearn.linear_model import LinearRegression, LogisticRegression
from tritonclient.utils import InferenceServerException

from modelyard.db import Database
from tests.conftest import _empty_tables
from tests.helpers import running_server
from tests.registry.factories import classifier, skops_classifier, training_data

FLOAT_SCHEMA = [{"name": f"f{i}", "type": "float"} for i in range(4)]
MIXED_SCHEMA = [
    {"name": "age", "type": "float"},
    {"name": "visits", "type": "int"},
    {"name": "smoker", "type": "bool"},
    {"name": "score", "type": "float"},
]
ROWS = np.array([[0.5, -1.0, 2.0, 0.1], [-2.0, 0.3, 0.0, 1.5], [1.2, 1.1, -0.7, 0.0]])


def _api_key(base: str) -> str:
    account = {"email": "triton@example.com", "password": "test123"}
    assert httpx.post(f"{base}/api/v1/users", json=account).status_code == 201
    token = httpx.post(
        f"{base}/api/v1/auth/token", json={"login": account["email"], "password": "test123"}
    ).json()["access_token"]
    created = httpx.post(
        f"{base}/api/v1/api-keys",
        json={"name": "triton"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


def _register(base: str, key: str, name: str, data: bytes, schema: Any = None) -> None:
    files: dict[str, Any] = {"file": ("model.bin", data, "application/octet-stream")}
    if schema is not None:
        files["input_schema"] = ("input_schema.json", json.dumps(schema), "application/json")
    response = httpx.post(
        f"{base}/api/v1/models",
        data={"name": name},
        files=files,
        headers={"X-API-Key": key},
        timeout=60,
    )
    assert response.status_code == 201, response.text


def _word_classifier() -> LogisticRegression:
    features, labels = training_data(4)
    return LogisticRegression().fit(features, np.where(labels == 1, "yes", "no"))


def _regressor() -> LinearRegression:
    features, _ = training_data(4)
    return LinearRegression().fit(features, features[:, 0] * 2.0 + 1.0)


# infer() writes its own headers (Content-Encoding, Inference-Header-Content-Length) into the
# dict it is given, so each call here gets a fresh one.


def _client(base: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(
        base.removeprefix("http://"), connection_timeout=60, network_timeout=60
    )


def _matrix_input(rows: np.ndarray, binary: bool, name: str = "input-0") -> triton.InferInput:
    tensor = triton.InferInput(
        name, list(rows.shape), "FP64" if rows.dtype == np.float64 else "FP32"
    )
    tensor.set_data_from_numpy(rows, binary_data=binary)
    return tensor


def _outputs(binary: bool) -> list[triton.InferRequestedOutput]:
    return [
        triton.InferRequestedOutput("predict", binary_data=binary),
        triton.InferRequestedOutput("predict_proba", binary_data=binary),
    ]


def _came_as(result: triton.InferResult, name: str) -> str:
    output = result.get_output(name)
    assert output is not None
    return "binary" if "binary_data_size" in (output.get("parameters") or {}) else "json"


@pytest.fixture(scope="module")
def main_server(
    tmp_path_factory: pytest.TempPathFactory, migrated_database: Database
) -> Iterator[tuple[str, str]]:
    """A real main server with a user's API key and four models registered through the API;
    one for the module (a server takes seconds to start), its rows removed at the end."""
    try:
        with running_server(tmp_path_factory.mktemp("triton")) as (base, _log):
            key = _api_key(base)
            _register(base, key, "clf", skops_classifier(4), FLOAT_SCHEMA)
            _register(base, key, "clf", sio.dumps(classifier(4)), FLOAT_SCHEMA)  # version 2
            _register(base, key, "mixed", skops_classifier(4), MIXED_SCHEMA)
            _register(base, key, "words", sio.dumps(_word_classifier()))
            _register(base, key, "reg", sio.dumps(_regressor()))
            yield base, key
    finally:
        _empty_tables(migrated_database)


def test_tritonclient_health_readiness_and_metadata(main_server: tuple[str, str]) -> None:
    base, key = main_server
    client = _client(base)
    headers = {"X-API-Key": key}
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    assert client.is_model_ready("clf", headers=headers)
    assert client.is_model_ready("clf", "1", headers=headers)
    assert not client.is_model_ready("nope", headers=headers)
    assert not client.is_model_ready("clf")  # no credentials

    meta = client.get_model_metadata("clf", headers=headers)
    assert meta["versions"] == ["1", "2"]
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert {o["name"]: o["datatype"] for o in meta["outputs"]} == {
        "predict": "INT64",
        "predict_proba": "FP64",
    }
    assert client.get_model_metadata("clf", "1", headers=headers)["versions"] == ["1", "2"]
    words = client.get_model_metadata("words", headers=headers)
    assert words["outputs"][0] == {"name": "predict", "datatype": "BYTES", "shape": [-1]}
    reg = client.get_model_metadata("reg", headers=headers)
    assert reg["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    with pytest.raises(InferenceServerException) as missing:
        client.get_model_metadata("nope", headers=headers)
    assert missing.value.status() == "404"


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infers_with_one_tensor(main_server: tuple[str, str], binary: bool) -> None:
    base, key = main_server
    client = _client(base)
    reference = classifier(4)
    result = client.infer(
        "clf",
        [_matrix_input(ROWS, binary)],
        outputs=_outputs(binary),
        headers={"X-API-Key": key},
        request_compression_algorithm="gzip" if binary else "deflate",
    )
    assert (
        _came_as(result, "predict")
        == _came_as(result, "predict_proba")
        == ("binary" if binary else "json")
    )
    predict = result.as_numpy("predict")
    assert predict.dtype == np.int64 and predict.tolist() == reference.predict(ROWS).tolist()
    assert np.allclose(result.as_numpy("predict_proba"), reference.predict_proba(ROWS))
    assert result.get_response()["model_version"] == "2"

    # FP32 rows, version 1, no outputs listed (the client then asks for binary outputs).
    rows32 = ROWS.astype(np.float32)
    result = client.infer(
        "clf", [_matrix_input(rows32, binary)], model_version="1", headers={"X-API-Key": key}
    )
    assert result.get_response()["model_version"] == "1"
    assert _came_as(result, "predict") == "binary"
    assert result.as_numpy("predict").tolist() == reference.predict(rows32).tolist()
    assert result.as_numpy("predict_proba").shape == (3, 2)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infers_with_one_tensor_per_column(
    main_server: tuple[str, str], binary: bool
) -> None:
    base, key = main_server
    client = _client(base)
    columns = {
        "age": np.array([25.0, 61.5]),
        "visits": np.array([3, 0], dtype=np.int64),
        "smoker": np.array([[True], [False]]),
        "score": np.array([0.5, 1.0], dtype=np.float32),
    }
    inputs = []
    for name, values in columns.items():
        tensor = triton.InferInput(name, list(values.shape), triton_datatype(values))
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    result = client.infer("mixed", inputs, outputs=_outputs(binary), headers={"X-API-Key": key})
    expected = classifier(4).predict(np.array([[25.0, 3, 1, 0.5], [61.5, 0, 0, 1.0]]))
    assert result.as_numpy("predict").tolist() == expected.tolist()


def triton_datatype(values: np.ndarray) -> str:
    from tritonclient.utils import np_to_triton_dtype

    datatype: str = np_to_triton_dtype(values.dtype)
    return datatype


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_reads_text_labels_and_regressions(
    main_server: tuple[str, str], binary: bool
) -> None:
    base, key = main_server
    client = _client(base)
    words = client.infer(
        "words",
        [_matrix_input(ROWS, binary)],
        outputs=_outputs(binary),
        headers={"X-API-Key": key},
    )
    labels = [v.decode() if isinstance(v, bytes) else v for v in words.as_numpy("predict")]
    assert labels == _word_classifier().predict(ROWS).tolist()
    reg = client.infer(
        "reg",
        [_matrix_input(ROWS, binary)],
        outputs=[triton.InferRequestedOutput("predict", binary_data=binary)],
        headers={"X-API-Key": key},
    )
    assert np.allclose(reg.as_numpy("predict"), _regressor().predict(ROWS))


def test_tritonclient_hears_the_servers_refusals(main_server: tuple[str, str]) -> None:
    base, key = main_server
    client = _client(base)
    wrong_width = _matrix_input(np.zeros((2, 3)), binary=True)
    with pytest.raises(InferenceServerException) as refused:
        client.infer("clf", [wrong_width], headers={"X-API-Key": key})
    assert refused.value.status() == "422"
    with pytest.raises(InferenceServerException) as unknown:
        client.infer(
            "clf",
            [_matrix_input(ROWS, binary=True)],
            outputs=[triton.InferRequestedOutput("embedding")],
            headers={"X-API-Key": key},
        )
    assert unknown.value.status() == "400" and "unknown output 'embedding'" in str(unknown.value)


def test_tritonclient_against_the_single_model_server(tmp_path: Path, database: Database) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(skops_classifier(6))
    args = ["--model", str(path), "--public", "--name", "churn"]
    rows = np.array([[1, 2, 3, 4, 5, 6], [7, 6, 5, 4, 3, 2]], dtype=np.float64)
    reference = classifier(6)
    with running_server(tmp_path, args=args) as (base, _log):
        client = _client(base)
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("churn")
        assert client.is_model_ready("churn", "1.0.0.0")  # mlup's version, as /info shows it
        assert client.is_model_ready("churn", "1")
        assert not client.is_model_ready("other")
        meta = client.get_model_metadata("churn")
        assert meta["name"] == "churn" and meta["versions"] == ["1"]
        assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 6]}]
        assert [o["datatype"] for o in meta["outputs"]] == ["INT64", "FP64"]

        for binary in (False, True):
            one = client.infer("churn", [_matrix_input(rows, binary)], outputs=_outputs(binary))
            assert _came_as(one, "predict") == ("binary" if binary else "json")
            assert one.as_numpy("predict").tolist() == reference.predict(rows).tolist()
            assert np.allclose(one.as_numpy("predict_proba"), reference.predict_proba(rows))

            columns = []
            for i in range(6):
                tensor = triton.InferInput(f"x{i}", [2], "FP64")
                tensor.set_data_from_numpy(np.ascontiguousarray(rows[:, i]), binary_data=binary)
                columns.append(tensor)
            per_column = client.infer("churn", columns, model_version="1.0.0.0")
            assert per_column.as_numpy("predict").tolist() == reference.predict(rows).tolist()
