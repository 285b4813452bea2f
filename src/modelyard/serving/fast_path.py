"""The native predict routes' hot path: answered before FastAPI's routing and dependency solving.

``POST /api/v1/models/{name}[/versions/{version}]/predict`` is the one route called thousands of
times a second. FastAPI's work per request (matching the included routers, two exit stacks, a
``Request``, solving eight dependencies and validating their values) cost more server CPU than
a small model's call, so this middleware answers the request itself when, and only when, the
answer needs nothing the dependencies would add:

* a POST with no query string (``?async=true`` and ``owner_id`` take the full route), not
  behind a root path;
* a path whose name and version match the route's own patterns (anything else takes the route,
  which answers the documented 422);
* a credential in ``X-API-Key`` or ``Authorization: Bearer``, as the route reads them, that auth
  verified moments ago (its credential cache), and a version the same caller resolved moments
  ago (the target cache): the very lookups the route's dependency makes first.

Anything else goes to the FastAPI route unchanged, which resolves the caller and the version
(and fills both caches). Once here, the request takes the same steps as the route's endpoint:
a predict id (``X-Predict-Id`` on every answer), the body, ``ServingCore.predict`` (validation,
throttling, the model, the request log), and errors rendered by the app's one renderer in the
native shape. The routes stay registered as they are, so the OpenAPI document does not change.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.asgi_body import read_body
from modelyard.errors import ModelyardError, error_response, exception_response
from modelyard.registry.schemas import MODEL_NAME_PATTERN, VERSION_REF_PATTERN, ServingTarget
from modelyard.serving import service
from modelyard.serving.dependencies import PredictContext, cached_context, new_predict_id

__all__ = ["PredictFastPath"]

error_log = logging.getLogger("modelyard.errors")

_PREDICT_ID_KEY = b"x-predict-id"
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _bare(pattern: str) -> str:
    return pattern.removeprefix("^").removesuffix("$")


class PredictFastPath:
    """ASGI middleware in front of the router; see the module's docstring for what it takes.

    ``routes``: the native predict routes (``/models/{name}/predict`` and
    ``/models/{name}/versions/{version}/predict``), set as the matched route of a request
    answered here, so the access log, the metrics and the error shape see the same route.
    """

    def __init__(self, app: ASGIApp, *, prefix: str, routes: dict[str, BaseRoute]) -> None:
        self.app = app
        self._path = re.compile(
            re.escape(prefix)
            + rf"/models/(?P<name>{_bare(MODEL_NAME_PATTERN)})"
            + rf"/(?:versions/(?P<version>{_bare(VERSION_REF_PATTERN)})/)?predict"
        )
        self._latest = routes["latest"]
        self._version = routes["version"]
        self.answered = 0  # requests answered here (the rest went to the routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Behind a root path (a proxy's prefix) the routes do the matching.
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not scope.get("query_string")
            and not scope.get("root_path")
        ):
            match = self._path.fullmatch(scope["path"])
            if match is not None:
                found = _cached_context(scope, match["name"], match["version"])
                if found is not None:
                    self.answered += 1
                    await self._predict(scope, receive, send, match, found.user_id, found.target)
                    return
        await self.app(scope, receive, send)

    async def _predict(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        match: re.Match[str],
        user_id: int,
        target: ServingTarget,
    ) -> None:
        version = match["version"]
        scope["route"] = self._latest if version is None else self._version
        scope["path_params"] = {k: v for k, v in match.groupdict().items() if v is not None}
        predict_id = new_predict_id()
        scope.setdefault("state", {})["predict_id"] = predict_id
        id_header = (_PREDICT_ID_KEY, predict_id.encode())
        started = False

        async def send_once(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            try:
                body = await read_body(receive)
                core: service.ServingCore = scope["app"].state.serving
                result = await core.predict(
                    target, body, predict_id=predict_id, user_id=user_id, source="native"
                )
            except (ModelyardError, StarletteHTTPException) as exc:
                # Bad input, throttling, a full queue, a body over the size limit...
                response = exception_response(scope, exc)
                response.headers.raw.append(id_header)
                await response(scope, receive, send_once)
                return
            content = service.predict_response_json(result)
            await send_once(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-length", str(len(content)).encode()),
                        *_JSON_HEADERS,
                        id_header,
                    ],
                }
            )
            await send_once({"type": "http.response.body", "body": content})
        except ClientDisconnect:
            # The client went away before its body arrived: nobody to answer.
            error_log.debug("client disconnected before its predict request was read")
        except Exception:
            # As the routes do (PredictIdRoute): this 500 carries the predict id too.
            if started:
                raise
            error_log.exception("unhandled error in a predict route")
            response = error_response(scope, 500, "internal_error", "Internal server error")
            response.headers.raw.append(id_header)
            await response(scope, receive, send_once)


def _credential(scope: Scope) -> str | None:
    """The credential the route's dependencies would read: ``X-API-Key``, else a Bearer token."""
    api_key: bytes | None = None
    authorization: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            if api_key is None:
                api_key = value
        elif name == b"authorization" and authorization is None:
            authorization = value
    if api_key:
        return api_key.decode("latin-1")
    if authorization:
        scheme, _, param = authorization.decode("latin-1").partition(" ")
        credentials = param.strip()
        if scheme and credentials and scheme.lower() == "bearer":
            return credentials
    return None


def _cached_context(scope: Scope, name: str, version: str | None) -> PredictContext | None:
    """The route's cached caller and version (``cached_context``), else None (no I/O)."""
    raw = _credential(scope)
    if raw is None:
        return None
    state: Any = scope["app"].state
    # A miss is not counted here: the route, which this request then goes to, counts it.
    return cached_context(
        state.security, state.serving, raw, (name, version, None), count_miss=False
    )
