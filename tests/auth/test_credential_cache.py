"""The verified-credential cache: hits skip the database; every change to who may sign in ends
the entries at once in this process, and within the TTL when made elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from modelyard.app import create_app
from modelyard.auth import service
from modelyard.auth.cache import CredentialCache, current_generation, invalidate_all
from modelyard.auth.models import User
from modelyard.db import Database
from tests.conftest import TEST_SECRET, make_settings
from tests.helpers import PASSWORD, make_admin, sign_up


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(data_dir: Path, database: Database, database_url: str, clock: FakeClock) -> FastAPI:
    app = create_app(make_settings(data_dir, database_url, auth={"credential_cache_seconds": 5}))
    app.state.security.credentials.clock = clock
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


class Statements:
    """SQL sent to the database while counting (the cache's point is sending none)."""

    def __init__(self, client: TestClient) -> None:
        self.engine = client.app.state.database.engine  # type: ignore[attr-defined]
        self.seen: list[str] = []

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        self.seen.append(statement)

    def touching(self, table: str) -> list[str]:
        return [s for s in self.seen if table in s]


def _key(client: TestClient, headers: dict[str, str], name: str = "k") -> tuple[int, str]:
    created = client.post("/api/v1/api-keys", json={"name": name}, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["key"]


def _raw_sql(client: TestClient, statement: str, **params: object) -> None:
    """A change made by another process: plain SQL, no ORM events in this one."""
    with client.app.state.database.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text(statement), params)


def _me(client: TestClient, headers: dict[str, str]) -> int:
    return client.get("/api/v1/users/me", headers=headers).status_code


def test_a_second_use_of_a_key_or_token_asks_the_database_nothing(client: TestClient) -> None:
    account = sign_up(client, "ann@example.com")
    _, key = _key(client, account.headers)
    for headers in ({"X-API-Key": key}, account.headers):
        assert _me(client, headers) == 200  # verified against the database, then kept
        with Statements(client) as sql:
            answer = client.get("/api/v1/users/me", headers=headers)
        assert answer.status_code == 200 and answer.json()["email"] == "ann@example.com"
        assert sql.touching("api_keys") == [] and sql.touching("users") == []


def test_a_revoked_key_is_refused_by_the_next_request(client: TestClient) -> None:
    account = sign_up(client, "bob@example.com")
    key_id, key = _key(client, account.headers)
    assert _me(client, {"X-API-Key": key}) == 200
    assert _me(client, {"X-API-Key": key}) == 200  # now from the cache
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=account.headers).status_code == 204
    assert _me(client, {"X-API-Key": key}) == 401


def test_keys_revoked_in_bulk_are_refused_at_once(client: TestClient) -> None:
    # pycm-api's sign-in keeps the newest five sign-in keys and revokes older ones with one
    # UPDATE statement, which no object's flush reports.
    credentials = {"email": "cy@example.com", "password": PASSWORD}
    first = client.post("/sign_up/", json=credentials).json()["api_key"]
    assert _me(client, {"X-API-Key": first}) == 200
    assert _me(client, {"X-API-Key": first}) == 200
    for _ in range(5):
        assert client.post("/sign_in/", json=credentials).status_code == 200
    assert _me(client, {"X-API-Key": first}) == 401


def test_a_disabled_user_is_refused_at_once_and_welcome_again_once_enabled(
    client: TestClient,
) -> None:
    admin = make_admin(client)
    user = sign_up(client, "dee@example.com")
    _, key = _key(client, user.headers)
    for headers in (user.headers, {"X-API-Key": key}):
        assert _me(client, headers) == 200 and _me(client, headers) == 200
    path = f"/api/v1/admin/users/{user.id}"
    assert client.patch(path, json={"is_active": False}, headers=admin.headers).status_code == 200
    for headers in (user.headers, {"X-API-Key": key}):
        assert _me(client, headers) == 403
    assert client.patch(path, json={"is_active": True}, headers=admin.headers).status_code == 200
    assert _me(client, user.headers) == 200


def test_a_deleted_user_is_refused_at_once(client: TestClient) -> None:
    admin = make_admin(client)
    user = sign_up(client, "eve@example.com")
    _, key = _key(client, user.headers)
    for headers in (user.headers, {"X-API-Key": key}):
        assert _me(client, headers) == 200 and _me(client, headers) == 200
    assert client.delete(f"/api/v1/admin/users/{user.id}", headers=admin.headers).status_code == 204
    assert _me(client, user.headers) == 401
    assert _me(client, {"X-API-Key": key}) == 401


def test_a_role_change_applies_to_the_next_request(client: TestClient) -> None:
    admin = make_admin(client)
    user = sign_up(client, "fay@example.com")
    assert client.get("/api/v1/admin/users", headers=user.headers).status_code == 403
    path = f"/api/v1/admin/users/{user.id}"
    assert client.patch(path, json={"role": "admin"}, headers=admin.headers).status_code == 200
    assert client.get("/api/v1/admin/users", headers=user.headers).status_code == 200
    assert client.patch(path, json={"role": "user"}, headers=admin.headers).status_code == 200
    assert client.get("/api/v1/admin/users", headers=user.headers).status_code == 403


def test_a_password_change_drops_the_cached_user(client: TestClient) -> None:
    admin = make_admin(client)
    raw = admin.token
    assert _me(client, admin.headers) == 200
    cache: CredentialCache = client.app.state.security.credentials  # type: ignore[attr-defined]
    assert cache.get(raw) is not None
    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        # ensure_admin is what `modelyard create-admin` and the bootstrap admin run.
        service.ensure_admin(
            session, client.app.state.security, password="a-new-password", email=admin.login
        )
    assert cache.get(raw) is None
    with Statements(client) as sql:
        assert _me(client, admin.headers) == 200
    assert sql.touching("users")  # verified against the database again


def test_use_of_a_key_is_not_a_change(client: TestClient) -> None:
    # Rewriting last_used_at must not empty the cache of every user each minute.
    account = sign_up(client, "gus@example.com")
    _, key = _key(client, account.headers)
    assert _me(client, account.headers) == 200
    before = current_generation()
    assert _me(client, {"X-API-Key": key}) == 200  # writes last_used_at
    assert current_generation() == before
    with Statements(client) as sql:
        assert _me(client, account.headers) == 200
    assert sql.touching("users") == []


def test_a_change_made_elsewhere_is_seen_within_the_ttl(
    client: TestClient, clock: FakeClock
) -> None:
    account = sign_up(client, "hal@example.com")
    key_id, key = _key(client, account.headers)
    assert _me(client, {"X-API-Key": key}) == 200
    _raw_sql(client, "UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE id = :id", id=key_id)
    clock.now += 4.9  # inside the documented bound this replica may still answer
    assert _me(client, {"X-API-Key": key}) == 200
    clock.now += 0.2  # past MODELYARD_AUTH_CREDENTIAL_CACHE_SECONDS
    assert _me(client, {"X-API-Key": key}) == 401


def test_a_disabled_account_elsewhere_is_refused_after_the_ttl(
    client: TestClient, clock: FakeClock
) -> None:
    account = sign_up(client, "ida@example.com")
    assert _me(client, account.headers) == 200
    _raw_sql(client, "UPDATE users SET is_active = false WHERE id = :id", id=account.id)
    clock.now += 4.0
    assert _me(client, account.headers) == 200
    clock.now += 1.5
    assert _me(client, account.headers) == 403


def test_a_token_is_never_trusted_past_its_expiry(client: TestClient) -> None:
    account = sign_up(client, "jo@example.com")
    now = datetime.now(UTC)
    claims = {"sub": str(account.id), "iat": now, "exp": now + timedelta(seconds=2)}
    short = jwt.encode({**claims, "typ": "access"}, TEST_SECRET, algorithm="HS256")
    assert _me(client, {"Authorization": f"Bearer {short}"}) == 200
    cache: CredentialCache = client.app.state.security.credentials  # type: ignore[attr-defined]
    entry = cache._entries[cache.digest(short)]
    assert 0 < entry.expires - cache.clock() <= 2.0  # not the 5 s of the TTL
    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        user = session.get(User, account.id)
        assert user is not None
        cache.put("expired", user, lifetime=-1.0, generation=current_generation())
    assert cache.get("expired") is None


def test_a_key_entry_ends_when_last_used_at_is_due(
    data_dir: Path, database: Database, database_url: str
) -> None:
    settings = make_settings(
        data_dir,
        database_url,
        auth={"credential_cache_seconds": 30, "api_key_touch_seconds": 2},
    )
    with TestClient(create_app(settings)) as client:
        account = sign_up(client, "kim@example.com")
        _, key = _key(client, account.headers)
        assert _me(client, {"X-API-Key": key}) == 200
        cache: CredentialCache = client.app.state.security.credentials  # type: ignore[attr-defined]
        entry = cache._entries[cache.digest(key)]
        assert entry.expires - cache.clock() <= 2.0


def test_touching_every_use_still_writes_every_use(
    data_dir: Path, database: Database, database_url: str
) -> None:
    settings = make_settings(data_dir, database_url, auth={"api_key_touch_seconds": 0})
    with TestClient(create_app(settings)) as client:
        account = sign_up(client, "lou@example.com")
        _, key = _key(client, account.headers)
        for _ in range(2):
            with Statements(client) as sql:
                assert _me(client, {"X-API-Key": key}) == 200
            assert any("UPDATE api_keys" in s for s in sql.seen)


def test_a_ttl_of_zero_turns_the_cache_off(
    data_dir: Path, database: Database, database_url: str
) -> None:
    settings = make_settings(data_dir, database_url, auth={"credential_cache_seconds": 0})
    with TestClient(create_app(settings)) as client:
        account = sign_up(client, "max@example.com")
        for _ in range(2):
            with Statements(client) as sql:
                assert _me(client, account.headers) == 200
            assert sql.touching("users")


def test_a_lookup_that_began_before_a_change_is_not_kept(client: TestClient) -> None:
    account = sign_up(client, "ned@example.com")
    cache: CredentialCache = client.app.state.security.credentials  # type: ignore[attr-defined]
    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        user = session.get(User, account.id)
        assert user is not None
        began = current_generation()
        invalidate_all()  # a revoke or a disable committed while the lookup ran
        cache.put(account.token, user, lifetime=5.0, generation=began)
        assert cache.get(account.token) is None
        cache.put(account.token, user, lifetime=5.0, generation=current_generation())
        assert cache.get(account.token) is not None
        invalidate_all()
        assert cache.get(account.token) is None  # entries of an older generation end too


def test_the_cache_stays_bounded() -> None:
    clock = FakeClock()
    cache = CredentialCache(5.0, max_entries=20, clock=clock)
    user = User(id=1, email="a@example.com", password_hash="x", role="user", is_active=True)
    for n in range(100):
        cache.put(f"token-{n}", user, lifetime=5.0, generation=current_generation())
        assert len(cache) <= 20
    assert cache.get("token-99") is not None
    clock.now += 6
    assert cache.get("token-99") is None


def test_a_cached_user_is_an_object_of_the_request_session(client: TestClient) -> None:
    # Routes may change the user they are given (or read its relationships): the cached copy
    # is merged into the request's session, never shared.
    account = sign_up(client, "ola@example.com")
    _, key = _key(client, account.headers)
    assert _me(client, account.headers) == 200
    security = client.app.state.security  # type: ignore[attr-defined]
    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        user = service.authenticate_credential(session, security, account.token)
        assert user in session
        assert user is not security.credentials.get(account.token)
        assert [k.name for k in user.api_keys] == ["k"]
        assert key  # the key exists; its row was loaded through the merged user


def test_the_cached_identity_is_read_only_and_needs_no_session(client: TestClient) -> None:
    account = sign_up(client, "pia@example.com")
    security = client.app.state.security  # type: ignore[attr-defined]
    assert service.cached_identity(security, account.token) is None  # not verified yet
    assert _me(client, account.headers) == 200
    identity = service.cached_identity(security, f" {account.token} ")
    assert identity is not None and identity.id == account.id and not identity.is_admin
    admin = make_admin(client)
    path = f"/api/v1/admin/users/{account.id}"
    assert client.patch(path, json={"is_active": False}, headers=admin.headers).status_code == 200
    assert service.cached_identity(security, account.token) is None
