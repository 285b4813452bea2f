"""pycm-api's small ``POST /cm/create``: answered before FastAPI's routing and dependencies.

pycm-api's clients create many small matrices (a few labels each), one request per matrix. For
those, FastAPI's own work (matching the routers, solving the route's dependencies, building a
``Request``, validating the response) cost more server CPU than counting the labels, computing
the headline and committing the row together. This middleware answers the request itself when,
and only when, the route would take its own fast path with nothing else to do:

* a POST to ``/cm/create`` with no query string, not behind a root path, whose declared body
  (``Content-Length``) is at most ``SMALL_BODY_BYTES``;
* a body that is a valid ``PycmCMCreate`` (anything else, the route answers its documented 422);
* an API key that auth verified moments ago (its credential cache: no query), and vectors
  ``evaluation.is_small`` accepts (counted on the event loop).

A large body of integer labels (``{"api_key", "actual_vector", "predicted_vector"}``, nothing
else) is read here too, in a worker thread, by ``evaluation.json_labels`` (simdjson straight to
int64 arrays, no Python object per label), then counted and stored as the route would (the key
checked in the same thread, with a session). A million labels a vector cost about what parsing
them with a JSON parser alone costs.

Anything else goes to the route unchanged, with the body it was sent (read here once, handed on
as it came), and the route fills the caches. Once here, the request takes the route's steps:
``evaluation.create_grouped`` (counting, headline, the row committed with the other creates of
the moment), an answer of ``{"uid": ...}``, and errors in pycm-api's shape, rendered by the
app's one renderer for the route. The route stays registered as it is, so the OpenAPI document
does not change.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.asgi_body import read_body, replay
from modelyard.auth import service as auth
from modelyard.compat.pycm_api_schemas import PycmCMCreate
from modelyard.errors import ModelyardError, NotFound, error_response, exception_response
from modelyard.evaluation import service as evaluation
from modelyard.evaluation.json_labels import IntVectors, read_int_vectors
from modelyard.evaluation.schemas import ConfusionMatrixCreate

__all__ = ["SMALL_BODY_BYTES", "PycmCreateFastPath"]

error_log = logging.getLogger("modelyard.errors")

PATH = "/cm/create"
# 1,024 labels a vector (evaluation.SMALL_INPUT) take at most about 12 KB each as small
# integers; a larger body cannot take the route's fast path anyway.
SMALL_BODY_BYTES = 16 * 1024
_HEADERS = [(b"content-type", b"application/json")]
_API_KEY = "api_key"
_KEYS = frozenset({_API_KEY})
MAX_API_KEY_CHARS = 512  # PycmCMCreate's


class PycmCreateFastPath:
    """ASGI middleware in front of the router; see the module's docstring for what it takes.

    ``route``: the ``/cm/create`` route, set as the matched route of a request answered here,
    so the access log, the metrics and the error shape see the same route.
    """

    def __init__(self, app: ASGIApp, *, route: BaseRoute) -> None:
        self.app = app
        self._route = route
        self.answered = 0  # requests answered here (the rest went to the route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope.get("query_string")
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is None:  # chunked: of unknown size, the route reads it
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive)
        except ClientDisconnect:
            error_log.debug("client disconnected before its /cm/create request was read")
            return
        except (ModelyardError, StarletteHTTPException) as exc:
            # The body limit of the request middleware: the route's answer, in its shape.
            scope["route"] = self._route
            await exception_response(scope, exc)(scope, receive, send)
            return
        if declared > SMALL_BODY_BYTES:
            scope["route"] = self._route
            if await self._answer(scope, receive, send, _create_large(scope, body)):
                self.answered += 1
                return
            del scope["route"]
            await self.app(scope, replay(body, receive), send)
            return
        created, owner_id = _fast_create(scope, body)
        if created is None or owner_id is None:
            await self.app(scope, replay(body, receive), send)
            return
        self.answered += 1
        scope["route"] = self._route
        await self._answer(scope, receive, send, _create_small(scope, created, owner_id))

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, creating: Awaitable[str | None]
    ) -> bool:
        """``{"uid": ...}`` of the matrix ``creating`` stores, or its error in the route's shape;
        False, with nothing sent, when ``creating`` leaves the request to the route (None)."""
        started = False

        async def send_once(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            try:
                uid = await creating
            except ModelyardError as exc:
                # An unknown key, labels the service refuses (too many classes, ...).
                await exception_response(scope, exc)(scope, receive, send_once)
                return True
            if uid is None:
                return False
            # A uid is URL-safe base64 (letters, digits, '-', '_'): nothing to escape.
            content = b'{"uid":"' + uid.encode() + b'"}'
            await send_once(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", str(len(content)).encode()), *_HEADERS],
                }
            )
            await send_once({"type": "http.response.body", "body": content})
        except Exception:
            if started:
                raise
            error_log.exception("unhandled error in POST /cm/create")
            response = error_response(scope, 500, "internal_error", "Internal server error")
            await response(scope, receive, send_once)
        return True


def _declared_length(scope: Scope) -> int | None:
    """The body's declared length (``Content-Length``), None when it declares none."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _create_small(scope: Scope, created: ConfusionMatrixCreate, owner_id: int) -> str:
    """The route's own fast path: counted here, the row committed by the group commit."""
    state: Any = scope["app"].state
    ev = evaluation.Evaluation(state.artifacts, state.settings.evaluation)
    row = await evaluation.create_grouped(state.database.group_commit, ev, owner_id, created)
    return row.uid


def _int_vectors(body: bytes) -> IntVectors | None:
    vectors = read_int_vectors(body, "actual_vector", "predicted_vector", _KEYS)
    if vectors is None or len(vectors.strings[_API_KEY]) > MAX_API_KEY_CHARS:
        return None
    return vectors


async def _create_large(scope: Scope, body: bytes) -> str | None:
    """The route's slow path for integer vectors read as arrays: the body read, the key
    checked, the labels counted and the row stored and committed in one worker-thread trip;
    None when the body is not such vectors (the route then reads it)."""
    state: Any = scope["app"].state
    ev = evaluation.Evaluation(state.artifacts, state.settings.evaluation)

    def work() -> str | None:
        vectors = _int_vectors(body)
        if vectors is None:
            return None
        with state.database.session() as session:
            try:
                user = auth.authenticate_credential(
                    session, state.security, vectors.strings[_API_KEY]
                )
            except ModelyardError as exc:
                raise NotFound("Invalid API key") from exc
            record = evaluation.create_from_int_arrays(
                session, ev, user.id, vectors.actual, vectors.predicted
            )
            return record.uid

    return await run_in_threadpool(work)


def _fast_create(scope: Scope, body: bytes) -> tuple[ConfusionMatrixCreate | None, int | None]:
    """The create and its owner when the route would take its fast path, else (None, None)."""
    try:
        parsed = PycmCMCreate.model_validate_json(body)
    except ValidationError:
        return None, None  # the route words the 422
    cached = auth.cached_identity(scope["app"].state.security, parsed.api_key)
    if cached is None:
        return None, None
    # Already validated as labels while parsing, as the route takes them (``_as_create``).
    created = ConfusionMatrixCreate.model_construct(
        actual=parsed.actual_vector, predicted=parsed.predicted_vector
    )
    if not evaluation.is_small(created):
        return None, None
    return created, cached.id
