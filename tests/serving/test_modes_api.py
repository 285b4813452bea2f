"""Serving modes over HTTP: per-version options, queue and batching, async results,
throttling and a full queue, on a registered model (and a slow fake one where time matters)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from modelyard.registry.loaders import Prediction
from modelyard.serving.schemas import PredictResponse
from modelyard.serving.service import ServingCore
from tests.helpers import Account
from tests.registry.factories import classifier, register_ok, skops_classifier

PATH = "/api/v1/models/m"


def core_of(client: TestClient) -> ServingCore:
    core: ServingCore = client.app.state.serving  # type: ignore[attr-defined]
    return core


@pytest.fixture
def model(client: TestClient, alice: Account) -> dict[str, Any]:
    return register_ok(client, alice, "m", skops_classifier(4))


def set_serving(client: TestClient, account: Account, **options: Any) -> httpx.Response:
    return client.put(f"{PATH}/versions/1/serving", json=options, headers=account.headers)


class SlowModel:
    """A fake ModelRuntime: each row's first value as its label, after a gate opens."""

    kind = "classifier"
    n_features = 4
    feature_names = None

    def __init__(self) -> None:
        self.classes = [0, 1]
        self.gate = threading.Event()
        self.calls = 0

    def predict(self, matrix: np.ndarray) -> Prediction:
        self.calls += 1
        self.gate.wait(10)
        return Prediction(matrix[:, 0].tolist(), [[0.5, 0.5]] * len(matrix), self.classes)


def install(client: TestClient, account: Account, runtime: SlowModel) -> None:
    from modelyard.auth.models import User
    from modelyard.registry.service import serving_target

    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        user = session.get(User, account.id)
        assert user is not None
        target = serving_target(session, user, "m", None)
    core_of(client).cache.put(target, runtime)


def concurrently(
    client: TestClient,
    calls: list[tuple[str, str, Any, dict[str, str]]],
    *,
    open_gate: threading.Event | None = None,
    after: int = 0,
    first_alone: SlowModel | None = None,
) -> list[Any]:
    """Send requests at once on the app's own event loop (the TestClient's portal).

    With ``open_gate``: it is set once ``after`` answers have come back (the refused ones), so
    the requests a gated model holds are answered only then, however slow the machine. With
    ``first_alone``: the first request goes alone, and the others once that model has it.
    """

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:

            def send(call: tuple[str, str, Any, dict[str, str]]) -> asyncio.Future[Any]:
                method, url, body, headers = call
                return asyncio.ensure_future(http.request(method, url, json=body, headers=headers))

            tasks = []
            if first_alone is not None:
                tasks.append(send(calls[0]))
                while first_alone.calls == 0:  # noqa: ASYNC110 (a model call has no event)
                    await asyncio.sleep(0.01)
                calls_left = calls[1:]
            else:
                calls_left = calls
            tasks += [send(call) for call in calls_left]
            if open_gate is not None:
                pending = set(tasks)
                while len(tasks) - len(pending) < after and pending:
                    _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                open_gate.set()
            return await asyncio.gather(*tasks)

    return client.portal.call(main)  # type: ignore[union-attr]


# -- options -----------------------------------------------------------------------------------


def test_serving_options_default_then_set_then_shown(
    client: TestClient, alice: Account, bob: Account, model: dict[str, Any]
) -> None:
    shown = client.get(f"{PATH}/versions/1/serving", headers=alice.headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["options"]["mode"] is None
    assert shown.json()["effective"]["mode"] == "direct"
    assert shown.json()["effective"]["max_batch_rows"] == 64

    changed = set_serving(client, alice, mode="batching", max_batch_rows=8, max_request_rows=50)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["model"] == "m" and body["version"] == 1
    assert body["options"]["mode"] == "batching"
    assert body["effective"] == {
        **shown.json()["effective"],
        "mode": "batching",
        "max_batch_rows": 8,
        "max_request_rows": 50,
    }
    assert client.get(f"{PATH}/versions/latest/serving", headers=alice.headers).json() == body
    # PUT replaces: what is left out goes back to the default.
    again = set_serving(client, alice, mode="queue").json()
    assert again["effective"]["max_batch_rows"] == 64
    assert again["effective"]["mode"] == "queue"
    # Not bob's model.
    assert client.get(f"{PATH}/versions/1/serving", headers=bob.headers).status_code == 404
    assert set_serving(client, bob, mode="direct").status_code == 404


@pytest.mark.parametrize(
    "options",
    [
        {"mode": "turbo"},
        {"max_batch_rows": 0},
        {"max_queue_size": -1},
        {"max_wait_ms": -5},
        {"client_wait_seconds": 0},
        {"max_threads": 0},
        {"unknown": 1},
    ],
)
def test_bad_serving_options_are_a_422(
    client: TestClient, alice: Account, model: dict[str, Any], options: dict[str, Any]
) -> None:
    response = set_serving(client, alice, **options)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_max_threads_is_a_version_option_with_the_server_default(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    shown = client.get(f"{PATH}/versions/1/serving", headers=alice.headers).json()
    assert shown["effective"]["max_threads"] == 1
    changed = set_serving(client, alice, max_threads=4)
    assert changed.status_code == 200, changed.text
    assert changed.json()["effective"]["max_threads"] == 4
    answer = client.post(f"{PATH}/predict", json={"X": [[1, 2, 3, 4]]}, headers=alice.headers)
    assert answer.status_code == 200, answer.text
    pool = core_of(client).dispatcher_for(_target(client, alice)).pool
    assert pool._max_workers == 4


# -- modes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["queue", "batching"])
def test_queued_modes_answer_like_direct(
    client: TestClient, alice: Account, model: dict[str, Any], mode: str
) -> None:
    body = {"X": [[0.1, 0.2, 0.3, 0.4], [1, 2, 3, 4]]}
    direct = client.post(f"{PATH}/predict", json=body, headers=alice.headers)
    assert set_serving(client, alice, mode=mode).status_code == 200
    queued = client.post(f"{PATH}/predict", json=body, headers=alice.headers)
    assert queued.status_code == 200, queued.text
    assert queued.json()["probabilities"] == direct.json()["probabilities"]
    assert queued.json()["predict_id"] == queued.headers["X-Predict-Id"]
    assert core_of(client).dispatcher_for(_target(client, alice)).mode == mode


def _target(client: TestClient, account: Account) -> Any:
    from modelyard.auth.models import User
    from modelyard.registry.service import serving_target

    with client.app.state.database.session() as session:  # type: ignore[attr-defined]
        user = session.get(User, account.id)
        assert user is not None
        return serving_target(session, user, "m", None)


def test_batching_gives_each_of_many_concurrent_requests_its_own_rows(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    assert (
        set_serving(
            client, alice, mode="batching", max_batch_rows=40, max_wait_ms=20, max_queue_size=500
        ).status_code
        == 200
    )
    rng = np.random.default_rng(3)
    inputs = [rng.normal(size=(int(rng.integers(1, 12)), 4)).round(6) for _ in range(120)]
    calls = [("POST", f"{PATH}/predict", {"X": x.tolist()}, alice.headers) for x in inputs]
    answers = concurrently(client, calls)

    reference = classifier(4)
    for x, answer in zip(inputs, answers, strict=True):
        assert answer.status_code == 200, answer.text
        assert np.allclose(answer.json()["probabilities"], reference.predict_proba(x))
        assert len(answer.json()["predictions"]) == len(x)
    dispatcher = core_of(client).dispatcher_for(_target(client, alice))
    # Really merged: fewer model calls than requests.
    assert dispatcher.calls < len(inputs)
    # The log holds one entry per request with its own row count.
    core_of(client).log.flush()
    logged = client.get(f"{PATH}/requests?limit=200", headers=alice.headers).json()
    assert logged["total"] == len(inputs)
    assert sorted(e["n_rows"] for e in logged["items"]) == sorted(len(x) for x in inputs)


def test_a_changed_mode_applies_at_the_next_request(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    client.post(f"{PATH}/predict", json={"X": [[1, 2, 3, 4]]}, headers=alice.headers)
    assert core_of(client).dispatcher_for(_target(client, alice)).mode == "direct"
    set_serving(client, alice, mode="batching")
    answer = client.post(f"{PATH}/predict", json={"X": [[1, 2, 3, 4]]}, headers=alice.headers)
    assert answer.status_code == 200
    assert core_of(client).dispatcher_for(_target(client, alice)).mode == "batching"


# -- throttling and a full queue ---------------------------------------------------------------


def test_more_rows_than_the_models_limit_is_a_429(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    set_serving(client, alice, max_request_rows=2)
    refused = client.post(f"{PATH}/predict", json={"X": [[1, 2, 3, 4]] * 3}, headers=alice.headers)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "throttling_error"
    assert error["message"] == "3 rows in one request; this model takes at most 2"
    assert refused.headers["X-Predict-Id"]
    ok = client.post(f"{PATH}/predict", json={"X": [[1, 2, 3, 4]] * 2}, headers=alice.headers)
    assert ok.status_code == 200


@pytest.mark.parametrize("mode", ["direct", "queue", "batching"])
def test_more_requests_in_flight_than_the_limit_get_429(
    client: TestClient, alice: Account, model: dict[str, Any], mode: str
) -> None:
    set_serving(client, alice, mode=mode, max_concurrent_requests=2, workers=2, max_wait_ms=0)
    slow = SlowModel()
    install(client, alice, slow)
    try:
        calls = [
            ("POST", f"{PATH}/predict", {"X": [[i, 0, 0, 0]]}, alice.headers) for i in range(5)
        ]
        answers = concurrently(client, calls, open_gate=slow.gate, after=3)
    finally:
        slow.gate.set()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 200, 429, 429, 429]
    for answer in answers:
        if answer.status_code == 429:
            assert answer.json()["error"]["code"] == "throttling_error"
            assert "2 requests are in flight" in answer.json()["error"]["message"]


def test_a_full_queue_is_a_503_with_retry_after(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    set_serving(client, alice, mode="queue", max_queue_size=2)
    slow = SlowModel()
    install(client, alice, slow)
    try:
        calls = [
            ("POST", f"{PATH}/predict", {"X": [[i, 0, 0, 0]]}, alice.headers) for i in range(6)
        ]
        answers = concurrently(client, calls, open_gate=slow.gate, after=3, first_alone=slow)
    finally:
        slow.gate.set()
    # One in the model, two waiting, three refused.
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 503, 503, 503]
    for answer in answers:
        if answer.status_code == 503:
            assert answer.headers["Retry-After"] == "1"
            assert answer.json()["error"]["code"] == "queue_full"
        else:
            x0 = answer.json()["predictions"][0]
            assert answer.json()["predictions"] == [x0]


def test_a_sync_client_waiting_past_client_wait_gets_408(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    set_serving(client, alice, mode="queue", client_wait_seconds=0.2)
    slow = SlowModel()
    install(client, alice, slow)
    try:
        late = client.post(f"{PATH}/predict", json={"X": [[1, 0, 0, 0]]}, headers=alice.headers)
    finally:
        slow.gate.set()
    assert late.status_code == 408
    assert late.json()["error"]["code"] == "predict_timeout"


# -- async -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["direct", "queue", "batching"])
def test_async_predict_is_accepted_then_fetched(
    client: TestClient, alice: Account, bob: Account, model: dict[str, Any], mode: str
) -> None:
    set_serving(client, alice, mode=mode)
    body = {"X": [[0.5, 1, -1, 2]]}
    accepted = client.post(f"{PATH}/predict?async=true", json=body, headers=alice.headers)
    assert accepted.status_code == 202, accepted.text
    predict_id = accepted.json()["predict_id"]
    assert accepted.headers["X-Predict-Id"] == predict_id
    fetched = client.get(f"/api/v1/predictions/{predict_id}", headers=alice.headers)
    assert fetched.status_code == 200, fetched.text
    sync = client.post(f"{PATH}/predict", json=body, headers=alice.headers).json()
    assert fetched.json()["probabilities"] == sync["probabilities"]
    assert fetched.json()["predict_id"] == predict_id
    assert fetched.json()["model"] == "m" and fetched.json()["version"] == 1
    # One answer, one shape: the same keys in the same order either way (and as documented).
    assert list(fetched.json()) == list(sync) == list(PredictResponse.model_fields)
    # Another user, and an id nobody made, get 404.
    assert client.get(f"/api/v1/predictions/{predict_id}", headers=bob.headers).status_code == 404
    unknown = client.get("/api/v1/predictions/no-such-id", headers=alice.headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "prediction_not_found"
    # The log has the async request with its id, once it ended.
    core_of(client).log.flush()
    logged = client.get(f"{PATH}/requests", headers=alice.headers).json()["items"]
    assert predict_id in {e["predict_id"] for e in logged}


def test_async_bad_input_and_throttling_are_answered_at_once(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    set_serving(client, alice, mode="queue", max_request_rows=1)
    bad = client.post(
        f"{PATH}/predict?async=true", json={"X": [["x", 1, 2, 3]]}, headers=alice.headers
    )
    assert bad.status_code == 422
    too_many = client.post(
        f"{PATH}/predict?async=true", json={"X": [[1, 2, 3, 4]] * 2}, headers=alice.headers
    )
    assert too_many.status_code == 429
    not_json = client.post(f"{PATH}/predict?async=1", content=b"{nope", headers=alice.headers)
    assert not_json.status_code == 422


def test_async_result_not_ready_is_408_then_200_then_expires(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    set_serving(client, alice, mode="queue", result_ttl_seconds=1, client_wait_seconds=0.2)
    slow = SlowModel()
    install(client, alice, slow)
    accepted = client.post(f"{PATH}/predict?async=true", json={"X": [[7, 0, 0, 0]]},
                           headers=alice.headers)  # fmt: skip
    assert accepted.status_code == 202
    url = f"/api/v1/predictions/{accepted.json()['predict_id']}"
    started = time.monotonic()
    pending = client.get(url, headers=alice.headers)
    assert pending.status_code == 408
    assert pending.json()["error"]["code"] == "predict_timeout"
    assert time.monotonic() - started >= 0.2  # waited the client wait time first
    assert client.get(f"{url}?wait=0", headers=alice.headers).status_code == 408
    slow.gate.set()
    ready = client.get(f"{url}?wait=5", headers=alice.headers)
    assert ready.status_code == 200
    assert ready.json()["predictions"] == [7.0]
    time.sleep(1.3)
    assert client.get(url, headers=alice.headers).status_code == 404


def test_an_async_prediction_that_fails_is_fetched_as_its_error(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    class Broken(SlowModel):
        def predict(self, matrix: np.ndarray) -> Prediction:
            raise ValueError("the model broke")

    install(client, alice, Broken())
    accepted = client.post(f"{PATH}/predict?async=true", json={"X": [[1, 0, 0, 0]]},
                           headers=alice.headers)  # fmt: skip
    fetched = client.get(f"/api/v1/predictions/{accepted.json()['predict_id']}",
                         headers=alice.headers)  # fmt: skip
    assert fetched.status_code == 500
    assert fetched.json()["error"]["code"] == "predict_error"
    assert "the model broke" in fetched.json()["error"]["message"]
