"""The Machine learning API's /predict (document 001), its usage example run as written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Account
from tests.registry.factories import HEART_SCHEMA, heart_classifier, register_ok, skops_classifier

url = ""


@pytest.fixture
def serving_overrides() -> dict[str, object]:
    return {"serving": {"ml_api_model": "heart"}}


@pytest.fixture
def heart(client: TestClient, admin: Account) -> dict[str, Any]:
    return register_ok(client, admin, "heart", heart_classifier(), schema=HEART_SCHEMA)


def test_the_documents_usage_example(client: TestClient, heart: dict[str, Any]) -> None:
    requests = client  # the document's `requests` module, pointed at the app

    # Defining the user dict
    user_dict = {
        "username": "eligijus_bujokas",
        "password": "password",
        "email": "eligijus@testmail.com",
    }

    # Sending the post request to the running API
    response = requests.post(f"{url}/register-user", json=user_dict)

    # Getting the user id
    user_id = response.json().get("user_id")
    assert user_id is not None

    # Querying the API for the token
    response = requests.post(f"{url}/token", json=user_dict)

    # Extracting the token from the response
    token = response.json().get("token")
    assert response.status_code == 200

    # Creating the input dictionary
    X = {
        "age": 25,
        "creatinine_phosphokinase": 1000,
        "ejection_fraction": 35,
        "platelets": 500000,
        "serum_creatinine": 8,
        "serum_sodium": 135,
        "sex": 1,
        "high_blood_pressure": 0,
    }

    # Creating the header with the token
    header = {"Authorization": token}

    # Sending the request
    response = requests.post(f"{url}/predict", json=X, headers=header)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"yhat_prob", "yhat"}
    assert isinstance(body["yhat_prob"], str)
    assert 0.0 <= float(body["yhat_prob"]) <= 1.0
    assert body["yhat"] == ("1" if float(body["yhat_prob"]) > 0.5 else "0")
    assert response.headers["X-Predict-Id"]

    # The Requests and Responses tables of the document, one row each per call.
    client.app.state.serving.log.flush()  # type: ignore[attr-defined]
    rows = requests.get(f"{url}/requests", headers=header).json()
    answers = requests.get(f"{url}/responses", headers=header).json()
    assert [r["user_id"] for r in rows] == [user_id]
    assert rows[0]["input"] == X
    assert answers[0]["request_id"] == rows[0]["id"]
    assert answers[0]["output"] == body


def test_bearer_works_too(client: TestClient, heart: dict[str, Any], alice: Account) -> None:
    record = dict.fromkeys(HEART_SCHEMA_NAMES, 1)
    assert client.post("/predict", json=record, headers=alice.headers).status_code == 200


HEART_SCHEMA_NAMES = [c["name"] for c in HEART_SCHEMA["input_schema"]["columns"]]


@pytest.mark.parametrize(
    "change",
    [{"age": "old"}, {"age": None}, {"sex": "maybe"}, {"age": [1]}],
)
def test_values_that_do_not_fit_are_400(
    client: TestClient, heart: dict[str, Any], alice: Account, change: dict[str, Any]
) -> None:
    record = {**dict.fromkeys(HEART_SCHEMA_NAMES, 1), **change}
    response = client.post("/predict", json=record, headers={"Authorization": alice.token})
    assert response.status_code == 400
    assert response.json() == {"message": "Bad request"}


def test_missing_features_and_bad_bodies_are_400(
    client: TestClient, heart: dict[str, Any], alice: Account
) -> None:
    header = {"Authorization": alice.token}
    assert client.post("/predict", json={"age": 1}, headers=header).json() == {
        "message": "Bad request"
    }
    for body in (b"[1, 2]", b"{nope", b'{"age": NaN}'):
        response = client.post("/predict", content=body, headers=header)
        assert (response.status_code, response.json()) == (400, {"message": "Bad request"})
    # Each call is still a Requests and a Responses row.
    client.app.state.serving.log.flush()  # type: ignore[attr-defined]
    answers = client.get("/responses", headers=header).json()
    assert [a["output"] for a in answers] == [{"message": "Bad request"}] * 4


def test_extra_features_are_ignored_like_the_source(
    client: TestClient, heart: dict[str, Any], alice: Account
) -> None:
    record = {**dict.fromkeys(HEART_SCHEMA_NAMES, 1), "favourite_colour": "blue"}
    response = client.post("/predict", json=record, headers={"Authorization": alice.token})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "header", [{}, {"Authorization": "nonsense"}, {"Authorization": "Bearer x"}]
)
def test_a_bad_or_missing_token_is_401(
    client: TestClient, heart: dict[str, Any], header: dict[str, str]
) -> None:
    response = client.post("/predict", json=dict.fromkeys(HEART_SCHEMA_NAMES, 1), headers=header)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}


def test_a_users_model_of_that_name_is_not_served(client: TestClient, alice: Account) -> None:
    register_ok(client, alice, "heart", heart_classifier(), schema=HEART_SCHEMA)
    response = client.post(
        "/predict", json=dict.fromkeys(HEART_SCHEMA_NAMES, 1), headers=alice.headers
    )
    assert response.status_code == 404


def test_the_production_alias_is_served(
    client: TestClient, admin: Account, heart: dict[str, Any], alice: Account
) -> None:
    register_ok(client, admin, "heart", heart_classifier(), schema=HEART_SCHEMA)
    client.put(
        "/api/v1/models/heart/aliases/production", json={"version": 1}, headers=admin.headers
    )
    client.post("/predict", json=dict.fromkeys(HEART_SCHEMA_NAMES, 1), headers=alice.headers)
    client.app.state.serving.log.flush()  # type: ignore[attr-defined]
    logged = client.get("/api/v1/models/heart/requests", headers=admin.headers).json()
    assert [(i["version"], i["source"]) for i in logged["items"]] == [(1, "ml_api")]


class TestUnconfigured:
    @pytest.fixture
    def serving_overrides(self) -> dict[str, object]:
        return {}

    def test_no_model_configured_is_a_documented_404(
        self, client: TestClient, alice: Account
    ) -> None:
        register_ok(client, alice, "m", skops_classifier())
        response = client.post("/predict", json={"a": 1}, headers=alice.headers)
        assert response.status_code == 404
        assert set(response.json()) == {"message"}  # the Machine learning API's shape
        assert "MODELYARD_SERVING_ML_API_MODEL" in response.json()["message"]
        documented = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]
        assert {"404", "409"} <= set(documented)
