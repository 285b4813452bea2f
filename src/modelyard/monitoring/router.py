"""HTTP face of monitoring: feedback, performance and drift over time, monitors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from modelyard.auth.dependencies import CurrentUser
from modelyard.db import SessionDep, run_and_commit
from modelyard.evaluation.dependencies import EvaluationDep
from modelyard.monitoring import service
from modelyard.monitoring.dependencies import MonitoringSettingsDep, SkipUnknown, UploadDep
from modelyard.monitoring.drift import DEFAULT_THRESHOLDS
from modelyard.monitoring.schemas import (
    DriftRead,
    FeedbackItem,
    FeedbackResult,
    PerformanceRead,
    WindowKind,
)
from modelyard.registry.dependencies import ArtifactsDep, ModelName, OwnerId, VersionRef

__all__ = ["router"]

router = APIRouter(tags=["monitoring"])

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
    "/models/{name}/feedback/upload", response_model=FeedbackResult, openapi_extra=_UPLOAD_BODY
)
async def upload_feedback(
    name: ModelName,
    upload: UploadDep,
    session: SessionDep,
    user: CurrentUser,
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
Since = Annotated[datetime | None, Query(description="From this time (inclusive).")]
Until = Annotated[datetime | None, Query(description="Before this time.")]


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
        datetime | None,
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
