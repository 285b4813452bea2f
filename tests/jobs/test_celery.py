"""What only the Celery executor does: a worker process lost mid-job gives the job back.

Runs only in the scale-out suite, against the session's real worker (prefork pool).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelyard.config import Settings
from modelyard.db import Database, utcnow
from modelyard.jobs.executors import JobExecutor, build_executor
from modelyard.jobs.models import Job, JobState
from tests.jobs.helpers import submit, uses_celery, wait_for

pytestmark = [
    pytest.mark.scaleout,
    pytest.mark.skipif(not uses_celery, reason="needs MODELYARD_TEST_BROKER_URL"),
]


def test_job_of_a_lost_worker_process_runs_again(database: Database, executor: JobExecutor) -> None:
    job_id = submit(database, executor, "tests.crash_worker", {"crashes": 1})

    done = wait_for(database, job_id, timeout=30)
    assert (done.state, done.attempts) == (JobState.SUCCESS, 2)
    assert done.result == {"attempt": 2}


def test_job_that_always_kills_its_worker_is_given_up(
    database: Database, executor: JobExecutor
) -> None:
    job_id = submit(database, executor, "tests.crash_worker", {"crashes": 99}, max_attempts=2)

    done = wait_for(database, job_id, timeout=30)
    assert (done.state, done.attempts) == (JobState.FAILURE, 2)
    assert done.error == "the worker running it stopped"
    assert done.message == "the worker running it stopped (it was at 0%)"


def test_a_job_that_missed_the_broker_is_sent_again_at_start(
    database: Database, settings: Settings
) -> None:
    # A row committed while the broker was down: PENDING, never sent.
    with database.session() as session:
        job = Job(
            kind="tests.add",
            params={"a": 2, "b": 3},
            state=JobState.PENDING,
            created_at=utcnow() - timedelta(minutes=5),
        )
        session.add(job)
        session.flush()
        job_id = job.id
    executor = build_executor(settings, database)
    executor.start()
    try:
        done = wait_for(database, job_id, timeout=30)
    finally:
        executor.shutdown()
    assert done.state == JobState.SUCCESS
    assert done.result is not None and done.result["sum"] == 5
