"""The request/response log: one row per prediction request that reached a model version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pydantic_core
from sqlalchemy import JSON, Dialect, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from modelyard.db import Base, utcnow

__all__ = ["LogJSON", "PredictionLog", "RawJSON"]


class RawJSON(bytes):
    """A JSON document already encoded (a request's body, checked by a strict decoder), written
    to a ``LogJSON`` column as it is instead of being decoded and encoded again."""


class LogJSON(TypeDecorator[Any]):
    """JSON written with pydantic-core's encoder (about 10x the standard library's).

    The log's inputs and outputs are the largest values the service writes, one per request;
    encoding them with ``json.dumps`` held the GIL long enough to slow the requests down.
    Read back as any JSON column. Python None is written as JSON ``null``, as ``JSON`` does.
    NaN and infinities (which PostgreSQL's json refuses) become ``null`` too. A ``RawJSON``
    value is written as it is.
    """

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Any:
        def process(value: Any) -> str:
            if isinstance(value, RawJSON):
                return value.decode()
            return pydantic_core.to_json(value).decode()

        return process


class PredictionLog(Base):
    __tablename__ = "prediction_logs"
    __table_args__ = (Index("ix_prediction_logs_model_id_created_at", "model_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    predict_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Logs belong to the model: they go when it goes, and stay when one version is deleted.
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), default=None
    )
    model_name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[int] = mapped_column(Integer, index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    n_rows: Mapped[int] = mapped_column(Integer)
    input: Mapped[Any] = mapped_column(LogJSON, nullable=False)
    output: Mapped[Any] = mapped_column(LogJSON, nullable=True, default=None)
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
