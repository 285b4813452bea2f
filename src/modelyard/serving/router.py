"""HTTP face of serving: predict (now or async), fetch async results, set how a version is
served, read the request log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from modelyard.auth.dependencies import CurrentUser
from modelyard.auth.models import User
from modelyard.config import Settings
from modelyard.db import SessionDep
from modelyard.pagination import MAX_ID, PageParamsDep
from modelyard.registry.dependencies import ModelName, OwnerId, VersionRef
from modelyard.registry.schemas import ServingOptions
from modelyard.schemas import Page
from modelyard.serving import service
from modelyard.serving.dependencies import (
    PREDICT_ID_HEADER,
    CoreDep,
    PredictContextDep,
    PredictIdRoute,
    predict_id_of,
)
from modelyard.serving.export import export_request_log, export_request_log_parquet
from modelyard.serving.schemas import (
    AsyncAccepted,
    PredictionLogRead,
    PredictResponse,
    ServingOptionsRead,
)

__all__ = ["log_router", "predict_route", "predict_router"]

predict_router = APIRouter(tags=["serving"], route_class=PredictIdRoute)
log_router = APIRouter(tags=["serving"])

JSON = "application/json"
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "object"}, "title": "Records"},
                        {
                            "type": "object",
                            "properties": {"X": {"type": "array", "items": {"type": "array"}}},
                            "required": ["X"],
                            "title": "Arrays",
                        },
                    ]
                },
                "example": [{"age": 25, "sex": 1}],
            }
        },
    }
}


AsyncFlag = Annotated[
    bool,
    Query(
        alias="async",
        description="Answer 202 with a predict_id at once; fetch the result from "
        "`GET /api/v1/predictions/{predict_id}`.",
    ),
]


async def _predict(
    request: Request, core: service.ServingCore, context: Any, run_async: bool
) -> Response:
    predict_id = predict_id_of(request)
    if run_async:
        await core.predict_async(
            context.target,
            await request.body(),
            predict_id=predict_id,
            user_id=context.user_id,
            source="native",
            render=service.predict_response,
        )
        return JSONResponse({"predict_id": predict_id}, status_code=202)
    result = await core.predict(
        context.target,
        await request.body(),
        predict_id=predict_id,
        user_id=context.user_id,
        source="native",
    )
    return Response(service.predict_response_json(result), media_type=JSON)


_PREDICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": AsyncAccepted, "description": "Accepted (`?async=true`)."},
    429: {"description": "Throttled: the model's requests in flight or rows per request."},
    503: {"description": "The model's queue is full (see Retry-After)."},
}


@predict_router.post(
    "/models/{name}/predict",
    response_model=PredictResponse,
    responses=_PREDICT_RESPONSES,
    openapi_extra=_BODY,
)
async def predict(
    name: ModelName,
    request: Request,
    core: CoreDep,
    context: PredictContextDep,
    run_async: AsyncFlag = False,
) -> Response:
    """Predict with a model's `production` version (its latest when no alias is set)."""
    return await _predict(request, core, context, run_async)


@predict_router.post(
    "/models/{name}/versions/{version}/predict",
    response_model=PredictResponse,
    responses=_PREDICT_RESPONSES,
    openapi_extra=_BODY,
)
async def predict_version(
    name: ModelName,
    version: VersionRef,
    request: Request,
    core: CoreDep,
    context: PredictContextDep,
    run_async: AsyncFlag = False,
) -> Response:
    """Predict with one version of a model (by number, alias or `latest`)."""
    return await _predict(request, core, context, run_async)


def predict_route(which: Literal["latest", "version"]) -> APIRoute:
    """The route object of ``predict`` (``latest``) or ``predict_version`` (``version``)."""
    endpoint = predict if which == "latest" else predict_version
    return next(
        route
        for route in predict_router.routes
        if isinstance(route, APIRoute) and route.endpoint is endpoint
    )


@log_router.get(
    "/predictions/{predict_id}",
    response_model=PredictResponse,
    responses={
        404: {"description": "Unknown, expired, or not yours."},
        408: {"description": "Not ready within the wait time; ask again."},
    },
)
async def get_prediction(
    predict_id: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9-]+$")],
    core: CoreDep,
    user: CurrentUser,
    wait: Annotated[
        float | None,
        Query(
            ge=0,
            le=3600,
            description="Seconds to wait while pending (default: the "
            "version's client_wait_seconds).",
        ),
    ] = None,
) -> JSONResponse:
    """Fetch the result of an async prediction, waiting while it is pending."""
    result = await core.results.fetch(predict_id, owner_id=user.id, wait_seconds=wait)
    return JSONResponse(result, headers={PREDICT_ID_HEADER: predict_id})


@log_router.get("/models/{name}/versions/{version}/serving", response_model=ServingOptionsRead)
def get_serving(
    name: ModelName,
    version: VersionRef,
    session: SessionDep,
    core: CoreDep,
    user: CurrentUser,
    owner_id: OwnerId = None,
) -> ServingOptionsRead:
    """Show how a version is served: its own options and the effective ones."""
    return service.get_serving_options(session, core, user, name, version, owner_id)


@log_router.put("/models/{name}/versions/{version}/serving", response_model=ServingOptionsRead)
def set_serving(
    name: ModelName,
    version: VersionRef,
    options: ServingOptions,
    session: SessionDep,
    core: CoreDep,
    user: CurrentUser,
    owner_id: OwnerId = None,
) -> ServingOptionsRead:
    """Set how a version is served: mode, queue, batching, throttling (left out: defaults)."""
    return service.set_serving_options(session, core, user, name, version, options, owner_id)


def _log_filters(
    version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    source: Annotated[str | None, Query(max_length=32, description="native, ml_api")] = None,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Who asked.")] = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
) -> dict[str, Any]:
    return {
        "version": version,
        "status": status,
        "source": source,
        "user_id": user_id,
        "since": since,
        "until": until,
    }


LogFilters = Annotated[dict[str, Any], Depends(_log_filters)]


@log_router.get("/models/{name}/requests", response_model=Page[PredictionLogRead])
def list_requests(
    name: ModelName,
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    filters: LogFilters,
    owner_id: OwnerId = None,
) -> Page[PredictionLogRead]:
    """List a model's logged predictions, newest first."""
    return service.list_request_log(
        session, user, name, owner_id, limit=page.limit, offset=page.offset, **filters
    )


def _export(
    exporter: Callable[..., Iterator[Any]],
    media_type: str,
    extension: str,
    name: str,
    request: Request,
    session: Session,
    user: User,
    filters: dict[str, Any],
    owner_id: int | None,
) -> StreamingResponse:
    settings: Settings = request.app.state.settings
    body = exporter(
        session,
        request.app.state.database,
        user,
        name,
        owner_id,
        max_rows=settings.serving.log_export_max_rows,
        **filters,
    )
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}-requests.{extension}"'},
    )


@log_router.get(
    "/models/{name}/requests.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_requests(
    name: ModelName,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    filters: LogFilters,
    owner_id: OwnerId = None,
) -> StreamingResponse:
    """Download a model's logged predictions as CSV, newest first."""
    return _export(
        export_request_log, "text/csv", "csv", name, request, session, user, filters, owner_id
    )


@log_router.get(
    "/models/{name}/requests.parquet",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/vnd.apache.parquet": {}}}},
)
def export_requests_parquet(
    name: ModelName,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    filters: LogFilters,
    owner_id: OwnerId = None,
) -> StreamingResponse:
    """Download a model's logged predictions as parquet, newest first."""
    return _export(
        export_request_log_parquet,
        "application/vnd.apache.parquet",
        "parquet",
        name,
        request,
        session,
        user,
        filters,
        owner_id,
    )
