"""Job bodies of the visualization domain, registered by stable name.

Every executor and worker imports this module when it starts, so it stays light: the
projection stack (umap-learn, numba, openTSNE, TriMap) is imported by the first job.
"""

from __future__ import annotations

from typing import Any

from modelyard.config import Settings
from modelyard.jobs import JobContext, job_task
from modelyard.jobs.liveness import AbandonedJob, on_abandoned
from modelyard.jobs.registry import on_worker_start

__all__ = ["PROJECT_JOB", "end_abandoned_projection", "prepare_worker", "project"]

PROJECT_JOB = "visualization.project"


@job_task(PROJECT_JOB)
def project(ctx: JobContext) -> dict[str, Any]:
    from modelyard.visualization.job import run_projection  # heavy: see the module's docstring

    return run_projection(ctx)


@on_abandoned(PROJECT_JOB)
def end_abandoned_projection(job: AbandonedJob) -> None:
    """Its worker died mid-projection (or a crash left it): the projection ends ERROR, saying so."""
    from modelyard.visualization.job import end_abandoned_projection as end

    end(job)


@on_worker_start
def prepare_worker(settings: Settings) -> None:
    """Point numba's cache into the data folder and compile UMAP off the jobs' clock."""
    from modelyard.visualization.runtime import prepare_process

    prepare_process(settings)
