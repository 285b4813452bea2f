"""The in-process executor's own promises: it survives a restart and a shutdown.

These build ``LocalExecutor`` directly, so they also run (on PostgreSQL) in the scale-out suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

import tests.jobs.tasks  # noqa: F401 - registers the job kinds run here, so the file runs alone
from modelyard.db import Database, utcnow
from modelyard.jobs.executors import LocalExecutor
from modelyard.jobs.models import Job, JobState
from modelyard.jobs.runner import repair_after_crash
from tests.jobs.helpers import CONCURRENCY, load, submit, wait_for, wait_started


def _local(database: Database) -> LocalExecutor:
    return LocalExecutor(database, workers=CONCURRENCY, max_attempts=3)


@pytest.fixture
def local(database: Database) -> Iterator[LocalExecutor]:
    executor = _local(database)
    executor.start()
    yield executor
    executor.shutdown()


def _left_behind(database: Database, **columns: object) -> str:
    """A row as a crashed process leaves it."""
    started = utcnow() - timedelta(minutes=5)
    values: dict[str, object] = {
        "kind": "tests.add",
        "params": {"a": 20, "b": 22},
        "state": JobState.STARTED,
        "attempts": 1,
        "max_attempts": 3,
        "progress": 0.5,
        "message": "adding",
        "started_at": started,
        "created_at": started,
    }
    values.update(columns)
    with database.session() as session:
        job = Job(**values)
        session.add(job)
        session.flush()
        return job.id


def test_restart_picks_up_what_a_crash_left(database: Database) -> None:
    interrupted = _left_behind(database)
    exhausted = _left_behind(database, attempts=3)
    never_started = _left_behind(
        database, state=JobState.PENDING, attempts=0, started_at=None, progress=0.0, message=None
    )
    cancel_asked = _left_behind(database, cancel_requested=True)
    finished = _left_behind(database, state=JobState.SUCCESS, result={"sum": 1}, progress=1.0)

    executor = _local(database)
    executor.start()
    try:
        rerun = wait_for(database, interrupted)
        assert (rerun.state, rerun.attempts) == (JobState.SUCCESS, 2)
        assert rerun.result == {"sum": 42, "attempt": 2}

        ran = wait_for(database, never_started)
        assert (ran.state, ran.attempts) == (JobState.SUCCESS, 1)
    finally:
        executor.shutdown()

    gave_up = load(database, exhausted)
    assert gave_up is not None
    # The reason is why it ended; what it was doing when its process died is context only.
    assert (gave_up.state, gave_up.error) == (JobState.FAILURE, "the worker running it stopped")
    assert gave_up.message == "the worker running it stopped (it was at 50%: adding)"
    assert gave_up.finished_at is not None

    revoked = load(database, cancel_asked)
    assert revoked is not None and revoked.state == JobState.REVOKED

    untouched = load(database, finished)
    assert untouched is not None
    assert (untouched.state, untouched.result, untouched.attempts) == (
        JobState.SUCCESS,
        {"sum": 1},
        1,
    )


def test_shutdown_puts_running_jobs_back_for_the_next_start(database: Database) -> None:
    first = _local(database)
    first.start()
    job_id = submit(database, first, "tests.wait_for_cancel")
    wait_started(database, job_id)
    first.shutdown()  # returns once the body has stopped at its next check

    parked = load(database, job_id)
    assert parked is not None
    # A shutdown is not the job's fault: the attempt is not counted.
    assert (parked.state, parked.attempts, parked.started_at) == (JobState.PENDING, 0, None)

    second = _local(database)
    second.start()
    try:
        resumed = wait_started(database, job_id)
        assert resumed.attempts == 1
    finally:
        second.shutdown()


def test_job_submitted_while_stopped_waits_for_the_next_start(database: Database) -> None:
    executor = _local(database)
    job_id = submit(database, executor, "tests.add", {"a": 1, "b": 2})  # not started yet
    assert load(database, job_id).state == JobState.PENDING  # type: ignore[union-attr]

    executor.start()
    try:
        assert wait_for(database, job_id).state == JobState.SUCCESS
    finally:
        executor.shutdown()


def test_start_and_shutdown_are_idempotent(local: LocalExecutor, database: Database) -> None:
    local.start()
    job_id = submit(database, local, "tests.add", {"a": 1, "b": 1})
    assert wait_for(database, job_id).state == JobState.SUCCESS
    local.shutdown()
    local.shutdown()


def test_one_of_several_processes_runs_pending_jobs_and_leaves_started_ones_alone(
    database: Database,
) -> None:
    """``serve --workers N``: a STARTED job may be another live process's, so a process that
    starts (or is started again) only races for the PENDING ones; the parent repaired the rest
    (``repair_after_crash``) before starting any."""
    running_elsewhere = _left_behind(database)
    waiting = _left_behind(
        database, state=JobState.PENDING, attempts=0, started_at=None, progress=0.0, message=None
    )
    executor = LocalExecutor(database, workers=CONCURRENCY, max_attempts=3, shared=True)
    executor.start()
    try:
        ran = wait_for(database, waiting)
        assert (ran.state, ran.attempts) == (JobState.SUCCESS, 1)
    finally:
        executor.shutdown()
    other = load(database, running_elsewhere)
    assert other is not None
    assert (other.state, other.attempts, other.progress) == (JobState.STARTED, 1, 0.5)


def test_the_parent_repairs_once_what_a_crash_left(database: Database) -> None:
    interrupted = _left_behind(database)
    cancel_asked = _left_behind(database, cancel_requested=True)
    repair_after_crash(database)
    requeued, revoked = load(database, interrupted), load(database, cancel_asked)
    assert requeued is not None and requeued.state == JobState.PENDING
    assert revoked is not None and revoked.state == JobState.REVOKED
