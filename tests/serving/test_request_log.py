"""The request/response log: written in batches off the hot path, read with filters."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from modelyard.db import Database, utcnow
from modelyard.registry.models import ModelVersion
from modelyard.serving.log import RequestLogWriter
from modelyard.serving.models import PredictionLog
from tests.helpers import Account
from tests.registry.factories import register_ok, skops_classifier


def flush(client: TestClient) -> None:
    assert client.app.state.serving.log.flush()  # type: ignore[attr-defined]


def test_every_prediction_is_logged_and_can_be_filtered(
    client: TestClient, alice: Account, bob: Account
) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    register_ok(client, alice, "m", skops_classifier(2))
    ok = client.post(
        "/api/v1/models/m/predict", json={"X": [[1, 2], [3, 4]]}, headers=alice.headers
    )
    bad = client.post("/api/v1/models/m/predict", json=[{"x0": 1}], headers=alice.headers)
    old = client.post(
        "/api/v1/models/m/versions/1/predict", json={"X": [[0, 0]]}, headers=alice.headers
    )
    assert (ok.status_code, bad.status_code, old.status_code) == (200, 422, 200)
    flush(client)

    page = client.get("/api/v1/models/m/requests", headers=alice.headers).json()
    assert page["total"] == 3
    newest, failed, first = page["items"]
    assert first["predict_id"] == ok.headers["X-Predict-Id"]
    assert first["input"] == {"X": [[1, 2], [3, 4]]}
    assert first["output"]["predictions"] == ok.json()["predictions"]
    assert first["output"]["probabilities"] == ok.json()["probabilities"]
    assert (first["status"], first["n_rows"], first["version"]) == (200, 2, 2)
    assert first["user_id"] == alice.id
    assert first["latency_ms"] > 0
    assert (failed["status"], failed["output"]) == (422, None)
    assert failed["error"] == "The rows do not fit the model's input schema"
    assert newest["version"] == 1

    def items(query: str) -> list[dict[str, Any]]:
        response = client.get(f"/api/v1/models/m/requests?{query}", headers=alice.headers)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["items"]
        return found

    assert [i["status"] for i in items("status=422")] == [422]
    assert [i["version"] for i in items("version=1")] == [1]
    assert len(items("limit=1&offset=1")) == 1
    assert items("since=2000-01-01T00:00:00") and not items("until=2000-01-01T00:00:00Z")
    assert len(items(f"user_id={alice.id}&source=native")) == 3
    assert client.get("/api/v1/models/m/requests", headers=bob.headers).status_code == 404


class CountingWriter(RequestLogWriter):
    """The real writer; each transaction it commits is also counted (its rows), and waiting
    tests are woken: the database write itself is the writer's own."""

    def __init__(self, database: Database, **limits: int) -> None:
        super().__init__(database, queue_size=100, **limits)
        self.batches: list[int] = []
        self._committed = threading.Condition()

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        super()._insert(rows)
        with self._committed:
            self.batches.append(len(rows))
            self._committed.notify_all()

    def wait_for_rows(self, count: int, timeout: float = 30.0) -> None:
        with self._committed:
            assert self._committed.wait_for(lambda: sum(self.batches) >= count, timeout)


def log_entries(client: TestClient, owner: Account, count: int) -> list[dict[str, Any]]:
    """``count`` log entries of a registered model's version, as the serving core makes them."""
    register_ok(client, owner, "m", skops_classifier(2))
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    with database.session() as session:
        version = session.scalars(select(ModelVersion)).one()
    return [
        {
            "predict_id": f"entry-{index}",
            "model_id": version.model_id,
            "version_id": version.id,
            "model_name": "m",
            "version": version.version,
            "user_id": owner.id,
            "source": "native",
            "status": 200,
            "error": None,
            "n_rows": 1,
            "input": {"X": [[index, 0]]},
            "output": {"predictions": [index % 2]},
            "latency_ms": 1.0,
            "created_at": utcnow(),
        }
        for index in range(count)
    ]


def logged_ids(database: Database) -> list[str]:
    with database.session() as session:
        return list(session.scalars(select(PredictionLog.predict_id).order_by(PredictionLog.id)))


def test_the_writer_writes_a_backlog_in_batches_of_flush_rows(
    client: TestClient, alice: Account
) -> None:
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    entries = log_entries(client, alice, 7)
    # A timer that never fires in this test: only the batch size decides.
    writer = CountingWriter(database, flush_rows=3, flush_ms=600_000)
    for entry in entries:  # queued before the writer starts: one backlog of 7
        writer.submit(entry)
    writer.start()
    try:
        writer.wait_for_rows(7)
    finally:
        writer.stop()
    assert writer.batches == [3, 3, 1]
    assert logged_ids(database) == [entry["predict_id"] for entry in entries]


def test_the_writer_writes_a_short_batch_when_flush_ms_has_passed(
    client: TestClient, alice: Account
) -> None:
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    first, second = log_entries(client, alice, 2)
    writer = CountingWriter(database, flush_rows=10, flush_ms=200)
    queued = time.monotonic()
    # Both queued before the writer starts, so however the threads are scheduled they are
    # one batch: fewer than flush_rows and nothing waits on them, so only the timer writes it.
    writer.submit(first)
    writer.submit(second)
    writer.start()
    try:
        writer.wait_for_rows(2)
        waited = time.monotonic() - queued
    finally:
        writer.stop()
    assert writer.batches == [2]
    assert waited >= 0.2
    assert logged_ids(database) == ["entry-0", "entry-1"]


def test_stopping_the_writer_writes_what_is_queued(client: TestClient, alice: Account) -> None:
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    (entry,) = log_entries(client, alice, 1)
    writer = CountingWriter(database, flush_rows=10, flush_ms=600_000)
    writer.start()
    writer.submit(entry)
    writer.stop()
    assert writer.batches == [1]
    assert logged_ids(database) == ["entry-0"]


def test_a_full_queue_drops_instead_of_blocking(migrated_database: Database) -> None:
    writer = RequestLogWriter(migrated_database, queue_size=2, flush_rows=10, flush_ms=10)
    for index in range(5):  # not started: nothing drains the queue
        writer.submit({"predict_id": str(index)})
    assert writer.dropped == 3


def test_the_log_exports_as_csv(client: TestClient, alice: Account, bob: Account) -> None:
    import csv
    import io
    import json

    register_ok(client, alice, "m", skops_classifier(2))
    for value in range(3):
        client.post("/api/v1/models/m/predict", json={"X": [[value, 1]]}, headers=alice.headers)
    client.post("/api/v1/models/m/predict", json={"X": [["x", 1]]}, headers=alice.headers)
    flush(client)

    response = client.get("/api/v1/models/m/requests.csv", headers=alice.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["status"] for r in rows] == ["422", "200", "200", "200"]
    assert json.loads(rows[-1]["input"]) == {"X": [[0, 1]]}
    assert json.loads(rows[-1]["output"])["predictions"] in ([0], [1])

    only_ok = client.get("/api/v1/models/m/requests.csv?status=200", headers=alice.headers)
    assert len(list(csv.DictReader(io.StringIO(only_ok.text)))) == 3
    assert client.get("/api/v1/models/m/requests.csv", headers=bob.headers).status_code == 404


def test_a_long_log_exports_in_pages(client: TestClient, alice: Account) -> None:
    import csv
    import io

    from modelyard.serving import export

    register_ok(client, alice, "m", skops_classifier(2))
    for _ in range(5):
        client.post("/api/v1/models/m/predict", json={"X": [[1, 1]]}, headers=alice.headers)
    flush(client)
    original = export._PAGE
    export._PAGE = 2
    try:
        response = client.get("/api/v1/models/m/requests.csv", headers=alice.headers)
    finally:
        export._PAGE = original
    ids = [int(r["id"]) for r in csv.DictReader(io.StringIO(response.text))]
    assert len(ids) == 5
    assert ids == sorted(ids, reverse=True)


def test_the_csv_export_neutralises_formula_cells(client: TestClient, alice: Account) -> None:
    import csv
    import io

    from modelyard.serving.models import PredictionLog

    register_ok(client, alice, "m", skops_classifier(2))
    client.post("/api/v1/models/m/predict", json={"X": [[-1.5, 1]]}, headers=alice.headers)
    flush(client)
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    with database.session() as session:
        # What a client could put in a logged cell: its predict id, text in an error message.
        for row in session.query(PredictionLog):
            row.predict_id = "@SUM(1+1)"
            row.error = '=HYPERLINK("http://evil.example")'
    response = client.get("/api/v1/models/m/requests.csv", headers=alice.headers)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows[0]["predict_id"] == "'@SUM(1+1)"
    assert rows[0]["error"] == '\'=HYPERLINK("http://evil.example")'
    assert rows[0]["input"] == '{"X": [[-1.5, 1]]}'
    assert float(rows[0]["latency_ms"]) >= 0
