"""Monitoring tables: labels joined to logged answers, per-window performance, monitors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db import Base, utcnow

__all__ = [
    "FeedbackLabel",
    "Monitor",
    "MonitorEvaluation",
    "PerformanceWindow",
    "WebhookDelivery",
]


class FeedbackLabel(Base):
    """The right answer for one row of one logged prediction.

    The answer the model gave and the time it gave it are copied from the log when the label
    arrives, as class indexes into the version's classes (-1: not one of them), so a window's
    confusion matrix is counted from this table alone, without decoding the log again.
    """

    __tablename__ = "feedback_labels"
    __table_args__ = (
        UniqueConstraint("log_id", "row_index"),
        Index("ix_feedback_labels_version_id_predicted_at", "version_id", "predicted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    log_id: Mapped[int] = mapped_column(ForeignKey("prediction_logs.id", ondelete="CASCADE"))
    row_index: Mapped[int] = mapped_column(Integer)
    label_index: Mapped[int] = mapped_column(Integer)
    predicted_index: Mapped[int] = mapped_column(Integer)
    # The answer's probabilities (classes' order): CBPE calibrates on labelled rows.
    probabilities: Mapped[list[float] | None] = mapped_column(JSON, default=None)
    predicted_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PerformanceWindow(Base):
    """Realized performance of one version in one window, its matrix in the evaluation domain.

    ``labels_seen`` is the newest label change the window was counted with: a window is
    counted again only when a label of it changed since (late labels), never otherwise.
    """

    __tablename__ = "performance_windows"
    __table_args__ = (UniqueConstraint("version_id", "window", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    window: Mapped[str] = mapped_column(String(8))
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()
    matrix_uid: Mapped[str | None] = mapped_column(String(64), default=None)
    labelled: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    labels_seen: Mapped[datetime] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Monitor(Base):
    """A check of one version on a schedule; it fires its webhook when its state changes."""

    __tablename__ = "monitors"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    check: Mapped[dict[str, Any]] = mapped_column(JSON)
    window: Mapped[str] = mapped_column(String(8))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    min_samples: Mapped[int] = mapped_column(Integer)
    quiet_seconds: Mapped[int] = mapped_column(Integer)
    webhook_url: Mapped[str | None] = mapped_column(Text, default=None)
    webhook_secret: Mapped[str | None] = mapped_column(String(128), default=None)
    enabled: Mapped[bool] = mapped_column(default=True)
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    value: Mapped[float | None] = mapped_column(Float, default=None)
    next_run_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_fired_at: Mapped[datetime | None] = mapped_column(default=None)
    # The window start last evaluated: two replicas never evaluate one window twice.
    last_window: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonitorEvaluation(Base):
    """One run of a monitor: what it measured and the state it came to."""

    __tablename__ = "monitor_evaluations"
    __table_args__ = (UniqueConstraint("monitor_id", "window_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), index=True
    )
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float, default=None)
    samples: Mapped[int] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    fired: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One try to deliver a monitor's alert: where, what came back, when."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), index=True
    )
    evaluation_id: Mapped[int | None] = mapped_column(
        ForeignKey("monitor_evaluations.id", ondelete="CASCADE"), default=None
    )
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    ok: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
