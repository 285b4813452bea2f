"""Projection settings per model version and method, and the projections made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db import Base, utcnow

__all__ = ["Projection", "ProjectionConfig"]


class ProjectionConfig(Base):
    """The parameters a user set for one method on one model version (hydro's "params")."""

    __tablename__ = "visualization_params"
    __table_args__ = (UniqueConstraint("model_version_id", "method"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(String(16))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    production_data_sample_size: Mapped[int] = mapped_column(Integer)
    training_data_sample_size: Mapped[int] = mapped_column(Integer)
    visualization_metrics: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Projection(Base):
    """One projection of a version's data: the job that makes it, then where its result is.

    ``cache_key`` names what the result depends on (method, parameters, sample sizes, metrics,
    the training sample and the production log up to ``production_until_id``); ``fit_key``
    what the fitted transformer depends on, so a later projection with new production data
    can place it with the stored transformer instead of fitting again.
    """

    __tablename__ = "projections"
    __table_args__ = (
        Index("ix_projections_version_method_cache", "model_version_id", "method", "cache_key"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    cache_key: Mapped[str] = mapped_column(String(64))
    fit_key: Mapped[str] = mapped_column(String(64), index=True)
    refit: Mapped[bool] = mapped_column(default=False)
    production_until_id: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # None while the job decides; then SUCCESS, ERROR, NO_DATA or NOT_SUPPORTED.
    state: Mapped[str | None] = mapped_column(String(16), default=None)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    mode: Mapped[str | None] = mapped_column(String(16), default=None)
    n_training: Mapped[int | None] = mapped_column(Integer, default=None)
    n_production: Mapped[int | None] = mapped_column(Integer, default=None)
    result_key: Mapped[str | None] = mapped_column(String(512), default=None)
    parquet_key: Mapped[str | None] = mapped_column(String(512), default=None)
    plot_key: Mapped[str | None] = mapped_column(String(512), default=None)
    transformer_key: Mapped[str | None] = mapped_column(String(512), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
