"""Job bodies of the training domain, registered by stable name.

Every executor and worker imports this module when it starts, so it stays light: the training
stack (scikit-learn, MLflow, matplotlib) costs seconds to import, and is imported by the first
training job a process runs instead of delaying every worker's start.
"""

from __future__ import annotations

from typing import Any

from modelyard.jobs import JobContext, job_task

__all__ = ["TRAIN_JOB", "train_classifier"]

TRAIN_JOB = "training.train"


@job_task(TRAIN_JOB)
def train_classifier(ctx: JobContext) -> dict[str, Any]:
    from modelyard.training.job import run_training  # heavy: see the module's docstring

    return run_training(ctx)
