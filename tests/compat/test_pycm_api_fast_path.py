"""pycm-api's small /cm/create answered before the router (compat/pycm_api_fast_path.py).

Each test reads the middleware's count of the requests it answered to know which path a create
took, and checks that the answers are the route's: the same body and headers, the same errors
in pycm-api's shape, and everything the fast path does not take answered by the route as before.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelyard.compat.pycm_api_fast_path import SMALL_BODY_BYTES, PycmCreateFastPath
from modelyard.evaluation import uids
from modelyard.evaluation.json_labels import read_int_vectors
from tests.evaluation.helpers import ACTUAL, PREDICTED, pycm_user

READ = {
    "accuracy": 0.75,
    "precision": 0.75,
    "recall": 0.75,
    "f1": 0.75,
    "confusion_matrix": [[3, 1], [1, 3]],
}


def _fast_path(app: FastAPI) -> PycmCreateFastPath:
    layer: Any = app.middleware_stack
    while not isinstance(layer, PycmCreateFastPath):
        layer = layer.app
    return layer


def _body(key: str, actual: list[Any] = ACTUAL, predicted: list[Any] = PREDICTED) -> bytes:
    return json.dumps({"api_key": key, "actual_vector": actual, "predicted_vector": predicted})


def _create(client: TestClient, content: str | bytes, path: str = "/cm/create") -> Any:
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


def test_a_cached_keys_small_creates_are_answered_as_the_route_answers(
    client: TestClient,
) -> None:
    key = pycm_user(client, "fast@example.com")["api_key"]
    fast = _fast_path(client.app)  # type: ignore[arg-type]
    first = _create(client, _body(key))  # verifies the key: the route
    assert fast.answered == 0
    answers = [_create(client, _body(key)) for _ in range(3)]
    assert fast.answered == 3
    for answer in (first, *answers):
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == {"uid"} and len(answer.json()["uid"]) == 22
        assert answer.headers["content-type"] == first.headers["content-type"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-request-id"]
        read = client.get("/cm/", params={"api_key": key, "cm_uid": answer.json()["uid"]})
        assert read.json() == {"uid": answer.json()["uid"], **READ}
    assert len({a.json()["uid"] for a in (first, *answers)}) == 4
    # Labels of any kind, as the route takes them.
    words = _create(client, _body(key, ["cat", "dog", "cat"], ["cat", "cat", "cat"]))
    assert words.status_code == 200 and fast.answered == 4
    read = client.get("/cm/", params={"api_key": key, "cm_uid": words.json()["uid"]})
    assert read.json()["confusion_matrix"] == [[2, 0], [1, 0]]


@pytest.mark.parametrize(
    ("actual", "predicted"),
    [([1, 1], [1, 1]), ([1, "a"], [1, 1]), ([1, 2], [1]), ([], [])],
    ids=["one class", "mixed labels", "lengths differ", "empty"],
)
def test_labels_the_service_refuses_get_the_routes_answer(
    client: TestClient, actual: list[Any], predicted: list[Any]
) -> None:
    fast = _fast_path(client.app)  # type: ignore[arg-type]
    # A key's first use goes to the route, which refuses the labels in its own words.
    by_route = _create(
        client, _body(pycm_user(client, "a@example.com")["api_key"], actual, predicted)
    )
    key = pycm_user(client, "b@example.com")["api_key"]
    assert _create(client, _body(key)).status_code == 200  # now cached
    assert fast.answered == 0
    by_fast_path = _create(client, _body(key, actual, predicted))
    assert fast.answered == 1
    assert 400 <= by_route.status_code < 500, by_route.text
    assert (by_fast_path.status_code, by_fast_path.json()) == (
        by_route.status_code,
        by_route.json(),
    )
    assert set(by_fast_path.json()) == {"detail"}


def test_what_the_fast_path_does_not_take_the_route_answers(client: TestClient) -> None:
    key = pycm_user(client, "route@example.com")["api_key"]
    fast = _fast_path(client.app)  # type: ignore[arg-type]
    assert _create(client, _body(key)).status_code == 200  # the key is now cached
    cases = {
        "not JSON": (b'{"api_key": "', 422),
        "a field missing": (json.dumps({"api_key": key, "actual_vector": ACTUAL}), 422),
        "an unknown key": (_body("mdy_unknown_key"), 404),
    }
    for name, (content, status) in cases.items():
        response = _create(client, content)
        assert response.status_code == status, (name, response.text)
        assert "detail" in response.json(), name
    assert _create(client, _body("mdy_unknown_key")).json() == {"detail": "Invalid API key"}
    # A large body of string labels: the route's worker thread.
    words = [f"w{i % 3}" for i in range(SMALL_BODY_BYTES // 3)]
    large = _create(client, _body(key, words, words))
    assert large.status_code == 200, large.text
    read = client.get("/cm/", params={"api_key": key, "cm_uid": large.json()["uid"]})
    assert read.json()["accuracy"] == 1.0
    # A query string or another method: the route's own handling.
    assert _create(client, _body(key), path="/cm/create?x=1").status_code == 200
    assert client.get("/cm/create").status_code == 405
    assert fast.answered == 0


def test_a_body_over_the_servers_limit_is_refused_in_pycm_apis_shape(
    settings: Any,
) -> None:
    from modelyard.app import create_app

    http = settings.http.model_copy(update={"max_body_bytes": 64})
    with TestClient(create_app(settings.model_copy(update={"http": http}))) as client:
        response = _create(client, _body("mdy_some_key"))
        assert response.status_code == 413
        assert response.json() == {"detail": "Request body is larger than 64 bytes"}


def test_uids_are_distinct_and_a_forked_child_draws_its_own() -> None:
    drawn = {uids.new_uid() for _ in range(2000)}
    assert len(drawn) == 2000
    assert all(len(uid) == 22 and uid.replace("-", "").replace("_", "").isalnum() for uid in drawn)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next uids, to the parent
        os.close(reader)
        os.write(writer, " ".join(uids.new_uid() for _ in range(10)).encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [uids.new_uid() for _ in range(10)]
    assert len(child) == 10 and not set(child) & set(parent)


def test_large_integer_vectors_are_read_as_arrays_and_answered_as_the_route_answers(
    client: TestClient,
) -> None:
    key = pycm_user(client, "large@example.com")["api_key"]
    fast = _fast_path(client.app)  # type: ignore[arg-type]
    n = SMALL_BODY_BYTES  # about 3 bytes a label: a body over the small limit
    actual = [(i * 7) % 5 - 2 for i in range(n)]  # negative labels too
    predicted = [a if i % 4 else (a + 1) % 3 for i, a in enumerate(actual)]
    # Not even a cached key is needed: the key is checked in the worker thread.
    by_fast_path = _create(client, _body(key, actual, predicted))
    assert by_fast_path.status_code == 200, by_fast_path.text
    assert fast.answered == 1
    # The same body with a query string takes the route (its general path) for comparison.
    by_route = _create(client, _body(key, actual, predicted), path="/cm/create?compare=1")
    assert by_route.status_code == 200 and fast.answered == 1
    read = [
        client.get("/cm/", params={"api_key": key, "cm_uid": r.json()["uid"]}).json()
        for r in (by_fast_path, by_route)
    ]
    assert {k: v for k, v in read[0].items() if k != "uid"} == {
        k: v for k, v in read[1].items() if k != "uid"
    }
    assert sum(map(sum, read[0]["confusion_matrix"])) == n
    # Refusals in the route's words: an unknown key, vectors of different lengths.
    unknown = _create(client, _body("mdy_unknown_key", actual, predicted))
    assert unknown.status_code == 404 and unknown.json() == {"detail": "Invalid API key"}
    short = _create(client, _body(key, actual, predicted[:-1]))
    assert short.status_code == 422 and "labels" in short.text
    assert fast.answered == 3


@pytest.mark.parametrize(
    "raw",
    [
        b'{"api_key": "k", "actual_vector": [1, 2.5], "predicted_vector": [1, 2]}',
        b'{"api_key": "k", "actual_vector": [1, 1.0], "predicted_vector": [1, 2]}',
        b'{"api_key": "k", "actual_vector": [1, true], "predicted_vector": [1, 2]}',
        b'{"api_key": "k", "actual_vector": [1, "2"], "predicted_vector": [1, 2]}',
        b'{"api_key": "k", "actual_vector": [1, null], "predicted_vector": [1, 2]}',
        b'{"api_key": "k", "actual_vector": [1, [2]], "predicted_vector": [1, 2]}',
        b'{"api_key": "k", "actual_vector": [1, 99999999999999999999], "predicted_vector": [1, 2]}',
        b'{"api_key": "k", "actual_vector": [1], "actual_vector": [2], "predicted_vector": [1]}',
        b'{"api_key": "k", "actual_vector": [1, 2], "predicted_vector": [1, 2], "x": 1}',
        b'{"api_key": 5, "actual_vector": [1, 2], "predicted_vector": [1, 2]}',
        b'{"api_key": "[k", "actual_vector": [1, 2], "predicted_vector": [1, 2]}',
        b'{"actual_vector": [1, 2], "predicted_vector": [1, 2]}',
        b"[1, 2]",
        b'{"api_key": "k", "actual_vector": [1, 2], "predicted_vector": [1, 2]',
    ],
)
def test_what_is_not_plainly_integer_vectors_is_left_to_the_general_path(raw: bytes) -> None:
    assert (
        read_int_vectors(raw, "actual_vector", "predicted_vector", frozenset({"api_key"})) is None
    )


def test_plain_integer_vectors_are_read() -> None:
    raw = b'{"predicted_vector": [3, -1, 0], "api_key": "k", "actual_vector": [1, 2, %d]}' % (
        2**63 - 1
    )
    read = read_int_vectors(raw, "actual_vector", "predicted_vector", frozenset({"api_key"}))
    assert read is not None
    assert read.actual.tolist() == [1, 2, 2**63 - 1] and read.predicted.tolist() == [3, -1, 0]
    assert read.strings == {"api_key": "k"}
