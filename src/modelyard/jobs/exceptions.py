"""Errors of the jobs domain.

``JobError`` and its subclasses reach clients through the one error renderer. ``JobCancelled``,
``JobFailed`` and ``JobInterrupted`` are signals between a job body and the runner; they never
reach a client as such.
"""

from __future__ import annotations

from modelyard.errors import Conflict, InvalidInput, ModelyardError, NotFound

__all__ = [
    "JobAlreadyFinished",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobInterrupted",
    "JobNotFound",
    "UnknownJobKind",
    "UnserializableParams",
]


class JobError(ModelyardError):
    """Root of the jobs domain's client-facing errors."""


class JobNotFound(JobError, NotFound):
    code = "job_not_found"
    message = "Job not found"


class JobAlreadyFinished(JobError, Conflict):
    code = "job_finished"
    message = "The job has already finished"


class UnknownJobKind(JobError, InvalidInput):
    code = "unknown_job_kind"
    message = "No job of this kind is known"


class UnserializableParams(JobError, InvalidInput):
    code = "invalid_job_params"
    message = "Job parameters must be a JSON object"


class JobCancelled(Exception):
    """Raised inside a job body when its cancellation was requested; the job becomes REVOKED."""


class JobInterrupted(Exception):
    """Raised inside a job body when its executor shuts down; the job goes back to PENDING."""


class JobFailed(Exception):
    """Raise from a job body to fail with ``message`` shown to the client as it is."""
