"""Feedback files with values far longer than allowed get a small 4xx answer: a few KB of
zstd parquet may hold a 50 MB label, which must never be built, stored or echoed back."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from modelyard.db import Database
from modelyard.monitoring.models import FeedbackLabel
from tests.helpers import Account
from tests.monitoring.helpers import feedback, flush, predict
from tests.registry.factories import register_ok, skops_classifier

HUGE = "A" * (50 * 1024 * 1024)


def _parquet(predict_ids: list[str], labels: list[str]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"predict_id": predict_ids, "label": labels}), sink, compression="zstd")
    return sink.getvalue()


@pytest.mark.parametrize("case", ["huge_label", "huge_id", "long_labels", "csv_long_label"])
def test_overlong_values_in_an_upload_get_a_small_4xx(
    client: TestClient, alice: Account, database: Database, case: str
) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    predict_id = predict(client, alice, "m", [[1.0, 0.5]])["predict_id"]
    flush(client)
    if case == "huge_label":
        content, kind = _parquet([predict_id], [HUGE]), "application/vnd.apache.parquet"
    elif case == "huge_id":
        content, kind = _parquet([HUGE], ["1"]), "application/vnd.apache.parquet"
    elif case == "long_labels":  # small enough for the metadata, too long row by row
        content, kind = (
            _parquet([predict_id] * 3, ["B" * 201] * 3),
            "application/vnd.apache.parquet",
        )
    else:
        content = f"predict_id,label\n{predict_id},{'C' * 100_000}\n".encode()
        kind = "text/csv"
    assert len(content) < 200_000
    response = client.post(
        "/api/v1/models/m/feedback/upload",
        content=content,
        headers={**alice.headers, "Content-Type": kind},
    )
    assert 400 <= response.status_code < 500, response.text[:300]
    assert len(response.content) < 2000
    assert response.json()["error"]["code"] == "invalid_feedback_file"
    with database.session() as session:
        assert session.query(FeedbackLabel).count() == 0


def test_a_refused_label_is_quoted_short(client: TestClient, alice: Account) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    predict_id = predict(client, alice, "m", [[1.0, 0.5]])["predict_id"]
    flush(client)
    response = feedback(client, alice, "m", [{"predict_id": predict_id, "label": "D" * 200}])
    assert "D" * 100 not in response.text, response.text
