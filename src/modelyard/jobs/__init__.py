"""Background jobs: the job table, the executors that run jobs, and the API over them.

Domains register job bodies by stable name and submit jobs through the service::

    from modelyard.jobs import JobContext, job_task

    @job_task("evaluation.big_matrix")
    def big_matrix(ctx: JobContext) -> dict | None:
        ctx.progress(0.5, "half way")
        ctx.raise_if_cancelled()
        return {"done": True}

    modelyard.jobs.service.submit_job(session, executor, kind="evaluation.big_matrix",
                                      params={...}, owner_id=user.id)
"""

from modelyard.jobs.context import JobContext
from modelyard.jobs.exceptions import JobCancelled, JobFailed
from modelyard.jobs.models import Job, JobState
from modelyard.jobs.registry import TASK_MODULES, JobBody, job_task

__all__ = [
    "TASK_MODULES",
    "Job",
    "JobBody",
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "JobState",
    "job_task",
]
