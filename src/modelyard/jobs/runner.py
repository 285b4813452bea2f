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
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from modelyard.config import JobsSettings, Settings
from modelyard.db import Database, utcnow
from modelyard.jobs import liveness, registry, repository
from modelyard.jobs.context import JobContext
from modelyard.jobs.exceptions import JobCancelled, JobFailed, JobInterrupted
from modelyard.jobs.liveness import Heartbeat, LostAttempt
from modelyard.jobs.models import JobState

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
    settings: Settings | None = None,
) -> str | None:
    """Run job ``job_id`` if it is still to be run; return its final state, or None if skipped.

    ``redelivered`` says the broker hands the job over again, perhaps because the worker that
    had it was lost: a STARTED job is then taken over only if its worker is known to be gone
    (its heartbeat stopped, or its process of this host no longer exists). A job still beating
    is running elsewhere (the broker's visibility timeout ran out, say) and is left alone.
    """
    jobs = settings.jobs if settings is not None else JobsSettings()
    claimed = _claim(database, job_id, redelivered=redelivered, jobs=jobs, settings=settings)
    if claimed is None:
        return None
    with Heartbeat(database, job_id, claimed.attempt, jobs.heartbeat_seconds) as heartbeat:

        def stop_asked() -> bool:
            return stopping() or heartbeat.lost.is_set()

        return _run_claimed(database, claimed, stop_asked)


def _run_claimed(database: Database, claimed: _Claimed, stopping: Callable[[], bool]) -> str | None:
    job_id, attempt = claimed.id, claimed.attempt
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
            database, job_id, attempt, JobState.FAILURE, error=f"unknown job kind {claimed.kind!r}"
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
        return _release(database, job_id, attempt)
    except JobCancelled:
        return _finish(database, job_id, attempt, JobState.REVOKED)
    except JobFailed as exc:
        log.info(
            "job %s failed: %s",
            job_id,
            exc,
            extra={"job_id": job_id, "kind": claimed.kind, "error": str(exc)},
        )
        return _finish(
            database, job_id, attempt, JobState.FAILURE, error=_short(str(exc) or "job failed")
        )
    except Exception as exc:
        # The traceback goes to the log only: it can hold paths, SQL and values that are
        # not the client's business.
        log.exception("job %s raised", job_id, extra={"job_id": job_id, "kind": claimed.kind})
        return _finish(database, job_id, attempt, JobState.FAILURE, error=_describe(exc))

    if context.stop_seen:
        return _release(database, job_id, attempt)
    if context.cancel_seen:
        return _finish(database, job_id, attempt, JobState.REVOKED)
    problem = _result_problem(result)
    if problem is not None:
        log.error("job %s: %s", job_id, problem, extra={"job_id": job_id, "kind": claimed.kind})
        return _finish(database, job_id, attempt, JobState.FAILURE, error=problem)
    return _finish(database, job_id, attempt, JobState.SUCCESS, result=result, progress=1.0)


def recover_unfinished(database: Database, settings: Settings | None = None) -> list[str]:
    """Make the table consistent after a crash and return the ids of jobs to run again.

    Only the executor that owns every job of the database may call this: a STARTED row is
    taken to mean "was running when the process died".
    """
    repair_after_crash(database, settings)
    return pending_jobs(database)


def repair_after_crash(database: Database, settings: Settings | None = None) -> None:
    """The first half of ``recover_unfinished``: each STARTED job's attempt ended with the
    process that ran it, so it is re-queued while it has attempts left, else failed with that
    reason (REVOKED if its cancellation was asked for), its domain told to close what it left
    open (an MLflow run). Once, before any process of the machine runs a job."""
    if settings is not None:
        # The domains' hooks that close what an abandoned job left open come with them.
        registry.load_task_modules(settings.jobs.task_modules)
    with database.session() as session:
        gave_up = repository.give_up_exhausted(session, states=(JobState.PENDING,))
        started = [LostAttempt.of(job) for job in repository.started_jobs(session)]
    outcomes = [
        liveness.end_lost(database, job, cutoff=None, resubmit=None, settings=settings)
        for job in started
    ]
    if gave_up or started:
        log.warning(
            "recovered unfinished jobs",
            extra={
                "revoked": outcomes.count(JobState.REVOKED),
                "failed": gave_up + outcomes.count(JobState.FAILURE),
                "requeued": outcomes.count(JobState.PENDING),
            },
        )


def pending_jobs(database: Database) -> list[str]:
    """The ids of the jobs waiting to run. Several processes may each take the list: a job's
    claim lets one of them run it."""
    with database.session() as session:
        return list(repository.pending_ids(session))


def _claim(
    database: Database,
    job_id: str,
    *,
    redelivered: bool,
    jobs: JobsSettings,
    settings: Settings | None,
) -> _Claimed | None:
    runner = liveness.runner_id()
    lost: LostAttempt | None = None
    with database.session() as session:
        won = repository.claim(session, job_id, runner=runner)
        job = repository.get(session, job_id)
        if job is None:
            log.info("job %s is gone; skipped", job_id, extra={"job_id": job_id})
            return None
        if not won and redelivered and job.state == JobState.STARTED:
            cutoff = utcnow() - timedelta(seconds=jobs.stale_seconds)
            stopped = job.heartbeat_at is None or job.heartbeat_at < cutoff
            if stopped or liveness.process_is_gone(job.runner):
                # Its worker is gone: this delivery takes its place at once.
                won = repository.claim_lost(session, job_id, attempt=job.attempts, runner=runner)
                if not won:
                    lost = LostAttempt.of(job)
                job = repository.get(session, job_id)
                if job is None:
                    return None
        if won:
            return _Claimed(job.id, job.kind, job.owner_id, dict(job.params), job.attempts)
        if lost is None:
            _explain_lost_claim(session, job.id, job.state, job.cancel_requested, job.attempts)
            return None
    # Out of attempts, or cancelled: the lost attempt was the last.
    liveness.end_lost(database, lost, cutoff=None, resubmit=None, settings=settings)
    return None


def _explain_lost_claim(
    session: Session, job_id: str, state: str, cancel_requested: bool, attempts: int
) -> None:
    """Close a PENDING job the claim refused when nobody else will; otherwise leave it alone."""
    if state != JobState.PENDING:
        # Finished, revoked before it started, or running elsewhere.
        log.info("job %s is %s; skipped", job_id, state, extra={"job_id": job_id, "state": state})
        return
    from_states = (state,)
    if cancel_requested:
        repository.finish(session, job_id, state=JobState.REVOKED, from_states=from_states)
    else:
        error = f"gave up after {attempts} attempts"
        log.warning("job %s: %s", job_id, error, extra={"job_id": job_id, "attempts": attempts})
        repository.finish(
            session,
            job_id,
            state=JobState.FAILURE,
            from_states=from_states,
            error=error,
            message=f"failed: {error}",
        )


def _finish(
    database: Database,
    job_id: str,
    attempt: int,
    state: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    progress: float | None = None,
) -> str | None:
    with database.session() as session:
        message = None
        if state in (JobState.FAILURE, JobState.REVOKED):
            # The last progress message said what the job was doing, not how it ended.
            job = repository.get(session, job_id)
            context = liveness.where_it_was(job.progress, job.message) if job else None
            verb = f"failed: {error}" if state == JobState.FAILURE else "cancelled"
            message = f"{verb} ({context})" if context else verb
        elif state == JobState.SUCCESS:
            # Not the last step's "writing results": a finished job says it is done.
            message = "done"
        done = repository.finish(
            session,
            job_id,
            state=state,
            result=result,
            error=error,
            progress=progress,
            message=message,
            attempt=attempt,
        )
    if not done:
        log.info("job %s vanished while running", job_id, extra={"job_id": job_id})
        return None
    log.info("job %s finished: %s", job_id, state, extra={"job_id": job_id, "state": state})
    return state


def _release(database: Database, job_id: str, attempt: int) -> str | None:
    with database.session() as session:
        released = repository.release(session, job_id, attempt=attempt)
    if not released:
        # Its heartbeat had stopped long enough for a reaper to end or re-queue this attempt.
        log.warning(
            "job %s: attempt %d was taken for lost; stopped",
            job_id,
            attempt,
            extra={"job_id": job_id, "attempt": attempt},
        )
        return None
    log.info("job %s interrupted by shutdown; back to PENDING", job_id, extra={"job_id": job_id})
    return JobState.PENDING


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
