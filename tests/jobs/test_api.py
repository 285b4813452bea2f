"""The jobs API: only your own jobs, pagination and filters, and cancel through HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelyard.db import Database, utcnow
from modelyard.jobs.executors import JobExecutor
from modelyard.jobs.models import Job, JobState
from tests.helpers import Account, make_admin, sign_up
from tests.jobs.helpers import DEADLINE_SECONDS, submit

JOBS = "/api/v1/jobs"


@dataclass
class People:
    alice: Account
    bob: Account
    admin: Account


@pytest.fixture
def people(client: TestClient) -> People:
    return People(
        alice=sign_up(client, "alice@example.com"),
        bob=sign_up(client, "bob@example.com"),
        admin=make_admin(client),
    )


def _database(client: TestClient) -> Database:
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    return database


def _executor(client: TestClient) -> JobExecutor:
    executor: JobExecutor = client.app.state.jobs  # type: ignore[attr-defined]
    return executor


def _insert(database: Database, owner_id: int | None, *specs: tuple[str, str]) -> list[str]:
    """Rows (kind, state) created a second apart, oldest first; no executor is involved."""
    start = utcnow() - timedelta(hours=1)
    ids = []
    with database.session() as session:
        for offset, (kind, state) in enumerate(specs):
            job = Job(
                kind=kind,
                state=state,
                owner_id=owner_id,
                params={},
                created_at=start + timedelta(seconds=offset),
            )
            session.add(job)
            session.flush()
            ids.append(job.id)
    return ids


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


def _poll(
    client: TestClient,
    account: Account,
    job_id: str,
    condition: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        response = client.get(f"{JOBS}/{job_id}", headers=account.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if condition(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never reached the condition; last: {body}")
        time.sleep(0.02)


def test_list_shows_only_your_jobs_newest_first(client: TestClient, people: People) -> None:
    database = _database(client)
    mine = _insert(database, people.alice.id, ("tests.add", "SUCCESS"), ("tests.fail", "FAILURE"))
    _insert(database, people.bob.id, ("tests.add", "SUCCESS"))

    response = client.get(JOBS, headers=people.alice.headers)
    assert response.status_code == 200
    body = response.json()
    assert _ids(body) == mine[::-1]
    assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
    item = body["items"][0]
    assert item["owner_id"] == people.alice.id and item["state"] == "FAILURE"
    assert set(item) >= {"progress", "message", "params", "result", "error", "attempts"}


def test_admin_sees_every_job(client: TestClient, people: People) -> None:
    database = _database(client)
    alices = _insert(database, people.alice.id, ("tests.add", "SUCCESS"))
    bobs = _insert(database, people.bob.id, ("tests.add", "PENDING"))
    system = _insert(database, None, ("tests.add", "STARTED"))

    body = client.get(JOBS, headers=people.admin.headers).json()
    assert set(_ids(body)) == {*alices, *bobs, *system} and body["total"] == 3
    bobs_job = client.get(f"{JOBS}/{bobs[0]}", headers=people.admin.headers)
    assert bobs_job.status_code == 200 and bobs_job.json()["owner_id"] == people.bob.id


def test_pages_follow_limit_and_offset(client: TestClient, people: People) -> None:
    ids = _insert(_database(client), people.alice.id, *[("tests.add", "SUCCESS")] * 5)
    newest_first = ids[::-1]

    pages = [
        client.get(JOBS, params={"limit": 2, "offset": offset}, headers=people.alice.headers)
        for offset in (0, 2, 4, 6)
    ]
    assert [page.status_code for page in pages] == [200] * 4
    bodies = [page.json() for page in pages]
    assert [_ids(body) for body in bodies] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:5],
        [],
    ]
    assert {body["total"] for body in bodies} == {5}
    assert [(body["limit"], body["offset"]) for body in bodies] == [(2, 0), (2, 2), (2, 4), (2, 6)]


def test_filters_by_state_and_kind(client: TestClient, people: People) -> None:
    added_ok, failed, added_pending = _insert(
        _database(client),
        people.alice.id,
        ("tests.add", "SUCCESS"),
        ("tests.fail", "FAILURE"),
        ("tests.add", "PENDING"),
    )
    headers = people.alice.headers

    by_state = client.get(JOBS, params={"state": "FAILURE"}, headers=headers).json()
    assert (_ids(by_state), by_state["total"]) == ([failed], 1)
    by_kind = client.get(JOBS, params={"kind": "tests.add"}, headers=headers).json()
    assert (_ids(by_kind), by_kind["total"]) == ([added_pending, added_ok], 2)
    both = client.get(JOBS, params={"kind": "tests.add", "state": "PENDING"}, headers=headers)
    assert _ids(both.json()) == [added_pending]


@pytest.mark.parametrize(
    "params",
    [{"state": "DONE"}, {"limit": 0}, {"limit": 501}, {"offset": -1}, {"kind": "k" * 101}],
)
def test_bad_list_parameters_are_422(
    client: TestClient, people: People, params: dict[str, Any]
) -> None:
    response = client.get(JOBS, params=params, headers=people.alice.headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_another_users_job_is_not_found(client: TestClient, people: People) -> None:
    (bobs,) = _insert(_database(client), people.bob.id, ("tests.add", "PENDING"))

    for response in (
        client.get(f"{JOBS}/{bobs}", headers=people.alice.headers),
        client.post(f"{JOBS}/{bobs}/cancel", headers=people.alice.headers),
        client.get(f"{JOBS}/{'0' * 32}", headers=people.alice.headers),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "job_not_found"
    still = client.get(f"{JOBS}/{bobs}", headers=people.bob.headers).json()
    assert still["state"] == "PENDING" and still["cancel_requested"] is False


def test_jobs_need_credentials(client: TestClient) -> None:
    for response in (
        client.get(JOBS),
        client.get(f"{JOBS}/{'0' * 32}"),
        client.post(f"{JOBS}/{'0' * 32}/cancel"),
    ):
        assert response.status_code == 401


def test_progress_then_result_through_the_api(
    client: TestClient, people: People, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    job_id = submit(
        _database(client),
        _executor(client),
        "tests.add",
        {"a": 40, "b": 2, "gate": str(gate)},
        owner_id=people.alice.id,
    )
    try:
        running = _poll(client, people.alice, job_id, lambda job: job["message"] == "adding")
        assert (running["state"], running["progress"]) == ("STARTED", 0.5)
    finally:
        gate.touch()
    done = _poll(client, people.alice, job_id, lambda job: job["state"] == "SUCCESS")
    assert done["result"] == {"sum": 42, "attempt": 1} and done["progress"] == 1.0
    # Not its last step's "adding": a finished job says it is done.
    assert done["message"] == "done"


def test_cancel_pending_through_the_api(client: TestClient, people: People) -> None:
    (queued,) = _insert(_database(client), people.alice.id, ("tests.add", "PENDING"))

    response = client.post(f"{JOBS}/{queued}/cancel", headers=people.alice.headers)
    assert response.status_code == 200
    assert response.json()["state"] == "REVOKED" and response.json()["finished_at"] is not None


def test_cancel_running_through_the_api(client: TestClient, people: People) -> None:
    job_id = submit(
        _database(client), _executor(client), "tests.wait_for_cancel", owner_id=people.alice.id
    )
    _poll(client, people.alice, job_id, lambda job: job["message"] == "waiting")

    response = client.post(f"{JOBS}/{job_id}/cancel", headers=people.alice.headers)
    assert response.status_code == 200
    assert response.json()["cancel_requested"] is True
    assert response.json()["state"] in ("STARTED", "REVOKED")
    done = _poll(client, people.alice, job_id, lambda job: job["state"] != "STARTED")
    assert done["state"] == "REVOKED"


def test_cancel_finished_is_409(client: TestClient, people: People) -> None:
    (finished,) = _insert(_database(client), people.alice.id, ("tests.add", JobState.SUCCESS))

    response = client.post(f"{JOBS}/{finished}/cancel", headers=people.alice.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_finished"


def test_jobs_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in (
        (JOBS, "get"),
        (JOBS + "/{job_id}", "get"),
        (JOBS + "/{job_id}/cancel", "post"),
    ):
        operation = paths[path][method]
        assert operation["tags"] == ["jobs"] and operation["description"]
