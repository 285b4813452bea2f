"""Credentials and owners: no route answers without a user, and nobody reaches another's matrix."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.evaluation.helpers import BASE, create
from tests.helpers import Account

# (method, path, json body); {uid} is filled with a real matrix's uid.
ROUTES = [
    ("POST", BASE, {"actual": [0, 1], "predicted": [0, 1]}),
    ("GET", BASE, None),
    ("POST", f"{BASE}/compare", {"uids": ["{uid}", "{uid}"]}),
    ("POST", f"{BASE}/multilabel", {"actual": [["a"]], "predicted": [["a"]]}),
    (
        "POST",
        f"{BASE}/curves",
        {"type": "ROC", "actual": [0, 1], "probabilities": [[1, 0], [0, 1]]},
    ),
    (
        "POST",
        f"{BASE}/curves/plot",
        {"type": "ROC", "actual": [0, 1], "probabilities": [[1, 0], [0, 1]]},
    ),
    ("GET", f"{BASE}/{{uid}}", None),
    ("PUT", f"{BASE}/{{uid}}", {"actual": [0, 1], "predicted": [1, 0]}),
    ("PATCH", f"{BASE}/{{uid}}", {"name": "mine now"}),
    ("DELETE", f"{BASE}/{{uid}}", None),
    ("GET", f"{BASE}/{{uid}}/report", None),
    ("GET", f"{BASE}/{{uid}}/statistics.csv", None),
    ("GET", f"{BASE}/{{uid}}/matrix.obj", None),
    ("GET", f"{BASE}/{{uid}}/plot", None),
]
PER_MATRIX = [route for route in ROUTES if "{uid}" in route[1]]


def _fill(value: object, uid: str) -> object:
    if isinstance(value, str):
        return value.replace("{uid}", uid)
    if isinstance(value, list):
        return [_fill(item, uid) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, uid) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_needs_credentials(
    client: TestClient, owner: Account, method: str, path: str, body: object
) -> None:
    uid = create(client, owner)["uid"]
    response = client.request(method, str(_fill(path, uid)), json=_fill(body, uid))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_credentials"


@pytest.mark.parametrize(("method", "path", "body"), PER_MATRIX)
def test_another_users_matrix_is_not_found(
    client: TestClient, owner: Account, stranger: Account, method: str, path: str, body: object
) -> None:
    uid = create(client, owner, name="private")["uid"]
    response = client.request(
        method, str(_fill(path, uid)), json=_fill(body, uid), headers=stranger.headers
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Confusion matrix not found"
    still = client.get(f"{BASE}/{uid}", headers=owner.headers).json()
    assert still["name"] == "private" and still["matrix"] == [[3, 1], [1, 3]]


@pytest.mark.parametrize(("method", "path", "body"), PER_MATRIX)
def test_unknown_and_deleted_uids_are_not_found(
    client: TestClient, owner: Account, method: str, path: str, body: object
) -> None:
    deleted = create(client, owner)["uid"]
    assert client.delete(f"{BASE}/{deleted}", headers=owner.headers).status_code == 204
    for uid in ("no-such-uid", deleted):
        response = client.request(
            method, str(_fill(path, uid)), json=_fill(body, uid), headers=owner.headers
        )
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "confusion_matrix_not_found"


def test_an_api_key_works_as_well_as_a_token(client: TestClient, owner: Account) -> None:
    key = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=owner.headers).json()["key"]
    uid = create(client, owner)["uid"]
    response = client.get(f"{BASE}/{uid}", headers={"X-API-Key": key})
    assert response.status_code == 200
