import pytest
from fastapi.testclient import TestClient

from tests.helpers import PASSWORD, make_admin, sign_up


def _error(response_json: dict[str, object]) -> dict[str, object]:
    error = response_json["error"]
    assert isinstance(error, dict)
    return error


# --- sign-up ---------------------------------------------------------------------------------


def test_sign_up_then_me(client: TestClient) -> None:
    account = sign_up(client, "Alice@Example.com")
    me = client.get("/api/v1/users/me", headers=account.headers)
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == "alice@example.com"
    assert body["role"] == "user" and body["is_active"] is True
    assert "password" not in me.text and "argon2" not in me.text


def test_sign_up_with_username_only(client: TestClient) -> None:
    response = client.post(
        "/api/v1/users", json={"username": "eligijus_bujokas", "password": "pw1234"}
    )
    assert response.status_code == 201
    assert response.json()["username"] == "eligijus_bujokas"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "a@example.com", "password": ""},
        {"email": "a@example.com"},
        {"password": PASSWORD},
        {"username": "../etc", "password": PASSWORD},
        {"email": "a@example.com", "password": PASSWORD, "is_admin": True},
        {"email": "a@example.com", "password": PASSWORD, "role": "admin"},
    ],
)
def test_sign_up_rejects_bad_bodies(client: TestClient, body: dict[str, object]) -> None:
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 422
    assert _error(response.json())["code"] == "validation_error"
    assert client.get("/api/v1/admin/users").status_code == 401  # nothing leaked, still guarded


def test_sign_up_applies_password_rules(client: TestClient) -> None:
    for password in ("     ", "abc"):
        response = client.post(
            "/api/v1/users", json={"email": "a@example.com", "password": password}
        )
        assert response.status_code == 422
        assert _error(response.json())["code"] == "weak_password"


def test_extra_admin_fields_never_make_an_admin(client: TestClient) -> None:
    account = sign_up(client, "bob@example.com")
    assert client.get("/api/v1/admin/users", headers=account.headers).status_code == 403


def test_duplicate_email_is_a_conflict_and_keeps_the_first_account(client: TestClient) -> None:
    first = sign_up(client, "carol@example.com")
    again = client.post("/api/v1/users", json={"email": "CAROL@example.com", "password": "other1"})
    assert again.status_code == 409
    assert _error(again.json())["code"] == "email_taken"
    assert client.get("/api/v1/users/me", headers=first.headers).status_code == 200
    assert (
        client.post(
            "/api/v1/auth/token", json={"login": "carol@example.com", "password": PASSWORD}
        ).status_code
        == 200
    )


# --- tokens and throttling -------------------------------------------------------------------


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient) -> None:
    sign_up(client, "dave@example.com")
    wrong = client.post(
        "/api/v1/auth/token", json={"login": "dave@example.com", "password": "nope12"}
    )
    unknown = client.post(
        "/api/v1/auth/token", json={"login": "who@example.com", "password": "nope12"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert _error(wrong.json())["message"] == _error(unknown.json())["message"]
    assert _error(wrong.json())["code"] == _error(unknown.json())["code"] == "invalid_credentials"


def test_failed_sign_ins_are_throttled_per_account(client: TestClient) -> None:
    sign_up(client, "erin@example.com")
    sign_up(client, "frank@example.com")
    limit = client.app.state.settings.auth.login_max_failures  # type: ignore[attr-defined]
    for _ in range(limit):
        bad = client.post(
            "/api/v1/auth/token", json={"login": "erin@example.com", "password": "bad123"}
        )
        assert bad.status_code == 401
    locked = client.post(
        "/api/v1/auth/token", json={"login": "erin@example.com", "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert _error(locked.json())["code"] == "login_throttled"
    # Another account is not affected.
    other = client.post(
        "/api/v1/auth/token", json={"login": "frank@example.com", "password": PASSWORD}
    )
    assert other.status_code == 200


def test_unknown_accounts_are_throttled_too(client: TestClient) -> None:
    limit = client.app.state.settings.auth.login_max_failures  # type: ignore[attr-defined]
    statuses = [
        client.post(
            "/api/v1/auth/token", json={"login": "ghost@example.com", "password": "x12345"}
        ).status_code
        for _ in range(limit + 1)
    ]
    assert statuses == [401] * limit + [429]


def test_a_success_resets_the_failure_count(client: TestClient) -> None:
    sign_up(client, "gina@example.com")
    limit = client.app.state.settings.auth.login_max_failures  # type: ignore[attr-defined]
    for _ in range(limit - 1):
        client.post("/api/v1/auth/token", json={"login": "gina@example.com", "password": "bad123"})
    ok = client.post("/api/v1/auth/token", json={"login": "gina@example.com", "password": PASSWORD})
    assert ok.status_code == 200
    for _ in range(limit - 1):
        client.post("/api/v1/auth/token", json={"login": "gina@example.com", "password": "bad123"})
    ok = client.post("/api/v1/auth/token", json={"login": "gina@example.com", "password": PASSWORD})
    assert ok.status_code == 200


def test_no_credentials(client: TestClient) -> None:
    response = client.get("/api/v1/users/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert _error(response.json())["code"] == "missing_credentials"


# --- API keys ---------------------------------------------------------------------------------


def test_api_keys_work_in_both_headers_and_can_be_revoked(client: TestClient) -> None:
    account = sign_up(client, "ivy@example.com")
    created = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=account.headers)
    assert created.status_code == 201
    key = created.json()["key"]
    key_id = created.json()["id"]

    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        me = client.get("/api/v1/users/me", headers=headers)
        assert me.status_code == 200 and me.json()["email"] == "ivy@example.com"

    listed = client.get("/api/v1/api-keys", headers=account.headers).json()
    assert [item["name"] for item in listed] == ["ci"]
    assert "key" not in listed[0] and key not in str(listed)
    assert listed[0]["last_used_at"] is not None

    revoked_answer = client.delete(f"/api/v1/api-keys/{key_id}", headers=account.headers)
    assert revoked_answer.status_code == 204
    assert not revoked_answer.content and "content-type" not in revoked_answer.headers
    revoked = client.get("/api/v1/users/me", headers={"X-API-Key": key})
    assert revoked.status_code == 401
    assert _error(revoked.json())["code"] == "invalid_api_key"


def test_a_tampered_key_with_a_real_prefix_is_refused(client: TestClient) -> None:
    account = sign_up(client, "jack@example.com")
    key = client.post("/api/v1/api-keys", json={"name": "x"}, headers=account.headers).json()["key"]
    tampered = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert client.get("/api/v1/users/me", headers={"X-API-Key": tampered}).status_code == 401


def test_another_users_key_is_not_found(client: TestClient) -> None:
    owner = sign_up(client, "kate@example.com")
    other = sign_up(client, "leo@example.com")
    key_id = client.post("/api/v1/api-keys", json={"name": "k"}, headers=owner.headers).json()["id"]
    response = client.delete(f"/api/v1/api-keys/{key_id}", headers=other.headers)
    assert response.status_code == 404
    assert len(client.get("/api/v1/api-keys", headers=owner.headers).json()) == 1


# --- admin -----------------------------------------------------------------------------------


def test_admin_lists_disables_and_deletes_users(client: TestClient) -> None:
    admin = make_admin(client)
    user = sign_up(client, "mia@example.com")
    key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=user.headers).json()["key"]

    page = client.get("/api/v1/admin/users", params={"limit": 1}, headers=admin.headers).json()
    assert page["total"] == 2 and page["limit"] == 1 and len(page["items"]) == 1

    disabled = client.patch(
        f"/api/v1/admin/users/{user.id}", json={"is_active": False}, headers=admin.headers
    )
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False

    # A disabled user is refused everywhere: token, API key and sign-in.
    for headers in (user.headers, {"X-API-Key": key}):
        refused = client.get("/api/v1/users/me", headers=headers)
        assert refused.status_code == 403
        assert _error(refused.json())["code"] == "account_disabled"
    sign_in = client.post("/api/v1/auth/token", json={"login": user.login, "password": PASSWORD})
    assert sign_in.status_code == 403

    client.patch(f"/api/v1/admin/users/{user.id}", json={"is_active": True}, headers=admin.headers)
    assert client.get("/api/v1/users/me", headers=user.headers).status_code == 200

    assert client.delete(f"/api/v1/admin/users/{user.id}", headers=admin.headers).status_code == 204
    assert client.get(f"/api/v1/admin/users/{user.id}", headers=admin.headers).status_code == 404
    assert client.get("/api/v1/users/me", headers={"X-API-Key": key}).status_code == 401


def test_non_admins_get_403_on_admin_routes(client: TestClient) -> None:
    user = sign_up(client, "noah@example.com")
    assert client.get("/api/v1/admin/users", headers=user.headers).status_code == 403
    response = client.patch(
        f"/api/v1/admin/users/{user.id}", json={"role": "admin"}, headers=user.headers
    )
    assert response.status_code == 403
    assert _error(response.json())["code"] == "admin_required"
    assert client.get("/api/v1/users/me", headers=user.headers).json()["role"] == "user"


def test_admins_cannot_lock_themselves_out(client: TestClient) -> None:
    admin = make_admin(client)
    for call in (
        lambda: client.patch(
            f"/api/v1/admin/users/{admin.id}", json={"is_active": False}, headers=admin.headers
        ),
        lambda: client.patch(
            f"/api/v1/admin/users/{admin.id}", json={"role": "user"}, headers=admin.headers
        ),
        lambda: client.delete(f"/api/v1/admin/users/{admin.id}", headers=admin.headers),
    ):
        assert call().status_code == 409
    assert client.get("/api/v1/users/me", headers=admin.headers).json()["role"] == "admin"


def test_admin_update_refuses_unknown_fields(client: TestClient) -> None:
    admin = make_admin(client)
    user = sign_up(client, "olga@example.com")
    response = client.patch(
        f"/api/v1/admin/users/{user.id}", json={"password_hash": "x"}, headers=admin.headers
    )
    assert response.status_code == 422


def test_admin_listing_pages_are_bounded(client: TestClient) -> None:
    admin = make_admin(client)
    too_many = client.get("/api/v1/admin/users", params={"limit": 100_000}, headers=admin.headers)
    assert too_many.status_code == 422
    assert _error(too_many.json())["details"][0]["loc"] == ["query", "limit"]
    default = client.get("/api/v1/admin/users", headers=admin.headers).json()
    assert default["limit"] == client.app.state.settings.http.default_page_size  # type: ignore[attr-defined]
