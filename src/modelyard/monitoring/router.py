"""HTTP face of monitoring: feedback, performance and drift over time, monitors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from modelyard.auth.dependencies import CurrentUser
from modelyard.db import SessionDep, run_and_commit
from modelyard.monitoring import service
from modelyard.monitoring.dependencies import MonitoringSettingsDep, SkipUnknown, UploadDep
from modelyard.monitoring.schemas import FeedbackItem, FeedbackResult
from modelyard.registry.dependencies import ModelName, OwnerId

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
