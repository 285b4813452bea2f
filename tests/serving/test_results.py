"""Async results: pending, done, failed, timeouts, expiry, owners; in-process and on Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelyard.db import Database
from modelyard.kv import DatabaseStore, EphemeralStore, MemoryStore, RedisStore
from modelyard.serving.exceptions import (
    InvalidPredictInput,
    PredictionNotFound,
    PredictTimeout,
    StoredPredictError,
)
from modelyard.serving.results import AsyncResults
from tests.conftest import TEST_BROKER_URL


def _stores() -> list[Any]:
    kinds: list[Any] = ["memory", "database"]
    kinds.append(
        pytest.param(
            "redis",
            marks=pytest.mark.skipif(TEST_BROKER_URL is None, reason="needs a Redis broker URL"),
        )
    )
    return kinds


@pytest.fixture(params=_stores())
def store(request: pytest.FixtureRequest) -> Iterator[EphemeralStore]:
    if request.param == "memory":
        made: EphemeralStore = MemoryStore()
    elif request.param == "database":
        made = DatabaseStore(request.getfixturevalue("database"))
    else:
        assert TEST_BROKER_URL is not None
        made = RedisStore(TEST_BROKER_URL, prefix="modelyard:test-results:")
    yield made
    made.close()


async def _after(seconds: float, value: Any) -> Any:
    await asyncio.sleep(seconds)
    return value


async def _fails(seconds: float) -> Any:
    await asyncio.sleep(seconds)
    raise InvalidPredictInput(details=[{"loc": ["rows", 0], "msg": "bad", "type": "x"}])


async def _crashes() -> Any:
    raise RuntimeError("boom")


def test_a_pending_result_is_waited_for_then_returned(store: EphemeralStore) -> None:
    results = AsyncResults(store, poll_seconds=0.01)

    async def main() -> tuple[Any, float]:
        await results.start(
            "p1", _after(0.2, {"y": [1]}), owner_id=5, ttl_seconds=10, client_wait_seconds=5
        )
        record = await results.get("p1")
        assert record is not None and record["state"] == "pending"
        started = time.monotonic()
        answer = await results.fetch("p1", owner_id=5)
        return answer, time.monotonic() - started

    answer, waited = asyncio.run(main())
    assert answer == {"y": [1]}
    assert 0.1 < waited < 3


def test_still_pending_after_the_wait_is_a_timeout_and_can_be_asked_again(
    store: EphemeralStore,
) -> None:
    results = AsyncResults(store, poll_seconds=0.01)

    async def main() -> Any:
        await results.start(
            "p2", _after(0.4, [3]), owner_id=None, ttl_seconds=10, client_wait_seconds=0.05
        )
        with pytest.raises(PredictTimeout) as late:
            await results.fetch("p2", check_owner=False)  # the start's wait: 0.05 s
        assert late.value.status_code == 408
        return await results.fetch("p2", check_owner=False, wait_seconds=5)

    assert asyncio.run(main()) == [3]


def test_unknown_other_owners_and_expired_ids_are_not_found(store: EphemeralStore) -> None:
    results = AsyncResults(store, poll_seconds=0.01)

    async def main() -> None:
        with pytest.raises(PredictionNotFound):
            await results.fetch("nobody", owner_id=1)
        await results.start("p3", _after(0, 1), owner_id=1, ttl_seconds=1, client_wait_seconds=1)
        assert await results.fetch("p3", owner_id=1) == 1
        with pytest.raises(PredictionNotFound) as other:
            await results.fetch("p3", owner_id=2)
        assert other.value.status_code == 404
        await asyncio.sleep(1.2)  # past its TTL
        with pytest.raises(PredictionNotFound):
            await results.fetch("p3", owner_id=1)

    asyncio.run(main())


def test_a_failed_prediction_is_raised_again_with_its_status(store: EphemeralStore) -> None:
    results = AsyncResults(store, poll_seconds=0.01)

    async def main() -> None:
        await results.start("p4", _fails(0.05), owner_id=1, ttl_seconds=5, client_wait_seconds=5)
        await results.start("p5", _crashes(), owner_id=1, ttl_seconds=5, client_wait_seconds=5)
        with pytest.raises(StoredPredictError) as failed:
            await results.fetch("p4", owner_id=1)
        assert failed.value.status_code == 422
        assert failed.value.code == "invalid_predict_input"
        assert failed.value.details == [{"loc": ["rows", 0], "msg": "bad", "type": "x"}]
        with pytest.raises(StoredPredictError) as crashed:
            await results.fetch("p5", owner_id=1)
        assert crashed.value.status_code == 500
        assert crashed.value.code == "predict_error"
        assert crashed.value.message == "RuntimeError: boom"

    asyncio.run(main())


def test_another_replica_reads_what_one_stored() -> None:
    """Two result stores over the same backend: what one starts, the other answers."""
    if TEST_BROKER_URL is None:
        pytest.skip("needs a Redis broker URL (replicas share Redis, not memory)")
    one = RedisStore(TEST_BROKER_URL, prefix="modelyard:test-replicas:")
    two = RedisStore(TEST_BROKER_URL, prefix="modelyard:test-replicas:")
    first, second = AsyncResults(one, poll_seconds=0.01), AsyncResults(two, poll_seconds=0.01)

    async def main() -> Any:
        await first.start("r1", _after(0.1, {"ok": 1}), owner_id=9, ttl_seconds=5,
                          client_wait_seconds=5)  # fmt: skip
        return await second.fetch("r1", owner_id=9)

    try:
        assert asyncio.run(main()) == {"ok": 1}
    finally:
        one.close()
        two.close()


def test_another_server_process_reads_what_one_stored(database: Database) -> None:
    """Two result stores over one database, each with its own engine (as two processes of
    ``serve --workers 2`` have): what one starts, the other answers."""
    other = Database(database.url)
    one, two = DatabaseStore(database), DatabaseStore(other)
    first, second = AsyncResults(one, poll_seconds=0.01), AsyncResults(two, poll_seconds=0.01)

    async def main() -> Any:
        await first.start("r1", _after(0.1, {"ok": 1}), owner_id=9, ttl_seconds=5,
                          client_wait_seconds=5)  # fmt: skip
        return await second.fetch("r1", owner_id=9)

    try:
        assert asyncio.run(main()) == {"ok": 1}
    finally:
        other.dispose()
