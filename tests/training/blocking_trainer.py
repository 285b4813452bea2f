"""A task module for a ``modelyard serve`` child: its training jobs stop inside the fit.

Loaded through ``MODELYARD_JOBS_TASK_MODULES``; it wraps the trainer the training job calls so
that a test can kill the server while a job is mid-training, at a known stage. The wait is
bounded: a test that fails to kill the server leaves no job hanging for long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import modelyard.training.job as training_job

STAGE = "fitting (held by the test)"
HOLD_SECONDS = 60.0

_train = training_job.train


def _held_train(*args: Any, progress: Callable[[float, str], None], **kwargs: Any) -> bytes:
    # The job writes progress at most every 0.5 s; wait past that so this stage is recorded.
    time.sleep(training_job.PROGRESS_SECONDS + 0.1)
    progress(0.0, STAGE)
    time.sleep(HOLD_SECONDS)
    return _train(*args, progress=progress, **kwargs)


training_job.train = _held_train
