"""Every SQL query of the jobs domain.

State changes are single ``UPDATE ... WHERE state = ...`` statements whose row count tells
whether they happened, so two executors (or an executor and a cancel request) racing for the
same row cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, String, Update, and_, func, literal, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from modelyard.db import utcnow
from modelyard.jobs.models import Job, JobState

__all__ = [
    "add",
    "beat",
    "claim",
    "claim_lost",
    "count_jobs",
    "fail_lost",
    "finish",
    "get",
    "give_up_exhausted",
    "is_cancel_requested",
    "list_jobs",
    "pending_ids",
    "release",
    "request_cancel",
    "requeue_lost",
    "revoke_pending",
    "set_progress",
    "stale_started",
    "started_jobs",
]

MESSAGE_MAX = 500


def _execute(session: Session, statement: Update) -> int:
    # Nothing in these short sessions holds the rows as objects except the request that
    # cancels, which re-reads the row afterwards; skipping the identity-map sync keeps the
    # statements plain SQL on every backend.
    result = session.execute(statement.execution_options(synchronize_session=False))
    return cast(CursorResult[Any], result).rowcount


def add(session: Session, job: Job) -> Job:
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id, populate_existing=True)


def _filtered(
    owner_id: int | None, state: str | None, kind: str | None, *, all_owners: bool
) -> list[Any]:
    conditions: list[Any] = []
    if not all_owners:
        conditions.append(Job.owner_id == owner_id)
    if state is not None:
        conditions.append(Job.state == state)
    if kind is not None:
        conditions.append(Job.kind == kind)
    return conditions


def list_jobs(
    session: Session,
    *,
    owner_id: int | None,
    all_owners: bool = False,
    state: str | None = None,
    kind: str | None = None,
    limit: int,
    offset: int,
) -> Sequence[Job]:
    conditions = _filtered(owner_id, state, kind, all_owners=all_owners)
    statement = (
        select(Job)
        .where(*conditions)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return session.scalars(statement).all()


def count_jobs(
    session: Session,
    *,
    owner_id: int | None,
    all_owners: bool = False,
    state: str | None = None,
    kind: str | None = None,
) -> int:
    conditions = _filtered(owner_id, state, kind, all_owners=all_owners)
    statement = select(func.count()).select_from(Job).where(*conditions)
    return int(session.scalar(statement) or 0)


def _started_values(runner: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "state": JobState.STARTED,
        "attempts": Job.attempts + 1,
        "progress": 0.0,
        "message": None,
        "started_at": now,
        "finished_at": None,
        "updated_at": now,
        "heartbeat_at": now,
        "runner": runner[:200],
    }


def claim(session: Session, job_id: str, *, runner: str) -> bool:
    """Move a PENDING job that still has attempts left to STARTED, run by ``runner``."""
    statement = (
        update(Job)
        .where(
            Job.id == job_id,
            Job.state == JobState.PENDING,
            Job.attempts < Job.max_attempts,
            Job.cancel_requested.is_(False),
        )
        .values(**_started_values(runner))
    )
    return _execute(session, statement) == 1


def claim_lost(session: Session, job_id: str, *, attempt: int, runner: str) -> bool:
    """Start again a STARTED job whose attempt ``attempt`` is known to have lost its worker.

    The attempt number makes it once-only: two redeliveries of one message cannot both win,
    nor one win against a reaper that already moved the job on.
    """
    statement = (
        update(Job)
        .where(
            Job.id == job_id,
            Job.state == JobState.STARTED,
            Job.attempts == attempt,
            Job.attempts < Job.max_attempts,
            Job.cancel_requested.is_(False),
        )
        .values(**_started_values(runner))
    )
    return _execute(session, statement) == 1


def beat(session: Session, job_id: str, *, attempt: int) -> bool:
    """Mark attempt ``attempt`` of a job alive; False once the job is no longer that attempt's."""
    now = utcnow()
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.STARTED, Job.attempts == attempt)
        .values(heartbeat_at=now)
    )
    return _execute(session, statement) == 1


def _stopped_beating(cutoff: datetime) -> Any:
    # A row started by a version without heartbeats has none: its start time stands in.
    return or_(
        Job.heartbeat_at < cutoff,
        and_(Job.heartbeat_at.is_(None), Job.started_at < cutoff),
    )


def stale_started(session: Session, *, cutoff: datetime, limit: int = 100) -> Sequence[Job]:
    """STARTED jobs not marked alive since ``cutoff``, oldest first."""
    statement = (
        select(Job)
        .where(Job.state == JobState.STARTED, _stopped_beating(cutoff))
        .order_by(Job.started_at, Job.id)
        .limit(limit)
    )
    return session.scalars(statement).all()


def _lost_attempt(job_id: str, attempt: int, cutoff: datetime | None) -> list[Any]:
    conditions: list[Any] = [
        Job.id == job_id,
        Job.state == JobState.STARTED,
        Job.attempts == attempt,
    ]
    if cutoff is not None:
        # Checked again in the UPDATE: a beat that came after the SELECT keeps the job.
        conditions.append(_stopped_beating(cutoff))
    return conditions


def requeue_lost(
    session: Session, job_id: str, *, attempt: int, cutoff: datetime | None, message: str
) -> bool:
    """Put back to PENDING a job whose attempt ``attempt`` lost its worker (still counted)."""
    statement = (
        update(Job)
        .where(
            *_lost_attempt(job_id, attempt, cutoff),
            Job.attempts < Job.max_attempts,
            Job.cancel_requested.is_(False),
        )
        .values(
            state=JobState.PENDING,
            message=message[:MESSAGE_MAX],
            started_at=None,
            heartbeat_at=None,
            runner=None,
            updated_at=utcnow(),
        )
    )
    return _execute(session, statement) == 1


def fail_lost(
    session: Session,
    job_id: str,
    *,
    attempt: int,
    cutoff: datetime | None,
    state: str,
    error: str | None,
    message: str,
) -> bool:
    """End (FAILURE, or REVOKED when cancelled) a job whose attempt ``attempt`` lost its worker."""
    now = utcnow()
    statement = (
        update(Job)
        .where(*_lost_attempt(job_id, attempt, cutoff))
        .values(
            state=state,
            error=error,
            message=message[:MESSAGE_MAX],
            finished_at=now,
            updated_at=now,
        )
    )
    return _execute(session, statement) == 1


def finish(
    session: Session,
    job_id: str,
    *,
    state: str,
    from_states: Sequence[str] = (JobState.STARTED,),
    result: dict[str, Any] | None = None,
    error: str | None = None,
    progress: float | None = None,
    message: str | None = None,
    attempt: int | None = None,
) -> bool:
    """End a job; with ``attempt``, only if the job is still that attempt (not re-queued and
    started again elsewhere after its worker was taken for lost)."""
    now = utcnow()
    values: dict[str, Any] = {
        "state": state,
        "result": result,
        "error": error,
        "finished_at": now,
        "updated_at": now,
    }
    if progress is not None:
        values["progress"] = progress
    if message is not None:
        values["message"] = message[:MESSAGE_MAX]
    conditions: list[Any] = [Job.id == job_id, Job.state.in_(from_states)]
    if attempt is not None:
        conditions.append(Job.attempts == attempt)
    statement = update(Job).where(*conditions).values(**values)
    return _execute(session, statement) == 1


def release(session: Session, job_id: str, *, attempt: int | None = None) -> bool:
    """Put a STARTED job back to PENDING without counting the interrupted attempt."""
    conditions: list[Any] = [Job.id == job_id, Job.state == JobState.STARTED]
    if attempt is not None:
        conditions.append(Job.attempts == attempt)
    statement = (
        update(Job)
        .where(*conditions)
        .values(
            state=JobState.PENDING,
            attempts=Job.attempts - 1,
            started_at=None,
            heartbeat_at=None,
            runner=None,
            updated_at=utcnow(),
        )
    )
    return _execute(session, statement) == 1


def set_progress(
    session: Session,
    job_id: str,
    fraction: float,
    message: str | None,
    *,
    attempt: int | None = None,
) -> bool:
    conditions: list[Any] = [Job.id == job_id, Job.state == JobState.STARTED]
    if attempt is not None:
        conditions.append(Job.attempts == attempt)
    statement = (
        update(Job)
        .where(*conditions)
        .values(
            progress=fraction,
            message=None if message is None else message[:MESSAGE_MAX],
            updated_at=utcnow(),
        )
    )
    return _execute(session, statement) == 1


def is_cancel_requested(session: Session, job_id: str) -> bool | None:
    """Whether cancellation was asked for; ``None`` when the row is gone."""
    statement = select(Job.cancel_requested, Job.state).where(Job.id == job_id)
    row = session.execute(statement).one_or_none()
    if row is None:
        return None
    cancel_requested, state = row
    return bool(cancel_requested) or state == JobState.REVOKED


def revoke_pending(session: Session, job_id: str) -> bool:
    now = utcnow()
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.PENDING)
        .values(state=JobState.REVOKED, finished_at=now, updated_at=now)
    )
    return _execute(session, statement) == 1


def request_cancel(session: Session, job_id: str) -> bool:
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.STARTED)
        .values(cancel_requested=True, updated_at=utcnow())
    )
    return _execute(session, statement) == 1


def give_up_exhausted(session: Session, *, states: Sequence[str]) -> int:
    """Fail every job in ``states`` that has used all of its attempts."""
    now = utcnow()
    reason = literal("gave up after ") + sql_cast(Job.attempts, String) + literal(" attempts")
    statement = (
        update(Job)
        .where(Job.state.in_(states), Job.attempts >= Job.max_attempts)
        .values(state=JobState.FAILURE, error=reason, finished_at=now, updated_at=now)
    )
    return _execute(session, statement)


def started_jobs(session: Session) -> Sequence[Job]:
    return session.scalars(
        select(Job).where(Job.state == JobState.STARTED).order_by(Job.created_at, Job.id)
    ).all()


def pending_ids(session: Session, *, created_before: datetime | None = None) -> Sequence[str]:
    statement = select(Job.id).where(Job.state == JobState.PENDING)
    if created_before is not None:
        statement = statement.where(Job.created_at < created_before)
    return session.scalars(statement.order_by(Job.created_at, Job.id)).all()
