"""hydro-visualization's routes (document 003 in shared/seeds) under ``/visualization``.

Kept: the paths, ``model_version_id`` in the query string (as the document shows) or in the
JSON body (as the source's code read it), ``{"task_id": ...}`` answers, the job poll's
``{"state", "task_id", "description", "result"}`` with the result's keys (``data_shape``,
``data``, ``request_ids``, ``class_labels`` with their ``coloring_type``, ``metrics``,
``top_100``, ``visualization_metrics``), the params body and ``{"supported", "message"}``.
The method in the path of /params and /jobs may be left out, as in the document's examples:
it is then ``umap``.

Fixed: a method other than umap, tsne, trimap and pca is a clear 400 (the source accepted any
name and failed later); production and training sample sizes are stored apart (the source
wrote one over the other); the requested ``visualization_metrics`` are computed and in the
result (the source's were always empty); an unknown task id is a 404 (Celery answered PENDING
for ever). Errors are ``{"message": ..., "details": ...}`` with a 4xx. The source had no users;
here a credential is needed (the token may come with or without ``Bearer``), and another user's
model version is not found.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from modelyard.auth.dependencies import LenientUser
from modelyard.auth.models import User
from modelyard.db import SessionDep, run_and_commit
from modelyard.errors import BadRequest, InvalidInput, styled_route
from modelyard.jobs.dependencies import ExecutorDep
from modelyard.registry.schemas import ServingTarget
from modelyard.visualization import service
from modelyard.visualization.dependencies import RuntimeDep
from modelyard.visualization.schemas import METHODS, ProjectionParams

__all__ = ["router"]

PREFIX = "/visualization"
DEFAULT_METHOD = "umap"
_MAX_VERSION_ID = 2**31 - 1  # model_versions.id is a 32-bit column on PostgreSQL


def hydro_error_body(status_code: int, code: str, message: str, details: Any) -> Any:
    return {"message": message, "code": code, "details": details}


router = APIRouter(
    prefix=PREFIX,
    route_class=styled_route(hydro_error_body),
    tags=["compat: hydro-visualization"],
    responses={
        400: {"description": "An unknown method, or no model_version_id (query or body)."},
        404: {"description": "The model version or the task is not found (or not yours)."},
    },
)

# The methods, for the document only: an unknown one is this router's 400, as the source's.
Method = Annotated[str, Path(json_schema_extra={"enum": list(METHODS)})]

VersionQuery = Annotated[
    str | None, Query(max_length=20, description="The model version's id (or send it in the body).")
]


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc
    except RecursionError as exc:  # json.loads recurses once per level of nesting
        raise BadRequest("the body is nested too deeply") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _version_id(query: str | None, body: dict[str, Any]) -> int:
    raw: Any = query if query is not None else body.get("model_version_id")
    if raw is None:
        raise BadRequest(
            "model_version_id is required (in the query string or the body)",
            details=[{"loc": ["query", "model_version_id"], "msg": "Field required"}],
        )
    if isinstance(raw, bool):
        raw = None
    try:
        value = int(str(raw).strip()) if raw is not None else None
    except ValueError:
        value = None
    if value is None or not 1 <= value <= _MAX_VERSION_ID:
        raise BadRequest(
            f"model_version_id must be a positive integer, not {str(raw)[:40]!r}",
            details=[{"loc": ["query", "model_version_id"], "msg": "not a positive integer"}],
        )
    return value


def _target(session: Session, user: User, query: str | None, body: dict[str, Any]) -> ServingTarget:
    return service.target_by_id(session, user, _version_id(query, body))


async def _start(
    session: Session,
    executor: Any,
    user: User,
    runtime: Any,
    method: str,
    query: str | None,
    body: dict[str, Any],
    *,
    refit: bool,
) -> JSONResponse:
    # The version's lookup, the job's insert and the commit (which hands the job to the
    # executor) in one trip to a worker thread: the routes read their JSON body themselves, so
    # they are ``async``, and the event loop never waits on the database.
    def work() -> tuple[str, bool]:
        target = _target(session, user, query, body)
        read = service.request_projection(
            session,
            executor,
            user,
            target,
            method,
            refit=refit,
            seed=runtime.settings.visualization.seed,
        )
        return read.id, read.cached

    task_id, cached = await run_and_commit(session, work)
    code = status.HTTP_200_OK if cached else status.HTTP_202_ACCEPTED
    return JSONResponse({"task_id": task_id}, status_code=code)


@router.post("/plottable_embeddings/{method}")
async def plottable_embeddings(
    method: Method,
    request: Request,
    session: SessionDep,
    user: LenientUser,
    executor: ExecutorDep,
    runtime: RuntimeDep,
    model_version_id: VersionQuery = None,
) -> JSONResponse:
    """Project a model version's data with a method (the result is reused when nothing changed)."""
    service.check_method(method)
    body = await _body(request)
    return await _start(
        session, executor, user, runtime, method, model_version_id, body, refit=False
    )


@router.post("/jobs/{method}")
async def refit(
    method: Method,
    request: Request,
    session: SessionDep,
    user: LenientUser,
    executor: ExecutorDep,
    runtime: RuntimeDep,
    model_version_id: VersionQuery = None,
) -> JSONResponse:
    """Fit the method again on the model version's data (a new job)."""
    service.check_method(method)
    body = await _body(request)
    return await _start(
        session, executor, user, runtime, method, model_version_id, body, refit=True
    )


@router.post("/jobs")
@router.post("/jobs/", include_in_schema=False)
async def refit_default(
    request: Request,
    session: SessionDep,
    user: LenientUser,
    executor: ExecutorDep,
    runtime: RuntimeDep,
    model_version_id: VersionQuery = None,
) -> JSONResponse:
    """Fit UMAP again on the model version's data (the document's POST /jobs/)."""
    body = await _body(request)
    method = str(body.get("method", DEFAULT_METHOD))
    service.check_method(method)
    return await _start(
        session, executor, user, runtime, method, model_version_id, body, refit=True
    )


@router.get("/jobs")
@router.get("/jobs/", include_in_schema=False)
def job_status(
    session: SessionDep,
    user: LenientUser,
    runtime: RuntimeDep,
    task_id: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
) -> dict[str, Any]:
    """Show a task's state, and its result once it succeeded."""
    read = service.get_projection(session, user, task_id)
    answer: dict[str, Any] = {"state": read.state, "task_id": read.id}
    if read.state in ("PENDING",):
        return answer
    if read.state == "STARTED":
        answer["description"] = read.stage or ""
        answer["progress"] = read.progress
        return answer
    answer["description"] = read.message
    if read.state == "SUCCESS":
        result = service.projection_result(session, runtime.store, user, task_id)
        quality = result.get("visualization_metrics", {})
        if "msid" in quality:
            # The document's example names it msid_score.
            quality["msid_score"] = quality["msid"]
        if "clustering_ari" in quality:
            # The names the source's own results used for the two scores.
            quality["clustering_random_score"] = quality["clustering_ari"]
            quality["clustering_mutual_info"] = quality["clustering_ami"]
        answer["result"] = result
    return answer


def _params_body(body: dict[str, Any]) -> ProjectionParams:
    fields = {k: v for k, v in body.items() if k != "model_version_id"}
    try:
        return ProjectionParams.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInput(
            "invalid parameters",
            details=[
                {"loc": ["body", *e.get("loc", ())], "msg": e.get("msg", ""), "type": e["type"]}
                for e in exc.errors()
            ],
        ) from exc


def _params_answer(read: Any) -> dict[str, Any]:
    return {
        "parameters": read.parameters,
        "production_data_sample_size": read.production_data_sample_size,
        "training_data_sample_size": read.training_data_sample_size,
        "visualization_metrics": read.visualization_metrics,
    }


async def _store_params(
    session: Session, user: User, method: str, query: str | None, body: dict[str, Any]
) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        target = _target(session, user, query, body)
        return _params_answer(service.set_params(session, target, method, _params_body(body)))

    return await run_and_commit(session, work)


@router.post("/params/{method}")
async def set_params(
    method: Method,
    request: Request,
    session: SessionDep,
    user: LenientUser,
    model_version_id: VersionQuery = None,
) -> dict[str, Any]:
    """Set a method's parameters for a model version."""
    service.check_method(method)
    body = await _body(request)
    return await _store_params(session, user, method, model_version_id, body)


@router.get("/params/{method}")
def get_params(
    method: Method, session: SessionDep, user: LenientUser, model_version_id: VersionQuery = None
) -> dict[str, Any]:
    """Show a method's parameters for a model version (the defaults when none were set)."""
    service.check_method(method)
    target = _target(session, user, model_version_id, {})
    return _params_answer(service.get_params(session, target, method))


@router.post("/params")
@router.post("/params/", include_in_schema=False)
async def set_params_default(
    request: Request, session: SessionDep, user: LenientUser, model_version_id: VersionQuery = None
) -> dict[str, Any]:
    """Set UMAP's parameters for a model version (the document's POST /params/)."""
    body = await _body(request)
    return await _store_params(session, user, DEFAULT_METHOD, model_version_id, body)


@router.get("/params")
@router.get("/params/", include_in_schema=False)
def get_params_default(
    session: SessionDep, user: LenientUser, model_version_id: VersionQuery = None
) -> dict[str, Any]:
    """Show UMAP's parameters for a model version (the document's GET /params/)."""
    target = _target(session, user, model_version_id, {})
    return _params_answer(service.get_params(session, target, DEFAULT_METHOD))


@router.get("/supported")
def supported(
    session: SessionDep, user: LenientUser, model_version_id: VersionQuery = None
) -> dict[str, Any]:
    """Tell whether a model version's data can be visualized, and if not why."""
    target = _target(session, user, model_version_id, {})
    return service.supported(session, target).model_dump()


@router.get("/health")
def health() -> dict[str, Any]:
    """Answer that the visualization service is up (no credential needed)."""
    return {
        "status": "ok",
        "methods": {m["method"]: m["available"] for m in service.list_methods()},
    }
