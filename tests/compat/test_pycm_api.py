"""pycm-api's documented user requests (shared/seeds/000), as its clients send them."""

import base64
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from modelyard.config import Settings
from modelyard.db import Database
from tests.helpers import PASSWORD, make_admin, running_server

USER_FIELDS = {"id", "email", "api_key", "credit", "is_active", "cms"}


def _basic(login: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_sign_up_answers_the_user_object_with_a_working_key(client: TestClient) -> None:
    # The document's cURL example, verbatim.
    response = client.post(
        "/sign_up/",
        content='{"email": "test@example.com", "password": "test123"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    user = response.json()
    assert set(user) == USER_FIELDS
    assert user["email"] == "test@example.com"
    assert user["credit"] == 0.0 and user["is_active"] is True and user["cms"] == []
    me = client.get("/api/v1/users/me", headers={"X-API-Key": user["api_key"]})
    assert me.status_code == 200 and me.json()["id"] == user["id"]


def test_duplicate_sign_up(client: TestClient) -> None:
    client.post("/sign_up/", json={"email": "dup@example.com", "password": PASSWORD})
    again = client.post("/sign_up/", json={"email": "dup@example.com", "password": "another"})
    assert again.status_code == 400
    assert again.json() == {"detail": "Email already registered"}


def test_sign_in_hands_back_a_working_key_and_old_keys_keep_working(client: TestClient) -> None:
    first = client.post(
        "/sign_up/", json={"email": "ml_engineer@example.com", "password": "secure_password"}
    ).json()
    signed_in = client.post(
        "/sign_in/", json={"email": "ml_engineer@example.com", "password": "secure_password"}
    )
    assert signed_in.status_code == 200
    body = signed_in.json()
    assert set(body) == USER_FIELDS and body["id"] == first["id"]
    for key in (first["api_key"], body["api_key"]):
        assert client.get("/api/v1/users/me", headers={"X-API-Key": key}).status_code == 200


def test_sign_in_errors(client: TestClient) -> None:
    client.post("/sign_up/", json={"email": "who@example.com", "password": PASSWORD})
    unknown = client.post("/sign_in/", json={"email": "nobody@example.com", "password": PASSWORD})
    assert unknown.status_code == 404 and unknown.json() == {"detail": "User not found"}
    wrong = client.post("/sign_in/", json={"email": "who@example.com", "password": "wrong1"})
    assert wrong.status_code == 400 and wrong.json() == {"detail": "Invalid password"}


def test_validation_errors_keep_fastapis_shape(client: TestClient) -> None:
    response = client.post("/sign_up/", json={"email": "not an email", "password": PASSWORD})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail[0]["loc"] == ["body", "email"]
    broken = client.post(
        "/sign_up/", content="{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and isinstance(broken.json()["detail"], list)


def test_sign_up_ignores_fields_that_would_grant_rights(client: TestClient) -> None:
    user = client.post(
        "/sign_up/",
        json={"email": "sneaky@example.com", "password": PASSWORD, "is_admin": True, "credit": 1e9},
    ).json()
    assert user["credit"] == 0.0
    me = client.get("/api/v1/users/me", headers={"X-API-Key": user["api_key"]}).json()
    assert me["role"] == "user"


def test_admin_listing_with_http_basic(client: TestClient) -> None:
    admin = make_admin(client, "root@example.com")
    for n in range(3):
        client.post("/sign_up/", json={"email": f"u{n}@example.com", "password": PASSWORD})
    listed = client.get(
        "/users/", params={"skip": 1, "limit": 2}, headers=_basic(admin.login, PASSWORD)
    )
    assert listed.status_code == 200
    users = listed.json()
    assert [u["email"] for u in users] == ["u0@example.com", "u1@example.com"]
    assert all(set(u) == USER_FIELDS for u in users)
    # Stored keys are hashes: the listing shows a public prefix, never a usable key.
    assert all(u["api_key"].endswith("_...") for u in users)
    assert (
        client.get("/api/v1/users/me", headers={"X-API-Key": users[0]["api_key"]}).status_code
        == 401
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        _basic("root@example.com", "wrong-password"),
        _basic("u@example.com", PASSWORD),  # a real account, but not an admin
    ],
)
def test_admin_listing_refuses_others(client: TestClient, headers: dict[str, str]) -> None:
    make_admin(client, "root@example.com")
    client.post("/sign_up/", json={"email": "u@example.com", "password": PASSWORD})
    response = client.get("/users/", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized access"}
    assert response.headers["WWW-Authenticate"] == "Basic"


def test_pycm_admin_from_its_own_environment_variables(
    data_dir: object, database: object, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.app import create_app
    from tests.conftest import make_settings

    monkeypatch.setenv("PYCM_API_ADMIN", "pycm_admin")
    monkeypatch.setenv("PYCM_API_ADMIN_PASSWORD", "admin-password")
    settings = make_settings(data_dir, database_url)  # type: ignore[arg-type]
    assert isinstance(settings, Settings) and settings.auth.admin_username == "pycm_admin"
    with TestClient(create_app(settings)) as client:
        response = client.get("/users/", headers=_basic("pycm_admin", "admin-password"))
        assert response.status_code == 200
        assert response.json()[0]["id"] >= 1


def test_a_refused_password_is_a_422_in_the_documented_shape(client: TestClient) -> None:
    # The OpenAPI document promises HTTPValidationError for a 422: detail is a list of
    # {loc, msg, type}; a refused password answered {"detail": "Password must ..."}.
    response = client.post("/sign_up/", json={"email": "short@example.com", "password": "1"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail[0]["loc"] == ["body", "password"]
    assert {"loc", "msg", "type"} <= set(detail[0])
    assert "at least" in detail[0]["msg"]


@pytest.mark.parametrize("pycm_admin", ["ops-admin@example.com", "ops admin"])
def test_a_real_server_starts_with_pycm_api_admin_beside_the_admin_email(
    tmp_path: Path, pycm_admin: str, database: Database
) -> None:
    # ``database``: emptied after each case; on PostgreSQL the server shares the suite's
    # database, where the first case's admin made the second case's start find one already.
    # pycm-api's operators set PYCM_API_ADMIN to any string, an e-mail address too; beside
    # MODELYARD_ADMIN_EMAIL it names the same admin, who signs in by either.
    env = {
        "PYCM_API_ADMIN": pycm_admin,
        "PYCM_API_ADMIN_PASSWORD": "admin-password-1",
        "MODELYARD_ADMIN_EMAIL": "root@example.com",
    }
    with running_server(tmp_path, env) as (base, _log):
        for login in (pycm_admin, "root@example.com"):
            response = httpx.get(f"{base}/users/", auth=(login, "admin-password-1"), timeout=30)
            assert response.status_code == 200, (login, response.text)
        refused = httpx.get(f"{base}/users/", auth=(pycm_admin, "wrong-password"), timeout=30)
        assert refused.status_code == 401
