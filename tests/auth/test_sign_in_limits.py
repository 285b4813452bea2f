"""Sign-in under pressure, in process: no connection held while hashing, a bounded hashing gate,
and throttling per (account, client address) that an attacker elsewhere cannot turn on the owner.

The same properties against a real ``modelyard serve`` are in ``test_sign_in_server.py``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher, Type
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelyard.app import create_app
from modelyard.config import Settings
from modelyard.db import Database
from modelyard.errors import ServiceUnavailable
from tests.conftest import make_settings
from tests.helpers import PASSWORD, make_admin, sign_up
from tests.web.helpers import csrf_of

TOKEN = "/api/v1/auth/token"


class PoolWatchingHasher(PasswordHasher):
    """argon2 as the tests configure it, noting how many database connections were checked
    out of the pool each time a password was hashed or verified."""

    def __init__(self, database: Database) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
        self._pool: Any = database.engine.pool
        self.held: list[int] = []

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.held.append(self._pool.checkedout())
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.held.append(self._pool.checkedout())
        return super().verify(hash, password)


def _login(client: TestClient, login: str, password: str, **headers: str) -> int:
    response = client.post(TOKEN, json={"login": login, "password": password}, headers=headers)
    return response.status_code


def test_no_route_holds_a_database_connection_while_it_hashes(client: TestClient) -> None:
    app: Any = client.app
    admin = make_admin(client)
    hasher = PoolWatchingHasher(app.state.database)
    app.state.security._hasher = hasher

    def hashed_without_a_connection(response: Any, status: int) -> None:
        assert response.status_code == status, response.text
        assert hasher.held, "the route hashed no password"
        assert hasher.held == [0] * len(hasher.held), hasher.held
        hasher.held.clear()

    # Native sign-up and sign-in (right, wrong, unknown account: the decoy hash too).
    body = {"email": "n@example.com", "password": PASSWORD}
    hashed_without_a_connection(client.post("/api/v1/users", json=body), 201)
    for password, status in ((PASSWORD, 200), ("wrong-1", 401)):
        answer = client.post(TOKEN, json={"login": "n@example.com", "password": password})
        hashed_without_a_connection(answer, status)
    unknown = client.post(TOKEN, json={"login": "nobody@example.com", "password": "x12345"})
    hashed_without_a_connection(unknown, 401)
    # pycm-api: sign-up, sign-in, and HTTP Basic on its admin listing.
    pycm = {"email": "p@example.com", "password": PASSWORD}
    hashed_without_a_connection(client.post("/sign_up/", json=pycm), 200)
    hashed_without_a_connection(client.post("/sign_in/", json=pycm), 200)
    listing = client.get("/users/", auth=(admin.login, admin.password))
    hashed_without_a_connection(listing, 200)
    # The Machine learning API: register and token.
    ml = {"username": "mlu", "password": PASSWORD}
    hashed_without_a_connection(client.post("/register-user", json=ml), 201)
    hashed_without_a_connection(client.post("/token", json=ml), 200)
    # The dashboard's sign-up and sign-in.
    form = {"csrf_token": csrf_of(client, "/ui/sign-up"), "email": "w@example.com"}
    hasher.held.clear()  # the dashboard's pages read nothing that hashes, but be exact
    signed_up = client.post("/ui/sign-up", data={**form, "password": PASSWORD})
    hashed_without_a_connection(signed_up, 200)
    client.post("/ui/sign-out", data={"csrf_token": csrf_of(client, "/ui/keys")})
    form = {"csrf_token": csrf_of(client, "/ui/sign-in"), "login": "w@example.com"}
    hasher.held.clear()
    hashed_without_a_connection(
        client.post("/ui/sign-in", data={**form, "password": PASSWORD}), 200
    )


@pytest.fixture
def busy_app(settings: Settings) -> FastAPI:
    """One hashing slot and no waiting room: a test that holds the slot makes sign-ins busy."""
    auth = {"hash_concurrency": 1, "hash_queue": 0, "hash_wait_seconds": 0.1}
    return create_app(make_settings(settings.data_dir, settings.database_url, auth=auth))


def test_a_full_hashing_gate_answers_503_with_retry_after_in_each_routes_shape(
    busy_app: FastAPI,
) -> None:
    with TestClient(busy_app) as client:
        sign_up(client, "busy@example.com")
        gate = busy_app.state.security.hash_gate
        creds = {"login": "busy@example.com", "password": PASSWORD}
        with gate.slot():
            native = client.post(TOKEN, json=creds)
            signup = client.post(
                "/api/v1/users", json={"email": "x@example.com", "password": "x12345"}
            )
            pycm = client.post(
                "/sign_in/", json={"email": "busy@example.com", "password": PASSWORD}
            )
            ml = client.post("/token", json={"username": "busy@example.com", "password": PASSWORD})
            token = csrf_of(client, "/ui/sign-in")
            web = client.post("/ui/sign-in", data={"csrf_token": token, **creds})
            # More busy answers than the throttle allows guesses: none of them is counted.
            extra = [client.post(TOKEN, json=creds).status_code for _ in range(6)]
        for answer in (native, signup, pycm, ml, web):
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["Retry-After"]) >= 1
        assert native.json()["error"]["code"] == "sign_in_busy"
        assert signup.json()["error"]["code"] == "sign_in_busy"
        assert set(pycm.json()) == {"detail"}
        assert set(ml.json()) == {"message"}
        assert "Too many sign-ins at once" in web.text
        assert extra == [503] * 6
        # The slot is free again: the owner gets in, with no guess held against them.
        assert client.post(TOKEN, json=creds).status_code == 200


def test_the_gate_lets_its_slots_run_a_queue_wait_and_refuses_the_rest() -> None:
    from modelyard.auth.security import HashGate  # here: the module's other tests run on main

    gate = HashGate(slots=1, queue=1, wait_seconds=0.3)
    release = threading.Event()
    entered = threading.Event()
    outcomes: list[str] = []

    def hold() -> None:
        with gate.slot():
            entered.set()
            release.wait(5)

    def wait_for_slot() -> None:
        try:
            with gate.slot():
                outcomes.append("ran")
        except ServiceUnavailable as exc:
            outcomes.append(exc.headers["Retry-After"])

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(5)
    waiter = threading.Thread(target=wait_for_slot)
    waiter.start()
    deadline = time.monotonic() + 5
    while gate._waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    wait_for_slot()  # the waiting room is full: refused at once
    waiter.join(5)  # the waiter's time is up while the slot is still held
    assert outcomes == ["1", "1"]
    second = threading.Thread(target=wait_for_slot)
    second.start()
    time.sleep(0.05)
    release.set()  # a waiter gets the slot as soon as it is free
    second.join(5)
    holder.join(5)
    assert outcomes == ["1", "1", "ran"]


@pytest.fixture
def proxied(settings: Settings) -> Iterator[TestClient]:
    """Requests arrive from a reverse proxy on 127.0.0.1 that the operator trusts; small limits."""
    auth = {
        "trusted_proxies": "127.0.0.1",
        "login_max_failures_per_address": 8,
        "login_max_failures_per_account": 12,
    }
    app = create_app(make_settings(settings.data_dir, settings.database_url, auth=auth))
    with TestClient(app, client=("127.0.0.1", 40000)) as client:
        yield client


ATTACKER = {"X-Forwarded-For": "203.0.113.7"}
OWNER = {"X-Forwarded-For": "198.51.100.9"}


def test_an_attacker_elsewhere_cannot_lock_the_owner_out(proxied: TestClient) -> None:
    owner = sign_up(proxied, "owner@example.com")
    limit = 5
    statuses = [_login(proxied, owner.login, "guess-1", **ATTACKER) for _ in range(limit + 3)]
    assert statuses == [401] * limit + [429] * 3
    # The right password from the attacker's address is refused too: the pair is throttled.
    assert _login(proxied, owner.login, PASSWORD, **ATTACKER) == 429
    # The owner, from their own address, gets in.
    assert _login(proxied, owner.login, PASSWORD, **OWNER) == 200
    # A client behind the proxy cannot pose as another by writing its own X-Forwarded-For:
    # the proxy appends the address it saw, and the right-most untrusted one counts.
    spoofed = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7"}
    assert _login(proxied, owner.login, PASSWORD, **spoofed) == 429


def test_one_address_guessing_many_accounts_is_throttled(proxied: TestClient) -> None:
    sign_up(proxied, "sprayed@example.com")
    statuses = [_login(proxied, f"u{i}@example.com", "guess-1", **ATTACKER) for i in range(10)]
    assert statuses == [401] * 8 + [429] * 2
    assert _login(proxied, "sprayed@example.com", PASSWORD, **ATTACKER) == 429
    assert _login(proxied, "sprayed@example.com", PASSWORD, **OWNER) == 200


def test_distributed_guessing_meets_the_account_ceiling_but_not_the_owner(
    proxied: TestClient,
) -> None:
    owner = sign_up(proxied, "target@example.com")
    assert _login(proxied, owner.login, PASSWORD, **OWNER) == 200  # a known address now
    statuses = [
        _login(proxied, owner.login, "guess-1", **{"X-Forwarded-For": f"192.0.2.{i}"})
        for i in range(14)
    ]
    assert statuses == [401] * 12 + [429] * 2
    # A new address is held by the ceiling, even with the right password ...
    assert _login(proxied, owner.login, PASSWORD, **{"X-Forwarded-For": "192.0.2.200"}) == 429
    # ... the owner's known address is not.
    assert _login(proxied, owner.login, PASSWORD, **OWNER) == 200


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    from modelyard.auth.throttle import client_address

    trusted = ["127.0.0.1", "10.0.0.0/8"]
    assert client_address("203.0.113.7", ["198.51.100.9"], trusted) == "203.0.113.7"
    assert client_address("127.0.0.1", ["198.51.100.9"], []) == "127.0.0.1"
    assert client_address("127.0.0.1", ["198.51.100.9"], trusted) == "198.51.100.9"
    # The right-most untrusted hop, whatever the client wrote before it.
    chain = ["1.1.1.1, 198.51.100.9", "10.1.2.3"]
    assert client_address("127.0.0.1", chain, trusted) == "198.51.100.9"
    assert client_address("127.0.0.1", ["not-an-ip, 10.0.0.1"], trusted) == "not-an-ip"
    assert client_address("127.0.0.1", ["10.0.0.2"], trusted) == "10.0.0.2"  # all trusted
    assert client_address("127.0.0.1", [], trusted) == "127.0.0.1"
    assert client_address(None, [], trusted) == "unknown"


def test_trusted_proxies_are_read_from_a_comma_separated_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    from modelyard.config import AuthSettings

    monkeypatch.setenv("MODELYARD_AUTH_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    assert AuthSettings().trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]
    monkeypatch.setenv("MODELYARD_AUTH_TRUSTED_PROXIES", "10.0.0.0/8,proxy.example.com")
    with pytest.raises(ValidationError, match=r"proxy\.example\.com"):
        AuthSettings()
    monkeypatch.delenv("MODELYARD_AUTH_TRUSTED_PROXIES")
    assert AuthSettings().trusted_proxies == []


def test_the_default_hashing_slots_follow_the_cpus_and_the_memory() -> None:
    from modelyard.config import default_hash_slots

    cpus = len(os.sched_getaffinity(0))
    assert default_hash_slots(64 * 1024, 1) == cpus  # 64 MiB each fits many times over
    assert default_hash_slots(64 * 1024, 4) == max(1, cpus // 4)  # each hash runs 4 threads
    assert default_hash_slots(2**40, 1) == 1  # a hash bigger than memory: still one at a time
