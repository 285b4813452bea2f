"""Registered models, their versions and their aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from modelyard.db import Base, utcnow

__all__ = ["ModelAlias", "ModelVersion", "RegisteredModel"]


class RegisteredModel(Base):
    """A named model of one owner; names are unique per owner, not across owners."""

    __tablename__ = "registered_models"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ModelVersion.version",
    )
    aliases: Mapped[list[ModelAlias]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


class ModelVersion(Base):
    """One uploaded file of a model, with what it takes (input schema) and what it is."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    format: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    classes: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    input_schema: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    schema_source: Mapped[str] = mapped_column(String(16), default="none")
    artifact_key: Mapped[str] = mapped_column(String(512))
    artifact_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sample_key: Mapped[str | None] = mapped_column(String(512), default=None)
    sample_rows: Mapped[int | None] = mapped_column(Integer, default=None)
    # How it is served (a ServingOptions without its nulls); None: the server's defaults.
    serving_options: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Where the file came from: "upload" (a user: loaded and run in model-worker processes),
    # "training" (trained by this server) or "operator" (the command line): those two may run
    # in the API process. Set by the server, never by the uploader.
    origin: Mapped[str] = mapped_column(String(16), default="upload", server_default="upload")
    # Recent worker crashes (epoch seconds) and, once they were too many, the quarantine.
    crash_times: Mapped[list[float] | None] = mapped_column(JSON, default=None)
    quarantined_at: Mapped[datetime | None] = mapped_column(default=None)
    quarantine_reason: Mapped[str | None] = mapped_column(Text, default=None)

    model: Mapped[RegisteredModel] = relationship(back_populates="versions")


class ModelAlias(Base):
    """A name (``production``, ``latest``, ...) pointing at one version of a model."""

    __tablename__ = "model_aliases"
    __table_args__ = (UniqueConstraint("model_id", "alias"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), index=True
    )
    alias: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
