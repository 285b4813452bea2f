"""Every query of the auth domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from modelyard.auth.models import ApiKey, User
from modelyard.db import utcnow

__all__ = [
    "active_keys_named",
    "add",
    "count_users",
    "get_api_key",
    "get_api_key_by_prefix",
    "get_user",
    "get_user_by_email",
    "get_user_by_username",
    "latest_active_key_prefixes",
    "list_api_keys",
    "list_users",
    "revoke_keys",
]


def add(session: Session, obj: User | ApiKey) -> None:
    session.add(obj)
    session.flush()


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email))


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def list_users(session: Session, *, limit: int, offset: int) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.id).limit(limit).offset(offset)).all()


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def get_api_key_by_prefix(session: Session, prefix: str) -> ApiKey | None:
    """The key and its user in one query: every request signed with a key asks for both."""
    return session.scalar(
        select(ApiKey).options(joinedload(ApiKey.user)).where(ApiKey.prefix == prefix)
    )


def get_api_key(session: Session, user_id: int, key_id: int) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id))


def list_api_keys(session: Session, user_id: int) -> Sequence[ApiKey]:
    return session.scalars(
        select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id.desc())
    ).all()


def active_keys_named(session: Session, user_id: int, name: str) -> Sequence[ApiKey]:
    return session.scalars(
        select(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.name == name, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.id.desc())
    ).all()


def revoke_keys(session: Session, key_ids: Sequence[int]) -> None:
    if key_ids:
        session.execute(update(ApiKey).where(ApiKey.id.in_(key_ids)).values(revoked_at=utcnow()))


def latest_active_key_prefixes(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(
        select(ApiKey.user_id, ApiKey.prefix)
        .where(ApiKey.user_id.in_(user_ids), ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.id)
    ).all()
    return {user_id: prefix for user_id, prefix in rows}  # later (newer) rows win
