"""mlup's web app API (document 004), its requests and answers as written, against the app.

The single-model app is built the way `modelyard serve --model` builds it: the file is
registered under the operator account, then served at the root next to the whole service.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelyard.compat.mlup import create_single_model_app, prepare_served_model
from modelyard.compat.mlup_config import build_config
from modelyard.config import Settings
from tests.compat.mlup_support import ROWS, Exploding, is_mlup_error, pickled
from tests.helpers import make_admin, sign_up
from tests.registry.factories import (
    HEART_FEATURES,
    HEART_SCHEMA,
    heart_classifier,
    skops_classifier,
)

MLUP_COLUMNS = [{"name": f"col{i}", "type": "float"} for i in range(6)]

Serve = Callable[..., Any]  # the `serve` fixture of conftest.py


def test_health_answers_head_get_and_options(serve: Serve) -> None:
    client = serve(skops_classifier(6))
    head = client.head("/health")
    assert (head.status_code, head.content) == (200, b"")
    for method in ("GET", "OPTIONS"):
        response = client.request(method, "/health")
        assert response.status_code == 200
        assert response.json() == {"status_code": 200}


def test_info_without_debug_is_informational_only(serve: Serve) -> None:
    client = serve(skops_classifier(6))
    response = client.get("/info")
    assert response.status_code == 200
    assert response.json() == {
        "model_info": {
            "name": "MyFirstMLupModel",
            "version": "1.0.0.0",
            "type": "sklearn",
            "columns": [
                {"name": f"x{i}", "type": "float", "required": True, "default": None}
                for i in range(6)
            ],
        },
        "web_app_info": {"version": "1.0.0.0"},
    }


def test_info_with_debug_adds_the_configs_in_the_documents_shape(serve: Serve) -> None:
    client = serve(skops_classifier(6), debug=True, schema=MLUP_COLUMNS)
    body = client.get("/info").json()
    # The document's example, key for key; host, port and debug are this server's.
    assert body["web_app_config"] == {
        "host": "127.0.0.1",
        "port": 8000,
        "web_app_version": "1.0.0.0",
        "column_validation": False,
        "custom_column_pydantic_model": None,
        "mode": "mlup.web.architecture.directly_to_predict.DirectlyToPredictArchitecture",
        "max_queue_size": 100,
        "ttl_predicted_data": 60,
        "ttl_client_wait": 30.0,
        "min_batch_len": 10,
        "batch_worker_timeout": 1.0,
        "is_long_predict": False,
        "show_docs": True,
        "debug": True,
        "throttling_max_requests": None,
        "throttling_max_request_len": None,
        "timeout_for_shutdown_daemon": 3.0,
        "item_id_col_name": "mlup_item_id",
    }
    columns = [{**c, "required": True, "default": None} for c in MLUP_COLUMNS]
    assert body["model_config"] == {
        "name": "MyFirstMLupModel",
        "version": "1.0.0.0",
        "type": "sklearn",
        "columns": columns,
        "predict_method_name": "predict",
        "auto_detect_predict_params": True,
        "storage_type": "mlup.ml.storage.memory.MemoryStorage",
        "binarization_type": "auto",
        "use_thread_loop": True,
        "max_thread_loop_workers": None,
        "data_transformer_for_predict": (
            "mlup.ml.data_transformers.numpy_data_transformer.NumpyDataTransformer"
        ),
        "data_transformer_for_predicted": (
            "mlup.ml.data_transformers.numpy_data_transformer.NumpyDataTransformer"
        ),
        "dtype_for_predict": None,
    }
    assert body["model_info"]["columns"] == columns
    assert body["web_app_info"] == {"version": "1.0.0.0"}


@pytest.mark.parametrize("key", ["X", "data_for_predict"])
def test_predict_takes_the_documents_bodies(serve: Serve, key: str) -> None:
    client = serve(skops_classifier(6))
    response = client.post("/predict", json={key: ROWS})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"predict_result"}
    result = response.json()["predict_result"]
    assert len(result) == 2 and set(result) <= {0, 1}
    assert response.headers["X-Predict-Id"]
    # Extra predict parameters (the document's "check_something") are ignored, as by sklearn.
    extra = client.post("/predict", json={key: ROWS, "check_something": False})
    assert extra.json() == response.json()


def test_predict_proba_as_the_predict_method(serve: Serve) -> None:
    client = serve(skops_classifier(6), predict_method_name="predict_proba")
    result = client.post("/predict", json={"X": ROWS}).json()["predict_result"]
    assert len(result) == 2 and all(len(p) == 2 and abs(sum(p) - 1) < 1e-9 for p in result)


def test_every_answer_has_its_own_predict_id(serve: Serve) -> None:
    client = serve(skops_classifier(6))
    answers = [
        client.post("/predict", json={"X": ROWS}),
        client.post("/predict", json={"X": [[1]]}),
        client.get("/info"),
        client.get("/health"),
    ]
    ids = [a.headers["X-Predict-Id"] for a in answers]
    assert all(ids) and len(set(ids)) == 4


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"X": [[1, 2, 3]]}, ["X", 0], "row_length"),
        ({"data_for_predict": [[1, 2, 3, 4, 5, "six"]]}, ["data_for_predict", 0, "col5"], None),
        ({"X": [[1, 2, 3, 4, 5, None]]}, ["X", 0, "col5"], "none_forbidden"),
        ({"X": [{"col0": 1}]}, ["X", 0, "col1"], "missing"),
        ({"X": [7]}, ["X", 0], "list_type"),
        ({"X": "rows"}, ["X"], "list_type"),
        ({"X": []}, None, "too_short"),
        ({"X": ROWS, "data_for_predict": ROWS}, [], "body"),
    ],
)
def test_rows_that_do_not_fit_are_422_in_mlups_shape(
    serve: Serve, body: Any, loc: list[Any] | None, kind: str | None
) -> None:
    client = serve(skops_classifier(6), schema=MLUP_COLUMNS)
    response = client.post("/predict", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    is_mlup_error(response.json(), response)
    if loc is not None:
        assert detail[0]["loc"] == loc
    if kind is not None:
        assert detail[0]["type"] == kind


@pytest.mark.parametrize("raw", [b"{nope", b'{"X": [[NaN, 1, 2, 3, 4, 5]]}'])
def test_a_body_that_is_not_json_is_refused_not_500(serve: Serve, raw: bytes) -> None:
    client = serve(skops_classifier(6))
    response = client.post("/predict", content=raw)
    assert response.status_code in (400, 422)
    assert response.headers["X-Predict-Id"]


def test_a_number_no_double_holds_is_mlups_422_at_its_cell(serve: Serve) -> None:
    # Valid JSON that orjson will not read: it must not fall through to the Machine learning
    # API's face (a 409 for this three-class model) but be refused where it stands.
    client = serve(skops_classifier(6), schema=MLUP_COLUMNS)
    for number in ("1e400", "1" + "0" * 400):
        response = client.post("/predict", content=f'{{"X": [[1, 2, 3, 4, 5, {number}]]}}')
        assert response.status_code == 422, response.text
        is_mlup_error(response.json(), response)
        assert response.json()["detail"][0]["loc"] == ["X", 0, "col5"]


def test_throttling_max_request_len_compares_the_row_count(serve: Serve) -> None:
    client = serve(skops_classifier(6), throttling_max_request_len=3)
    # mlup refused every request once the limit was set; these fit and pass.
    assert client.post("/predict", json={"X": ROWS[:1]}).status_code == 200
    assert client.post("/predict", json={"X": ROWS + ROWS[:1]}).status_code == 200
    response = client.post("/predict", json={"X": ROWS * 2})
    assert response.status_code == 429
    is_mlup_error(response.json(), response)
    assert response.json()["detail"] == [
        {
            "loc": [],
            "msg": "The query exceeded the limit on the number of rows for the predict. "
            "Please downsize your request.",
            "type": "throttling_error",
        }
    ]


def test_a_model_that_raises_is_500_predict_error(serve: Serve) -> None:
    client = serve(pickled(Exploding()))
    response = client.post("/predict", json={"X": ROWS})
    assert response.status_code == 500
    is_mlup_error(response.json(), response)
    assert response.json()["detail"] == [
        {"loc": [], "msg": "ValueError: boom", "type": "predict_error"}
    ]


def test_the_operators_pickle_is_served_but_users_still_cannot_upload_one(
    serve: Serve,
) -> None:
    client = serve(pickled(Exploding()))
    alice = sign_up(client, "alice@example.com")
    response = client.post(
        "/api/v1/models",
        data={"name": "mine"},
        files={"file": ("m.pkl", pickled(Exploding()), "application/octet-stream")},
        headers=alice.headers,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "pickle_not_allowed"


class TestCredentials:
    def test_without_public_predict_and_info_need_credentials(self, serve: Serve) -> None:
        client = serve(skops_classifier(6), public=False)
        for response in (client.post("/predict", json={"X": ROWS}), client.get("/info")):
            assert response.status_code == 401
            is_mlup_error(response.json(), response)
            assert response.json()["detail"][0]["type"] == "unauthenticated"
        bad = client.post("/predict", json={"X": ROWS}, headers={"Authorization": "Bearer x"})
        assert bad.status_code == 401
        assert client.get("/health").status_code == 200  # monitors need no key

    def test_a_token_or_an_api_key_is_enough(self, serve: Serve) -> None:
        client = serve(skops_classifier(6), public=False)
        alice = sign_up(client, "alice@example.com")
        key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=alice.headers)
        for headers in (
            alice.headers,
            {"Authorization": alice.token},
            {"X-API-Key": key.json()["key"]},
        ):
            response = client.post("/predict", json={"X": ROWS}, headers=headers)
            assert response.status_code == 200, response.text

    def test_public_needs_none_and_logs_anonymous_calls(self, serve: Serve) -> None:
        client = serve(skops_classifier(6))
        response = client.post("/predict", json={"X": ROWS})
        assert response.status_code == 200
        admin = make_admin(client)
        client.app.state.serving.log.flush()  # type: ignore[attr-defined]
        page = client.get("/api/v1/models/MyFirstMLupModel/requests", headers=admin.headers)
        (item,) = page.json()["items"]
        assert (item["source"], item["user_id"], item["n_rows"]) == ("mlup", None, 2)
        assert item["predict_id"] == response.headers["X-Predict-Id"]
        assert item["output"]["predictions"] == response.json()["predict_result"]


class TestOneRootPredictForBothClients:
    """The body decides: named features are the Machine learning API's, X is mlup's."""

    @pytest.fixture
    def client(self, serve: Serve) -> TestClient:
        client: TestClient = serve(heart_classifier(), public=False, schema=HEART_SCHEMA)
        return client

    def test_the_machine_learning_api_document_and_mlup_on_one_server(
        self, client: TestClient
    ) -> None:
        user = {"username": "eligijus_bujokas", "password": "password", "email": "e@x.com"}
        assert client.post("/register-user", json=user).status_code == 201
        token = client.post("/token", json=user).json()["token"]
        record = {
            "age": 25,
            "creatinine_phosphokinase": 1000,
            "ejection_fraction": 35,
            "platelets": 500000,
            "serum_creatinine": 8,
            "serum_sodium": 135,
            "sex": 1,
            "high_blood_pressure": 0,
        }
        ml = client.post("/predict", json=record, headers={"Authorization": token})
        assert ml.status_code == 200, ml.text
        assert set(ml.json()) == {"yhat_prob", "yhat"}
        assert ml.json()["yhat"] == ("1" if float(ml.json()["yhat_prob"]) > 0.5 else "0")

        row = [record[name] for name in HEART_FEATURES]
        up = client.post("/predict", json={"X": [row]}, headers={"Authorization": token})
        assert up.status_code == 200, up.text
        assert up.json() == {"predict_result": [int(ml.json()["yhat"])]}

        client.app.state.serving.log.flush()  # type: ignore[attr-defined]
        rows = client.get("/requests", headers={"Authorization": token}).json()
        assert [r["input"] for r in rows] == [record]  # the ML API's table: its own calls

    def test_each_face_answers_errors_in_its_own_shape(self, client: TestClient) -> None:
        alice = sign_up(client, "alice@example.com")
        ml_missing = client.post("/predict", json={"age": 1})
        assert (ml_missing.status_code, ml_missing.json()) == (401, {"error": "Unauthorized"})
        ml_bad = client.post("/predict", json={"age": "old"}, headers=alice.headers)
        assert (ml_bad.status_code, ml_bad.json()) == (400, {"message": "Bad request"})
        not_json = client.post("/predict", content=b"{nope", headers=alice.headers)
        assert (not_json.status_code, not_json.json()) == (400, {"message": "Bad request"})

        up_missing = client.post("/predict", json={"X": [[1] * 8]})
        assert up_missing.status_code == 401
        is_mlup_error(up_missing.json(), up_missing)
        up_bad = client.post("/predict", json={"X": [[1] * 7]}, headers=alice.headers)
        assert up_bad.status_code == 422
        is_mlup_error(up_bad.json(), up_bad)
        for response in (ml_missing, ml_bad, up_missing, up_bad):
            assert response.headers["X-Predict-Id"]


def test_the_model_is_registered_once_under_the_operator(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "m.skops"
    path.write_bytes(skops_classifier(6))
    config = build_config(None, {"name": "churn"})
    first = prepare_served_model(settings, config, model=path)
    again = prepare_served_model(settings, config, model=path)
    assert (again.target.version_id, again.target.version) == (first.target.version_id, 1)
    path.write_bytes(skops_classifier(6) + b"")  # same bytes: still version 1
    path.write_bytes(pickled(Exploding()))
    changed = prepare_served_model(settings, config, model=path)
    assert changed.target.version == 2 and changed.target.format == "pickle"
    with TestClient(create_single_model_app(settings, changed)) as client:
        admin = make_admin(client)
        model = client.get("/api/v1/models/churn", headers=admin.headers).json()
        assert model["versions"] == [1, 2]
        owner = client.get(f"/api/v1/admin/users/{model['owner_id']}", headers=admin.headers)
        assert owner.json()["username"] == "operator" and owner.json()["role"] == "user"


def test_show_docs_false_removes_the_docs(serve: Serve) -> None:
    client = serve(skops_classifier(6), show_docs=False)
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize(
    "nested", [b"[" * 100_000 + b"]" * 100_000, b'{"X":' * 100_000 + b"1" + b"}" * 100_000]
)
def test_deep_json_at_the_root_is_a_4xx_in_mlups_shape(serve: Serve, nested: bytes) -> None:
    client = serve(skops_classifier(6))
    for path in ("/predict", "/get-predict/1"):
        response = client.request(
            "POST" if path == "/predict" else "GET",
            path,
            content=nested,
            headers={"Content-Type": "application/json"},
        )
        assert 400 <= response.status_code < 500, (path, response.text[:200])
