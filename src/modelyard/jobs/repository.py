"""Every SQL query of the jobs domain.

State changes are single ``UPDATE ... WHERE state = ...`` statements whose row count tells
whether they happened, so two executors (or an executor and a cancel request) racing for the
same row cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, String, Update, func, literal, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from modelyard.db import utcnow
from modelyard.jobs.models import Job, JobState

__all__ = [
    "add",
    "claim",
    "count_jobs",
    "finish",
    "get",
    "give_up_exhausted",
    "is_cancel_requested",
    "list_jobs",
    "pending_ids",
    "release",
    "request_cancel",
    "requeue_started",
    "revoke_cancelled_started",
    "revoke_pending",
    "set_progress",
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


def claim(session: Session, job_id: str, *, from_states: Sequence[str]) -> bool:
    """Move a job that still has attempts left from one of ``from_states`` to STARTED."""
    now = utcnow()
    statement = (
        update(Job)
        .where(
            Job.id == job_id,
            Job.state.in_(from_states),
            Job.attempts < Job.max_attempts,
            Job.cancel_requested.is_(False),
        )
        .values(
            state=JobState.STARTED,
            attempts=Job.attempts + 1,
            progress=0.0,
            message=None,
            started_at=now,
            finished_at=None,
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
) -> bool:
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
    statement = update(Job).where(Job.id == job_id, Job.state.in_(from_states)).values(**values)
    return _execute(session, statement) == 1


def release(session: Session, job_id: str) -> bool:
    """Put a STARTED job back to PENDING without counting the interrupted attempt."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.STARTED)
        .values(
            state=JobState.PENDING,
            attempts=Job.attempts - 1,
            started_at=None,
            updated_at=utcnow(),
        )
    )
    return _execute(session, statement) == 1


def set_progress(session: Session, job_id: str, fraction: float, message: str | None) -> bool:
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.STARTED)
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


def revoke_cancelled_started(session: Session) -> int:
    """Finish, as REVOKED, STARTED jobs whose cancellation was asked for before a crash."""
    now = utcnow()
    statement = (
        update(Job)
        .where(Job.state == JobState.STARTED, Job.cancel_requested.is_(True))
        .values(state=JobState.REVOKED, finished_at=now, updated_at=now)
    )
    return _execute(session, statement)


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


def requeue_started(session: Session) -> int:
    statement = (
        update(Job)
        .where(Job.state == JobState.STARTED)
        .values(state=JobState.PENDING, started_at=None, updated_at=utcnow())
    )
    return _execute(session, statement)


def pending_ids(session: Session, *, created_before: datetime | None = None) -> Sequence[str]:
    statement = select(Job.id).where(Job.state == JobState.PENDING)
    if created_before is not None:
        statement = statement.where(Job.created_at < created_before)
    return session.scalars(statement.order_by(Job.created_at, Job.id)).all()
