"""Stored confusion matrices: the counts in the row, the files in the artifact store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db import Base, utcnow

__all__ = ["ConfusionMatrixRecord"]


class ConfusionMatrixRecord(Base):
    """One confusion matrix. The files are derived from the row and written when first asked
    for; ``version`` grows on every change, so a file drawn from an older version is not kept."""

    __tablename__ = "confusion_matrices"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    label_kind: Mapped[str] = mapped_column(String(8))
    classes: Mapped[list[Any]] = mapped_column(JSON)
    matrix: Mapped[list[Any]] = mapped_column(JSON)
    headline: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, default=1)
    obj_key: Mapped[str | None] = mapped_column(String(512), default=None)
    report_key: Mapped[str | None] = mapped_column(String(512), default=None)
    plot_key: Mapped[str | None] = mapped_column(String(512), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
