"""HTTP face of monitoring: feedback, performance and drift over time, monitors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response

from modelyard.auth.dependencies import CurrentUser
from modelyard.db import SessionDep, run_and_commit
from modelyard.evaluation.dependencies import EvaluationDep
from modelyard.monitoring import service
from modelyard.monitoring.dependencies import MonitoringSettingsDep, SkipUnknown, UploadDep
from modelyard.monitoring.drift import DEFAULT_THRESHOLDS
from modelyard.monitoring.metrics import MonitorCollector
from modelyard.monitoring.runtime import MonitoringRuntime, register_runtime
from modelyard.monitoring.scheduler import MonitorScheduler
from modelyard.monitoring.schemas import (
    DriftRead,
    FeedbackItem,
    FeedbackResult,
    MonitorCreate,
    MonitorEvaluationRead,
    MonitorRead,
    PerformanceRead,
    WebhookDeliveryRead,
    WindowKind,
)
from modelyard.monitoring.times import UtcTime
from modelyard.pagination import MAX_ID
from modelyard.registry.dependencies import ArtifactsDep, ModelName, OwnerId, VersionRef

__all__ = ["router"]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Monitoring's part of the service's life: the runtime of its jobs, the monitor
    scheduler and the monitors' Prometheus gauges (the app's lifespan has set the rest up)."""
    settings = app.state.settings
    database = app.state.database
    register_runtime(MonitoringRuntime(settings, app.state.artifacts))
    collector = None
    if app.state.metrics is not None:
        collector = MonitorCollector(database)
        app.state.metrics.registry.register(collector)
    scheduler = None
    if settings.monitoring.scheduler_enabled:
        scheduler = MonitorScheduler(
            database, app.state.jobs, settings.monitoring.scheduler_tick_seconds
        )
        scheduler.start()
    app.state.monitor_scheduler = scheduler
    try:
        yield
    finally:
        if scheduler is not None:
            scheduler.stop()
        if collector is not None:
            app.state.metrics.registry.unregister(collector)


router = APIRouter(tags=["monitoring"], lifespan=lifespan)

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": "predict_id,row,label\n..."},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post("/models/{name}/feedback", response_model=FeedbackResult)
async def post_feedback(
    name: ModelName,
    items: list[FeedbackItem],
    session: SessionDep,
    user: CurrentUser,
    settings: MonitoringSettingsDep,
    skip_unknown: SkipUnknown,
    owner_id: OwnerId = None,
) -> FeedbackResult:
    """Give the right answers of logged predictions, by predict id (and row)."""
    return await run_and_commit(
        session,
        lambda: service.feedback_from_items(
            session, settings, user, name, items, owner_id=owner_id, skip_unknown=skip_unknown
        ),
    )


@router.post(
    "/models/{name}/feedback/upload",
    response_model=FeedbackResult,
    openapi_extra=_UPLOAD_BODY,
    responses={
        400: {"description": "The file cannot be read as CSV or parquet."},
        413: {"description": "The upload is larger than the feedback upload limit."},
    },
)
async def upload_feedback(
    name: ModelName,
    user: CurrentUser,
    upload: UploadDep,  # depends on CurrentUser: nobody's body is read before they are known
    session: SessionDep,
    settings: MonitoringSettingsDep,
    skip_unknown: SkipUnknown,
    owner_id: OwnerId = None,
) -> FeedbackResult:
    """Upload the right answers as CSV or parquet (columns predict_id, label, optional row)."""
    return await run_and_commit(
        session,
        lambda: service.feedback_from_file(
            session,
            settings,
            user,
            name,
            upload.file,
            upload.content_type,
            upload.head,
            owner_id=owner_id,
            skip_unknown=skip_unknown,
        ),
    )


Window = Annotated[WindowKind, Query(description="hour, day or week (UTC; weeks from Monday).")]
# Naive times are UTC; times outside 1970..2999 are refused (422), so windows never overflow.
Since = Annotated[UtcTime | None, Query(description="From this time (inclusive; UTC if naive).")]
Until = Annotated[UtcTime | None, Query(description="Before this time (UTC if naive).")]


@router.get("/models/{name}/versions/{version}/performance", response_model=PerformanceRead)
async def get_performance(
    name: ModelName,
    version: VersionRef,
    session: SessionDep,
    user: CurrentUser,
    ev: EvaluationDep,
    settings: MonitoringSettingsDep,
    window: Window = "day",
    since: Since = None,
    until: Until = None,
    estimate: Annotated[
        bool, Query(description="Also estimate each window's performance (CBPE).")
    ] = True,
    owner_id: OwnerId = None,
) -> PerformanceRead:
    """Show realized performance per window (labelled rows) and CBPE's estimate beside it."""
    return await run_and_commit(
        session,
        lambda: service.performance(
            session,
            ev,
            settings,
            user,
            name,
            version,
            window=window,
            since=since,
            until=until,
            owner_id=owner_id,
            estimate=estimate,
        ),
    )


@router.get("/models/{name}/versions/{version}/drift", response_model=DriftRead)
async def get_drift(
    name: ModelName,
    version: VersionRef,
    session: SessionDep,
    user: CurrentUser,
    artifacts: ArtifactsDep,
    settings: MonitoringSettingsDep,
    window: Window = "day",
    since: Since = None,
    until: Until = None,
    reference_start: Annotated[
        UtcTime | None,
        Query(description="Compare with the window holding this time, not the training sample."),
    ] = None,
    drift_share: Annotated[
        float, Query(gt=0, le=1, description="Share of drifted features for dataset drift.")
    ] = 0.5,
    ks: Annotated[
        float, Query(gt=0, lt=1, description="KS p-value threshold.")
    ] = DEFAULT_THRESHOLDS["ks"],
    chisquare: Annotated[float, Query(gt=0, lt=1)] = DEFAULT_THRESHOLDS["chisquare"],
    z: Annotated[float, Query(gt=0, lt=1)] = DEFAULT_THRESHOLDS["z"],
    wasserstein: Annotated[float, Query(gt=0, le=100)] = DEFAULT_THRESHOLDS["wasserstein"],
    jensenshannon: Annotated[float, Query(gt=0, le=1)] = DEFAULT_THRESHOLDS["jensenshannon"],
    psi: Annotated[float, Query(gt=0, le=100)] = DEFAULT_THRESHOLDS["psi"],
    owner_id: OwnerId = None,
) -> DriftRead:
    """Show each window's drift per feature against the training sample (or a window)."""
    thresholds = {
        "ks": ks,
        "chisquare": chisquare,
        "z": z,
        "wasserstein": wasserstein,
        "jensenshannon": jensenshannon,
        "psi": psi,
    }
    return await run_and_commit(
        session,
        lambda: service.drift_over_time(
            session,
            artifacts,
            settings,
            user,
            name,
            version,
            window=window,
            since=since,
            until=until,
            reference_start=reference_start,
            thresholds=thresholds,
            drift_share=drift_share,
            owner_id=owner_id,
        ),
    )


MonitorId = Annotated[int, Path(ge=1, le=MAX_ID, description="The monitor's id.")]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.post(
    "/monitors",
    response_model=MonitorRead,
    status_code=201,
    responses={
        404: {"description": "No such model or version (or not yours)."},
        409: {"description": "Two users' models share the name: say whose (admins)."},
    },
)
async def create_monitor(
    body: MonitorCreate, session: SessionDep, user: CurrentUser, settings: MonitoringSettingsDep
) -> MonitorRead:
    """Watch a version: a check, a schedule and a webhook; the secret is shown only here."""
    return await run_and_commit(
        session, lambda: service.create_monitor(session, settings, user, body)
    )


@router.get("/monitors", response_model=list[MonitorRead])
async def list_monitors(session: SessionDep, user: CurrentUser) -> list[MonitorRead]:
    """List your monitors with their state."""
    return await run_and_commit(session, lambda: service.list_monitors(session, user))


@router.get("/monitors/{monitor_id}", response_model=MonitorRead)
async def get_monitor(monitor_id: MonitorId, session: SessionDep, user: CurrentUser) -> MonitorRead:
    """Show one monitor and its state."""
    return await run_and_commit(session, lambda: service.get_monitor(session, user, monitor_id))


@router.delete("/monitors/{monitor_id}", status_code=204, response_class=Response)
async def delete_monitor(monitor_id: MonitorId, session: SessionDep, user: CurrentUser) -> Response:
    """Delete a monitor, its evaluations and its deliveries."""
    await run_and_commit(session, lambda: service.delete_monitor(session, user, monitor_id))
    return Response(status_code=204)


@router.get("/monitors/{monitor_id}/evaluations", response_model=list[MonitorEvaluationRead])
async def list_evaluations(
    monitor_id: MonitorId, session: SessionDep, user: CurrentUser, limit: Limit = 100
) -> Sequence[Any]:
    """List a monitor's evaluations, newest first."""
    return await run_and_commit(
        session, lambda: service.list_evaluations(session, user, monitor_id, limit)
    )


@router.get("/monitors/{monitor_id}/deliveries", response_model=list[WebhookDeliveryRead])
async def list_deliveries(
    monitor_id: MonitorId, session: SessionDep, user: CurrentUser, limit: Limit = 100
) -> Sequence[Any]:
    """List a monitor's webhook deliveries (every try), newest first."""
    return await run_and_commit(
        session, lambda: service.list_deliveries(session, user, monitor_id, limit)
    )


@router.post("/monitors/{monitor_id}/run", status_code=202)
async def run_monitor(
    monitor_id: MonitorId,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    at: Annotated[
        UtcTime | None,
        Query(description="Evaluate the window holding this time (default: now; UTC if naive)."),
    ] = None,
) -> dict[str, str]:
    """Evaluate a monitor now, as a job, for the window holding ``at``."""
    executor = request.app.state.jobs
    return await run_and_commit(
        session, lambda: service.run_monitor(session, executor, user, monitor_id, at)
    )
