"""The job table: the one truth about every background job, whichever executor runs it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db import Base, utcnow

__all__ = ["Job", "JobState"]


class JobState:
    PENDING = "PENDING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"
    FINISHED = (SUCCESS, FAILURE, REVOKED)
    ALL = (PENDING, STARTED, SUCCESS, FAILURE, REVOKED)


def _new_id() -> str:
    return uuid4().hex


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_new_id)
    kind: Mapped[str] = mapped_column(String(100), index=True)
    # A plain foreign key to the users table: jobs import no domain, the database ties them.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, default=None
    )
    state: Mapped[str] = mapped_column(String(16), index=True, default=JobState.PENDING)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(String(500), default=None)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Refreshed every few seconds by the process running the job (see ``runner``): a STARTED
    # job whose heartbeat stopped lost its worker, whatever the broker believes.
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    # "host:pid" of that process, so a worker on the same host can tell at once that it died.
    runner: Mapped[str | None] = mapped_column(String(200), default=None)
