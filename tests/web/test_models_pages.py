"""Model pages: upload, versions, schema, try a prediction, the request log and its charts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from modelyard.serving.schemas import PredictionLogRead
from modelyard.web.pages.models import traffic_charts
from tests.registry.factories import HEART_FEATURES, HEART_SCHEMA, heart_classifier
from tests.web.helpers import WebUser


def upload_heart(user: WebUser, name: str = "heart") -> None:
    response = user.post(
        "/ui/models",
        {"name": name, "description": "heart failure"},
        files={
            "file": ("model.skops", heart_classifier()),
            "input_schema": ("input_schema.json", json.dumps(HEART_SCHEMA).encode()),
        },
    )
    assert response.status_code == 200, response.text
    assert f"Version 1 of {name} is registered." in response.text


def test_upload_then_versions_schema_and_a_prediction(client: TestClient, alice: WebUser) -> None:
    assert "No models yet." in client.get("/ui/models").text
    upload_heart(alice)
    page = client.get("/ui/models/heart")
    assert "<h1>Model heart</h1>" in page.text
    assert "<td>skops</td><td>classifier</td>" in page.text
    for feature in HEART_FEATURES:
        assert f"<td>{feature}</td>" in page.text
    assert "No logged requests match." in page.text
    assert "No requests yet: nothing to chart." in page.text
    row = {name: 1 for name in HEART_FEATURES}
    answer = alice.post("/ui/models/heart/predict", {"rows": json.dumps([row, row])})
    assert answer.status_code == 200
    result = answer.text.split('class="result"')[1]
    assert result.count('class="prediction"') == 2
    assert "P(0)" in result and "P(1)" in result
    client.app.state.serving.log.flush()  # type: ignore[attr-defined]
    logged = client.get("/ui/models/heart")
    assert "<td>web</td>" in logged.text and "Requests 1 to 1 of 1" in logged.text
    assert logged.text.count("<svg") == 3  # traffic, latency, predicted classes


def test_a_refused_prediction_says_why(client: TestClient, alice: WebUser) -> None:
    upload_heart(alice)
    answer = alice.post("/ui/models/heart/predict", {"rows": '[{"age": "old"}]'})
    assert answer.status_code == 422
    assert "The prediction failed" in answer.text
    not_json = alice.post("/ui/models/heart/predict", {"rows": "{"})
    assert not_json.status_code == 422 and "not JSON" in not_json.text


def test_a_bad_file_is_refused_with_its_reason(client: TestClient, alice: WebUser) -> None:
    response = alice.post("/ui/models", {"name": "junk"}, files={"file": ("m.bin", b"junk")})
    assert response.status_code == 422
    assert "not a skops, ONNX" in response.text
    assert "No models yet." in response.text


def test_the_log_filters_and_pages(client: TestClient, alice: WebUser) -> None:
    upload_heart(alice)
    row = {name: 1 for name in HEART_FEATURES}
    token = alice.csrf()
    for _ in range(27):
        alice.post("/ui/models/heart/predict", {"rows": json.dumps([row])}, token=token)
    alice.post("/ui/models/heart/predict", {"rows": "[]"})
    client.app.state.serving.log.flush()  # type: ignore[attr-defined]
    first = client.get("/ui/models/heart")
    assert "Requests 1 to 25 of 28" in first.text and "Older</a>" in first.text
    second = client.get("/ui/models/heart?offset=25")
    assert "Requests 26 to 28 of 28" in second.text and "Newer</a>" in second.text
    failed = client.get("/ui/models/heart?status=422")
    assert "Requests 1 to 1 of 1" in failed.text and "Send at least one row" in failed.text
    assert "No logged requests match." in client.get("/ui/models/heart?source=ml_api").text


def _log(
    minutes_ago: float, status: int, predictions: list[object], latency: float
) -> PredictionLogRead:
    return PredictionLogRead(
        id=1,
        predict_id="p",
        model_name="m",
        version=1,
        user_id=1,
        source="web",
        status=status,
        error=None,
        n_rows=len(predictions),
        input=[],
        output={"predictions": predictions},
        latency_ms=latency,
        created_at=datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC) - timedelta(minutes=minutes_ago),
    )


def test_traffic_charts_count_per_minute() -> None:
    charts = traffic_charts(
        [_log(0, 200, ["a", "b"], 10.0), _log(0.2, 200, ["a"], 30.0), _log(2, 422, [], 5.0)]
    )
    assert charts is not None
    assert charts["labels"] == ["11:58", "11:59", "12:00"]
    assert charts["traffic"] == {"succeeded": [0, 0, 2], "failed": [1, 0, 0]}
    assert charts["latency"]["mean ms"] == [5.0, None, 20.0]
    assert charts["latency"]["max ms"] == [5.0, None, 30.0]
    assert charts["classes"] == {"a": [0, 0, 2], "b": [0, 0, 1]}
    assert traffic_charts([]) is None
