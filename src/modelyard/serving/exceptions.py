"""Errors of the serving domain."""

from __future__ import annotations

from typing import Any

from modelyard.errors import (
    InvalidInput,
    ModelyardError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
)

__all__ = [
    "InvalidPredictInput",
    "LogUnavailable",
    "PredictFailed",
    "PredictTimeout",
    "PredictionNotFound",
    "QueueFull",
    "ServingError",
    "ServingStopped",
    "StoredPredictError",
    "Throttled",
    "TooManyRows",
]


class ServingError(ModelyardError):
    """Root of the serving domain's client-facing errors."""


class InvalidPredictInput(ServingError, InvalidInput):
    code = "invalid_predict_input"
    message = "The rows do not fit the model's input schema"


class TooManyRows(ServingError, PayloadTooLarge):
    code = "too_many_rows"
    message = "Too many rows in one request"


class PredictFailed(ServingError):
    status_code = 500
    code = "predict_error"
    message = "The model failed to predict"


class Throttled(ServingError, TooManyRequests):
    """A model's throttling limit: requests in flight, or rows in one request (429).

    ``details["limit"]`` says which: ``"max_concurrent_requests"`` or ``"max_request_rows"``.
    """

    code = "throttling_error"
    message = "Too many requests for this model; try again later"


class QueueFull(ServingError, ServiceUnavailable):
    """The model's queue holds ``max_queue_size`` requests already (503 with Retry-After)."""

    code = "queue_full"
    message = "The model's queue is full; try again later"

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kwargs: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)}, **kwargs)
        self.retry_after = retry_after


class LogUnavailable(ServingError, ServiceUnavailable):
    """The request log cannot hold this answer's entry now (its queue is full, the database
    refused it or cannot be reached): the answer is withheld rather than sent unlogged
    (503 with Retry-After). Not raised for a version whose log is ``best_effort``."""

    code = "request_log_unavailable"
    message = "The request log cannot be written now; try again later"

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kwargs: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)}, **kwargs)
        self.retry_after = retry_after


class ServingStopped(ServingError, ServiceUnavailable):
    code = "serving_stopped"
    message = "The model's dispatcher is shutting down; try again"


class PredictTimeout(ServingError):
    """No result within the client wait time (``client_wait_seconds``, mlup's ttl_client_wait)."""

    status_code = 408
    code = "predict_timeout"
    message = "The prediction is not ready within the client wait time"


class PredictionNotFound(ServingError, NotFound):
    """An async predict id that is unknown, expired (past its TTL) or someone else's."""

    code = "prediction_not_found"
    message = "No prediction with this id (unknown, or its result expired)"


class StoredPredictError(ServingError):
    """An async prediction that ended in an error, raised again when its result is fetched."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details, headers=headers)
        self.status_code = status_code
        self.code = code
