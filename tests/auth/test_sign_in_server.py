"""Sign-in against a real ``modelyard serve`` with argon2 at its production cost (64 MiB, three
passes): a burst of anonymous sign-ins, parallel guesses, and the owner signing in from another
address while an attacker's is throttled (a second loopback address, 127.0.0.2, is another
client; ``X-Forwarded-For`` counts only from trusted proxies).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from modelyard.db import Database
from tests.helpers import PASSWORD, running_server

PRODUCTION_ARGON2 = {
    "MODELYARD_AUTH_ARGON2_MEMORY_KIB": "65536",
    "MODELYARD_AUTH_ARGON2_TIME_COST": "3",
    "MODELYARD_AUTH_ARGON2_PARALLELISM": "4",
}
TOKEN = "/api/v1/auth/token"
BURST = 100
MIB = 1024 * 1024


def _client(url: str, source: str = "127.0.0.1") -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=url, timeout=120, transport=transport)


def _unique(name: str) -> str:
    # Redis keeps counts between runs on the scale-out path; a fresh login never meets them.
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def _sign_up(url: str, email: str) -> None:
    with _client(url) as client:
        answer = client.post("/api/v1/users", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 201, answer.text


def _sign_in(url: str, login: str, password: str, source: str = "127.0.0.1", **headers: str) -> int:
    with _client(url, source) as client:
        answer = client.post(TOKEN, json={"login": login, "password": password}, headers=headers)
        if answer.status_code in (429, 503):
            assert int(answer.headers["Retry-After"]) >= 1
        return answer.status_code


def _server_pid(log: Path) -> int:
    found = re.search(r"Started server process \[(\d+)\]", log.read_text())
    assert found, log.read_text()
    return int(found.group(1))


def _memory(pid: int, field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (the peak) of a process, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    assert found, status
    return int(found.group(1)) * 1024


def test_a_burst_of_sign_ins_gets_no_server_error_and_stalls_no_one(
    tmp_path: Path, database: Database
) -> None:
    env = {
        **PRODUCTION_ARGON2,
        # Every request of the signed-in user below asks the database, as a first one does.
        "MODELYARD_AUTH_CREDENTIAL_CACHE_SECONDS": "0",
        # The burst comes from one address; let it reach the hashing, not the address's limit.
        "MODELYARD_AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000",
    }
    with running_server(tmp_path, env=env) as (url, log):
        pid = _server_pid(log)
        user = _unique("busy")
        _sign_up(url, user)
        with _client(url) as client:
            token = client.post(TOKEN, json={"login": user, "password": PASSWORD})
            assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        before = _memory(pid, "VmRSS")

        done = threading.Event()
        waits: list[tuple[float, int]] = []

        def use_the_service() -> None:
            with _client(url) as client:
                while not done.is_set():
                    start = time.monotonic()
                    status = client.get("/api/v1/users/me", headers=headers).status_code
                    waits.append((time.monotonic() - start, status))
                    time.sleep(0.2)

        user_thread = threading.Thread(target=use_the_service)
        user_thread.start()
        barrier = threading.Barrier(BURST)

        def anonymous(i: int) -> int:
            barrier.wait()
            return _sign_in(url, _unique(f"nobody{i}"), "wrong-password")

        try:
            with ThreadPoolExecutor(BURST) as pool:
                statuses = list(pool.map(anonymous, range(BURST)))
        finally:
            done.set()
            user_thread.join(60)
        peak = _memory(pid, "VmHWM")
    slowest = max((wait for wait, _ in waits), default=0.0)
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    print(
        f"burst: {counts}; user's slowest {slowest:.2f} s; RSS {before // MIB} -> {peak // MIB} MiB"
    )

    assert set(statuses) <= {401, 429, 503}, sorted(statuses)
    assert statuses.count(401) >= 1, "no sign-in was checked at all"
    assert waits and all(status == 200 for _, status in waits), waits
    assert slowest < 5, waits
    # A few hashes at 64 MiB at once, not one per request (main grew by about 1 GB).
    assert peak - before < 512 * MIB, (before // MIB, peak // MIB)


@pytest.fixture(scope="module")
def plain_server(
    tmp_path_factory: pytest.TempPathFactory, migrated_database: Database
) -> Iterator[str]:
    """No trusted proxies: the socket's peer is the client, whatever X-Forwarded-For says."""
    with running_server(tmp_path_factory.mktemp("plain"), env=PRODUCTION_ARGON2) as (url, _):
        yield url


def test_parallel_wrong_guesses_are_checked_at_most_the_limits_times(
    plain_server: str, database: Database
) -> None:
    owner = _unique("guessed")
    _sign_up(plain_server, owner)
    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(lambda _: _sign_in(plain_server, owner, "wrong-1"), range(40)))
    # Counted before checked: five reach the password (a busy hashing gate may refuse one,
    # which then does not count), every other one is 429 without a check.
    assert statuses.count(401) <= 5, sorted(statuses)
    assert statuses.count(429) >= 35, sorted(statuses)
    assert set(statuses) <= {401, 429, 503}, sorted(statuses)


def test_the_owner_signs_in_from_another_address_while_an_attacker_is_throttled(
    plain_server: str, database: Database
) -> None:
    owner = _unique("owner")
    _sign_up(plain_server, owner)
    # The attacker writes the owner's address into X-Forwarded-For: with no trusted proxy it
    # is ignored, so the guesses count against the attacker's own address.
    posing = {"X-Forwarded-For": "127.0.0.2"}
    statuses = [_sign_in(plain_server, owner, "wrong-1", **posing) for _ in range(6)]
    assert statuses == [401] * 5 + [429], statuses
    for fake in ("198.51.100.1", "198.51.100.2"):  # a new header is no new address
        assert _sign_in(plain_server, owner, PASSWORD, **{"X-Forwarded-For": fake}) == 429
    assert _sign_in(plain_server, owner, PASSWORD, source="127.0.0.2") == 200
    assert _sign_in(plain_server, owner, PASSWORD) == 429  # still throttled where it guessed


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(
    tmp_path: Path, database: Database
) -> None:
    env = {"MODELYARD_AUTH_TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8"}
    with running_server(tmp_path, env=env) as (url, _):
        owner = _unique("proxied")
        _sign_up(url, owner)
        attacker = {"X-Forwarded-For": "203.0.113.7"}
        statuses = [_sign_in(url, owner, "wrong-1", **attacker) for _ in range(6)]
        assert statuses == [401] * 5 + [429], statuses
        assert _sign_in(url, owner, PASSWORD, **attacker) == 429
        assert _sign_in(url, owner, PASSWORD, **{"X-Forwarded-For": "198.51.100.9"}) == 200
        # Not from a trusted proxy: 127.0.0.2's header is ignored, it is its own client.
        assert _sign_in(url, owner, PASSWORD, source="127.0.0.2", **attacker) == 200
