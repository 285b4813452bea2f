"""Job bodies of the training domain, registered by stable name.

Every executor and worker imports this module when it starts, so it stays light: the training
stack (scikit-learn, MLflow, matplotlib) costs seconds to import, and is imported by the first
training job a process runs instead of delaying every worker's start.
"""

from __future__ import annotations

from typing import Any

from modelyard.jobs import JobContext, job_task
from modelyard.jobs.liveness import AbandonedJob, on_abandoned

__all__ = ["TRAIN_JOB", "end_abandoned_run", "train_classifier"]

TRAIN_JOB = "training.train"


@job_task(TRAIN_JOB)
def train_classifier(ctx: JobContext) -> dict[str, Any]:
    from modelyard.training.job import run_training  # heavy: see the module's docstring

    return run_training(ctx)


@on_abandoned(TRAIN_JOB)
def end_abandoned_run(job: AbandonedJob) -> None:
    """Its worker died mid-training (or a crash left it): end the MLflow run it left RUNNING."""
    from modelyard.training.job import end_abandoned_run as end  # heavy: MLflow

    end(job)
