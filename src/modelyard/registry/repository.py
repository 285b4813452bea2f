"""Every SQL query of the registry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.auth.models import Role, User
from modelyard.registry.models import ModelAlias, ModelVersion, RegisteredModel

__all__ = [
    "add",
    "count_models",
    "delete",
    "find_admin_models",
    "find_model",
    "find_models_named",
    "get_alias",
    "get_version",
    "get_version_by_id",
    "get_version_for_update",
    "latest_version",
    "list_models",
    "list_versions",
    "lock_model",
    "next_version_number",
    "version_numbers",
]


def add(session: Session, item: RegisteredModel | ModelVersion | ModelAlias) -> None:
    session.add(item)
    session.flush()


def delete(session: Session, item: RegisteredModel | ModelVersion | ModelAlias) -> None:
    session.delete(item)
    session.flush()


def find_model(session: Session, owner_id: int, name: str) -> RegisteredModel | None:
    statement = select(RegisteredModel).where(
        RegisteredModel.owner_id == owner_id, RegisteredModel.name == name
    )
    return session.scalars(statement).one_or_none()


def find_models_named(session: Session, name: str) -> Sequence[RegisteredModel]:
    statement = (
        select(RegisteredModel).where(RegisteredModel.name == name).order_by(RegisteredModel.id)
    )
    return session.scalars(statement).all()


def find_admin_models(session: Session, name: str) -> Sequence[RegisteredModel]:
    statement = (
        select(RegisteredModel)
        .join(User, User.id == RegisteredModel.owner_id)
        .where(RegisteredModel.name == name, User.role == Role.ADMIN)
        .order_by(RegisteredModel.id)
    )
    return session.scalars(statement).all()


def lock_model(session: Session, model: RegisteredModel) -> None:
    """Serialize version numbering for one model (a row lock on PostgreSQL)."""
    session.execute(
        select(RegisteredModel.id).where(RegisteredModel.id == model.id).with_for_update()
    )


def list_models(
    session: Session, *, owner_id: int | None, limit: int, offset: int
) -> Sequence[RegisteredModel]:
    statement = select(RegisteredModel).order_by(RegisteredModel.name, RegisteredModel.id)
    if owner_id is not None:
        statement = statement.where(RegisteredModel.owner_id == owner_id)
    return session.scalars(statement.limit(limit).offset(offset)).all()


def count_models(session: Session, *, owner_id: int | None) -> int:
    statement = select(func.count()).select_from(RegisteredModel)
    if owner_id is not None:
        statement = statement.where(RegisteredModel.owner_id == owner_id)
    return int(session.scalar(statement) or 0)


def next_version_number(session: Session, model_id: int) -> int:
    statement = select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model_id)
    return int(session.scalar(statement) or 0) + 1


def get_version(session: Session, model_id: int, version: int) -> ModelVersion | None:
    statement = select(ModelVersion).where(
        ModelVersion.model_id == model_id, ModelVersion.version == version
    )
    return session.scalars(statement).one_or_none()


def get_version_by_id(session: Session, version_id: int) -> ModelVersion | None:
    return session.get(ModelVersion, version_id)


def latest_version(session: Session, model_id: int) -> ModelVersion | None:
    statement = (
        select(ModelVersion)
        .where(ModelVersion.model_id == model_id)
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )
    return session.scalars(statement).first()


def list_versions(
    session: Session, model_id: int, *, limit: int, offset: int
) -> Sequence[ModelVersion]:
    statement = (
        select(ModelVersion)
        .where(ModelVersion.model_id == model_id)
        .order_by(ModelVersion.version.desc())
        .limit(limit)
        .offset(offset)
    )
    return session.scalars(statement).all()


def version_numbers(session: Session, model_id: int) -> list[int]:
    statement = (
        select(ModelVersion.version)
        .where(ModelVersion.model_id == model_id)
        .order_by(ModelVersion.version)
    )
    return list(session.scalars(statement).all())


def get_alias(session: Session, model_id: int, alias: str) -> ModelAlias | None:
    statement = select(ModelAlias).where(ModelAlias.model_id == model_id, ModelAlias.alias == alias)
    return session.scalars(statement).one_or_none()


def owner_versions(session: Session, owner_id: int) -> list[tuple[int, str | None, str | None]]:
    """(id, artifact key, sample key) of every version of the owner's models."""
    query = (
        select(ModelVersion.id, ModelVersion.artifact_key, ModelVersion.sample_key)
        .join(RegisteredModel, ModelVersion.model_id == RegisteredModel.id)
        .where(RegisteredModel.owner_id == owner_id)
    )
    return [(row[0], row[1], row[2]) for row in session.execute(query)]


def get_version_for_update(session: Session, version_id: int) -> ModelVersion | None:
    """A version's row, locked until the transaction ends (PostgreSQL; SQLite locks the
    whole database on write)."""
    statement = select(ModelVersion).where(ModelVersion.id == version_id).with_for_update()
    return session.scalars(statement).one_or_none()
