"""Run one job by id: claim it, run its body, record how it ended. Shared by every executor.

Each step is its own short transaction. The claim is an ``UPDATE ... WHERE state = 'PENDING'``
whose row count decides who runs the job, so a job handed over twice (recovery, a duplicate
message) still runs once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from modelyard.db import Database
from modelyard.jobs import registry, repository
from modelyard.jobs.context import JobContext
from modelyard.jobs.exceptions import JobCancelled, JobFailed, JobInterrupted
from modelyard.jobs.models import Job, JobState

__all__ = ["ERROR_MAX", "recover_unfinished", "run_job"]

log = logging.getLogger(__name__)

ERROR_MAX = 500


@dataclass(frozen=True)
class _Claimed:
    id: str
    kind: str
    owner_id: int | None
    params: dict[str, Any]
    attempt: int


def _never() -> bool:
    return False


def run_job(
    database: Database,
    job_id: str,
    *,
    redelivered: bool = False,
    stopping: Callable[[], bool] = _never,
) -> str | None:
    """Run job ``job_id`` if it is still to be run; return its final state, or None if skipped.

    ``redelivered`` says the broker hands the job over again because the worker that had it
    was lost: only then may a STARTED job be claimed again.
    """
    claimed = _claim(database, job_id, redelivered=redelivered)
    if claimed is None:
        return None
    body = registry.get_body(claimed.kind)
    if body is None:
        # The worker was started without the module that registers this kind.
        log.error(
            "job %s: no body for kind %r",
            job_id,
            claimed.kind,
            extra={"job_id": job_id, "kind": claimed.kind},
        )
        return _finish(
            database, job_id, JobState.FAILURE, error=f"unknown job kind {claimed.kind!r}"
        )

    context = JobContext(
        job_id=claimed.id,
        kind=claimed.kind,
        owner_id=claimed.owner_id,
        params=claimed.params,
        attempt=claimed.attempt,
        database=database,
        stopping=stopping,
    )
    log.info(
        "job %s started (%s, attempt %d)",
        job_id,
        claimed.kind,
        claimed.attempt,
        extra={"job_id": job_id, "kind": claimed.kind, "attempt": claimed.attempt},
    )
    try:
        result = body(context)
    except JobInterrupted:
        return _release(database, job_id)
    except JobCancelled:
        return _finish(database, job_id, JobState.REVOKED)
    except JobFailed as exc:
        log.info(
            "job %s failed: %s",
            job_id,
            exc,
            extra={"job_id": job_id, "kind": claimed.kind, "error": str(exc)},
        )
        return _finish(database, job_id, JobState.FAILURE, error=_short(str(exc) or "job failed"))
    except Exception as exc:
        # The traceback goes to the log only: it can hold paths, SQL and values that are
        # not the client's business.
        log.exception("job %s raised", job_id, extra={"job_id": job_id, "kind": claimed.kind})
        return _finish(database, job_id, JobState.FAILURE, error=_describe(exc))

    if context.stop_seen:
        return _release(database, job_id)
    if context.cancel_seen:
        return _finish(database, job_id, JobState.REVOKED)
    problem = _result_problem(result)
    if problem is not None:
        log.error("job %s: %s", job_id, problem, extra={"job_id": job_id, "kind": claimed.kind})
        return _finish(database, job_id, JobState.FAILURE, error=problem)
    return _finish(database, job_id, JobState.SUCCESS, result=result, progress=1.0)


def recover_unfinished(database: Database) -> list[str]:
    """Make the table consistent after a crash and return the ids of jobs to run again.

    Only the executor that owns every job of the database may call this: a STARTED row is
    taken to mean "was running when the process died".
    """
    repair_after_crash(database)
    return pending_jobs(database)


def repair_after_crash(database: Database) -> None:
    """The first half of ``recover_unfinished``: cancelled or exhausted jobs end, STARTED ones
    go back to PENDING. Once, before any process of the machine runs a job."""
    with database.session() as session:
        revoked = repository.revoke_cancelled_started(session)
        gave_up = repository.give_up_exhausted(session, states=(JobState.PENDING, JobState.STARTED))
        requeued = repository.requeue_started(session)
    if revoked or gave_up or requeued:
        log.warning(
            "recovered unfinished jobs",
            extra={"revoked": revoked, "failed": gave_up, "requeued": requeued},
        )


def pending_jobs(database: Database) -> list[str]:
    """The ids of the jobs waiting to run. Several processes may each take the list: a job's
    claim lets one of them run it."""
    with database.session() as session:
        return list(repository.pending_ids(session))


def _claim(database: Database, job_id: str, *, redelivered: bool) -> _Claimed | None:
    from_states = (JobState.PENDING, JobState.STARTED) if redelivered else (JobState.PENDING,)
    with database.session() as session:
        won = repository.claim(session, job_id, from_states=from_states)
        job = repository.get(session, job_id)
        if job is None:
            log.info("job %s is gone; skipped", job_id, extra={"job_id": job_id})
            return None
        if won:
            return _Claimed(job.id, job.kind, job.owner_id, dict(job.params), job.attempts)
        _explain_lost_claim(session, job, redelivered=redelivered)
    return None


def _explain_lost_claim(session: Session, job: Job, *, redelivered: bool) -> None:
    """Close a job the claim refused when nobody else will; otherwise leave it alone."""
    resumable = job.state == JobState.PENDING or (redelivered and job.state == JobState.STARTED)
    if not resumable:
        # Finished, revoked before it started, or running elsewhere.
        log.info(
            "job %s is %s; skipped", job.id, job.state, extra={"job_id": job.id, "state": job.state}
        )
        return
    from_states = (job.state,)
    if job.cancel_requested:
        repository.finish(session, job.id, state=JobState.REVOKED, from_states=from_states)
    elif job.attempts >= job.max_attempts:
        error = f"gave up after {job.attempts} attempts"
        log.warning("job %s: %s", job.id, error, extra={"job_id": job.id, "attempts": job.attempts})
        repository.finish(
            session, job.id, state=JobState.FAILURE, from_states=from_states, error=error
        )


def _finish(
    database: Database,
    job_id: str,
    state: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    progress: float | None = None,
) -> str | None:
    with database.session() as session:
        done = repository.finish(
            session, job_id, state=state, result=result, error=error, progress=progress
        )
    if not done:
        log.info("job %s vanished while running", job_id, extra={"job_id": job_id})
        return None
    log.info("job %s finished: %s", job_id, state, extra={"job_id": job_id, "state": state})
    return state


def _release(database: Database, job_id: str) -> str | None:
    with database.session() as session:
        released = repository.release(session, job_id)
    log.info("job %s interrupted by shutdown; back to PENDING", job_id, extra={"job_id": job_id})
    return JobState.PENDING if released else None


def _short(text: str) -> str:
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line[:ERROR_MAX]


def _describe(exc: BaseException) -> str:
    detail = _short(str(exc))
    name = type(exc).__name__
    return _short(f"{name}: {detail}") if detail else name


def _result_problem(result: object) -> str | None:
    if result is None:
        return None
    if not isinstance(result, dict):
        return f"the job returned {type(result).__name__}, not a JSON object"
    try:
        # allow_nan=False: PostgreSQL's json type refuses NaN and Infinity.
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return _short(f"the job's result is not JSON: {exc}")
    return None
