"""The request middleware: request id, ``nosniff``, body size limit, access log (credentials
redacted), metrics, last-resort 500, and, with several server processes, a bound on the
requests one keep-alive connection carries.

One pure-ASGI middleware does them all so a request pays for one wrapper, not seven.
"""

from __future__ import annotations

import logging
import re
import time
from random import getrandbits
from typing import Any
from urllib.parse import parse_qsl, urlencode

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.errors import error_response
from modelyard.logs import redact_path, request_id_var

__all__ = [
    "BODY_LIMIT_KEY",
    "REQUEST_ID_HEADER",
    "HttpMetrics",
    "KeepAliveLimit",
    "RequestMiddleware",
    "redact_target",
    "route_template",
]

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")

# Query parameters and path parameters whose values never reach a log line: these names, and
# any name holding one of the words after them.
SENSITIVE_NAMES = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "password", "secret", "authorization"}
)
_SENSITIVE_WORDS = ("token", "password", "passwd", "secret", "api_key", "apikey", "api-key", "jwt")


def _sensitive(name: str) -> bool:
    lowered = name.lower()
    return lowered in SENSITIVE_NAMES or any(word in lowered for word in _SENSITIVE_WORDS)


access_log = logging.getLogger("modelyard.access")
error_log = logging.getLogger("modelyard.errors")


class HttpMetrics:
    """Request counters and latency histograms in a registry of the app's own."""

    def __init__(self) -> None:
        # (method, route, status) -> its counter and histogram: ``labels()`` takes a lock and
        # builds its key on every call, once per request each.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelyard_http_requests_total",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelyard_http_request_duration_seconds",
            "Time from request to the last byte of the response.",
            ["method", "route"],
            registry=self.registry,
        )

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)


def route_template(scope: Scope) -> str | None:
    """The matched route's full path template (``/api/v1/users/{user_id}``), or None.

    A route inside an included router knows only its own part of the path, so the prefix is
    taken from the real path, which has as many segments before the route's part as the prefix.
    """
    route = scope.get("route")
    template: str | None = getattr(route, "path_format", None) or getattr(route, "path", None)
    if template is None:
        return None
    if ":path}" in template:
        return template
    parts = scope.get("path", "").split("/")
    return "/".join(parts[: len(parts) - template.count("/")]) + template


def redact_target(scope: Scope) -> str:
    """The request's path and query as they may be logged: secrets replaced by ``***``."""
    path: str = scope.get("path", "")
    path_params: dict[str, Any] = scope.get("path_params") or {}
    template = route_template(scope)
    if template is not None and any(_sensitive(name) for name in path_params):
        path = template
        for name, value in path_params.items():
            shown = "***" if _sensitive(name) else str(value)
            path = path.replace("{" + name + "}", shown)
    # A path no route matched, or a credential where an id was expected, is not recognised by
    # name: what looks like a JWT or an API key is hidden wherever it is.
    path = redact_path(path)
    raw_query: bytes = scope.get("query_string", b"")
    if not raw_query:
        return path
    pairs = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)
    shown_pairs = [(k, "***" if _sensitive(k) else redact_path(v)) for k, v in pairs]
    return f"{path}?{urlencode(shown_pairs, safe='*')}"


class KeepAliveLimit:
    """Closes a keep-alive connection once it has carried ``requests`` requests (nginx's
    ``keepalive_requests``, Apache's ``MaxKeepAliveRequests``).

    Several server processes on one port (``serve --workers N``) share its connections as
    they accept them, and a connection then stays with its process: a client holding a few
    long-lived connections (a proxy's pool, a load generator) can leave one process with most
    of them while the other idles. The answer to a connection's last request says
    ``Connection: close`` (the server closes it after that answer); the client reconnects, and
    the process that accepts the new connection first is the one waiting for work, not the busy
    one. A connection is known by its client address and port, for as long as it is among the
    ``remembered`` most recent ones.
    """

    def __init__(self, requests: int, *, remembered: int = 4096) -> None:
        if requests < 1:
            raise ValueError("requests must be at least 1")
        self.requests = requests
        self._remembered = remembered
        # Least recently used first: a request moves its connection to the end.
        self._counts: dict[tuple[Any, ...], int] = {}

    def closes(self, scope: Scope) -> bool:
        """Count the request of ``scope`` on its connection: True when its answer closes it."""
        client = scope.get("client")
        if client is None:  # a Unix socket: no address to tell its connections by
            return False
        key = tuple(client)
        count = self._counts.pop(key, 0) + 1
        if count >= self.requests:
            return True
        if len(self._counts) >= self._remembered:  # connections that ended on their own
            del self._counts[next(iter(self._counts))]
        self._counts[key] = count
        return False


# The key in a request's scope state under which a route raises its body limit.
BODY_LIMIT_KEY = "max_body_bytes"


class _BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than {limit} bytes")


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        metrics: HttpMetrics | None,
        keep_alive: KeepAliveLimit | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.keep_alive = keep_alive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else _new_id()
        request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False
        last_on_connection = self.keep_alive is not None and self.keep_alive.closes(scope)

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                # On every answer (API, compatibility routes, pages, static files, docs):
                # a browser never guesses a type other than the one declared.
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if last_on_connection:
                    headers["Connection"] = "close"
            await send(message)

        declared = _header(scope, b"content-length")
        received = 0

        # Raised when the app reads the body, after routing, so the error takes the matched
        # route's shape; a route that never reads the body never pays for it. A route that
        # takes larger uploads (feedback files) sets its own limit in the scope's state
        # (``BODY_LIMIT_KEY``) before it reads.
        async def limited_receive() -> Message:
            nonlocal received
            limit = scope["state"].get(BODY_LIMIT_KEY, self.max_body_bytes)
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise _BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except Exception:
            error_log.exception(
                "unhandled error on %s %s",
                scope["method"],
                redact_target(scope),
                extra={"request_id": request_id},
            )
            if response_started:
                raise
            response = error_response(scope, 500, "internal_error", "Internal server error")
            await response(scope, receive, send_with_id)
        finally:
            self._record(scope, status, started, request_id)

    def _record(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        elapsed = time.perf_counter() - started
        route = route_template(scope) or "unmatched"
        if self.metrics is not None:
            self.metrics.record(scope["method"], route, status, elapsed)
        if not access_log.isEnabledFor(logging.INFO):
            return  # the target is not redacted for nobody
        access_log.info(
            "%s %s %d",
            scope["method"],
            redact_target(scope),
            status,
            extra={
                "request_id": request_id,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "route": route,
            },
        )


def _new_id() -> str:
    # A request id names a request in the logs; it guards nothing, so it needs no secret
    # randomness. uuid4 reads os.urandom, a system call that hands the GIL to another thread
    # on every request; 128 bits of the random module cost neither (re-seeded after a fork).
    return f"{getrandbits(128):032x}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None
