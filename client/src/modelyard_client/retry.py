"""When to send a request again, and how long to wait first.

429 and 503 are answers the server gives before it did the work (throttling, a full queue, a
request log that cannot be written), so any method may be sent again; a connection that never
opened, likewise. The wait is the server's ``Retry-After`` when it sends one (capped), else an
exponential backoff with jitter.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from modelyard_client.errors import ServerAnswerError, error_for_status

__all__ = ["RETRY_STATUSES", "RetryPolicy", "error_from_response", "retry_after_seconds"]

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # the first try and three more
    backoff: float = 0.5  # seconds before the second try; doubled each time
    max_wait: float = 30.0  # no wait longer than this, whatever Retry-After says

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1)."""
        told = retry_after_seconds(response) if response is not None else None
        if told is not None:
            return min(told, self.max_wait)
        base: float = self.backoff * 2 ** (attempt - 1)
        return min(base * (0.5 + random.random() / 2), self.max_wait)  # noqa: S311


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date; None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_response(response: httpx.Response) -> ServerAnswerError:
    """The typed error of an error answer, from the native body when it is one."""
    code, message, details = f"http_{response.status_code}", response.reason_phrase, None
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        if text:
            message = text.splitlines()[0][:500]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code") or code)
        message = str(error.get("message") or message)
        details = error.get("details")
    elif isinstance(body, dict) and "detail" in body:  # a compatibility route's shape
        details = body["detail"]
        message = details if isinstance(details, str) else message
    cls = error_for_status(response.status_code)
    return cls(
        response.status_code,
        code,
        message,
        details=details,
        request_id=response.headers.get("X-Request-ID"),
        method=response.request.method,
        url=str(response.request.url),
    )
