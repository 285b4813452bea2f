"""Small creates from a credential verified moments ago: no session, written by the group commit.

Each test counts the rows that went through ``Database.group_commit`` to know which path a
create took, and checks that the answers and the stored matrices are those of the other path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelyard.evaluation.service import SMALL_INPUT
from tests.evaluation.helpers import ACTUAL, BASE, PREDICTED, pycm_user
from tests.helpers import Account

READ = {
    "accuracy": 0.75,
    "precision": 0.75,
    "recall": 0.75,
    "f1": 0.75,
    "confusion_matrix": [[3, 1], [1, 3]],
}


@pytest.fixture
def grouped(client: TestClient) -> Iterator[list[dict[str, Any]]]:
    """The rows written through the group commit, in order."""
    writer = client.app.state.database.group_commit  # type: ignore[attr-defined]
    rows: list[dict[str, Any]] = []
    insert = writer.insert

    async def counting(table: Any, values: dict[str, Any]) -> None:
        await insert(table, values)
        rows.append(values)

    writer.insert = counting
    yield rows
    del writer.insert


def _create(client: TestClient, key: str, actual: list[Any], predicted: list[Any]) -> Any:
    return client.post(
        "/cm/create", json={"api_key": key, "actual_vector": actual, "predicted_vector": predicted}
    )


def test_a_repeated_key_creates_through_the_group_commit(
    client: TestClient, grouped: list[dict[str, Any]]
) -> None:
    key = pycm_user(client, "g@example.com")["api_key"]
    uids = []
    for _ in range(4):
        response = _create(client, key, ACTUAL, PREDICTED)
        assert response.status_code == 200, response.text
        uids.append(response.json()["uid"])
    # The first use verified the key in the database; the next three were served from the cache.
    assert [row["uid"] for row in grouped] == uids[1:]
    for uid in uids:
        read = client.get("/cm/", params={"api_key": key, "cm_uid": uid})
        assert read.json() == {"uid": uid, **READ}


def test_a_key_revoked_after_use_is_refused_by_the_next_create(
    client: TestClient, grouped: list[dict[str, Any]]
) -> None:
    user = pycm_user(client, "r@example.com")
    key = user["api_key"]
    assert _create(client, key, ACTUAL, PREDICTED).status_code == 200
    assert _create(client, key, ACTUAL, PREDICTED).status_code == 200
    assert len(grouped) == 1  # the key is cached
    # Signing in hands out a new key and keeps the newest five: six sign-ins revoke this one.
    for _ in range(6):
        signed_in = client.post("/sign_in/", json={"email": "r@example.com", "password": "test123"})
        assert signed_in.status_code == 200
    refused = _create(client, key, ACTUAL, PREDICTED)
    assert refused.status_code == 404 and refused.json() == {"detail": "Invalid API key"}
    assert len(grouped) == 1


@pytest.mark.parametrize(
    ("actual", "predicted"),
    [([1, 1], [1, 1]), ([1, "a"], [1, 1]), ([1, 2], [1]), ([], [])],
    ids=["one class", "mixed labels", "lengths differ", "empty"],
)
def test_bad_input_is_refused_the_same_way_on_both_paths(
    client: TestClient, grouped: list[dict[str, Any]], actual: list[Any], predicted: list[Any]
) -> None:
    # A key's first use is verified in a worker thread, which also creates there.
    first = _create(client, pycm_user(client, "a@example.com")["api_key"], actual, predicted)
    key = pycm_user(client, "b@example.com")["api_key"]
    assert _create(client, key, ACTUAL, PREDICTED).status_code == 200  # now cached
    second = _create(client, key, actual, predicted)
    assert 400 <= first.status_code < 500, first.text
    assert (second.status_code, second.json()) == (first.status_code, first.json())
    assert set(first.json()) == {"detail"}
    assert grouped == []
    assert _create(client, key, ACTUAL, PREDICTED).status_code == 200
    assert len(grouped) == 1  # the second call was on the cached path


def test_a_large_body_is_counted_in_a_worker_thread(
    client: TestClient, grouped: list[dict[str, Any]]
) -> None:
    key = pycm_user(client, "l@example.com")["api_key"]
    assert _create(client, key, ACTUAL, PREDICTED).status_code == 200  # caches the key
    n = SMALL_INPUT + 1
    actual = [i % 3 for i in range(n)]
    response = _create(client, key, actual, actual)
    assert response.status_code == 200
    assert grouped == []
    read = client.get("/cm/", params={"api_key": key, "cm_uid": response.json()["uid"]})
    assert read.json()["accuracy"] == 1.0


def test_native_creates_with_a_cached_key_answer_the_same(
    client: TestClient, owner: Account, grouped: list[dict[str, Any]]
) -> None:
    body = {"actual": ACTUAL, "predicted": PREDICTED, "name": "small"}
    first = client.post(BASE, json=body, headers=owner.headers)
    second = client.post(BASE, json=body, headers=owner.headers)
    assert first.status_code == second.status_code == 201, second.text
    assert [row["uid"] for row in grouped] == [second.json()["uid"]]
    volatile = {"uid", "created_at", "updated_at"}
    answers = [{k: v for k, v in r.json().items() if k not in volatile} for r in (first, second)]
    assert answers[0] == answers[1]
    assert answers[1]["matrix"] == [[3, 1], [1, 3]] and answers[1]["f1"] == 0.75
    stored = client.get(f"{BASE}/{second.json()['uid']}", headers=owner.headers)
    assert stored.status_code == 200
    assert stored.json()["created_at"] == second.json()["created_at"]


def test_weighted_creates_are_left_to_a_worker_thread(
    client: TestClient, owner: Account, grouped: list[dict[str, Any]]
) -> None:
    # Fractional counts go through PyCM's full statistics, which are not for the event loop.
    weighted = {"actual": ACTUAL, "predicted": PREDICTED, "sample_weight": [0.5] * 8}
    fractional = {"matrix": [[1.5, 0.5], [0.5, 2.5]], "classes": ["a", "b"]}
    counts = {"matrix": [[3, 1], [1, 3]], "classes": ["a", "b"]}
    answers = [
        client.post(BASE, json=body, headers=owner.headers)
        for body in (counts, weighted, fractional, counts)
    ]
    assert [a.status_code for a in answers] == [201] * 4, answers[1].text
    assert [row["uid"] for row in grouped] == [answers[3].json()["uid"]]
    assert answers[1].json()["accuracy"] == 0.75
    assert answers[2].json()["matrix"] == [[1.5, 0.5], [0.5, 2.5]]
