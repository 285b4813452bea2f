"""A stand-in for pycm-api's create path, to measure against in the same run.

pycm-api itself is not installable here; this is its ``/cm/create`` as its source does it:
FastAPI with a ``List[float]`` body, a user found by a plain API-key column, PyCM from the
vectors, ``save_obj`` (vectors included) to a folder, a SQLAlchemy row committed to SQLite.
Run by ``evaluation_create.py`` under uvicorn with pycm-api's defaults (access log on).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pycm
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import ForeignKey, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

DATA = Path(os.environ.get("PYCM_LIKE_DATA", "pycm_like_data"))
(DATA / "cms").mkdir(parents=True, exist_ok=True)
engine = create_engine(f"sqlite:///{DATA / 'DB.db'}", connect_args={"check_same_thread": False})
SessionLocal = sessionmaker(engine)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    api_key: Mapped[str] = mapped_column(String(100), index=True)


class CM(Base):
    __tablename__ = "cms"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(100), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


Base.metadata.create_all(engine)
app = FastAPI()


class CMCreate(BaseModel):
    api_key: str
    actual_vector: list[float]
    predicted_vector: list[float]


def get_db() -> Iterator[Session]:
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


@app.post("/user")
def make_user(db: Session = Depends(get_db)) -> dict[str, str]:
    key = secrets.token_urlsafe(32)
    db.add(User(api_key=key))
    db.commit()
    return {"api_key": key}


@app.post("/cm/create")
def create(body: CMCreate, db: Session = Depends(get_db)) -> dict[str, str]:
    user = db.scalar(select(User).where(User.api_key == body.api_key))
    if user is None:
        raise HTTPException(404, "Invalid API key")
    uid = secrets.token_urlsafe(16)
    cm = pycm.ConfusionMatrix(
        actual_vector=body.actual_vector, predict_vector=body.predicted_vector
    )
    if not cm.save_obj(str(DATA / "cms" / uid))["Status"]:
        raise HTTPException(500, "save failed")
    db.add(CM(uid=uid, owner_id=user.id))
    db.commit()
    return {"uid": uid}
