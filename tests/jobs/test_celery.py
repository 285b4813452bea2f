"""What only the Celery executor does: a worker process lost mid-job gives the job back.

Runs only in the scale-out suite, against the session's real worker (prefork pool).
"""

from __future__ import annotations

import pytest

from modelyard.db import Database
from modelyard.jobs.executors import JobExecutor
from modelyard.jobs.models import JobState
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
    assert done.error == "gave up after 2 attempts"
