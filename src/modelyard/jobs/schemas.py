"""What the jobs API shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["JobRead", "JobStateName"]

JobStateName = Literal["PENDING", "STARTED", "SUCCESS", "FAILURE", "REVOKED"]


class JobRead(BaseModel):
    """A background job: what it is, how far it got, and how it ended."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    owner_id: int | None
    state: JobStateName
    progress: float = Field(ge=0.0, le=1.0, description="Fraction done, 0.0 to 1.0.")
    message: str | None = Field(description="What the job last said it was doing.")
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None = Field(description="Why the job failed; no traceback.")
    attempts: int
    max_attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    heartbeat_at: datetime | None = Field(
        default=None,
        description="When the process running it last said it was alive (while STARTED).",
    )
