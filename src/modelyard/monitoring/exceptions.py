"""Errors of the monitoring domain."""

from __future__ import annotations

from modelyard.errors import (
    BadRequest,
    Conflict,
    InvalidInput,
    ModelyardError,
    NotFound,
    PayloadTooLarge,
)

__all__ = [
    "FeedbackRefused",
    "FeedbackTooLarge",
    "InvalidFeedbackFile",
    "InvalidMonitor",
    "MonitorNotFound",
    "MonitoringError",
    "NoPredictionLog",
    "NoReference",
    "UnsafeWebhook",
]


class MonitoringError(ModelyardError):
    """Root of the monitoring domain's errors."""


class FeedbackRefused(InvalidInput, MonitoringError):
    """Labels for unknown ids, outside the classes, or given twice: nothing was stored."""

    code = "feedback_refused"
    message = "The feedback was refused; nothing was stored"


class InvalidFeedbackFile(BadRequest, MonitoringError):
    code = "invalid_feedback_file"
    message = "The feedback upload cannot be read"


class FeedbackTooLarge(PayloadTooLarge, MonitoringError):
    code = "feedback_too_large"
    message = "The feedback upload is too large"


class NoPredictionLog(Conflict, MonitoringError):
    code = "no_prediction_log"
    message = "The model has no logged predictions to label"


class NoReference(Conflict, MonitoringError):
    code = "no_reference"
    message = "There is no reference data to compare with"


class MonitorNotFound(NotFound, MonitoringError):
    code = "monitor_not_found"
    message = "Monitor not found"


class InvalidMonitor(InvalidInput, MonitoringError):
    code = "invalid_monitor"
    message = "The monitor cannot be created as given"


class UnsafeWebhook(InvalidInput, MonitoringError):
    """A webhook URL that points at this server's own network (SSRF)."""

    code = "unsafe_webhook"
    message = "The webhook URL points to a private, loopback or link-local address"
