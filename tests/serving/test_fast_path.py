"""The native predict routes' hot path (serving/fast_path.py) answers as the routes answer.

The first request of a (caller, version) goes through the FastAPI route, which fills auth's
credential cache and the target cache; the next ones are answered by the middleware. Each test
sends the same request both ways and compares what came back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelyard.app import create_app
from modelyard.config import HttpSettings, Settings
from modelyard.serving.fast_path import PredictFastPath
from modelyard.serving.service import ServingCore
from tests.helpers import Account
from tests.registry.factories import register_ok, skops_classifier

SCHEMA = [{"name": f"f{i}", "type": "float"} for i in range(4)]
URL = "/api/v1/models/m/predict"
VERSION_URL = "/api/v1/models/m/versions/1/predict"


def fast_path(client: TestClient) -> PredictFastPath:
    layer: Any = client.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(layer, PredictFastPath):
        layer = layer.app
    return layer


def core_of(client: TestClient) -> ServingCore:
    core: ServingCore = client.app.state.serving  # type: ignore[attr-defined]
    return core


@pytest.fixture
def model(client: TestClient, alice: Account) -> dict[str, Any]:
    return register_ok(client, alice, "m", skops_classifier(4), schema=SCHEMA)


def api_key(client: TestClient, account: Account) -> dict[str, str]:
    response = client.post("/api/v1/api-keys", json={"name": "k"}, headers=account.headers)
    assert response.status_code == 201, response.text
    return {"X-API-Key": response.json()["key"]}


def both_ways(
    client: TestClient, url: str, headers: dict[str, str], **request: Any
) -> tuple[Any, Any]:
    """The same request through the route (caches emptied first), then the hot path."""
    path = fast_path(client)
    core_of(client).targets.clear()
    answered = path.answered
    slow = client.post(url, headers=headers, **request)
    assert path.answered == answered, "the first request must take the route"
    fast = client.post(url, headers=headers, **request)
    assert path.answered == answered + 1, "the second request must take the hot path"
    return slow, fast


def without_ids(body: Any) -> Any:
    return {k: v for k, v in body.items() if k != "predict_id"}


@pytest.mark.parametrize("url", [URL, VERSION_URL])
@pytest.mark.parametrize("credential", ["bearer", "api_key"])
def test_a_prediction_is_the_same_both_ways(
    client: TestClient, alice: Account, model: dict[str, Any], url: str, credential: str
) -> None:
    headers = alice.headers if credential == "bearer" else api_key(client, alice)
    slow, fast = both_ways(client, url, headers, json={"X": [[1, 2, 3, 4], [0, 0, 0, 0]]})
    assert slow.status_code == fast.status_code == 200, fast.text
    assert without_ids(slow.json()) == without_ids(fast.json())
    for response in (slow, fast):
        assert response.headers["X-Predict-Id"] == response.json()["predict_id"]
        assert response.headers["X-Request-ID"]
        assert response.headers["content-type"] == "application/json"
    assert slow.headers["X-Predict-Id"] != fast.headers["X-Predict-Id"]


@pytest.mark.parametrize(
    ("request_", "status", "code"),
    [
        ({"json": {"X": [[1, 2, 3]]}}, 422, "invalid_predict_input"),
        ({"json": {"X": [[1, 2, "x", 4]]}}, 422, "invalid_predict_input"),
        ({"json": {"rows": []}}, 422, "invalid_predict_input"),
        ({"content": b"{nope"}, 422, "invalid_predict_input"),
        ({"content": b'{"X": [[NaN, 1, 2, 3]]}'}, 422, "invalid_predict_input"),
        ({"json": {"X": [[0, 0, 0, 0]] * 3}}, 429, "throttling_error"),
    ],
)
def test_errors_are_the_same_both_ways(
    client: TestClient,
    alice: Account,
    model: dict[str, Any],
    request_: dict[str, Any],
    status: int,
    code: str,
) -> None:
    options = client.put(
        "/api/v1/models/m/versions/1/serving",
        json={"max_request_rows": 2},
        headers=alice.headers,
    )
    assert options.status_code == 200, options.text
    slow, fast = both_ways(client, URL, alice.headers, **request_)
    assert slow.status_code == fast.status_code == status, fast.text
    assert slow.json() == fast.json()
    assert fast.json()["error"]["code"] == code
    assert fast.headers["X-Predict-Id"] and fast.headers["X-Request-ID"]


def test_a_model_that_raises_is_a_500_predict_error_both_ways(
    client: TestClient, alice: Account, model: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.post(URL, json={"X": [[0, 0, 0, 0]]}, headers=alice.headers).status_code == 200
    target = core_of(client).targets.get((alice.id, False, "m", None, None))
    assert target is not None
    runtime = core_of(client).cache.peek(target)

    def broken(matrix: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(runtime, "predict", broken)
    slow, fast = both_ways(client, URL, alice.headers, json={"X": [[0, 0, 0, 0]]})
    assert slow.status_code == fast.status_code == 500
    assert slow.json() == fast.json()
    assert fast.json()["error"]["code"] == "predict_error"
    assert fast.headers["X-Predict-Id"]


LIMIT = 32 * 1024  # a model file still fits


@pytest.fixture
def small_body_client(settings: Settings) -> Iterator[TestClient]:
    settings = settings.model_copy(update={"http": HttpSettings(max_body_bytes=LIMIT)})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_body_over_the_limit_is_413_both_ways(small_body_client: TestClient) -> None:
    from tests.helpers import sign_up

    client = small_body_client
    alice = sign_up(client, "alice@example.com")
    register_ok(client, alice, "m", skops_classifier(4), schema=SCHEMA)
    assert client.post(URL, json={"X": [[0, 0, 0, 0]]}, headers=alice.headers).status_code == 200

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as the body arrives
        yield b'{"X": ['
        for _ in range(LIMIT // 10):
            yield b"[0, 0, 0, 0],"
        yield b"[0, 0, 0, 0]]}"

    path = fast_path(client)
    answered = path.answered
    declared = client.post(URL, content=b" " * (LIMIT + 1), headers=alice.headers)
    streamed = client.post(URL, content=chunks(), headers=alice.headers)
    assert path.answered == answered + 2
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "payload_too_large"
        assert response.headers["X-Predict-Id"]


def test_what_the_hot_path_does_not_take_goes_to_the_routes(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    body = {"X": [[0, 0, 0, 0]]}
    assert client.post(URL, json=body, headers=alice.headers).status_code == 200
    path = fast_path(client)
    answered = path.answered
    # A query string (async, owner_id), no credential, an unknown one, a bad name, a GET.
    accepted = client.post(f"{URL}?async=true", json=body, headers=alice.headers)
    assert accepted.status_code == 202
    assert accepted.json() == {"predict_id": accepted.headers["X-Predict-Id"]}
    assert client.post(URL, json=body).status_code == 401
    assert client.post(URL, json=body, headers={"X-API-Key": "my_nope"}).status_code == 401
    assert client.post(URL, json=body, headers={"Authorization": "Basic abc"}).status_code == 401
    bad_name = client.post("/api/v1/models/-m/predict", json=body, headers=alice.headers)
    assert bad_name.status_code in (404, 422)  # the route's own answer
    assert client.get(URL, headers=alice.headers).status_code == 405
    assert path.answered == answered
    # Someone else's caller: their own lookup, through the route (and not alice's model).
    assert client.post(URL, json=body, headers=bob_headers(client)).status_code == 404
    assert path.answered == answered


def bob_headers(client: TestClient) -> dict[str, str]:
    from tests.helpers import sign_up

    return sign_up(client, "bob@example.com").headers


def test_the_log_and_the_metrics_see_the_same_request_both_ways(
    client: TestClient, alice: Account, model: dict[str, Any]
) -> None:
    body = {"X": [[1.5, 2, 3, 4]]}
    slow, fast = both_ways(client, VERSION_URL, alice.headers, json=body)
    core_of(client).log.flush()
    logged = client.get("/api/v1/models/m/requests", headers=alice.headers).json()["items"]
    by_id = {item["predict_id"]: item for item in logged}
    for response in (slow, fast):
        item = by_id[response.headers["X-Predict-Id"]]
        assert (item["status"], item["source"], item["user_id"]) == (200, "native", alice.id)
        assert item["input"] == body
        assert item["output"]["probabilities"] == response.json()["probabilities"]
    metrics = client.get("/metrics").text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("modelyard_http_requests_total")
        and 'route="/api/v1/models/{name}/versions/{version}/predict"' in line
        and 'status="200"' in line
    )
    assert line.endswith(" 2.0")


def test_the_openapi_document_still_shows_the_predict_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for url in (
        "/api/v1/models/{name}/predict",
        "/api/v1/models/{name}/versions/{version}/predict",
    ):
        operation = paths[url]["post"]
        assert "X" in str(operation["requestBody"])
        assert {"202", "429", "503"} <= set(operation["responses"])
