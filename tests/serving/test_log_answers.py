"""Every route's answered prediction is committed to the log before the answer is sent.

The log's timer is set to a minute here, so an entry that merely waits for its batch (as
before group commit, and as a ``best_effort`` version's still does) cannot be in the
database when the answer arrives; a durable one must be. The database is read directly.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from modelyard.db import Database
from modelyard.serving.exceptions import LogUnavailable
from modelyard.serving.log import RequestLogWriter
from modelyard.serving.models import PredictionLog
from tests.helpers import Account
from tests.registry.factories import HEART_SCHEMA, heart_classifier, register_ok, skops_classifier

PATH = "/api/v1/models/m"
ROW = [0.5, 1.0, -1.0, 2.0]
HEART_ROW = {c["name"]: 1 for c in HEART_SCHEMA["input_schema"]["columns"]}


@pytest.fixture
def serving_overrides() -> dict[str, object]:
    return {"serving": {"log_flush_ms": 60_000, "ml_api_model": "heart"}}


@pytest.fixture
def model(client: TestClient, alice: Account) -> dict[str, Any]:
    schema = [{"name": f"f{i}", "type": "float"} for i in range(4)]
    return register_ok(client, alice, "m", skops_classifier(4), schema=schema)


def in_log(database: Database, predict_id: str) -> bool:
    with database.session() as session:
        statement = select(PredictionLog.status).where(PredictionLog.predict_id == predict_id)
        return session.scalar(statement) == 200


def set_serving(client: TestClient, account: Account, **options: Any) -> dict[str, Any]:
    response = client.put(f"{PATH}/versions/1/serving", json=options, headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("mode", ["direct", "queue", "batching"])
def test_each_route_answers_only_what_the_log_holds(
    client: TestClient,
    database: Database,
    alice: Account,
    admin: Account,
    model: dict[str, Any],
    mode: str,
) -> None:
    set_serving(client, alice, mode=mode)
    register_ok(client, admin, "heart", heart_classifier(), schema=HEART_SCHEMA)
    answers = {
        "native": client.post(f"{PATH}/predict", json={"X": [ROW]}, headers=alice.headers),
        "records": client.post(
            f"{PATH}/predict",
            json=[{f"f{i}": value for i, value in enumerate(ROW)}],
            headers=alice.headers,
        ),
        "v2": client.post(
            "/v2/models/m/infer",
            json={"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}]},
            headers=alice.headers,
        ),
        "ml_api": client.post("/predict", json=HEART_ROW, headers=alice.headers),
    }
    accepted = client.post(f"{PATH}/predict?async=true", json={"X": [ROW]}, headers=alice.headers)
    assert accepted.status_code == 202, accepted.text
    predict_id = accepted.json()["predict_id"]
    answers["async"] = client.get(f"/api/v1/predictions/{predict_id}", headers=alice.headers)
    for route, answer in answers.items():
        assert answer.status_code == 200, (route, answer.text)
    unlogged = [
        r for r, answer in answers.items() if not in_log(database, answer.headers["X-Predict-Id"])
    ]
    assert unlogged == []


def test_best_effort_is_a_versions_opt_in_and_does_not_wait(
    client: TestClient, database: Database, alice: Account, model: dict[str, Any]
) -> None:
    shown = client.get(f"{PATH}/versions/1/serving", headers=alice.headers).json()
    assert shown["options"]["request_log"] is None
    assert shown["effective"]["request_log"] == "durable"

    body = set_serving(client, alice, mode="batching", request_log="best_effort")
    assert body["options"]["request_log"] == "best_effort"
    assert body["effective"]["request_log"] == "best_effort"
    answer = client.post(f"{PATH}/predict", json={"X": [ROW]}, headers=alice.headers)
    assert answer.status_code == 200, answer.text
    predict_id = answer.headers["X-Predict-Id"]
    # Answered before its entry was written: it waits for the (minute-long) timer.
    assert not in_log(database, predict_id)
    assert client.app.state.serving.log.flush()  # type: ignore[attr-defined]
    assert in_log(database, predict_id)

    refused = client.put(
        f"{PATH}/versions/1/serving", json={"request_log": "sometimes"}, headers=alice.headers
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "validation_error"
    assert refused.json()["error"]["details"][0]["loc"][-1] == "request_log"


@contextmanager
def log_table_away(database: Database) -> Iterator[None]:
    """The request log's table renamed, so writing to it fails (as a broken database would)."""
    with database.engine.begin() as connection:
        connection.execute(text("ALTER TABLE prediction_logs RENAME TO prediction_logs_away"))
    try:
        yield
    finally:
        with database.engine.begin() as connection:
            connection.execute(text("ALTER TABLE prediction_logs_away RENAME TO prediction_logs"))


def test_a_log_that_cannot_be_written_answers_503_with_retry_after(
    client: TestClient, database: Database, alice: Account, model: dict[str, Any]
) -> None:
    assert (
        client.post(f"{PATH}/predict", json={"X": [ROW]}, headers=alice.headers).status_code == 200
    )
    with log_table_away(database):
        refused = client.post(f"{PATH}/predict", json={"X": [ROW]}, headers=alice.headers)
        v2 = client.post(
            "/v2/models/m/infer",
            json={"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}]},
            headers=alice.headers,
        )
        set_serving(client, alice, request_log="best_effort")
        answered = client.post(f"{PATH}/predict", json={"X": [ROW]}, headers=alice.headers)
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    error = refused.json()["error"]
    assert error["code"] == "request_log_unavailable"
    assert error["details"]["predict_id"] == refused.headers["X-Predict-Id"]
    assert not in_log(database, refused.headers["X-Predict-Id"])
    # The inference protocol's own error shape.
    assert v2.status_code == 503 and set(v2.json()) == {"error"}, v2.text
    # best_effort answers all the same; its entry is the one that is lost.
    assert answered.status_code == 200, answered.text

    set_serving(client, alice)  # durable again (the default), and the log is back
    again = client.post(f"{PATH}/predict", json={"X": [ROW]}, headers=alice.headers)
    assert again.status_code == 200, again.text
    assert in_log(database, again.headers["X-Predict-Id"])


@contextmanager
def write_lock_held(database: Database, database_url: str) -> Iterator[None]:
    """Another connection holds the database's write lock (SQLite) or the log table's
    (PostgreSQL): the log's writer blocks on its insert until it is let go."""
    if database.is_sqlite:
        other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    with database.engine.connect() as connection, connection.begin():
        connection.execute(text("LOCK TABLE prediction_logs IN EXCLUSIVE MODE"))
        yield


def test_entries_queued_behind_a_commit_share_the_next_one_and_a_full_queue_is_503(
    client: TestClient,
    database: Database,
    database_url: str,
    alice: Account,
    model: dict[str, Any],
) -> None:
    batches: list[int] = []

    class Counting(RequestLogWriter):
        def _write(self, batch: list[dict[str, Any]]) -> Any:
            batches.append(len(batch))
            return super()._write(batch)

    writer_database = Database(database_url, busy_ms=30_000)
    writer = Counting(writer_database, queue_size=5, flush_rows=100, flush_ms=60_000)
    writer.start()

    def entry(number: int) -> dict[str, Any]:
        return {
            "predict_id": f"p{number}",
            "model_id": model["id"],
            "model_name": "m",
            "version": 1,
            "source": "native",
            "status": 200,
            "n_rows": 1,
            "input": {"X": [ROW]},
            "latency_ms": 1.0,
        }

    async def main() -> tuple[list[BaseException | None], BaseException | None]:
        with write_lock_held(database, database_url):
            first = asyncio.create_task(writer.commit(entry(0)))
            while not batches:  # noqa: ASYNC110 - the writer took it (a thread: no event to await)
                await asyncio.sleep(0.01)
            queued = [asyncio.create_task(writer.commit(entry(i))) for i in range(1, 6)]
            await asyncio.sleep(0.05)
            assert not first.done() and not any(task.done() for task in queued)
            try:
                await writer.commit(entry(6), retry_after=3)
                full = None
            except LogUnavailable as exc:
                full = exc
        results = await asyncio.gather(first, *queued, return_exceptions=True)
        return results, full

    try:
        results, full = asyncio.run(main())
    finally:
        writer.stop()
        writer_database.dispose()
    assert results == [None] * 6
    # The five that came while the first batch was being written: one batch, one commit.
    assert batches == [1, 5]
    assert isinstance(full, LogUnavailable)
    assert full.status_code == 503 and full.headers["Retry-After"] == "3"
    assert all(in_log(database, f"p{i}") for i in range(6))
    assert not in_log(database, "p6")
