"""Sign up, sign in, sign out, the session cookie, CSRF refusals, API keys, home."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelyard.web.context import SESSION_COOKIE
from tests.helpers import make_admin
from tests.web.helpers import WebUser, csrf_of, web_sign_in, web_sign_up


def _cookie_header(response_headers: list[tuple[str, str]]) -> str:
    cookies = [v for k, v in response_headers if k.lower() == "set-cookie" and SESSION_COOKIE in v]
    assert cookies, "no session cookie set"
    return cookies[-1]


def test_anonymous_visitors_are_sent_to_sign_in_and_back(client: TestClient) -> None:
    response = client.get("/ui/models?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sign-in?next=/ui/models%3Fx%3D1"
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
    web_sign_up(client, "carol@example.com")
    client.post("/ui/sign-out", data={"csrf_token": csrf_of(client, "/ui/")})
    token = csrf_of(client, "/ui/sign-in?next=/ui/models")
    answer = client.post(
        "/ui/sign-in",
        data={
            "csrf_token": token,
            "login": "carol@example.com",
            "password": "test123",
            "next": "/ui/models",
        },
    )
    assert answer.url.path == "/ui/models"
    assert "<h1>Models</h1>" in answer.text


def test_next_never_leaves_the_dashboard(client: TestClient) -> None:
    web_sign_up(client, "carol@example.com")
    client.post("/ui/sign-out", data={"csrf_token": csrf_of(client, "/ui/")})
    token = csrf_of(client, "/ui/sign-in")
    answer = client.post(
        "/ui/sign-in",
        data={
            "csrf_token": token,
            "login": "carol@example.com",
            "password": "test123",
            "next": "//evil.example/ui/",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/ui/"


def test_session_cookie_is_httponly_lax_and_signed(client: TestClient) -> None:
    response = client.get("/ui/sign-in")
    cookie = _cookie_header(response.headers.multi_items())
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here
    # A forged cookie is ignored: a fresh anonymous session replaces it.
    client.cookies.set(SESSION_COOKIE, "eyJ1aWQiOjF9.forged.signature")
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_session_cookie_is_secure_over_https(app: FastAPI, client: TestClient) -> None:
    secure = TestClient(app, base_url="https://testserver")
    response = secure.get("/ui/sign-in")
    assert "Secure" in _cookie_header(response.headers.multi_items())


def test_forms_without_the_right_token_are_refused(client: TestClient, alice: WebUser) -> None:
    missing = client.post("/ui/keys", data={"name": "x"})
    assert missing.status_code == 403
    assert "security token" in missing.text
    wrong = client.post("/ui/keys", data={"name": "x", "csrf_token": "not-the-token"})
    assert wrong.status_code == 403
    assert "No API keys" not in wrong.text and "mdy_" not in wrong.text
    assert "You have no API keys yet." in client.get("/ui/keys").text
    assert client.post("/ui/sign-out", data={}).status_code == 403
    assert client.get("/ui/").status_code == 200  # still signed in


def test_another_sessions_token_is_refused(
    app: FastAPI, client: TestClient, alice: WebUser
) -> None:
    stranger = TestClient(app)
    token = csrf_of(stranger, "/ui/sign-in")
    assert client.post("/ui/keys", data={"name": "x", "csrf_token": token}).status_code == 403


def test_sign_in_says_what_went_wrong(client: TestClient, alice: WebUser) -> None:
    client.post("/ui/sign-out", data={"csrf_token": alice.csrf("/ui/")})
    wrong = web_sign_in(client, "alice@example.com", "wrong-password")
    assert wrong.status_code == 401
    assert "Wrong e-mail, username or password." in wrong.text
    unknown = web_sign_in(client, "nobody@example.com")
    assert unknown.status_code == 401
    assert web_sign_in(client, "alice@example.com").url.path == "/ui/"


def test_sign_up_refuses_a_taken_email_and_a_short_password(
    client: TestClient, alice: WebUser
) -> None:
    client.post("/ui/sign-out", data={"csrf_token": alice.csrf("/ui/")})
    token = csrf_of(client, "/ui/sign-up")
    taken = client.post(
        "/ui/sign-up", data={"csrf_token": token, "email": "alice@example.com", "password": "x" * 8}
    )
    assert taken.status_code == 409
    assert "Email already registered" in taken.text
    short = client.post(
        "/ui/sign-up", data={"csrf_token": token, "email": "new@example.com", "password": "x"}
    )
    assert short.status_code == 422
    assert "at least 6 characters" in short.text


def test_sign_out_ends_the_session(client: TestClient, alice: WebUser) -> None:
    old_token = alice.csrf("/ui/")
    answer = client.post("/ui/sign-out", data={"csrf_token": old_token})
    assert answer.url.path == "/ui/sign-in"
    assert "You are signed out." in answer.text
    assert client.get("/ui/", follow_redirects=False).status_code == 303
    # The token of the signed-in session is worth nothing now.
    assert client.post("/ui/keys", data={"csrf_token": old_token, "name": "x"}).status_code == 403


def test_api_key_is_shown_once_and_works_and_can_be_revoked(
    client: TestClient, alice: WebUser
) -> None:
    created = alice.post("/ui/keys", {"name": "laptop"})
    assert created.status_code == 201
    assert "shown this once" in created.text
    key = created.text.split('id="new-key" readonly value="')[1].split('"')[0]
    assert key.startswith("mdy_")
    assert client.get("/api/v1/users/me", headers={"X-API-Key": key}).status_code == 200
    listing = client.get("/ui/keys")
    assert "laptop" in listing.text and key not in listing.text
    key_id = client.get("/api/v1/api-keys", headers={"X-API-Key": key}).json()[0]["id"]
    revoked = alice.post(f"/ui/keys/{key_id}/revoke")
    assert "The key is revoked." in revoked.text
    assert client.get("/api/v1/users/me", headers={"X-API-Key": key}).status_code == 401


def test_home_says_plainly_when_i_own_nothing(client: TestClient, alice: WebUser) -> None:
    page = client.get("/ui/")
    assert page.status_code == 200
    for text in (
        "You have no models yet.",
        "You have no confusion matrices yet.",
        "You have no training runs yet.",
        "No jobs yet.",
    ):
        assert text in page.text
    assert "Admin" not in page.text.split("<main>")[0]  # no admin link for a user


def test_disabled_users_session_ends_and_they_cannot_sign_in(
    client: TestClient, other_client: TestClient, alice: WebUser
) -> None:
    admin = make_admin(client)
    web_sign_in(other_client, admin.login)
    admin_web = WebUser(other_client, admin.login)
    page = other_client.get("/ui/admin")
    assert page.status_code == 200 and "alice@example.com" in page.text
    disabled = admin_web.post(f"/ui/admin/users/{_user_id(client, 'alice@example.com')}/disable")
    assert "alice@example.com is disabled." in disabled.text
    assert client.get("/ui/", follow_redirects=False).status_code == 303
    refused = web_sign_in(client, "alice@example.com")
    assert refused.status_code == 403
    assert "This account is disabled." in refused.text


def _user_id(client: TestClient, email: str) -> int:
    app = client.app
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        from modelyard.auth.service import find_by_login

        user = find_by_login(session, email)
        assert user is not None
        return user.id


def test_admin_pages_are_refused_to_users(client: TestClient, alice: WebUser) -> None:
    assert client.get("/ui/admin").status_code == 403
    admin = make_admin(client, "root@example.com")
    target = _user_id(client, admin.login)
    refused = alice.post(f"/ui/admin/users/{target}/disable")
    assert refused.status_code == 403
    assert web_sign_in(TestClient(client.app), admin.login).url.path == "/ui/"


def test_admin_can_enable_and_delete_but_not_disable_themselves(
    client: TestClient, other_client: TestClient, alice: WebUser
) -> None:
    admin = make_admin(client)
    web_sign_in(other_client, admin.login)
    admin_web = WebUser(other_client, admin.login)
    alice_id = _user_id(client, "alice@example.com")
    admin_web.post(f"/ui/admin/users/{alice_id}/disable")
    assert (
        "alice@example.com is enabled." in admin_web.post(f"/ui/admin/users/{alice_id}/enable").text
    )
    self_disable = admin_web.post(f"/ui/admin/users/{admin.id}/disable")
    assert self_disable.status_code == 409
    assert "cannot disable" in self_disable.text
    deleted = admin_web.post(f"/ui/admin/users/{alice_id}/delete")
    assert "The user is deleted." in deleted.text
    assert "alice@example.com" not in deleted.text.split("<main>")[1]


def test_unknown_addresses_get_a_page_that_says_so(client: TestClient, alice: WebUser) -> None:
    response = client.get("/ui/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no page at /ui/no/such/page." in response.text
    missing = client.get("/ui/matrices/unknown-uid")
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text


def test_a_changed_password_ends_the_sessions_opened_with_the_old_one(
    client: TestClient, alice: WebUser
) -> None:
    assert client.get("/ui/", follow_redirects=False).status_code == 200
    app = client.app
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        from modelyard.auth.service import find_by_login

        user = find_by_login(session, "alice@example.com")
        assert user is not None
        user.password_hash = app.state.security.hash_password("another-password")  # type: ignore[attr-defined]
    assert client.get("/ui/", follow_redirects=False).status_code == 303
    assert web_sign_in(client, "alice@example.com", "another-password").url.path == "/ui/"
