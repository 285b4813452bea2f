"""Datasets, experiments and training runs: who owns what; MLflow holds the rest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db import Base, utcnow

__all__ = ["Dataset", "Experiment", "TrainingRun"]


class Dataset(Base):
    """A snapshot of labelled documents, kept in the artifact store as one file."""

    __tablename__ = "training_datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    artifact_key: Mapped[str] = mapped_column(String(512))
    documents: Mapped[int] = mapped_column(Integer)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    label_counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    label_bytes: Mapped[dict[str, Any]] = mapped_column(JSON)
    skipped: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Experiment(Base):
    """An MLflow experiment and its owner. MLflow names are global, so names are unique."""

    __tablename__ = "training_experiments"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(250))
    mlflow_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingRun(Base):
    """One training: its MLflow run, the job that runs it, and the model it registered."""

    __tablename__ = "training_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("training_experiments.id", ondelete="CASCADE"), index=True
    )
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_datasets.id", ondelete="SET NULL"), default=None
    )
    job_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    trainer: Mapped[str] = mapped_column(String(32))
    model_name: Mapped[str | None] = mapped_column(String(100), default=None)
    model_version: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
