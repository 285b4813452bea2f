"""Every route that needs credentials, against every kind of bad credential."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

from modelyard.auth.security import Security
from tests.conftest import TEST_SECRET
from tests.helpers import Account, access_claims, make_admin, sign_up

# (method, path) of every route behind credentials; {id} is filled with a real object id.
PROTECTED = [
    ("GET", "/api/v1/users/me"),
    ("GET", "/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys"),
    ("DELETE", "/api/v1/api-keys/{id}"),
    ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{job}"),
    ("POST", "/api/v1/jobs/{job}/cancel"),
    ("GET", "/api/v1/admin/users"),
    ("GET", "/api/v1/admin/users/{id}"),
    ("PATCH", "/api/v1/admin/users/{id}"),
    ("DELETE", "/api/v1/admin/users/{id}"),
    ("PUT", "/toggle-user-permission/{id}/1"),
    ("DELETE", "/remove-user/{id}"),
]
ADMIN_ONLY = [
    route for route in PROTECTED if "/admin/" in route[1] or not route[1].startswith("/api")
]


def _token(claims: dict[str, object], key: str | None, algorithm: str) -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


BadCredential = Callable[[TestClient, Account], dict[str, str]]


def _revoked_key(client: TestClient, account: Account) -> dict[str, str]:
    created = client.post("/api/v1/api-keys", json={"name": "old"}, headers=account.headers).json()
    client.delete(f"/api/v1/api-keys/{created['id']}", headers=account.headers)
    return {"X-API-Key": created["key"]}


BAD_CREDENTIALS: dict[str, tuple[BadCredential, int]] = {
    "none": (lambda client, account: {}, 401),
    "wrong-scheme": (lambda client, account: {"Authorization": f"Basic {account.token}"}, 401),
    "expired-jwt": (
        lambda client, account: {
            "Authorization": "Bearer "
            + _token(
                access_claims(account.id, exp=datetime.now(UTC) - timedelta(seconds=1)),
                TEST_SECRET,
                "HS256",
            )
        },
        401,
    ),
    "alg-none-jwt": (
        lambda client, account: {
            "Authorization": "Bearer " + _token(access_claims(account.id), None, "none")
        },
        401,
    ),
    "other-key-jwt": (
        lambda client, account: {
            "Authorization": "Bearer "
            + _token(
                access_claims(account.id), "another-secret-that-is-long-enough-0123456789", "HS256"
            )
        },
        401,
    ),
    "revoked-api-key": (_revoked_key, 401),
    "unknown-api-key": (
        lambda client, account: {"X-API-Key": "mdy_000000000000_" + "x" * 43},
        401,
    ),
}


def _fill(path: str, user_id: int, job_id: str) -> str:
    return path.replace("{id}", str(user_id)).replace("{job}", job_id)


def _call(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> tuple[int, object]:
    body = (
        {"name": "k"} if method == "POST" else ({"is_active": True} if method == "PATCH" else None)
    )
    response = client.request(method, path, headers=headers, json=body)
    return response.status_code, response.json() if response.content else None


@pytest.fixture
def victim(client: TestClient) -> Account:
    return sign_up(client, "victim@example.com")


@pytest.mark.parametrize("credential", list(BAD_CREDENTIALS))
@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_bad_credentials_are_refused_everywhere(
    client: TestClient, victim: Account, credential: str, method: str, path: str
) -> None:
    make_credential, expected = BAD_CREDENTIALS[credential]
    headers = make_credential(client, victim)
    status, body = _call(client, method, _fill(path, victim.id, "0" * 32), headers)
    assert status == expected, body
    assert victim.id and client.get("/api/v1/users/me", headers=victim.headers).status_code == 200


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_disabled_user_is_refused_everywhere(client: TestClient, method: str, path: str) -> None:
    admin = make_admin(client)
    user = sign_up(client, "disabled@example.com")
    key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=user.headers).json()["key"]
    client.patch(f"/api/v1/admin/users/{user.id}", json={"is_active": False}, headers=admin.headers)
    for headers in (user.headers, {"X-API-Key": key}):
        status, body = _call(client, method, _fill(path, admin.id, "0" * 32), headers)
        assert status == 403, body


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
def test_non_admins_get_403_on_every_admin_route(
    client: TestClient, victim: Account, method: str, path: str
) -> None:
    user = sign_up(client, "plain@example.com")
    status, body = _call(client, method, _fill(path, victim.id, "0" * 32), user.headers)
    assert status == 403, body
    assert client.get("/api/v1/users/me", headers=victim.headers).status_code == 200


def test_unknown_accounts_cost_one_password_verification(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_up(client, "known@example.com")
    verified: list[str] = []
    original = Security.verify_password

    def counting(self: Security, password_hash: str, password: str) -> bool:
        verified.append(password)
        return original(self, password_hash, password)

    monkeypatch.setattr(Security, "verify_password", counting)
    for login in ("known@example.com", "unknown@example.com"):
        verified.clear()
        client.post("/api/v1/auth/token", json={"login": login, "password": "wrong-1"})
        assert verified == ["wrong-1"], login


HUGE = 2**64  # more than any 64-bit id column holds


@pytest.mark.parametrize(
    ("method", "path"),
    [route for route in PROTECTED if "{id}" in route[1]],
)
def test_ids_too_large_for_the_database_are_422_not_500(
    client: TestClient, method: str, path: str
) -> None:
    admin = make_admin(client)
    status, body = _call(client, method, path.replace("{id}", str(HUGE)), admin.headers)
    assert status == 422, body


@pytest.mark.parametrize("path", ["/api/v1/admin/users", "/api/v1/jobs"])
def test_offsets_too_large_for_the_database_are_422_not_500(client: TestClient, path: str) -> None:
    admin = make_admin(client)
    response = client.get(path, params={"offset": HUGE}, headers=admin.headers)
    assert response.status_code == 422, response.text


def test_pycm_admin_listing_skip_too_large_is_422_not_500(client: TestClient) -> None:
    admin = make_admin(client)
    response = client.get("/users/", params={"skip": HUGE}, auth=(admin.login, admin.password))
    assert response.status_code == 422, response.text
