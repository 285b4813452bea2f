"""The ephemeral store's operations, the same on every backend: in memory, in the database
(``serve --workers N``) and on Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from modelyard.db import Database
from modelyard.kv import DatabaseStore, EphemeralStore, EphemeralValue, MemoryStore, RedisStore
from tests.conftest import TEST_BROKER_URL


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _kinds() -> list[Any]:
    redis = pytest.param(
        "redis",
        marks=pytest.mark.skipif(TEST_BROKER_URL is None, reason="needs a Redis broker URL"),
    )
    return ["memory", "database", redis]


@pytest.fixture(params=_kinds())
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(kind: str, clock: Clock, request: pytest.FixtureRequest) -> Iterator[EphemeralStore]:
    if kind == "memory":
        made: EphemeralStore = MemoryStore(clock)
    elif kind == "database":
        made = DatabaseStore(request.getfixturevalue("database"), clock)
    else:
        assert TEST_BROKER_URL is not None
        made = RedisStore(TEST_BROKER_URL, prefix="modelyard:test-kv:")
        made.delete("count")
        made.delete("blob")
    yield made
    made.close()


def test_a_counter_counts_and_is_deleted(store: EphemeralStore) -> None:
    assert store.get_int("count") == 0
    assert store.ttl("count") == 0
    assert [store.incr("count", 60) for _ in range(3)] == [1, 2, 3]
    assert store.get_int("count") == 3
    assert 1 <= store.ttl("count") <= 60
    store.delete("count")
    assert store.get_int("count") == 0


def test_a_counter_takes_an_amount_and_gives_back(store: EphemeralStore) -> None:
    # Sign-in counts raise by one before a check and give it back on a success.
    assert store.incr("count", 60) == 1
    assert store.incr("count", 60, amount=3) == 4
    assert store.incr("count", 60, amount=-1) == 3
    assert store.get_int("count") == 3
    store.delete("count")


def test_bytes_are_replaced_and_deleted(store: EphemeralStore) -> None:
    assert store.get_bytes("blob") is None
    store.set_bytes("blob", b"\x00one", 60)
    store.set_bytes("blob", b"two", 60)
    assert store.get_bytes("blob") == b"two"
    store.delete("blob")
    assert store.get_bytes("blob") is None


@pytest.mark.parametrize("kind", ["memory", "database"])
def test_values_expire_and_a_counter_starts_again(store: EphemeralStore, clock: Clock) -> None:
    store.incr("count", 10)
    store.incr("count", 10)
    store.set_bytes("blob", b"x", 5)
    clock.now += 4
    assert store.ttl("count") == 6  # the window runs from the first increment
    assert store.get_bytes("blob") == b"x"
    clock.now += 2
    assert store.get_bytes("blob") is None
    assert store.get_int("count") == 2
    clock.now += 5
    assert store.get_int("count") == 0
    assert store.incr("count", 10) == 1


def test_two_database_stores_share_their_values(database: Database) -> None:
    """Two processes of one machine: each its own engine on the same database."""
    other = Database(database.url)
    try:
        one, two = DatabaseStore(database), DatabaseStore(other)
        one.incr("count", 60)
        two.incr("count", 60)
        assert one.get_int("count") == 2
        one.set_bytes("blob", b"result", 60)
        assert two.get_bytes("blob") == b"result"
        two.delete("count")
        assert one.get_int("count") == 0
    finally:
        other.dispose()


def test_expired_values_are_swept_from_the_table(database: Database) -> None:
    clock = Clock()
    store = DatabaseStore(database, clock)
    for n in range(300):
        store.set_bytes(f"id-{n}", b"x", 1)
    clock.now += 2
    for n in range(300):  # the sweep runs every 256 writes
        store.set_bytes(f"new-{n}", b"y", 60)
    with database.engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(EphemeralValue)).scalar_one()
    assert rows < 400
    assert store.get_bytes("new-0") == b"y"
