"""The request log as parquet: the CSV's rows and columns, typed, streamed a page at a time."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from modelyard.serving import export
from tests.helpers import Account
from tests.registry.factories import register_ok, skops_classifier


def flush(client: TestClient) -> None:
    assert client.app.state.serving.log.flush()  # type: ignore[attr-defined]


def _parquet(client: TestClient, account: Account, query: str = "") -> pa.Table:
    response = client.get(f"/api/v1/models/m/requests.parquet{query}", headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    assert 'filename="m-requests.parquet"' in response.headers["content-disposition"]
    return pq.read_table(io.BytesIO(response.content))


@pytest.fixture
def logged(client: TestClient, alice: Account) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    for value in range(3):
        client.post("/api/v1/models/m/predict", json={"X": [[value, 1]]}, headers=alice.headers)
    client.post("/api/v1/models/m/predict", json={"X": [["x", 1]]}, headers=alice.headers)
    flush(client)


def test_the_log_exports_as_parquet_with_the_csvs_rows(
    client: TestClient, alice: Account, logged: None
) -> None:
    started = datetime.now(UTC)
    table = _parquet(client, alice)
    assert table.column_names == export.COLUMNS
    assert table.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("latency_ms").type == pa.float64()
    rows = table.to_pylist()

    text = client.get("/api/v1/models/m/requests.csv", headers=alice.headers).text
    csv_rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [int(r["id"]) for r in csv_rows]
    assert [r["status"] for r in rows] == [422, 200, 200, 200]
    for row, csv_row in zip(rows, csv_rows, strict=True):
        assert row["predict_id"] == csv_row["predict_id"]
        assert row["created_at"] == datetime.fromisoformat(csv_row["created_at"]).replace(
            tzinfo=row["created_at"].tzinfo
        )
        assert json.loads(row["input"]) == json.loads(csv_row["input"])
        assert json.loads(row["output"]) == json.loads(csv_row["output"])
        assert row["user_id"] == alice.id and row["model_name"] == "m" and row["version"] == 1
    # Timestamps are UTC instants, not shifted local times.
    assert abs(rows[0]["created_at"] - started) < timedelta(minutes=5)
    assert rows[0]["error"] and rows[0]["output"] == "null"
    assert json.loads(rows[-1]["input"]) == {"X": [[0, 1]]}


def test_parquet_takes_the_same_filters_and_owner_scoping(
    client: TestClient, alice: Account, bob: Account, logged: None
) -> None:
    assert _parquet(client, alice, "?status=200").num_rows == 3
    assert _parquet(client, alice, "?until=2000-01-01T00:00:00Z").num_rows == 0
    response = client.get("/api/v1/models/m/requests.parquet", headers=bob.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    bad = client.get("/api/v1/models/m/requests.parquet?status=7", headers=alice.headers)
    assert bad.status_code == 422


def test_an_empty_log_is_a_valid_empty_file(client: TestClient, alice: Account) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    table = _parquet(client, alice)
    assert table.num_rows == 0
    assert table.column_names == export.COLUMNS


def test_a_long_log_streams_one_row_group_per_page(
    client: TestClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    for _ in range(5):
        client.post("/api/v1/models/m/predict", json={"X": [[1, 1]]}, headers=alice.headers)
    flush(client)
    monkeypatch.setattr(export, "_PAGE", 2)
    response = client.get("/api/v1/models/m/requests.parquet", headers=alice.headers)
    parquet = pq.ParquetFile(io.BytesIO(response.content))
    assert parquet.metadata.num_row_groups == 3  # 2 + 2 + 1
    ids = parquet.read().column("id").to_pylist()
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)
