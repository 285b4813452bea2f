"""HTTP face of the jobs: read them, list them, cancel them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from modelyard.auth.dependencies import CurrentUser
from modelyard.db import SessionDep
from modelyard.jobs import service
from modelyard.jobs.schemas import JobRead, JobStateName
from modelyard.pagination import PageParamsDep
from modelyard.schemas import Page

__all__ = ["router"]

router = APIRouter(tags=["jobs"])

JobId = Annotated[str, Path(max_length=64, description="The job's id.")]


@router.get("/jobs", response_model=Page[JobRead])
def list_jobs(
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    state: Annotated[JobStateName | None, Query(description="Only jobs in this state.")] = None,
    kind: Annotated[
        str | None, Query(max_length=100, description="Only jobs of this kind.")
    ] = None,
) -> Page[JobRead]:
    """List your jobs, newest first (every user's jobs for an admin)."""
    return service.list_jobs(
        session, caller=user, state=state, kind=kind, limit=page.limit, offset=page.offset
    )


@router.get("/jobs/{job_id}", response_model=JobRead)
def get_job(job_id: JobId, session: SessionDep, user: CurrentUser) -> JobRead:
    """Show one job: state, progress, result or error."""
    return JobRead.model_validate(service.get_job(session, job_id, caller=user))


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobRead,
    responses={409: {"description": "The job has already finished."}},
)
def cancel_job(job_id: JobId, session: SessionDep, user: CurrentUser) -> JobRead:
    """Cancel a job: a pending one at once, a running one at its next check."""
    return JobRead.model_validate(service.cancel_job(session, job_id, caller=user))
