"""Helpers the job tests share: submitting, polling with a deadline, a recording executor."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from modelyard.db import Database
from modelyard.jobs.executors import JobExecutor
from modelyard.jobs.models import Job, JobState
from modelyard.jobs.service import submit_job
from tests.conftest import TEST_BROKER_URL

# Jobs that may run at once: the local executor's default threads, and the worker's processes.
CONCURRENCY = 2
DEADLINE_SECONDS = 15.0

uses_celery = TEST_BROKER_URL is not None


@dataclass
class Admin:
    """A caller that may see every job, for service-level tests."""

    id: int = 0
    is_admin: bool = True


@dataclass
class RecordingExecutor:
    """The real executor, with a note of every id handed to it."""

    inner: JobExecutor
    submitted: list[str] = field(default_factory=list)

    @property
    def max_attempts(self) -> int:
        return self.inner.max_attempts

    def start(self) -> None:
        self.inner.start()

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)
        self.inner.submit(job_id)

    def shutdown(self) -> None:
        self.inner.shutdown()


def submit(
    database: Database,
    executor: JobExecutor,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    owner_id: int | None = None,
    max_attempts: int | None = None,
) -> str:
    """Submit a job in its own committed transaction, as a request would."""
    with database.session() as session:
        job = submit_job(
            session,
            executor,
            kind=kind,
            params=params or {},
            owner_id=owner_id,
            max_attempts=max_attempts,
        )
        job_id = job.id
    return job_id


def load(database: Database, job_id: str) -> Job | None:
    with database.session() as session:
        return session.get(Job, job_id)


def wait_for(
    database: Database,
    job_id: str,
    condition: Callable[[Job], bool] = lambda job: job.state in JobState.FINISHED,
    *,
    timeout: float = DEADLINE_SECONDS,
    what: str = "to finish",
) -> Job:
    """Poll the job's row until ``condition`` holds; fail with its last state at the deadline."""
    deadline = time.monotonic() + timeout
    last: Job | None = None
    while True:
        last = load(database, job_id)
        if last is not None and condition(last):
            return last
        if time.monotonic() > deadline:
            seen = None if last is None else (last.state, last.progress, last.message, last.error)
            raise AssertionError(f"job {job_id} did not {what} within {timeout}s; last: {seen}")
        time.sleep(0.02)


def wait_started(database: Database, job_id: str) -> Job:
    return wait_for(
        database,
        job_id,
        lambda job: job.state == JobState.STARTED and job.message is not None,
        what="start",
    )


def all_jobs(database: Database) -> list[Job]:
    with database.session() as session:
        return list(session.scalars(select(Job)))
