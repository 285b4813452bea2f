"""Feedback: labels joined to logged answers by predict id, checked, idempotent, all or none."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from modelyard.db import Database
from modelyard.monitoring.models import FeedbackLabel
from tests.helpers import Account
from tests.monitoring.helpers import feedback, flush, predict
from tests.registry.factories import register_ok, skops_classifier


def _labels(database: Database) -> list[tuple[int, int, int]]:
    with database.session() as session:
        rows = session.query(FeedbackLabel).order_by(FeedbackLabel.log_id, FeedbackLabel.row_index)
        return [(r.row_index, r.label_index, r.predicted_index) for r in rows]


def test_labels_join_answers_by_predict_id_and_row(
    client: TestClient, alice: Account, database: Database
) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    one = predict(client, alice, "m", [[3.0, 0.0]])
    many = predict(client, alice, "m", [[3.0, 0.0], [-3.0, 0.0], [0.1, 0.0]])
    flush(client)
    response = feedback(
        client,
        alice,
        "m",
        [
            {"predict_id": one["predict_id"], "label": 1},
            {"predict_id": many["predict_id"], "row": 1, "label": "1"},
            {"predict_id": many["predict_id"], "row": 2, "label": 0},
        ],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["stored"], body["replaced"], body["unknown"]) == (3, 3, 0, 0)
    assert body["versions"] == {"1": 3}
    classes = one["classes"]
    predicted = [classes.index(p) for p in (one["predictions"][0], *many["predictions"][1:])]
    assert _labels(database) == [(0, 1, predicted[0]), (1, 1, predicted[1]), (2, 0, predicted[2])]

    # The same row again: replaced, and said so.
    again = feedback(client, alice, "m", [{"predict_id": one["predict_id"], "label": 0}])
    assert again.status_code == 200, again.text
    assert (again.json()["stored"], again.json()["replaced"]) == (0, 1)
    assert _labels(database)[0][1] == 0


def test_refused_labels_store_nothing(
    client: TestClient, alice: Account, bob: Account, database: Database
) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    register_ok(client, bob, "m", skops_classifier(2))
    mine = predict(client, alice, "m", [[1.0, 0.0]])
    multi = predict(client, alice, "m", [[1.0, 0.0], [2.0, 0.0]])
    theirs = predict(client, bob, "m", [[1.0, 0.0]])
    flush(client)
    good = {"predict_id": mine["predict_id"], "label": 1}

    cases = {
        "unknown id": {"predict_id": "no-such-id", "label": 1},
        "another user's prediction": {"predict_id": theirs["predict_id"], "label": 1},
        "a label outside the classes": {"predict_id": multi["predict_id"], "row": 0, "label": 7},
        "a row the request did not have": {"predict_id": multi["predict_id"], "row": 2, "label": 1},
        "no row for a multi-row request": {"predict_id": multi["predict_id"], "label": 1},
    }
    for case, bad in cases.items():
        response = feedback(client, alice, "m", [good, bad])
        assert response.status_code == 422, (case, response.text)
        error = response.json()["error"]
        assert error["code"] == "feedback_refused", case
        assert error["details"]["problems"][0]["predict_id"] == bad["predict_id"], case
        assert _labels(database) == [], case

    twice = feedback(client, alice, "m", [good, {**good, "label": 0}])
    assert twice.status_code == 422
    assert "twice" in twice.json()["error"]["details"]["problems"][0]["reason"]
    assert _labels(database) == []


def test_unknown_ids_can_be_skipped_but_are_reported(
    client: TestClient, alice: Account, database: Database
) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    mine = predict(client, alice, "m", [[1.0, 0.0]])
    flush(client)
    response = feedback(
        client,
        alice,
        "m",
        [{"predict_id": mine["predict_id"], "label": 1}, {"predict_id": "nope", "label": 0}],
        "?unknown=skip",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["stored"], body["unknown"]) == (1, 1)
    assert body["unknown_ids"][0]["predict_id"] == "nope"
    assert len(_labels(database)) == 1


def test_a_model_without_a_log_and_another_users_model(
    client: TestClient, alice: Account, bob: Account
) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    response = feedback(client, alice, "m", [{"predict_id": "x", "label": 1}])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_prediction_log"
    assert feedback(client, bob, "m", [{"predict_id": "x", "label": 1}]).status_code == 404


def test_csv_and_parquet_uploads(client: TestClient, alice: Account, database: Database) -> None:
    register_ok(client, alice, "m", skops_classifier(2))
    answers = [predict(client, alice, "m", [[float(i), 0.0]]) for i in range(4)]
    flush(client)
    text = "predict_id,label\n" + "".join(f"{a['predict_id']},1\n" for a in answers[:2])
    response = client.post(
        "/api/v1/models/m/feedback/upload",
        content=text.encode(),
        headers={**alice.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 2

    table = pa.table(
        {"predict_id": [a["predict_id"] for a in answers[2:]], "row": [0, 0], "label": [0, 0]}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    response = client.post(
        "/api/v1/models/m/feedback/upload",
        files={"file": ("labels.parquet", sink.getvalue(), "application/vnd.apache.parquet")},
        headers=alice.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 2
    assert len(_labels(database)) == 4

    bad = client.post(
        "/api/v1/models/m/feedback/upload",
        content=b"id,answer\nx,1\n",
        headers={**alice.headers, "Content-Type": "text/csv"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_feedback_file"


def test_an_upload_past_the_limit_gets_413(
    client: TestClient, alice: Account, database: Database
) -> None:
    client.app.state.settings.monitoring.max_feedback_upload_bytes = 2048  # type: ignore[attr-defined]
    register_ok(client, alice, "m", skops_classifier(2))
    predict(client, alice, "m", [[1.0, 0.0]])
    flush(client)
    body = b"predict_id,label\n" + b"x,1\n" * 2000

    def chunks() -> object:
        yield body  # no Content-Length: the limit holds for a streamed body too

    for content in (body, chunks()):
        response = client.post(
            "/api/v1/models/m/feedback/upload",
            content=content,  # type: ignore[arg-type]
            headers={**alice.headers, "Content-Type": "text/csv"},
        )
        assert response.status_code == 413, response.text
    assert _labels(database) == []
