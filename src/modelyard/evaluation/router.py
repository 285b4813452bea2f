"""Native evaluation routes: /api/v1/confusion-matrices and the analyses beside them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import Response

from modelyard.auth.dependencies import CurrentUser
from modelyard.db import DatabaseDep, SessionDep, run_and_commit, session_is_idle
from modelyard.evaluation import analysis, service
from modelyard.evaluation.dependencies import EvaluationDep, json_body, json_body_openapi
from modelyard.evaluation.plots import COLOR_MAPS
from modelyard.evaluation.responses import download_response, html_response, png_response
from modelyard.evaluation.schemas import (
    CompareRequest,
    CompareResult,
    ConfusionMatrixCreate,
    ConfusionMatrixRead,
    ConfusionMatrixSummary,
    ConfusionMatrixUpdate,
    CurveRead,
    CurveRequest,
    MultiLabelRead,
    MultiLabelRequest,
)
from modelyard.pagination import PageParamsDep
from modelyard.schemas import Page

__all__ = ["router"]

router = APIRouter(prefix="/confusion-matrices", tags=["evaluation"])

Uid = Annotated[str, Path(max_length=64, description="The matrix's uid.")]
CreateBody = Annotated[ConfusionMatrixCreate, Depends(json_body(ConfusionMatrixCreate))]
_CREATE_DOC = json_body_openapi(ConfusionMatrixCreate)
_PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "A PNG image."}
}


@router.post(
    "",
    response_model=ConfusionMatrixRead,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_CREATE_DOC,
)
async def create(
    body: CreateBody,
    user: CurrentUser,
    session: SessionDep,
    ev: EvaluationDep,
    database: DatabaseDep,
) -> ConfusionMatrixRead:
    """Create a confusion matrix from actual/predicted vectors or from a ready matrix."""
    # A small body from a credential verified moments ago (the session never went to the
    # database): counted here, committed with the other creates of the moment.
    if service.is_small(body) and session_is_idle(session):
        return service.read(await service.create_grouped(database.group_commit, ev, user.id, body))
    # Otherwise count, compute, insert and commit in one trip to a worker thread.
    return await run_and_commit(
        session, lambda: service.read(service.create(session, ev, user.id, body))
    )


@router.get("", response_model=Page[ConfusionMatrixSummary])
def list_mine(
    user: CurrentUser, session: SessionDep, page: PageParamsDep
) -> Page[ConfusionMatrixSummary]:
    """List my confusion matrices, newest first."""
    return service.list_mine(session, user.id, limit=page.limit, offset=page.offset)


@router.post(
    "/compare",
    response_model=CompareResult,
    responses={404: {"description": "A uid is not one of my matrices."}},
)
def compare(
    body: CompareRequest, user: CurrentUser, session: SessionDep, ev: EvaluationDep
) -> CompareResult:
    """Compare two or more of my matrices with PyCM's Compare."""
    return service.compare(
        session,
        ev.settings,
        user.id,
        body.uids,
        class_weight=body.class_weight,
        class_benchmark_weight=body.class_benchmark_weight,
        overall_benchmark_weight=body.overall_benchmark_weight,
        by_name=True,
    )


@router.post("/multilabel", response_model=MultiLabelRead)
def multilabel(
    body: MultiLabelRequest, user: CurrentUser, session: SessionDep, ev: EvaluationDep
) -> MultiLabelRead:
    """Evaluate multi-label predictions per class and per sample (stored only if asked)."""
    return analysis.multilabel(session, ev, user.id, body)


@router.post("/curves", response_model=CurveRead)
def curve(body: CurveRequest, user: CurrentUser, ev: EvaluationDep) -> CurveRead:
    """Compute a ROC or PR curve per class, with thresholds and the area under each."""
    return analysis.curve(ev, body)


@router.post("/curves/plot", response_class=Response, responses=_PNG)
def curve_plot(body: CurveRequest, user: CurrentUser, ev: EvaluationDep) -> Response:
    """Draw a ROC or PR curve per class as a PNG."""
    return png_response(analysis.curve_png(analysis.curve(ev, body)))


@router.get("/{uid}", response_model=ConfusionMatrixRead)
def read(
    uid: Uid,
    user: CurrentUser,
    session: SessionDep,
    statistics: Annotated[
        bool, Query(description="Add every overall and per-class statistic.")
    ] = False,
) -> ConfusionMatrixRead:
    """Show one of my matrices: headline metrics, the matrix, optionally every statistic."""
    return service.read(service.get(session, uid, user.id), statistics=statistics)


@router.put("/{uid}", response_model=ConfusionMatrixRead, openapi_extra=_CREATE_DOC)
def replace(
    uid: Uid, body: CreateBody, user: CurrentUser, session: SessionDep, ev: EvaluationDep
) -> ConfusionMatrixRead:
    """Replace a matrix's data; its report and plot follow the new data."""
    return service.read(service.replace(session, ev, uid, user.id, body))


@router.patch("/{uid}", response_model=ConfusionMatrixRead)
def rename(
    uid: Uid, body: ConfusionMatrixUpdate, user: CurrentUser, session: SessionDep
) -> ConfusionMatrixRead:
    """Rename a matrix."""
    return service.read(service.rename(session, uid, user.id, body.name))


@router.delete("/{uid}", status_code=status.HTTP_204_NO_CONTENT)
def delete(uid: Uid, user: CurrentUser, session: SessionDep, ev: EvaluationDep) -> None:
    """Delete a matrix with its stored .obj, report and plot."""
    service.delete(session, ev, uid, user.id)


@router.get(
    "/{uid}/report",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "PyCM's HTML report."}},
)
def report(uid: Uid, user: CurrentUser, session: SessionDep, ev: EvaluationDep) -> Response:
    """Show PyCM's HTML report of a matrix."""
    return html_response(service.report(session, ev, uid, user.id))


@router.get(
    "/{uid}/statistics.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "Per-class statistics."}},
)
def statistics_csv(uid: Uid, user: CurrentUser, session: SessionDep) -> Response:
    """Download PyCM's per-class statistics as CSV."""
    body = service.matrix_csv(session, uid, user.id).encode()
    return download_response(body, "text/csv; charset=utf-8", f"{uid}.csv")


@router.get(
    "/{uid}/matrix.obj",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "PyCM's .obj file."}},
)
def matrix_obj(uid: Uid, user: CurrentUser, session: SessionDep, ev: EvaluationDep) -> Response:
    """Download the matrix as PyCM's .obj file (ConfusionMatrix(file=...) reads it)."""
    body = service.matrix_obj(session, ev, uid, user.id)
    return download_response(body, "application/json", f"{uid}.obj")


@router.get("/{uid}/plot", response_class=Response, responses=_PNG)
def plot(
    uid: Uid,
    user: CurrentUser,
    session: SessionDep,
    ev: EvaluationDep,
    normalized: Annotated[bool, Query(description="Divide each row by its total.")] = False,
    color_map: Annotated[
        str,
        Query(
            description=f"One of: {', '.join(COLOR_MAPS)}.",
            json_schema_extra={"enum": list(COLOR_MAPS)},  # checked by the service (422)
        ),
    ] = service.DEFAULT_COLOR_MAP,
) -> Response:
    """Draw a matrix as a PNG heat map."""
    body = service.plot(session, ev, uid, user.id, normalized=normalized, color_map=color_map)
    return png_response(body)
