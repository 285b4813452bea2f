"""A job whose worker dies ends truthfully: heartbeats, the reaper, and a killed Celery worker.

The settings are small here (heartbeat 0.1-0.2 s, stale after 1 s) so each test takes seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from modelyard.config import Settings
from modelyard.db import Database, utcnow
from modelyard.jobs import repository
from modelyard.jobs.executors import JobExecutor, LocalExecutor, build_executor
from modelyard.jobs.liveness import WORKER_STOPPED, reap_stale
from modelyard.jobs.models import Job, JobState
from modelyard.jobs.schemas import JobRead
from modelyard.jobs.service import cancel_job
from tests.jobs import tasks  # noqa: F401 - registers the tests' job kinds and their hooks
from tests.jobs.helpers import (
    CONCURRENCY,
    Admin,
    load,
    submit,
    uses_celery,
    wait_for,
    wait_started,
)

STALE_SECONDS = 1.0
Gates = Callable[[], Path]


def _fast(settings: Settings, **jobs: object) -> Settings:
    update: dict[str, object] = {
        "heartbeat_seconds": 0.1,
        "stale_seconds": STALE_SECONDS,
        "reap_seconds": 0.1,
    }
    update.update(jobs)
    return settings.model_copy(update={"jobs": settings.jobs.model_copy(update=update)})


def _started(database: Database, *, attempts: int, max_attempts: int, beat_ago: float) -> str:
    """A STARTED row whose worker last marked it alive ``beat_ago`` seconds ago."""
    beat = utcnow() - timedelta(seconds=beat_ago)
    with database.session() as session:
        job = Job(
            kind="tests.add",
            params={"a": 1, "b": 2},
            state=JobState.STARTED,
            attempts=attempts,
            max_attempts=max_attempts,
            progress=0.02,
            message="loading dataset",
            started_at=beat,
            heartbeat_at=beat,
            runner="elsewhere:1",
        )
        session.add(job)
        session.flush()
        return job.id


def test_a_job_whose_heartbeat_stopped_is_requeued_then_failed_with_the_reason(
    database: Database,
) -> None:
    job_id = _started(database, attempts=1, max_attempts=2, beat_ago=60)
    sent: list[str] = []

    assert reap_stale(database, stale_seconds=30, resubmit=sent.append) == 1

    requeued = load(database, job_id)
    assert requeued is not None
    assert (requeued.state, requeued.attempts, requeued.error) == (JobState.PENDING, 1, None)
    assert requeued.message == (
        "re-queued: the worker running it stopped on attempt 1 (it was at 2%: loading dataset)"
    )
    assert sent == [job_id]

    # Its second attempt's worker dies too: no attempt is left.
    with database.session() as session:
        assert repository.claim(session, job_id, runner="elsewhere:2")
        second = session.get(Job, job_id, populate_existing=True)
        assert second is not None
        second.heartbeat_at = utcnow() - timedelta(seconds=60)
    assert reap_stale(database, stale_seconds=30, resubmit=sent.append) == 1
    failed = load(database, job_id)
    assert failed is not None
    assert (failed.state, failed.attempts) == (JobState.FAILURE, 2)
    assert failed.error == WORKER_STOPPED
    assert failed.message == "the worker running it stopped (it was at 0%)"
    assert failed.finished_at is not None
    assert sent == [job_id]


def test_the_domain_of_a_job_failed_for_lost_closes_what_it_left_open(
    database: Database, tmp_path: Path
) -> None:
    record = tmp_path / "abandoned"
    job_id = _started(database, attempts=1, max_attempts=1, beat_ago=60)
    with database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.params = {"a": 1, "b": 2, "record": str(record)}
    reap_stale(database, stale_seconds=30, resubmit=None)
    assert record.read_text() == f"{job_id} FAILURE {WORKER_STOPPED}\n"


def test_a_job_cancelled_before_it_started_has_its_domain_close_what_it_opened(
    database: Database, executor: JobExecutor, gates: Gates, tmp_path: Path
) -> None:
    """A training cancelled while PENDING never runs its body: before, its MLflow run stayed
    RUNNING for ever."""
    record = tmp_path / "abandoned"
    blockers = [gates() for _ in range(CONCURRENCY)]
    for gate in blockers:
        wait_started(
            database, submit(database, executor, "tests.add", {"a": 1, "b": 1, "gate": str(gate)})
        )
    queued = submit(database, executor, "tests.add", {"a": 1, "b": 2, "record": str(record)})
    with database.session() as session:
        assert cancel_job(session, queued, caller=Admin()).state == JobState.REVOKED
        assert not record.exists()  # not before the revocation is committed
    assert record.read_text() == f"{queued} REVOKED cancelled\n"
    for gate in blockers:
        gate.touch()


def test_a_failed_job_s_message_says_how_it_ended(
    database: Database, executor: JobExecutor
) -> None:
    """The message was left at the last progress ("adding"), as if the job were still at it."""
    job_id = submit(database, executor, "tests.fail", {"why": "bad input"})
    done = wait_for(database, job_id)
    assert done.state == JobState.FAILURE
    assert done.message == "failed: ValueError: boom: bad input (it was at 0%)"


def test_a_job_still_beating_is_left_alone(database: Database) -> None:
    fresh = _started(database, attempts=1, max_attempts=1, beat_ago=1)
    assert reap_stale(database, stale_seconds=30, resubmit=None) == 0
    job = load(database, fresh)
    assert job is not None and job.state == JobState.STARTED


def test_reapers_racing_for_a_job_end_it_once(database: Database) -> None:
    job_id = _started(database, attempts=1, max_attempts=3, beat_ago=60)
    sent: list[str] = []
    ended: list[int] = []
    barrier = threading.Barrier(4)

    def reap() -> None:
        barrier.wait()
        ended.append(reap_stale(database, stale_seconds=30, resubmit=sent.append))

    threads = [threading.Thread(target=reap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ended) == [0, 0, 0, 1]
    assert sent == [job_id]
    job = load(database, job_id)
    assert job is not None and (job.state, job.attempts) == (JobState.PENDING, 1)


def test_an_attempt_taken_for_lost_cannot_end_the_job_its_successor_runs(
    database: Database,
) -> None:
    job_id = _started(database, attempts=1, max_attempts=2, beat_ago=60)
    reap_stale(database, stale_seconds=30, resubmit=None)
    with database.session() as session:
        assert repository.claim(session, job_id, runner="elsewhere:2")
    with database.session() as session:
        # The first attempt's body was only slow, not dead: its end and progress are refused.
        assert not repository.set_progress(session, job_id, 0.9, "late", attempt=1)
        assert not repository.finish(session, job_id, state=JobState.SUCCESS, attempt=1)
        assert repository.set_progress(session, job_id, 0.5, "second", attempt=2)
    job = load(database, job_id)
    assert job is not None
    assert (job.state, job.attempts, job.message) == (JobState.STARTED, 2, "second")


@pytest.mark.skipif(uses_celery, reason="the in-process executor")
def test_the_in_process_executor_keeps_a_running_job_alive(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    """A job running longer than the stale time is not reaped: its heartbeat goes on."""
    fast = _fast(settings)
    executor = build_executor(fast, database)
    assert isinstance(executor, LocalExecutor)
    executor.start()
    gate = tmp_path / "gate"
    try:
        job_id = submit(database, executor, "tests.add", {"a": 1, "b": 2, "gate": str(gate)})
        started = wait_started(database, job_id)
        time.sleep(STALE_SECONDS * 2.5)
        running = load(database, job_id)
        assert running is not None and running.state == JobState.STARTED
        assert running.heartbeat_at is not None and started.heartbeat_at is not None
        assert running.heartbeat_at > started.heartbeat_at
        with database.session() as session:
            shown = JobRead.model_validate(session.get(Job, job_id))
        assert shown.heartbeat_at is not None  # the API shows it
        gate.touch()
        done = wait_for(database, job_id, timeout=10)
    finally:
        gate.touch()
        executor.shutdown()
    assert (done.state, done.attempts) == (JobState.SUCCESS, 1)


# --- a real Celery worker killed with SIGKILL ----------------------------------------------


@pytest.fixture
def own_queue(settings: Settings) -> Iterator[Settings]:
    """Fast liveness settings on a queue of this test's own: its worker will be killed."""
    from tests.jobs.conftest import _purge_queue

    queue = f"modelyard-liveness-{uuid.uuid4().hex[:12]}"
    mine = _fast(settings, heartbeat_seconds=0.2, queue_name=queue)
    yield mine
    _purge_queue(mine, bindings=True)


def _start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    from tests.jobs.conftest import REPO_ROOT, _wait_until_ready, _worker_env

    env = _worker_env(settings)
    env["MODELYARD_JOBS_HEARTBEAT_SECONDS"] = str(settings.jobs.heartbeat_seconds)
    env["MODELYARD_JOBS_STALE_SECONDS"] = str(settings.jobs.stale_seconds)
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "modelyard", "worker", "--concurrency", "1"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Its own process group: the parent and its pool child die together, as when the
            # machine or container goes.
            start_new_session=True,
        )
    _wait_until_ready(settings, process, log)
    return process


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.mark.scaleout
@pytest.mark.skipif(not uses_celery, reason="needs MODELYARD_TEST_BROKER_URL")
def test_a_killed_celery_worker_s_job_is_requeued_then_failed_with_the_reason(
    database: Database, own_queue: Settings, tmp_path: Path
) -> None:
    """Before heartbeats, the job stayed STARTED for the broker's 12 h visibility timeout."""
    log = tmp_path / "worker.log"
    executor: JobExecutor = build_executor(own_queue, database)
    executor.start()  # the server process's reaper, as in `modelyard serve`
    worker = _start_worker(own_queue, log)
    try:
        job_id = submit(
            database, executor, "tests.wait_for_cancel", {"timeout": 60}, max_attempts=2
        )
        wait_started(database, job_id)
        _kill(worker)
        requeued = wait_for(
            database,
            job_id,
            lambda job: job.state != JobState.STARTED,
            timeout=STALE_SECONDS + 10,
            what="leave STARTED",
        )
        assert (requeued.state, requeued.attempts) == (JobState.PENDING, 1)
        assert requeued.message == (
            "re-queued: the worker running it stopped on attempt 1 (it was at 10%: waiting)"
        )

        # The reaper sent it again; the next worker runs it, and is killed as well.
        worker = _start_worker(own_queue, log)
        second = wait_for(
            database,
            job_id,
            lambda job: job.state == JobState.STARTED and job.attempts == 2 and bool(job.message),
            timeout=60,
            what="start again",
        )
        assert second.runner is not None
        _kill(worker)
        failed = wait_for(database, job_id, timeout=STALE_SECONDS + 10)
    finally:
        if worker.poll() is None:
            _kill(worker)
        executor.shutdown()
    assert (failed.state, failed.attempts) == (JobState.FAILURE, 2)
    assert failed.error == WORKER_STOPPED
    assert failed.message == "the worker running it stopped (it was at 10%: waiting)"


@pytest.mark.skipif(uses_celery, reason="the in-process executor")
def test_a_body_whose_attempt_was_taken_for_lost_stops_and_keeps_the_verdict(
    database: Database, settings: Settings
) -> None:
    """A worker only paused past the stale time: the body stops at its next check, and its
    end does not overwrite what the reaper decided."""
    executor = build_executor(_fast(settings, local_workers=1), database)
    executor.start()
    try:
        job_id = submit(
            database, executor, "tests.wait_for_cancel", {"timeout": 30}, max_attempts=1
        )
        wait_started(database, job_id)
        # A cutoff in the future: the running attempt counts as lost now.
        assert reap_stale(database, stale_seconds=-60, resubmit=None) == 1
        # The body stopped: the one worker thread is free for the next job.
        after = submit(database, executor, "tests.add", {"a": 1, "b": 1})
        assert wait_for(database, after, timeout=10).state == JobState.SUCCESS
    finally:
        executor.shutdown()
    ended = load(database, job_id)
    assert ended is not None
    assert (ended.state, ended.error) == (JobState.FAILURE, WORKER_STOPPED)
    assert ended.message == "the worker running it stopped (it was at 10%: waiting)"
