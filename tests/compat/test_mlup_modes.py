"""mlup's modes on the serving core: queue, batching, is_long_predict + /get-predict, 408, 503."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from modelyard.db import Database
from modelyard.serving.models import PredictionLog
from tests.compat.mlup_support import (
    ROWS,
    Exploding,
    GatedClassifier,
    SlowClassifier,
    is_mlup_error,
    pickled,
)
from tests.helpers import sign_up
from tests.registry.factories import skops_classifier

Serve = Callable[..., Any]


def _at_once(client: TestClient, bodies: list[Any]) -> list[httpx.Response]:
    answers: list[httpx.Response | None] = [None] * len(bodies)

    def call(index: int) -> None:
        answers[index] = client.post("/predict", json=bodies[index])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def _slow(client: TestClient) -> SlowClassifier:
    model: SlowClassifier = client.app.state.mlup.runtime.model  # type: ignore[attr-defined]
    return model


@pytest.mark.parametrize("mode", ["queue", "batching"])
def test_queue_and_batching_answer_like_direct(serve: Serve, mode: str) -> None:
    direct = serve(skops_classifier(6)).post("/predict", json={"X": ROWS}).json()
    client = serve(skops_classifier(6), mode=mode, batch_worker_timeout=0.01)
    response = client.post("/predict", json={"X": ROWS})
    assert response.status_code == 200, response.text
    assert response.json() == direct
    info = serve(skops_classifier(6), mode=mode, debug=True).get("/info").json()
    assert info["web_app_config"]["mode"].endswith(
        "WorkerAndQueueArchitecture" if mode == "queue" else "BatchingSingleProcessArchitecture"
    )


def test_batching_merges_requests_and_each_gets_its_own_rows(serve: Serve) -> None:
    client = serve(
        pickled(SlowClassifier(delay=0.2)),
        mode="batching",
        min_batch_len=12,  # the six requests' rows: one batch once all are in
        batch_worker_timeout=3.0,
    )
    bodies = [{"X": [[sign * (i + 1)] + [0] * 5 for sign in (1, -1)]} for i in range(6)]
    answers = _at_once(client, bodies)
    assert [a.status_code for a in answers] == [200] * 6
    # Row 1 of each request is positive (class 1), row 2 negative (class 0): their own rows.
    assert [a.json()["predict_result"] for a in answers] == [[1, 0]] * 6
    calls = _slow(client).calls
    assert sum(calls) == 12 and len(calls) < 6, calls  # merged into fewer model calls


def test_a_client_that_waits_longer_than_ttl_client_wait_gets_408(serve: Serve) -> None:
    client = serve(pickled(SlowClassifier(delay=1.0)), mode="queue", ttl_client_wait=0.2)
    response = client.post("/predict", json={"X": ROWS})
    assert response.status_code == 408
    is_mlup_error(response.json(), response)
    assert response.json()["detail"] == [
        {
            "loc": [],
            "msg": "Response timed out. Repeat request please.",
            "type": "predict_wait_result_error",
        }
    ]


def _gate(client: TestClient) -> threading.Event:
    gate: threading.Event = client.app.state.mlup.runtime.model.gate  # type: ignore[attr-defined]
    return gate


def test_a_full_queue_is_503_with_retry_after(serve: Serve) -> None:
    client = serve(pickled(GatedClassifier()), mode="queue", max_queue_size=1)
    answers: list[httpx.Response] = []

    def call() -> None:
        answers.append(client.post("/predict", json={"X": ROWS}))

    # The model holds the first request and the queue the second: the third finds it full.
    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while not any(a.status_code == 503 for a in answers) and time.monotonic() < deadline:
        time.sleep(0.05)
    _gate(client).set()
    for thread in threads:
        thread.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 200, 503], codes
    full = next(a for a in answers if a.status_code == 503)
    assert full.headers["Retry-After"] == "1"
    is_mlup_error(full.json(), full)
    assert full.json()["detail"] == [
        {"loc": [], "msg": "Queue is full. Please try later.", "type": "queue_full"}
    ]


def _fetch_when_done(client: TestClient, predict_id: str) -> httpx.Response:
    for _ in range(100):
        response = client.get(f"/get-predict/{predict_id}")
        if response.status_code != 408:
            return response
    raise AssertionError("the result never came")


@pytest.mark.parametrize("mode", ["queue", "batching"])
def test_is_long_predict_answers_a_predict_id_to_fetch_later(serve: Serve, mode: str) -> None:
    client = serve(
        pickled(GatedClassifier()),
        mode=mode,
        is_long_predict=True,
        batch_worker_timeout=0.01,
        ttl_client_wait=0.2,
    )
    # The model is held until the gate opens: this answer did not wait for it.
    response = client.post("/predict", json={"X": ROWS})
    assert response.status_code == 200, response.text
    # The document's answer: the id, also in the header.
    assert response.json() == {"predict_id": response.headers["X-Predict-Id"]}
    predict_id = response.json()["predict_id"]
    pending = client.get(f"/get-predict/{predict_id}")
    assert pending.status_code == 408  # not ready within ttl_client_wait
    assert pending.json()["detail"][0]["type"] == "predict_wait_result_error"

    _gate(client).set()
    result = _fetch_when_done(client, predict_id)
    assert result.status_code == 200, result.text
    assert result.json() == {"predict_result": [1, 1]}
    again = client.get(f"/get-predict/{predict_id}")
    assert again.json() == result.json()  # kept for ttl_predicted_data

    unknown = client.get("/get-predict/7d9bea07-7505-45ec-a700-40417842025b")
    assert unknown.status_code == 408
    is_mlup_error(unknown.json(), unknown)
    assert unknown.json()["detail"][0]["type"] == "predict_wait_result_error"


def test_a_failed_long_prediction_is_500_predict_error_when_fetched(serve: Serve) -> None:
    client = serve(pickled(Exploding()), mode="queue", is_long_predict=True)
    predict_id = client.post("/predict", json={"X": ROWS}).json()["predict_id"]
    response = client.get(f"/get-predict/{predict_id}")
    assert response.status_code == 500
    assert response.json()["detail"] == [
        {"loc": [], "msg": "ValueError: boom", "type": "predict_error"}
    ]


def test_bad_rows_are_refused_at_once_even_in_long_predict(serve: Serve) -> None:
    client = serve(skops_classifier(6), mode="batching", is_long_predict=True)
    response = client.post("/predict", json={"X": [[1, 2]]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["X", 0]
    limited = serve(
        skops_classifier(6), mode="queue", is_long_predict=True, throttling_max_request_len=1
    )
    assert limited.post("/predict", json={"X": ROWS}).status_code == 429


def test_with_credentials_a_result_is_its_callers_own(serve: Serve) -> None:
    client = serve(skops_classifier(6), public=False, mode="queue", is_long_predict=True)
    alice, bob = sign_up(client, "alice@example.com"), sign_up(client, "bob@example.com")
    predict_id = client.post("/predict", json={"X": ROWS}, headers=alice.headers).json()[
        "predict_id"
    ]
    assert client.get(f"/get-predict/{predict_id}").status_code == 401
    assert client.get(f"/get-predict/{predict_id}", headers=bob.headers).status_code == 408
    mine = client.get(f"/get-predict/{predict_id}", headers=alice.headers)
    assert mine.status_code == 200 and set(mine.json()) == {"predict_result"}


def test_is_long_predict_in_direct_mode_is_ignored_as_in_mlup(serve: Serve) -> None:
    client = serve(skops_classifier(6), is_long_predict=True)
    response = client.post("/predict", json={"X": ROWS})
    assert set(response.json()) == {"predict_result"}
    missing = client.get(f"/get-predict/{response.headers['X-Predict-Id']}")
    assert missing.status_code == 404
    is_mlup_error(missing.json(), missing)


def test_the_modes_are_stored_on_the_version_so_every_face_agrees(serve: Serve) -> None:
    from tests.helpers import make_admin

    client = serve(skops_classifier(6), mode="batching", min_batch_len=7, throttling_max_requests=3)
    admin = make_admin(client)
    stored = client.get("/api/v1/models/MyFirstMLupModel/versions/1/serving", headers=admin.headers)
    assert stored.status_code == 200, stored.text
    body = stored.json()["options"]
    assert (body["mode"], body["max_batch_rows"], body["max_concurrent_requests"]) == (
        "batching",
        7,
        3,
    )
    native = client.post(
        "/api/v1/models/MyFirstMLupModel/predict", json={"X": ROWS}, headers=admin.headers
    )
    root = client.post("/predict", json={"X": ROWS})
    assert native.json()["predictions"] == root.json()["predict_result"]
    core = client.app.state.serving  # type: ignore[attr-defined]
    assert len(core._dispatchers) == 1  # one dispatcher for both faces


class TestAnAnswerIsLoggedBeforeItIsSent:
    """mlup's /predict, its /get-predict and the root /predict answer only what the request
    log holds (the log's timer set to a minute: a merely queued entry is not there yet), and a
    log that cannot be written is mlup's 503 with Retry-After, not an unlogged answer."""

    @pytest.fixture
    def serving_overrides(self) -> dict[str, object]:
        return {"serving": {"log_flush_ms": 60_000}}

    @staticmethod
    def in_log(database: Database, predict_id: str) -> bool:
        with database.session() as session:
            found = select(PredictionLog.status).where(PredictionLog.predict_id == predict_id)
            return session.scalar(found) == 200

    @pytest.mark.parametrize("mode", ["direct", "batching"])
    def test_each_answer_is_in_the_log_when_it_arrives(
        self, serve: Serve, database: Database, mode: str
    ) -> None:
        client = serve(skops_classifier(6), mode=mode, batch_worker_timeout=0.01)
        answered = client.post("/predict", json={"X": ROWS})
        assert answered.status_code == 200, answered.text
        assert self.in_log(database, answered.headers["X-Predict-Id"])

        # is_long_predict: the queue and batching modes only.
        long_mode = "queue" if mode == "direct" else mode
        long = serve(skops_classifier(6), mode=long_mode, is_long_predict=True, name="long")
        predict_id = long.post("/predict", json={"X": ROWS}).json()["predict_id"]
        result = _fetch_when_done(long, predict_id)
        assert result.status_code == 200, result.text
        assert self.in_log(database, predict_id)

    def test_a_log_that_cannot_be_written_is_mlups_503(
        self, serve: Serve, database: Database
    ) -> None:
        client = serve(skops_classifier(6), mode="batching", batch_worker_timeout=0.01)
        with database.engine.begin() as connection:
            connection.execute(text("ALTER TABLE prediction_logs RENAME TO prediction_logs_away"))
        try:
            refused = client.post("/predict", json={"X": ROWS})
        finally:
            with database.engine.begin() as connection:
                connection.execute(
                    text("ALTER TABLE prediction_logs_away RENAME TO prediction_logs")
                )
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"]
        is_mlup_error(refused.json(), refused)
        assert refused.json()["detail"][0]["type"] == "request_log_unavailable"
