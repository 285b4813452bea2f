"""One root error type, and the one place that turns any error into an HTTP response.

Services raise ``ModelyardError`` subclasses and know nothing of HTTP. The renderer chooses the
body's shape by the matched route: native routes answer ``{"error": {code, message, details}}``;
a compatibility route carries the error shape of the system it imitates (see ``ErrorStyle``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

__all__ = [
    "BadRequest",
    "Conflict",
    "ErrorStyle",
    "InvalidInput",
    "ModelyardError",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthenticated",
    "error_response",
    "exception_response",
    "install_error_handlers",
    "native_error_body",
    "styled_route",
    "validation_detail",
]

log = logging.getLogger(__name__)


class ModelyardError(Exception):
    """Root of every error the service means to report to a client."""

    status_code: int = 500
    code: str = "internal_error"
    message: str = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.details = details
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(ModelyardError):
    status_code = 400
    code = "bad_request"
    message = "Bad request"


class Unauthenticated(ModelyardError):
    status_code = 401
    code = "unauthenticated"
    message = "Missing or invalid credentials"


class PermissionDenied(ModelyardError):
    status_code = 403
    code = "forbidden"
    message = "Not allowed"


class NotFound(ModelyardError):
    status_code = 404
    code = "not_found"
    message = "Not found"


class Conflict(ModelyardError):
    status_code = 409
    code = "conflict"
    message = "Conflict"


class PayloadTooLarge(ModelyardError):
    status_code = 413
    code = "payload_too_large"
    message = "Request body is too large"


class InvalidInput(ModelyardError):
    status_code = 422
    code = "validation_error"
    message = "Request validation failed"


class TooManyRequests(ModelyardError):
    status_code = 429
    code = "too_many_requests"
    message = "Too many requests"


class ServiceUnavailable(ModelyardError):
    status_code = 503
    code = "unavailable"
    message = "Service unavailable"


# An error style turns (status, code, message, details) into a JSON body.
ErrorStyle = Callable[[int, str, str, Any], Any]


def native_error_body(status: int, code: str, message: str, details: Any) -> Any:
    return {"error": {"code": code, "message": message, "details": details}}


def validation_detail(code: str, message: str, details: Any) -> list[dict[str, Any]]:
    """``details`` as FastAPI's validation errors (``[{"loc", "msg", "type"}]``), the shape a
    compatibility route's OpenAPI document promises for a 422: items missing a key get one
    (``type``: the error's code), anything else becomes one item carrying ``message``."""
    if isinstance(details, list) and details and all(isinstance(d, dict) for d in details):
        return [
            {
                "loc": list(d.get("loc", [])),
                "msg": str(d.get("msg", message)),
                "type": d.get("type", code),
            }
            for d in details
        ]
    return [{"loc": [], "msg": message, "type": code}]


def styled_route(style: ErrorStyle) -> type[APIRoute]:
    """An APIRoute class whose errors are rendered in ``style`` (for compatibility routers)."""

    class StyledRoute(APIRoute):
        error_style = staticmethod(style)

    return StyledRoute


def _style_for(scope: Scope) -> ErrorStyle:
    route = scope.get("route")
    style = getattr(route, "error_style", None)
    return style if style is not None else native_error_body


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def error_response(
    scope: Scope,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = _style_for(scope)(status, code, message, details)
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=dict(headers or {}))


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Echoing the rejected input back could reflect a secret (a password, an API key), so
    # only where and why are returned.
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def exception_response(scope: Scope, exc: ModelyardError | StarletteHTTPException) -> JSONResponse:
    """The answer to a service error or an HTTP exception, in the matched route's shape.

    What the app's exception handlers answer; also used by routes that answer outside
    FastAPI's handling (the native predict routes' hot path, ``serving/fast_path.py``).
    """
    if isinstance(exc, ModelyardError):
        if isinstance(exc, ServiceUnavailable):
            # Load shedding (a full queue, busy sign-in): expected under a burst, so one line
            # each, not a traceback per refused request.
            log.warning("service unavailable: %s", exc.message)
        elif exc.status_code >= 500:
            log.error("service error: %s", exc.message, exc_info=exc)
        return error_response(
            scope, exc.status_code, exc.code, exc.message, exc.details, exc.headers
        )
    message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(scope, exc.status_code, code, message, None, exc.headers)


async def _handle_modelyard_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelyardError)
    return exception_response(request.scope, exc)


async def _handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(
        request.scope, 422, InvalidInput.code, InvalidInput.message, _validation_details(exc)
    )


async def _handle_recursion_error(request: Request, exc: Exception) -> JSONResponse:
    # Python's JSON parser (and anything walking a parsed value) recurses once per level of
    # nesting: a body nested deeper than the interpreter allows is the client's doing, and is
    # refused whichever route read it. Nothing of the server's own recurses that deep.
    log.info("refused input nested too deeply")  # the access log line names the request
    return error_response(
        request.scope, 400, "nested_too_deeply", "The input is nested too deeply", None
    )


async def _handle_data_error(request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the client sent that no schema had refused: a NUL character
    # in a text (PostgreSQL stores none), a number beyond a column's range. The client's input,
    # so a 422 (a 500 before); the database's own words stay in the log.
    log.info("the database refused a value: %s", exc)
    return error_response(
        request.scope,
        422,
        "unstorable_value",
        "A value cannot be stored (a NUL character in a text, or a number out of range)",
    )


async def _handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        # The router answers with the methods of the first route whose path matched; a path
        # served by several routes (GET, PATCH and DELETE of /admin/users/{id}) has more.
        allowed = ", ".join(sorted(_allowed_methods(request)))
        exc = StarletteHTTPException(
            405, exc.detail, headers={**(exc.headers or {}), "Allow": allowed}
        )
    return exception_response(request.scope, exc)


def _allowed_methods(request: Request) -> set[str]:
    """The methods of the resource the request's path names (a 405's ``Allow``): of every route
    with the most specific path template that matches it (the fewest parameters: ``/cm/plot``
    is pycm-api's GET, though the DELETE of ``/cm/{cm_uid}`` would take that path too)."""
    by_template: dict[str, set[str]] = {}
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            template = getattr(route, "path_format", "")
            by_template.setdefault(template, set()).update(getattr(route, "methods", None) or ())
    if not by_template:
        return set()
    return by_template[min(by_template, key=lambda template: template.count("{"))]


def install_error_handlers(app: FastAPI) -> None:
    """Route every known error type through the one renderer.

    Unexpected exceptions are caught by the request middleware (``modelyard.http``), which
    logs them with the request id and answers a bare 500 in the route's style.
    """
    app.add_exception_handler(ModelyardError, _handle_modelyard_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(RecursionError, _handle_recursion_error)
    app.add_exception_handler(DataError, _handle_data_error)
