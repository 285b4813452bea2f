"""Jobs as other code uses them: submit, read, list, cancel. No HTTP, no commits.

The caller's transaction owns the job row: ``submit_job`` only flushes, and the executor hears
of the job once that transaction commits, so a worker never looks for a row that is not (or
never will be) there.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any, Protocol

from sqlalchemy.orm import Session

from modelyard.db import after_commit, normalize_database_url
from modelyard.jobs import registry, repository
from modelyard.jobs.exceptions import (
    JobAlreadyFinished,
    JobNotFound,
    UnknownJobKind,
    UnserializableParams,
)
from modelyard.jobs.executors import JobExecutor
from modelyard.jobs.liveness import AbandonedJob, run_abandon_hook
from modelyard.jobs.models import Job, JobState
from modelyard.jobs.schemas import JobRead
from modelyard.schemas import Page

__all__ = ["Caller", "cancel_job", "get_job", "list_jobs", "submit_job"]


class Caller(Protocol):
    """Who asks: any user object with an id and an admin flag (jobs import no domain)."""

    @property
    def id(self) -> int: ...

    @property
    def is_admin(self) -> bool: ...


def submit_job(
    session: Session,
    executor: JobExecutor,
    *,
    kind: str,
    params: dict[str, Any],
    owner_id: int | None,
    max_attempts: int | None = None,
) -> Job:
    """Add a PENDING job and hand it to ``executor`` once the session's transaction commits."""
    if not registry.is_known(kind):
        raise UnknownJobKind(
            f"unknown job kind {kind!r}", details={"known": registry.known_kinds()}
        )
    _check_params(params)
    if max_attempts is not None and max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    job = repository.add(
        session,
        Job(
            kind=kind,
            owner_id=owner_id,
            params=params,
            state=JobState.PENDING,
            max_attempts=max_attempts or executor.max_attempts,
        ),
    )
    after_commit(session, partial(executor.submit, job.id))
    return job


def _check_params(params: object) -> None:
    if not isinstance(params, dict):
        raise UnserializableParams()
    try:
        # allow_nan=False: PostgreSQL's json type refuses NaN and Infinity.
        json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UnserializableParams(f"job parameters are not JSON: {exc}") from exc


def get_job(session: Session, job_id: str, *, caller: Caller) -> Job:
    """The job, if ``caller`` may see it; another user's job is as good as missing."""
    job = repository.get(session, job_id)
    if job is None or not (caller.is_admin or job.owner_id == caller.id):
        raise JobNotFound(f"job {job_id!r} not found")
    return job


def list_jobs(
    session: Session,
    *,
    caller: Caller,
    state: str | None = None,
    kind: str | None = None,
    limit: int,
    offset: int,
) -> Page[JobRead]:
    """The caller's jobs (every job for an admin), newest first."""
    scope: dict[str, Any] = {
        "owner_id": caller.id,
        "all_owners": caller.is_admin,
        "state": state,
        "kind": kind,
    }
    jobs = repository.list_jobs(session, limit=limit, offset=offset, **scope)
    total = repository.count_jobs(session, **scope)
    return Page[JobRead](
        items=[JobRead.model_validate(job) for job in jobs],
        total=total,
        limit=limit,
        offset=offset,
    )


def cancel_job(session: Session, job_id: str, *, caller: Caller) -> Job:
    """Revoke a PENDING job at once; ask a STARTED one to stop; refuse a finished one."""
    job = get_job(session, job_id, caller=caller)
    if job.state in JobState.FINISHED:
        raise JobAlreadyFinished(f"job {job_id!r} is already {job.state}")
    # Each step is conditional on the state it expects; a job that moves on between the read
    # above and the write (a worker claims it, it finishes) falls through to the next case.
    if repository.revoke_pending(session, job_id):
        # Its body never runs, so it cannot close what the job's domain opened for it (a
        # training's MLflow run); its hook does, once the revocation is committed.
        url = normalize_database_url(
            session.get_bind().engine.url.render_as_string(hide_password=False)
        )
        ended = AbandonedJob(
            job.id, job.kind, dict(job.params), JobState.REVOKED, "cancelled", url, None, None
        )
        after_commit(session, partial(run_abandon_hook, ended))
    elif not repository.request_cancel(session, job_id):
        refreshed = repository.get(session, job_id)
        state = refreshed.state if refreshed is not None else JobState.REVOKED
        raise JobAlreadyFinished(f"job {job_id!r} is already {state}")
    refreshed = repository.get(session, job_id)
    if refreshed is None:
        raise JobNotFound(f"job {job_id!r} not found")
    return refreshed
