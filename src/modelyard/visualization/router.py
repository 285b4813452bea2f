"""HTTP face of visualization: projection parameters, projection jobs and their results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from modelyard.auth.dependencies import CurrentUser
from modelyard.db import SessionDep
from modelyard.jobs.dependencies import ExecutorDep
from modelyard.pagination import PageParamsDep
from modelyard.registry.dependencies import ModelName, OwnerId, VersionRef
from modelyard.schemas import Page
from modelyard.visualization import service
from modelyard.visualization.dependencies import MethodName, ProjectionId, RuntimeDep
from modelyard.visualization.schemas import (
    ProjectionParams,
    ProjectionParamsRead,
    ProjectionRead,
    SupportedRead,
)

__all__ = ["router"]

router = APIRouter(tags=["visualization"])

_PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}
_PARQUET: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/vnd.apache.parquet": {}}}
}
_VERSION = "/models/{name}/versions/{version}"


class ProjectionCreate(BaseModel):
    method: str = Field(default="umap", max_length=64, description="umap, tsne, trimap or pca.")
    refit: bool = Field(
        default=False, description="Fit again even if a result or fitted transformer exists."
    )


@router.get("/projection-methods")
def list_methods(user: CurrentUser) -> dict[str, Any]:
    """List the projection methods (available here or not, their parameters) and the metrics."""
    return {"methods": service.list_methods(), "visualization_metrics": service.metric_docs()}


@router.get(_VERSION + "/projection-params/{method}", response_model=ProjectionParamsRead)
def get_params(
    name: ModelName,
    version: VersionRef,
    method: MethodName,
    session: SessionDep,
    user: CurrentUser,
    owner_id: OwnerId = None,
) -> ProjectionParamsRead:
    """Show the projection parameters of a method on a version (defaults when none were set)."""
    target = service.native_target(session, user, name, version, owner_id)
    return service.get_params(session, target, method)


@router.put(_VERSION + "/projection-params/{method}", response_model=ProjectionParamsRead)
def set_params(
    name: ModelName,
    version: VersionRef,
    method: MethodName,
    body: ProjectionParams,
    session: SessionDep,
    user: CurrentUser,
    owner_id: OwnerId = None,
) -> ProjectionParamsRead:
    """Set the projection parameters of a method on a version."""
    target = service.native_target(session, user, name, version, owner_id)
    return service.set_params(session, target, method, body)


@router.get(_VERSION + "/projection-support", response_model=SupportedRead)
def projection_support(
    name: ModelName,
    version: VersionRef,
    session: SessionDep,
    user: CurrentUser,
    method: Annotated[str | None, Query(max_length=64)] = None,
    owner_id: OwnerId = None,
) -> SupportedRead:
    """Tell whether the version's data can be projected, and if not why."""
    target = service.native_target(session, user, name, version, owner_id)
    return service.supported(session, target, method)


@router.post(
    _VERSION + "/projections",
    response_model=ProjectionRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"model": ProjectionRead, "description": "An earlier projection of the same input."}
    },
)
def create_projection(
    name: ModelName,
    version: VersionRef,
    body: ProjectionCreate,
    response: Response,
    session: SessionDep,
    user: CurrentUser,
    executor: ExecutorDep,
    runtime: RuntimeDep,
    owner_id: OwnerId = None,
) -> ProjectionRead:
    """Project the version's training and production data as a job (202), or reuse one (200)."""
    target = service.native_target(session, user, name, version, owner_id)
    read = service.request_projection(
        session,
        executor,
        user,
        target,
        body.method,
        refit=body.refit,
        seed=runtime.settings.visualization.seed,
    )
    if read.cached:
        response.status_code = status.HTTP_200_OK
    return read


@router.get(_VERSION + "/projections", response_model=Page[ProjectionRead])
def list_projections(
    name: ModelName,
    version: VersionRef,
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    owner_id: OwnerId = None,
) -> Page[ProjectionRead]:
    """List the version's projections, newest first."""
    target = service.native_target(session, user, name, version, owner_id)
    return service.list_projections(session, user, target, limit=page.limit, offset=page.offset)


@router.get("/projections/{projection_id}", response_model=ProjectionRead)
def get_projection(
    projection_id: ProjectionId, session: SessionDep, user: CurrentUser
) -> ProjectionRead:
    """Show a projection: state, progress, message, and links to its result once done."""
    return service.get_projection(session, user, projection_id)


@router.get("/projections/{projection_id}/result")
def projection_result(
    projection_id: ProjectionId, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> Response:
    """Get a finished projection's points, labels, neighbours and quality metrics."""
    data = service.projection_file(session, runtime.store, user, projection_id, "result")
    return Response(data, media_type="application/json")


@router.get("/projections/{projection_id}/plot.png", response_class=Response, responses=_PNG)
def projection_plot(
    projection_id: ProjectionId, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> Response:
    """Get a finished projection as a scatter plot."""
    data = service.projection_file(session, runtime.store, user, projection_id, "plot")
    return Response(data, media_type="image/png")


@router.get(
    "/projections/{projection_id}/data.parquet", response_class=Response, responses=_PARQUET
)
def projection_parquet(
    projection_id: ProjectionId, session: SessionDep, user: CurrentUser, runtime: RuntimeDep
) -> Response:
    """Download a finished projection as parquet: one row per point."""
    data = service.projection_file(session, runtime.store, user, projection_id, "parquet")
    return Response(
        data,
        media_type="application/vnd.apache.parquet",
        headers={
            "Content-Disposition": f'attachment; filename="projection-{projection_id}.parquet"'
        },
    )
