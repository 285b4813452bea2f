"""Every query of the evaluation domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from modelyard.db import utcnow
from modelyard.evaluation.models import ConfusionMatrixRecord
from modelyard.group_commit import GroupCommit

__all__ = [
    "NewRow",
    "add",
    "add_grouped",
    "count_all",
    "count_for_owner",
    "delete",
    "get_by_uid",
    "get_many_by_uid",
    "list_all",
    "list_for_owner",
    "set_cached_key",
    "uids_by_owner",
]


_TABLE = cast(Table, ConfusionMatrixRecord.__table__)


def add(session: Session, record: ConfusionMatrixRecord) -> ConfusionMatrixRecord:
    """Insert a new matrix with one INSERT, then attach it to the session as if loaded.

    Creating a matrix is this API's busiest write; the unit of work's flush cost twice as much
    as the statement itself (0.85 ms against 0.4 ms of CPU for a small matrix).
    """
    now = utcnow()
    values = {
        "uid": record.uid,
        "owner_id": record.owner_id,
        "name": record.name,
        "label_kind": record.label_kind,
        "classes": record.classes,
        "matrix": record.matrix,
        "headline": record.headline,
        "version": record.version if record.version is not None else 1,
        "obj_key": record.obj_key,
        "report_key": record.report_key,
        "plot_key": record.plot_key,
        "created_at": record.created_at or now,
        "updated_at": record.updated_at or now,
    }
    result = cast(CursorResult[Any], session.execute(insert(_TABLE), values))
    (record_id,) = result.inserted_primary_key or (None,)
    stored = ConfusionMatrixRecord(id=record_id, **values)
    make_transient_to_detached(stored)
    session.add(stored)  # persistent: later changes to it flush as UPDATEs
    return stored


@dataclass(frozen=True, slots=True)
class NewRow:
    """A new matrix's columns for ``add_grouped``: a plain object, since building an ORM
    instance (its instrumented state) cost more than the row's share of a grouped INSERT."""

    uid: str
    owner_id: int
    name: str | None
    label_kind: str
    classes: list[Any]
    matrix: list[Any]
    headline: dict[str, Any]
    created_at: datetime
    updated_at: datetime


async def add_grouped(writer: GroupCommit, row: NewRow) -> None:
    """Insert a new matrix through the group commit; returns once it is committed."""
    values = {
        "uid": row.uid,
        "owner_id": row.owner_id,
        "name": row.name,
        "label_kind": row.label_kind,
        "classes": row.classes,
        "matrix": row.matrix,
        "headline": row.headline,
        "version": 1,
        "obj_key": None,
        "report_key": None,
        "plot_key": None,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    await writer.insert(_TABLE, values)


def get_by_uid(session: Session, uid: str) -> ConfusionMatrixRecord | None:
    return session.scalar(select(ConfusionMatrixRecord).where(ConfusionMatrixRecord.uid == uid))


def get_many_by_uid(session: Session, uids: Sequence[str]) -> list[ConfusionMatrixRecord]:
    return list(
        session.scalars(
            select(ConfusionMatrixRecord).where(ConfusionMatrixRecord.uid.in_(list(uids)))
        )
    )


def list_for_owner(
    session: Session, owner_id: int, *, limit: int, offset: int
) -> Sequence[ConfusionMatrixRecord]:
    return session.scalars(
        select(ConfusionMatrixRecord)
        .where(ConfusionMatrixRecord.owner_id == owner_id)
        .order_by(ConfusionMatrixRecord.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()


def count_for_owner(session: Session, owner_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(ConfusionMatrixRecord)
            .where(ConfusionMatrixRecord.owner_id == owner_id)
        )
        or 0
    )


def list_all(session: Session, *, limit: int, offset: int) -> Sequence[ConfusionMatrixRecord]:
    return session.scalars(
        select(ConfusionMatrixRecord).order_by(ConfusionMatrixRecord.id).limit(limit).offset(offset)
    ).all()


def count_all(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ConfusionMatrixRecord)) or 0


def uids_by_owner(session: Session, owner_ids: Sequence[int]) -> dict[int, list[str]]:
    rows = session.execute(
        select(ConfusionMatrixRecord.owner_id, ConfusionMatrixRecord.uid)
        .where(ConfusionMatrixRecord.owner_id.in_(list(owner_ids)))
        .order_by(ConfusionMatrixRecord.id)
    ).all()
    found: dict[int, list[str]] = {owner_id: [] for owner_id in owner_ids}
    for owner_id, uid in rows:
        found[owner_id].append(uid)
    return found


def set_cached_key(session: Session, record_id: int, version: int, column: str, key: str) -> bool:
    """Record a rendered file's key unless the matrix changed or another render won meanwhile."""
    target = getattr(ConfusionMatrixRecord, column)
    result = session.execute(
        update(ConfusionMatrixRecord)
        .where(
            ConfusionMatrixRecord.id == record_id,
            ConfusionMatrixRecord.version == version,
            target.is_(None),
        )
        # Keep updated_at: caching a rendering does not change the matrix.
        .values({column: key, "updated_at": ConfusionMatrixRecord.updated_at})
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def delete(session: Session, record: ConfusionMatrixRecord) -> None:
    session.delete(record)
    session.flush()


def owner_file_keys(session: Session, owner_id: int) -> list[str]:
    """Every stored file of the owner's matrices: .obj, reports, plots."""
    query = select(
        ConfusionMatrixRecord.obj_key, ConfusionMatrixRecord.report_key,
        ConfusionMatrixRecord.plot_key,
    ).where(ConfusionMatrixRecord.owner_id == owner_id)  # fmt: skip
    return [key for row in session.execute(query) for key in row if key]
