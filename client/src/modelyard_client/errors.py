"""Typed errors: what the server said (code, message, details) and which request it was."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "IncompatibleServer",
    "InvalidInput",
    "JobFailed",
    "ModelyardClientError",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "RequestTimeout",
    "ServerAnswerError",
    "ServerError",
    "ServiceUnavailable",
    "TimedOut",
    "Unauthenticated",
    "error_for_status",
]


class ModelyardClientError(Exception):
    """Root of every error the client raises."""


class ServerAnswerError(ModelyardClientError):
    """The server answered with an error: its status, code, message, details and request id."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        request_id: str | None = None,
        method: str = "",
        url: str = "",
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id
        self.method = method
        self.url = url
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.status_code} {self.code}: {self.message}{_first_detail(self.details)}{where}"


def _first_detail(details: Any) -> str:
    """The first of a validation error's details (``loc: msg``), which says what to fix."""
    if not isinstance(details, list) or not details or not isinstance(details[0], dict):
        return ""
    first = details[0]
    where = ".".join(str(part) for part in first.get("loc") or [])
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return f" - {where}: {first.get('msg', '')}{more}" if where else f" - {first.get('msg', '')}"


class BadRequest(ServerAnswerError):
    """400."""


class Unauthenticated(ServerAnswerError):
    """401: no credential, or one the server does not take."""


class PermissionDenied(ServerAnswerError):
    """403."""


class NotFound(ServerAnswerError):
    """404: unknown, or another user's."""


class RequestTimeout(ServerAnswerError):
    """408: e.g. an async prediction still pending after the wait."""


class Conflict(ServerAnswerError):
    """409."""


class PayloadTooLarge(ServerAnswerError):
    """413."""


class InvalidInput(ServerAnswerError):
    """422: ``details`` lists what was wrong, with locations."""


class RateLimited(ServerAnswerError):
    """429 after the client's retries."""


class ServerError(ServerAnswerError):
    """500 and other 5xx."""


class ServiceUnavailable(ServerError):
    """503 after the client's retries."""


_BY_STATUS: dict[int, type[ServerAnswerError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    408: RequestTimeout,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidInput,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_for_status(status_code: int) -> type[ServerAnswerError]:
    """The error class of an HTTP status (ServerError for any other 5xx)."""
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    return ServerError if status_code >= 500 else ServerAnswerError


class ConnectionFailed(ModelyardClientError):
    """The server could not be reached (after the retries)."""


class TimedOut(ModelyardClientError):
    """A wait (a job, an async prediction) ran out of time on the client's side."""


class JobFailed(ModelyardClientError):
    """A job ended in FAILURE or REVOKED; ``job`` is its last state."""

    def __init__(self, job: Any) -> None:
        self.job = job
        reason = getattr(job, "error", None) or getattr(job, "message", None) or "no reason given"
        super().__init__(f"job {job.id} ({job.kind}) ended {job.state}: {reason}")


class IncompatibleServer(ModelyardClientError):
    """The server's version is not one this client speaks."""
