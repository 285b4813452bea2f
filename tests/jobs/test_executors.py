"""The life of a job, run by whichever executor the settings choose.

These run on the in-process executor by default and through Redis to a real Celery worker when
``MODELYARD_TEST_BROKER_URL`` is set; they must not know which.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelyard.auth.models import User
from modelyard.db import Database
from modelyard.jobs import service
from modelyard.jobs.exceptions import JobAlreadyFinished, UnknownJobKind, UnserializableParams
from modelyard.jobs.executors import JobExecutor
from modelyard.jobs.models import JobState
from modelyard.jobs.runner import run_job
from tests.jobs.helpers import (
    CONCURRENCY,
    Admin,
    RecordingExecutor,
    all_jobs,
    load,
    submit,
    wait_for,
    wait_started,
)

Gates = Callable[[], Path]


def test_success_records_result_and_progress_while_running(
    database: Database, executor: JobExecutor, gates: Gates
) -> None:
    gate = gates()
    job_id = submit(database, executor, "tests.add", {"a": 2, "b": 3, "gate": str(gate)})

    running = wait_started(database, job_id)
    assert (running.progress, running.message) == (0.5, "adding")
    assert running.result is None and running.attempts == 1 and running.started_at is not None

    gate.touch()
    done = wait_for(database, job_id)
    assert done.state == JobState.SUCCESS
    assert done.result == {"sum": 5, "attempt": 1}
    assert done.progress == 1.0 and done.error is None
    assert done.finished_at is not None and done.started_at is not None
    assert done.created_at <= done.started_at <= done.finished_at


def test_body_gets_its_context(database: Database, executor: JobExecutor) -> None:
    with database.session() as session:
        owner = User(email="owner@example.com", password_hash="x")
        session.add(owner)
        session.flush()
        owner_id = owner.id
    job_id = submit(database, executor, "tests.context", {"x": [1, 2]}, owner_id=owner_id)

    done = wait_for(database, job_id)
    assert done.state == JobState.SUCCESS
    assert done.result == {
        "job_id": job_id,
        "kind": "tests.context",
        "owner_id": owner_id,
        "params": {"x": [1, 2]},
        "attempt": 1,
    }


def test_exception_becomes_failure_with_a_short_message(
    database: Database, executor: JobExecutor
) -> None:
    job_id = submit(database, executor, "tests.fail", {"why": "bad input"})

    done = wait_for(database, job_id)
    assert done.state == JobState.FAILURE
    assert done.error == "ValueError: boom: bad input"  # first line only, no traceback
    assert done.result is None and done.finished_at is not None


def test_job_failed_message_is_kept_as_written(database: Database, executor: JobExecutor) -> None:
    done = wait_for(database, submit(database, executor, "tests.refuse"))
    assert (done.state, done.error) == (JobState.FAILURE, "the input has no labels")


def test_result_that_is_not_json_fails_the_job(database: Database, executor: JobExecutor) -> None:
    done = wait_for(database, submit(database, executor, "tests.bad_result"))
    assert done.state == JobState.FAILURE
    assert done.error is not None and "not JSON" in done.error
    assert done.result is None


def test_cancel_pending_revokes_at_once_and_it_never_runs(
    database: Database, executor: JobExecutor, gates: Gates
) -> None:
    # Fill every slot so the next job waits in the queue.
    blockers = [gates() for _ in range(CONCURRENCY)]
    blocker_ids = [
        submit(database, executor, "tests.add", {"a": 1, "b": 1, "gate": str(gate)})
        for gate in blockers
    ]
    for blocker_id in blocker_ids:
        wait_started(database, blocker_id)
    queued_id = submit(database, executor, "tests.add", {"a": 1, "b": 2})

    with database.session() as session:
        cancelled = service.cancel_job(session, queued_id, caller=Admin())
        assert cancelled.state == JobState.REVOKED
    revoked = load(database, queued_id)
    assert revoked is not None
    assert revoked.state == JobState.REVOKED and revoked.finished_at is not None

    # Its message is still queued; once slots free up it must be skipped, not run.
    for gate in blockers:
        gate.touch()
    later_id = submit(database, executor, "tests.add", {"a": 3, "b": 4})
    assert wait_for(database, later_id).state == JobState.SUCCESS
    for blocker_id in blocker_ids:
        assert wait_for(database, blocker_id).state == JobState.SUCCESS
    skipped = load(database, queued_id)
    assert skipped is not None
    assert (skipped.state, skipped.attempts, skipped.started_at) == (JobState.REVOKED, 0, None)


@pytest.mark.parametrize("kind", ["tests.wait_for_cancel", "tests.polite_cancel"])
def test_cancel_running_stops_it_as_revoked(
    database: Database, executor: JobExecutor, kind: str
) -> None:
    job_id = submit(database, executor, kind)
    wait_started(database, job_id)

    with database.session() as session:
        asked = service.cancel_job(session, job_id, caller=Admin())
        assert (asked.state, asked.cancel_requested) == (JobState.STARTED, True)

    done = wait_for(database, job_id)
    assert done.state == JobState.REVOKED
    assert done.result is None and done.finished_at is not None


def test_cancel_finished_is_a_conflict(database: Database, executor: JobExecutor) -> None:
    job_id = submit(database, executor, "tests.add", {"a": 1, "b": 1})
    wait_for(database, job_id)

    with pytest.raises(JobAlreadyFinished) as caught, database.session() as session:
        service.cancel_job(session, job_id, caller=Admin())
    assert caught.value.status_code == 409
    finished = load(database, job_id)
    assert finished is not None and finished.state == JobState.SUCCESS


def test_unknown_kind_is_refused_at_submit(database: Database, executor: JobExecutor) -> None:
    with pytest.raises(UnknownJobKind) as caught:
        submit(database, executor, "tests.no_such_kind")
    assert caught.value.status_code == 422
    assert "tests.add" in caught.value.details["known"]
    assert all_jobs(database) == []


@pytest.mark.parametrize("params", [{"x": float("nan")}, {"x": object()}])
def test_params_must_be_json(database: Database, executor: JobExecutor, params: dict) -> None:
    with pytest.raises(UnserializableParams):
        submit(database, executor, "tests.add", params)
    assert all_jobs(database) == []


def test_job_is_not_sent_when_the_transaction_rolls_back(
    database: Database, executor: JobExecutor
) -> None:
    recording = RecordingExecutor(executor)

    with pytest.raises(RuntimeError), database.session() as session:
        job = service.submit_job(
            session, recording, kind="tests.add", params={"a": 1, "b": 1}, owner_id=None
        )
        assert job.state == JobState.PENDING and job.max_attempts == executor.max_attempts
        raise RuntimeError("the request failed after submitting")

    assert recording.submitted == []
    assert all_jobs(database) == []

    # The same call in a transaction that commits is sent, once, after the commit.
    job_id = submit(database, recording, "tests.add", {"a": 1, "b": 1})
    assert recording.submitted == [job_id]
    assert wait_for(database, job_id).state == JobState.SUCCESS


def test_job_of_a_deleted_owner_stops_quietly(
    database: Database, executor: JobExecutor, gates: Gates
) -> None:
    with database.session() as session:
        owner = User(email="leaving@example.com", password_hash="x")
        session.add(owner)
        session.flush()
        owner_id = owner.id
    gate = gates()
    job_id = submit(
        database, executor, "tests.add", {"a": 1, "b": 1, "gate": str(gate)}, owner_id=owner_id
    )
    wait_started(database, job_id)

    with database.session() as session:
        deleted = session.get(User, owner_id)
        assert deleted is not None
        session.delete(deleted)
    assert load(database, job_id) is None  # the row went with its owner

    # The executor carries on with other work.
    next_id = submit(database, executor, "tests.add", {"a": 2, "b": 2})
    assert wait_for(database, next_id).state == JobState.SUCCESS


def test_running_a_missing_job_is_a_no_op(database: Database) -> None:
    assert run_job(database, "0" * 32) is None


def test_submit_twice_runs_once(database: Database, executor: JobExecutor, gates: Gates) -> None:
    gate = gates()
    job_id = submit(database, executor, "tests.add", {"a": 1, "b": 1, "gate": str(gate)})
    wait_started(database, job_id)

    executor.submit(job_id)  # a duplicate hand-off while it runs
    gate.touch()
    done = wait_for(database, job_id)
    assert (done.state, done.attempts) == (JobState.SUCCESS, 1)
    executor.submit(job_id)  # and one after it finished
    marker_id = submit(database, executor, "tests.add", {"a": 0, "b": 0})
    wait_for(database, marker_id)
    again = load(database, job_id)
    assert again is not None
    assert (again.state, again.attempts, again.result) == (JobState.SUCCESS, 1, done.result)
