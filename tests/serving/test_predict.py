"""POST /api/v1/models/{name}[/versions/{v}]/predict: inputs, outputs, errors, limits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from modelyard.registry.loaders import Prediction
from modelyard.serving.service import ServingCore
from tests.helpers import Account
from tests.registry.factories import (
    classifier,
    onnx_classifier,
    onnx_matmul,
    register_ok,
    skops_classifier,
)

SCHEMA = [
    {"name": "age", "type": "float"},
    {"name": "visits", "type": "int"},
    {"name": "smoker", "type": "bool"},
    {"name": "score", "type": "float", "required": False, "default": 0.0},
]
ROW = {"age": 25, "visits": 3, "smoker": True, "score": 0.5}


def core_of(client: TestClient) -> ServingCore:
    core: ServingCore = client.app.state.serving  # type: ignore[attr-defined]
    return core


@pytest.fixture
def model(client: TestClient, alice: Account) -> dict[str, Any]:
    return register_ok(client, alice, "m", skops_classifier(4), schema=SCHEMA)


def predict(client: TestClient, account: Account, body: Any, path: str = "/api/v1/models/m") -> Any:
    return client.post(f"{path}/predict", json=body, headers=account.headers)


def test_records_give_labels_classes_and_probabilities(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    response = predict(client, alice, [ROW, {**ROW, "age": -3}])
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["X-Predict-Id"] == body["predict_id"]
    assert body["model"] == "m"
    assert body["version"] == 1
    assert body["classes"] == [0, 1]
    assert len(body["predictions"]) == 2
    expected = classifier(4).predict_proba(np.array([[25, 3, 1, 0.5], [-3, 3, 1, 0.5]]))
    assert np.allclose(body["probabilities"], expected)
    assert body["predictions"] == [int(p.argmax()) for p in expected]


def test_arrays_and_x_records_are_accepted(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    arrays = predict(client, alice, {"X": [[25, 3, True, 0.5]]})
    records = predict(client, alice, {"X": [ROW]})
    assert arrays.status_code == records.status_code == 200
    assert arrays.json()["probabilities"] == records.json()["probabilities"]


def test_strings_that_are_numbers_are_coerced(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    coerced = predict(client, alice, [{"age": "25", "visits": "3", "smoker": "true", "score": 0.5}])
    assert coerced.json()["probabilities"] == predict(client, alice, [ROW]).json()["probabilities"]


@pytest.mark.parametrize(
    ("row", "loc", "kind"),
    [
        ({"visits": 3, "smoker": True}, ["rows", 0, "age"], "missing"),
        ({**ROW, "height": 180}, ["rows", 0, "height"], "extra_forbidden"),
        ({**ROW, "age": None}, ["rows", 0, "age"], "none_forbidden"),
        ({**ROW, "age": "old"}, ["rows", 0, "age"], "float_parsing"),
        ({**ROW, "visits": 2.5}, ["rows", 0, "visits"], "int_from_float"),
        ({**ROW, "smoker": "maybe"}, ["rows", 0, "smoker"], "bool_parsing"),
        ({**ROW, "age": [1]}, ["rows", 0, "age"], "float_type"),
        ("not a row", ["rows", 0], "dict_type"),
    ],
)
def test_bad_rows_are_named_by_row_and_column(
    client: TestClient,
    alice: Account,
    model: dict[str, Any],
    row: Any,
    loc: list[Any],
    kind: str,
) -> None:
    response = predict(client, alice, [ROW, row] if isinstance(row, dict) else [row])
    assert response.status_code == 422, response.text
    assert response.headers["X-Predict-Id"]
    error = response.json()["error"]
    assert error["code"] == "invalid_predict_input"
    if isinstance(row, dict):
        loc = [loc[0], 1, *loc[2:]]
    assert {"loc": loc, "type": kind} == {k: error["details"][0][k] for k in ("loc", "type")}


def test_an_optional_column_takes_its_default_when_missing_or_null(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    given = {"age": 1, "visits": 2, "smoker": False, "score": 0.0}
    rows = [given, {"age": 1, "visits": 2, "smoker": False}, {**given, "score": None}]
    probabilities = predict(client, alice, rows).json()["probabilities"]
    assert probabilities[0] == probabilities[1] == probabilities[2]


@pytest.mark.parametrize(
    "body",
    [{"X": [[1, 2, 3]]}, {"rows": []}, [], {"X": "nope"}, 42, {"X": [[1, 2, "x", 4]]}],
)
def test_malformed_bodies_are_422(
    client: TestClient, alice: Account, model: dict[str, Any], body: Any
) -> None:
    response = predict(client, alice, body)
    assert response.status_code == 422, response.text
    assert response.headers["X-Predict-Id"]


def test_a_body_that_is_not_json_is_422(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    response = client.post(
        "/api/v1/models/m/predict",
        content=b"{nope",
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["type"] == "json_invalid"


def test_versions_by_number_and_alias(client: TestClient, alice: Account) -> None:
    register_ok(client, alice, "m", skops_classifier(4))
    register_ok(client, alice, "m", onnx_classifier(4))
    row = {"X": [[0.1, 0.2, 0.3, 0.4]]}
    assert predict(client, alice, row).json()["version"] == 2  # latest without production
    client.put("/api/v1/models/m/aliases/production", json={"version": 1}, headers=alice.headers)
    assert predict(client, alice, row).json()["version"] == 1  # production once set
    for ref, number in [("1", 1), ("2", 2), ("latest", 2), ("production", 1)]:
        response = predict(client, alice, row, f"/api/v1/models/m/versions/{ref}")
        assert response.json()["version"] == number
    missing = predict(client, alice, row, "/api/v1/models/m/versions/7")
    assert missing.status_code == 404
    assert missing.headers["X-Predict-Id"]


def test_onnx_models_predict_like_their_source(client: TestClient, alice: Account) -> None:
    register_ok(client, alice, "zip", onnx_classifier(4, zipmap=True))
    register_ok(client, alice, "plain", onnx_classifier(4))
    register_ok(client, alice, "reg", onnx_matmul())
    rows = [[0.5, -1.0, 0.25, 2.0], [-0.5, 1.0, 0.0, 0.0]]
    expected = classifier(4).predict_proba(np.array(rows))
    for name in ("zip", "plain"):
        body = predict(client, alice, {"X": rows}, f"/api/v1/models/{name}").json()
        assert np.allclose(body["probabilities"], expected, atol=1e-5)
        assert body["classes"] == [0, 1]
    records = [{"x0": 1, "x1": 2, "x2": 3}]
    regression = predict(client, alice, records, "/api/v1/models/reg").json()
    assert regression["predictions"] == [[6.0]]
    assert "probabilities" not in regression


def test_a_model_is_loaded_once(client: TestClient, alice: Account, model: dict[str, Any]) -> None:
    for _ in range(5):
        assert predict(client, alice, [ROW]).status_code == 200
    assert core_of(client).cache.loads == 1


class _Counting:
    """A fake runtime that counts its calls (and can fail)."""

    def __init__(self, fail: bool = False) -> None:
        self.kind = "classifier"
        self.classes = [0, 1]
        self.n_features = 4
        self.feature_names = None
        self.calls = 0
        self.fail = fail

    def predict(self, matrix: np.ndarray) -> Prediction:
        self.calls += 1
        if self.fail:
            raise ValueError("the model broke")
        return Prediction([0] * len(matrix), [[1.0, 0.0]] * len(matrix), self.classes)


def _install(client: TestClient, account: Account, runtime: _Counting) -> None:
    core = core_of(client)
    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        from modelyard.auth.models import User
        from modelyard.registry.service import serving_target

        user = session.get(User, account.id)
        assert user is not None
        target = serving_target(session, user, "m", None)
    core.cache.put(target, runtime)


def test_a_model_that_raises_gives_500_predict_error(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    runtime = _Counting(fail=True)
    _install(client, alice, runtime)
    response = predict(client, alice, [ROW])
    assert response.status_code == 500
    assert response.headers["X-Predict-Id"]
    error = response.json()["error"]
    assert error["code"] == "predict_error"
    assert "the model broke" in error["message"]
    assert runtime.calls == 1


class TestRowLimit:
    @pytest.fixture
    def serving_overrides(self) -> dict[str, object]:
        return {"serving": {"max_rows_per_request": 5}}

    def test_too_many_rows_are_refused_before_the_model_runs(
        self, client: TestClient, alice: Account, model: dict[str, Any]
    ) -> None:
        runtime = _Counting()
        _install(client, alice, runtime)
        response = predict(client, alice, [ROW] * 6)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "too_many_rows"
        assert response.headers["X-Predict-Id"]
        assert runtime.calls == 0
        # Even rows that would fail validation are only counted.
        assert predict(client, alice, {"X": [["bad"]] * 1_000}).status_code == 413
        assert predict(client, alice, [ROW] * 5).status_code == 200
        assert runtime.calls == 1


def test_a_million_rows_are_refused_before_the_model_runs(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    runtime = _Counting()
    _install(client, alice, runtime)
    body = b'{"X": [' + b",".join([b"[1,2,1,0]"] * 1_000_000) + b"]}"
    response = client.post(
        "/api/v1/models/m/predict",
        content=body,
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["X-Predict-Id"]
    assert runtime.calls == 0


def test_credentials_and_ownership(
    client: TestClient, alice: Account, bob: Account, model: dict[str, Any]
) -> None:
    anonymous = client.post("/api/v1/models/m/predict", json=[ROW])
    assert anonymous.status_code == 401
    assert anonymous.headers["X-Predict-Id"]
    bad = client.post("/api/v1/models/m/predict", json=[ROW], headers={"Authorization": "Bearer x"})
    assert bad.status_code == 401
    assert predict(client, bob, [ROW]).status_code == 404
    assert (
        client.post(
            "/api/v1/models/m/predict", json=[ROW], headers={"X-API-Key": "nope"}
        ).status_code
        == 401
    )


def test_nan_and_infinity_are_not_json(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    for raw in (b'{"X": [[NaN, 3, 1, 0]]}', b'[{"age": Infinity, "visits": 3, "smoker": 1}]'):
        response = client.post(
            "/api/v1/models/m/predict",
            content=raw,
            headers={**alice.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["type"] == "json_invalid"


def test_an_integer_beyond_float_range_is_a_422_not_a_500(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    huge = "1" + "0" * 400
    for body in (
        f'{{"X": [[{huge}, 3, true, 0.5]]}}',
        f'[{{"age": {huge}, "visits": 3, "smoker": true}}]',
        '{"X": [[1e400, 3, true, 0.5]]}',
    ):
        response = client.post(
            "/api/v1/models/m/predict",
            content=body,
            headers={**alice.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        detail = response.json()["error"]["details"][0]
        assert detail["type"] == "finite_number"
        assert detail["loc"][0] == "rows"  # the cell is named, not only the body


@pytest.mark.parametrize(
    "rows",
    [
        [[25, 3, True, 0.5], [-1.5, 0, False, 2]],
        [[25, 3, 1, 0.5]],
        [["25", 3, True, 0.5]],
        [[25, 3, None, 0.5]],
        [[25, 3.5, True, 0.5]],
        [[25, 3, 2, 0.5]],
        [[25, 3, True]],
        [[25, 3, True, 0.5], [1, 2, 3]],
        [[25, 3, True, [0.5]]],
        [[1e308 * 10, 3, True, 0.5]],
    ],
)
def test_the_fast_numeric_path_answers_as_the_cell_by_cell_one(rows: list[Any]) -> None:
    """coerce_arrays tries numpy on the whole matrix first; it must agree with the slow path."""
    from modelyard.registry import input_schema
    from modelyard.registry.input_schema import Column, coerce_arrays

    columns = [Column.model_validate(c) for c in SCHEMA]
    fast = coerce_arrays(rows, columns)
    original = input_schema._numeric_matrix
    try:
        input_schema._numeric_matrix = lambda arrays, cols: None  # type: ignore[assignment]
        slow = coerce_arrays(rows, columns)
    finally:
        input_schema._numeric_matrix = original
    assert fast[1] == slow[1]
    if slow[0] is None:
        assert fast[0] is None
    else:
        assert fast[0] is not None and np.array_equal(fast[0], slow[0])
        assert fast[0].dtype == slow[0].dtype


def test_a_client_that_disconnects_before_its_body_is_no_server_error(
    client: TestClient, alice: Account, model: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """wrk closes its connections when a test ends: that was logged as an unhandled 500."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/v1/models/m/predict",
            "raw_path": b"/api/v1/models/m/predict",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"test"),
                (b"content-type", b"application/json"),
                (b"content-length", b"40"),
                (b"authorization", alice.headers["Authorization"].encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("test", 80),
        }
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    with caplog.at_level("ERROR", logger="modelyard.errors"):
        client.portal.call(call)  # type: ignore[union-attr]
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
    assert not any(m.get("status") == 500 for m in sent if m["type"] == "http.response.start")


@pytest.mark.parametrize(
    "path", ["/api/v1/models/m/predict", "/api/v1/models/m/versions/1/predict"]
)
def test_a_wrong_method_on_a_predict_route_is_405_not_500(
    client: TestClient, alice: Account, model: dict[str, Any], path: str
) -> None:
    response = client.get(path, headers=alice.headers)
    assert response.status_code == 405, response.text
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"
    assert response.headers["X-Predict-Id"]
