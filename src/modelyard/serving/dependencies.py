"""What predict routes share: the ``X-Predict-Id`` route class, the core, who asks and what.

The caller and the version are resolved in a short session of their own that is closed before
the model runs, so a slow model never holds a database connection; a version resolved moments
ago comes from the target cache (``targets.py``), and with auth's credential cache a request
that hits both does no I/O and skips the thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.auth import service as auth_service
from modelyard.auth.dependencies import SecurityDep
from modelyard.auth.exceptions import MissingCredentials
from modelyard.auth.security import Security
from modelyard.db import Database
from modelyard.errors import error_response, exception_response
from modelyard.registry import service as registry
from modelyard.registry.dependencies import OwnerId
from modelyard.registry.schemas import ServingTarget
from modelyard.serving.service import ServingCore
from modelyard.serving.targets import TargetCache, current_generation

__all__ = [
    "PREDICT_ID_HEADER",
    "CoreDep",
    "CredentialDep",
    "PredictContext",
    "PredictContextDep",
    "PredictIdRoute",
    "cached_context",
    "new_predict_id",
    "predict_id_of",
]

PREDICT_ID_HEADER = "X-Predict-Id"
_HEADER_KEY = PREDICT_ID_HEADER.lower().encode()
error_log = logging.getLogger("modelyard.errors")


class _PredictIds:
    """Random (version 4) UUIDs drawn 256 at a time: one ``os.urandom`` call per 256 requests
    instead of one per request (each call lets other threads take the GIL)."""

    def __init__(self, batch: int = 256) -> None:
        self._batch = batch
        self._ready: list[str] = []

    def next(self) -> str:
        try:
            return self._ready.pop()
        except IndexError:
            raw = os.urandom(16 * self._batch)
            fresh = [str(UUID(bytes=raw[i : i + 16], version=4)) for i in range(0, len(raw), 16)]
            self._ready.extend(fresh[1:])
            return fresh[0]


new_predict_id = _PredictIds().next


def _with_predict_id(app: ASGIApp) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        predict_id = new_predict_id()
        scope.setdefault("state", {})["predict_id"] = predict_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.setdefault("headers", [])
                if not any(name.lower() == _HEADER_KEY for name, _ in headers):
                    # Appended to the raw list: MutableHeaders' assignment scans and rebuilds it.
                    message["headers"] = [*headers, (_HEADER_KEY, predict_id.encode())]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client went away before its body arrived (a load test ending, a closed
            # tab): nobody to answer, and nothing went wrong here.
            error_log.debug("client disconnected before its predict request was read")
        except StarletteHTTPException as exc:
            # Raised by the route itself (405 for a wrong method): the client's mistake.
            if started:
                raise
            await exception_response(scope, exc)(scope, receive, send_with_id)
        except Exception:
            # Rendered here rather than by the outer middleware, so this 500 carries the id too.
            if started:
                raise
            error_log.exception("unhandled error in a predict route")
            response = error_response(scope, 500, "internal_error", "Internal server error")
            await response(scope, receive, send_with_id)

    return wrapped


class PredictIdRoute(APIRoute):
    """A route whose every response, errors included, carries ``X-Predict-Id``."""

    # handle(), not self.app: an included router runs its own copy of the route's app.
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _with_predict_id(super().handle)(scope, receive, send)


def predict_id_of(request: Request) -> str:
    predict_id: str = request.scope["state"]["predict_id"]
    return predict_id


def get_core(request: Request) -> ServingCore:
    core: ServingCore = request.app.state.serving
    return core


CoreDep = Annotated[ServingCore, Depends(get_core)]

_bearer = HTTPBearer(auto_error=False, description="A JWT or an API key.")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")


async def get_credential(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> str | None:
    """The raw credential a predict request carries (an API key or a JWT), if any."""
    return api_key or (bearer.credentials if bearer else None)


CredentialDep = Annotated[str | None, Depends(get_credential)]


@dataclass(frozen=True)
class PredictContext:
    user_id: int
    target: ServingTarget


def _resolve(
    database: Database,
    security: Security,
    raw: str,
    cache: TargetCache,
    key: tuple[str, str | None, int | None],
) -> PredictContext:
    """Who asks and which version, in one short session (blocking: a worker thread)."""
    name, version, owner_id = key
    generation = current_generation()
    with database.session() as session:
        user = auth_service.authenticate_credential(session, security, raw)
        full_key = (user.id, user.is_admin, name, version, owner_id)
        target = cache.get(full_key)
        if target is None:
            target = registry.serving_target(session, user, name, version, owner_id)
            cache.put(full_key, target, generation)
        return PredictContext(user_id=user.id, target=target)


def cached_context(
    security: Security,
    core: ServingCore,
    raw: str,
    key: tuple[str, str | None, int | None],
    *,
    count_miss: bool = True,
) -> PredictContext | None:
    """Who asks and which version when both were resolved moments ago, else None.

    No I/O and no thread: a credential auth verified moments ago (auth's credential cache) and
    a target resolved moments ago. Only the user's id and role are read, so the cached copy
    itself serves, without a session to merge it into.
    """
    user = auth_service.cached_identity(security, raw)
    if user is None:
        return None
    name, version, owner_id = key
    target = core.targets.get(
        (user.id, user.is_admin, name, version, owner_id), count_miss=count_miss
    )
    return None if target is None else PredictContext(user_id=user.id, target=target)


async def get_predict_context(
    request: Request,
    security: SecurityDep,
    raw: CredentialDep,
    owner_id: OwnerId = None,
) -> PredictContext:
    if not raw:
        raise MissingCredentials(headers={"WWW-Authenticate": "Bearer"})
    database: Database = request.app.state.database
    core: ServingCore = request.app.state.serving
    name: str = request.path_params["name"]
    version: str | None = request.path_params.get("version")
    key = (name, version, owner_id)
    context = cached_context(security, core, raw, key)
    if context is not None:
        return context
    resolving = _resolving(request.app.state)
    pending = resolving.get((raw, *key))
    if pending is not None:
        # The same caller and version are being resolved already (the caches' entries end for
        # every connection at once): wait for that answer instead of a thread and queries each.
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not pending.cancelled() or (current is not None and current.cancelling()):
                raise
            # That request went away before its lookup ended; this one looks up itself.
    return await _resolve_once(resolving, (raw, *key), database, security, raw, core.targets, key)


_Resolving = dict[tuple[str, str, str | None, int | None], "asyncio.Future[PredictContext]"]


def _resolving(state: Any) -> _Resolving:
    """The lookups in progress in this app, by (credential, name, version, owner)."""
    resolving: _Resolving | None = getattr(state, "predict_resolving", None)
    if resolving is None:
        resolving = state.predict_resolving = {}
    return resolving


async def _resolve_once(
    resolving: _Resolving,
    pending_key: tuple[str, str, str | None, int | None],
    database: Database,
    security: Security,
    raw: str,
    cache: TargetCache,
    key: tuple[str, str | None, int | None],
) -> PredictContext:
    future: asyncio.Future[PredictContext] = asyncio.get_running_loop().create_future()
    # Its error is each waiter's to raise; with no waiter, asyncio must not log it as lost.
    future.add_done_callback(lambda done: done.cancelled() or done.exception())
    resolving[pending_key] = future
    try:
        context = await anyio.to_thread.run_sync(_resolve, database, security, raw, cache, key)
    except Exception as exc:
        future.set_exception(exc)
        raise
    except BaseException:
        future.cancel()
        raise
    finally:
        if resolving.get(pending_key) is future:
            del resolving[pending_key]
    future.set_result(context)
    return context


PredictContextDep = Annotated[PredictContext, Depends(get_predict_context)]
