"""What predict routes share: the ``X-Predict-Id`` route class, the core, who asks and what.

The caller and the version are resolved in a short session of their own that is closed before
the model runs, so a slow model never holds a database connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated
from uuid import uuid4

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.auth.dependencies import SecurityDep, get_current_user
from modelyard.db import Database
from modelyard.errors import error_response
from modelyard.registry import service as registry
from modelyard.registry.dependencies import OwnerId
from modelyard.registry.schemas import ServingTarget
from modelyard.serving.service import ServingCore

__all__ = [
    "PREDICT_ID_HEADER",
    "CoreDep",
    "PredictContext",
    "PredictContextDep",
    "PredictIdRoute",
    "predict_id_of",
]

PREDICT_ID_HEADER = "X-Predict-Id"
error_log = logging.getLogger("modelyard.errors")


def _with_predict_id(app: ASGIApp) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        predict_id = str(uuid4())
        scope.setdefault("state", {})["predict_id"] = predict_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[PREDICT_ID_HEADER] = predict_id
            await send(message)

        try:
            await app(scope, receive, send_with_id)
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


@dataclass(frozen=True)
class PredictContext:
    user_id: int
    target: ServingTarget


def get_predict_context(
    request: Request,
    security: SecurityDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
    owner_id: OwnerId = None,
) -> PredictContext:
    database: Database = request.app.state.database
    name: str = request.path_params["name"]
    version: str | None = request.path_params.get("version")
    with database.session() as session:
        user = get_current_user(session, security, bearer, api_key)
        target = registry.serving_target(session, user, name, version, owner_id)
        return PredictContext(user_id=user.id, target=target)


PredictContextDep = Annotated[PredictContext, Depends(get_predict_context)]
