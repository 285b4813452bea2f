"""Every query of the visualization domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from modelyard.visualization.models import Projection, ProjectionConfig

__all__ = [
    "add",
    "cached_projection",
    "count_projections",
    "file_keys",
    "finish",
    "get_config",
    "get_projection",
    "latest_transformer",
    "list_projections",
]


def add(session: Session, item: Projection | ProjectionConfig) -> None:
    session.add(item)
    session.flush()


def get_config(session: Session, model_version_id: int, method: str) -> ProjectionConfig | None:
    query = select(ProjectionConfig).where(
        ProjectionConfig.model_version_id == model_version_id, ProjectionConfig.method == method
    )
    return session.scalar(query)


def get_projection(session: Session, projection_id: str) -> Projection | None:
    return session.get(Projection, projection_id)


def cached_projection(
    session: Session, model_version_id: int, method: str, cache_key: str
) -> Projection | None:
    """The newest projection of this exact input that succeeded or is still under way."""
    query = (
        select(Projection)
        .where(
            Projection.model_version_id == model_version_id,
            Projection.method == method,
            Projection.cache_key == cache_key,
            (Projection.state.is_(None)) | (Projection.state == "SUCCESS"),
        )
        .order_by(Projection.created_at.desc())
        .limit(1)
    )
    return session.scalar(query)


def latest_transformer(session: Session, model_version_id: int, fit_key: str) -> Projection | None:
    """The newest successful projection whose fitted transformer can be reused."""
    query = (
        select(Projection)
        .where(
            Projection.model_version_id == model_version_id,
            Projection.fit_key == fit_key,
            Projection.state == "SUCCESS",
            Projection.transformer_key.is_not(None),
        )
        .order_by(Projection.created_at.desc())
        .limit(1)
    )
    return session.scalar(query)


def list_projections(
    session: Session, model_version_id: int, *, limit: int, offset: int
) -> Sequence[Projection]:
    query = (
        select(Projection)
        .where(Projection.model_version_id == model_version_id)
        .order_by(Projection.created_at.desc(), Projection.id)
        .limit(limit)
        .offset(offset)
    )
    return session.scalars(query).all()


def count_projections(session: Session, model_version_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Projection)
        .where(Projection.model_version_id == model_version_id)
    )
    return int(session.scalar(query) or 0)


def finish(
    session: Session, projection_id: str, *, state: str, finished_at: datetime, **values: Any
) -> bool:
    """Record how a projection ended, once: a finished one is never overwritten."""
    statement = (
        update(Projection)
        .where(Projection.id == projection_id, Projection.state.is_(None))
        .values(state=state, finished_at=finished_at, **values)
    )
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def _projection_file_keys(session: Session, condition: ColumnElement[bool]) -> list[str]:
    query = select(
        Projection.result_key, Projection.parquet_key, Projection.plot_key,
        Projection.transformer_key,
    ).where(condition)  # fmt: skip
    return [key for row in session.execute(query) for key in row if key]


def file_keys(session: Session, model_version_id: int) -> list[str]:
    """Every stored file of the version's projections: results, plots, parquet, transformers."""
    return _projection_file_keys(session, Projection.model_version_id == model_version_id)


def owner_file_keys(session: Session, owner_id: int) -> list[str]:
    """Every stored file of the owner's projections."""
    return _projection_file_keys(session, Projection.owner_id == owner_id)
