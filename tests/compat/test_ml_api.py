"""The Machine learning API's documented user requests (shared/seeds/001), as clients send them."""

from fastapi.testclient import TestClient

from tests.helpers import make_admin

USER = {"username": "eligijus_bujokas", "password": "password", "email": "eligijus@testmail.com"}


def test_register_then_register_again(client: TestClient) -> None:
    first = client.post("/register-user", json=USER)
    assert first.status_code == 201
    assert first.json() == {
        "message": "User created successfully",
        "user_id": first.json()["user_id"],
    }
    again = client.post("/register-user", json=USER)
    assert again.status_code == 409
    assert again.json() == {"message": "User already exists", "user_id": first.json()["user_id"]}


def test_same_email_other_username_is_a_conflict_without_leaking_an_id(client: TestClient) -> None:
    client.post("/register-user", json=USER)
    other = client.post("/register-user", json={**USER, "username": "eligijus"})
    assert other.status_code == 409
    assert other.json() == {"message": "Email already registered", "user_id": None}


def test_token_and_its_status(client: TestClient) -> None:
    client.post("/register-user", json=USER)
    response = client.post("/token", json=USER)
    assert response.status_code == 200
    token = response.json()["token"]
    assert token.count(".") == 2
    assert client.get(f"/token_status/{token}").json() == {"message": "Token is valid"}
    bad = client.get(f"/token_status/{token[:-1]}")
    assert bad.status_code == 401 and bad.json() == {"message": "Invalid token"}


def test_wrong_credentials(client: TestClient) -> None:
    client.post("/register-user", json=USER)
    for body in ({**USER, "password": "wrong"}, {**USER, "username": "nobody"}):
        response = client.post("/token", json=body)
        assert response.status_code == 401
        assert response.json() == {"message": "Invalid credentials"}


def test_missing_fields_get_a_4xx_in_the_systems_shape(client: TestClient) -> None:
    response = client.post("/register-user", json={"username": "x"})
    assert response.status_code == 422
    assert "message" in response.json() and "detail" in response.json()


def test_user_admin_routes_need_an_admin(client: TestClient) -> None:
    user_id = client.post("/register-user", json=USER).json()["user_id"]
    token = client.post("/token", json=USER).json()["token"]

    # The source left these open to anyone; here they need credentials...
    anonymous = client.put(f"/toggle-user-permission/{user_id}/0")
    assert anonymous.status_code == 401 and "message" in anonymous.json()
    # ...and an admin's: the raw token in Authorization, as this system's clients send it.
    for headers in ({"Authorization": token}, {"Authorization": f"Bearer {token}"}):
        refused = client.put(f"/toggle-user-permission/{user_id}/0", headers=headers)
        assert refused.status_code == 403
        assert refused.json() == {"message": "Admin rights required"}
        assert client.delete(f"/remove-user/{user_id}", headers=headers).status_code == 403
    assert client.get(f"/token_status/{token}").status_code == 200


def test_admin_toggles_and_removes_users(client: TestClient) -> None:
    admin = make_admin(client)
    headers = {"Authorization": admin.token}  # raw, no "Bearer"
    user_id = client.post("/register-user", json=USER).json()["user_id"]
    token = client.post("/token", json=USER).json()["token"]

    off = client.put(f"/toggle-user-permission/{user_id}/0", headers=headers)
    assert off.status_code == 200
    assert off.json() == {"message": "User permission updated successfully", "user_id": user_id}
    assert client.get(f"/token_status/{token}").status_code == 401
    assert client.post("/token", json=USER).status_code == 403

    on = client.put(f"/toggle-user-permission/{user_id}/true", headers=headers)
    assert on.status_code == 200
    assert client.get(f"/token_status/{token}").status_code == 200

    gone = client.delete(f"/remove-user/{user_id}", headers=headers)
    assert gone.status_code == 200 and gone.json() == {"message": "User deleted successfully"}
    missing = client.delete(f"/remove-user/{user_id}", headers=headers)
    assert missing.status_code == 404 and missing.json() == {"message": "User not found"}
    missing = client.put(f"/toggle-user-permission/{user_id}/1", headers=headers)
    assert missing.status_code == 404 and missing.json() == {"message": "User not found"}


def test_a_refused_password_is_a_422_in_the_documented_shape(client: TestClient) -> None:
    # Every item of a 422's detail has loc, msg and type (HTTPValidationError in the OpenAPI
    # document); a refused password's items had no type.
    response = client.post("/register-user", json={"username": "shorty", "password": "1"})
    assert response.status_code == 422
    body = response.json()
    assert "message" in body
    assert body["detail"] and all({"loc", "msg", "type"} <= set(item) for item in body["detail"])
