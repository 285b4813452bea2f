"""Engine, sessions and the declarative base.

The request owns the transaction: ``get_session`` commits when the endpoint returns and rolls
back when it raises. Services may flush, never commit. Work that must happen only once the
data is committed (sending a job to a worker) is registered with ``after_commit``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator
from starlette.concurrency import run_in_threadpool

from modelyard.config import Settings
from modelyard.group_commit import GroupCommit

__all__ = [
    "Base",
    "Database",
    "DatabaseDep",
    "SessionDep",
    "UTCDateTime",
    "after_commit",
    "get_session",
    "normalize_database_url",
    "run_and_commit",
    "session_is_idle",
    "utcnow",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


def normalize_database_url(url: str) -> str:
    """Pick the driver modelyard ships with for a bare ``postgresql://`` URL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """One engine and its session factory; built from settings, disposed at shutdown."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10, busy_ms: int = 30_000):
        self.url = normalize_database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # A server's connections can drop; a file's cannot, so SQLite pays no ping per checkout.
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": not self.is_sqlite}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_ms / 1000}
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_ms))
            _SqliteWriterLock(busy_ms).attach(self.engine)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # Single-row inserts of concurrent requests, several to a commit (group_commit.py).
        self.group_commit = GroupCommit(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.database_url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
            busy_ms=settings.database.sqlite_busy_timeout_ms,
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work outside a request (CLI, jobs): commits on success."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.group_commit.close()
        self.engine.dispose()


# The page size of a database file SQLite creates (an existing file keeps its own; SQLite
# ignores the pragma there). The request log is most of what the service writes, and a
# 100-row request's entry is about 48 KB: in 4 KB pages that is 12 WAL frames, each written
# with two system calls and copied back by the checkpoint with two more, which cost more CPU
# than the bytes (bench/README.md, "The request log's pages"). 16 KB pages need a quarter of
# the calls; a small transaction (a few pages) pays a little more, and 32 KB pages would make
# it pay about twice what it does in 4 KB ones.
SQLITE_PAGE_SIZE = 16 * 1024


def _sqlite_pragmas(busy_ms: int) -> Callable[[Any, Any], None]:
    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # Before journal_mode: switching an empty file to WAL writes its first page.
        cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        # WAL lets readers go on while one writer writes; the busy timeout makes a second
        # writer wait instead of failing at once.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return set_pragmas


_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class _SqliteWriterLock:
    """Lets one thread of this process write at a time, from its first write to its commit.

    SQLite admits one writer; a second one is left to its busy handler, which sleeps in steps
    of up to 100 ms, so under concurrent writes most of the time went to sleeping (small
    matrix creates at 8 clients spent a third of their time there). Waiting on a lock instead
    hands the database over the moment the writer commits. The busy timeout still covers
    other processes (a CLI command next to a running server).
    """

    _HELD = "modelyard.sqlite_write_lock"

    def __init__(self, busy_ms: int) -> None:
        self._lock = threading.Lock()
        self._timeout = busy_ms / 1000

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before_execute)
        event.listen(engine, "commit", self._release_connection)
        event.listen(engine, "rollback", self._release_connection)
        # A connection given back to the pool without commit or rollback (an error in between)
        # must not keep the lock.
        event.listen(engine.pool, "checkin", self._release_record)
        event.listen(engine.pool, "reset", self._release_reset)

    def _before_execute(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn.info.get(self._HELD) or not statement.lstrip()[:7].upper().startswith(_WRITE_VERBS):
            return
        if not self._lock.acquire(timeout=self._timeout):
            # What SQLite's own busy timeout raises, so callers see one error either way.
            raise sqlite3.OperationalError("database is locked")
        conn.info[self._HELD] = True

    def _release(self, info: dict[str, Any]) -> None:
        if info.pop(self._HELD, False):
            self._lock.release()

    def _release_connection(self, conn: Any) -> None:
        self._release(conn.info)

    def _release_record(self, _dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            self._release(record.info)

    def _release_reset(self, _dbapi_connection: Any, record: Any, _state: Any) -> None:
        self._release(record.info)


_AFTER_COMMIT = "modelyard.after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's current transaction has committed (never on rollback)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The data is committed; a failed hand-off is logged, and jobs left PENDING are
            # picked up again by the executor's recovery.
            log.exception("after-commit callback failed")


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


_USED_CONNECTION = "modelyard.used_connection"
_ENDED = "modelyard.ended"


@event.listens_for(Session, "after_begin")
def _mark_connection_used(session: Session, _transaction: Any, _connection: Any) -> None:
    session.info[_USED_CONNECTION] = True


def session_is_idle(session: Session) -> bool:
    """True when ``session`` has touched no database yet and holds no change: its request may
    write through ``Database.group_commit`` without waiting on a transaction of its own."""
    return not (
        session.info.get(_USED_CONNECTION) or session.new or session.dirty or session.deleted
    )


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session: committed when the endpoint returns, rolled back if it raises.

    Opening a session does no I/O, so only the end goes to the thread pool: one trip per
    request instead of two for a ``def`` generator, and none when the request never reached
    the database (a credential from the cache, say) or already ended its session with
    ``run_and_commit``. The end is shielded from cancellation so a client that hangs up never
    leaves a connection checked out.
    """
    database: Database = request.app.state.database
    session = database.sessionmaker()
    try:
        yield session
    except BaseException:
        if not session.info.get(_ENDED):
            with anyio.CancelScope(shield=True):
                await _end_session(session, commit=False)
        raise
    if not session.info.get(_ENDED):
        with anyio.CancelScope(shield=True):
            await _end_session(session, commit=True)


async def _end_session(session: Session, *, commit: bool) -> None:
    if session_is_idle(session):  # ending it needs no trip to the database
        session.close()
    else:
        await run_in_threadpool(_end, session, commit=commit)


def _end(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


def _work_then_end(session: Session, work: Callable[[], T]) -> T:
    try:
        result = work()
    except BaseException:
        session.info[_ENDED] = True
        _end(session, commit=False)
        raise
    session.info[_ENDED] = True
    _end(session, commit=True)
    return result


async def run_and_commit(session: Session, work: Callable[[], T]) -> T:
    """Run a request's blocking work, then commit (or roll back) its session, in one trip to
    the thread pool instead of two; ``get_session`` then has nothing left to do.

    The commit comes before the response is built, so ``work`` should return what the answer
    is made of (built from committed values, no lazy loads: the session is closed after). On
    SQLite a writer also holds the write lock only from its first write to this commit, not
    across the trips back to the event loop.
    """
    return await run_in_threadpool(_work_then_end, session, work)


# scope="function": the commit happens before the response is sent, so a failed commit is
# reported to the client instead of being lost after a 200.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


# For a route that may not need a session at all (a write through the group commit): it
# opens one with ``Database.session`` only when it does, in the thread that uses it.
DatabaseDep = Annotated[Database, Depends(get_database)]
