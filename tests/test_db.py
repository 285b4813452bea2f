"""The SQLite engine: writers of one process take turns without SQLite's sleeping busy handler."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from unittest.mock import patch

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from modelyard.db import SQLITE_PAGE_SIZE, Database, SessionDep, _end, run_and_commit

_meta = MetaData()
_rows = Table("rows", _meta, Column("id", Integer, primary_key=True), Column("n", Integer))


def _database(tmp_path: Path, busy_ms: int = 30_000) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}", busy_ms=busy_ms)
    _meta.create_all(database.engine)
    return database


def test_concurrent_writers_all_commit(tmp_path: Path) -> None:
    database = _database(tmp_path)
    errors: list[BaseException] = []

    def write(start: int) -> None:
        try:
            for n in range(start, start + 25):
                with database.session() as session:
                    session.execute(_rows.insert().values(n=n))
                    # A read between the write and the commit, as a request does.
                    session.execute(select(_rows.c.n).limit(1)).all()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i * 100,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.session() as session:
        assert session.scalar(text("SELECT count(*) FROM rows")) == 200
    database.dispose()


def test_a_rolled_back_or_abandoned_writer_frees_the_database(tmp_path: Path) -> None:
    # A short timeout: were the lock kept, the next writer would fail within a second.
    database = _database(tmp_path, busy_ms=1000)
    session = database.sessionmaker()
    session.execute(_rows.insert().values(n=1))
    session.rollback()
    session.close()

    abandoned = database.sessionmaker()
    abandoned.execute(_rows.insert().values(n=2))
    abandoned.close()  # back to the pool without a commit

    def write_elsewhere() -> None:
        with database.session() as other:
            other.execute(_rows.insert().values(n=3))

    thread = threading.Thread(target=write_elsewhere)
    thread.start()
    thread.join(timeout=10)
    with database.session() as check:
        assert check.scalars(select(_rows.c.n)).all() == [3]
    database.dispose()


def test_a_writer_that_holds_on_too_long_times_out_the_next_one(tmp_path: Path) -> None:
    database = _database(tmp_path, busy_ms=200)
    holder = database.sessionmaker()
    holder.execute(_rows.insert().values(n=1))
    failures: list[BaseException] = []

    def write() -> None:
        try:
            with database.session() as other:
                other.execute(_rows.insert().values(n=2))
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(timeout=10)
    holder.commit()
    holder.close()
    assert len(failures) == 1 and isinstance(failures[0], OperationalError)
    assert "database is locked" in str(failures[0])
    with database.session() as check:
        assert check.scalars(select(_rows.c.n)).all() == [1]
    database.dispose()


# --- the request's session: run_and_commit and the end without a thread trip ---------------


def _session_app(database: Database) -> tuple[FastAPI, list[Session]]:
    app = FastAPI()
    app.state.database = database
    seen: list[Session] = []

    @app.post("/one-trip/{n}")
    async def one_trip(n: int, session: SessionDep) -> dict[str, int]:
        seen.append(session)

        def work() -> dict[str, int]:
            session.execute(_rows.insert().values(n=n))
            if n < 0:
                raise ValueError("refused")
            return {"n": n}

        return await run_and_commit(session, work)

    @app.get("/nothing")
    async def nothing(session: SessionDep) -> dict[str, bool]:
        seen.append(session)
        return {"ok": True}

    return app, seen


def _count(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(text("SELECT count(*) FROM rows")) or 0)


def test_run_and_commit_commits_in_its_trip_and_the_dependency_does_nothing_more(
    tmp_path: Path,
) -> None:
    database = _database(tmp_path)
    app, _ = _session_app(database)
    ends: list[bool] = []

    def counted_end(session: Session, *, commit: bool) -> None:
        ends.append(commit)
        _end(session, commit=commit)

    with patch("modelyard.db._end", side_effect=counted_end), TestClient(app) as client:
        assert client.post("/one-trip/5").json() == {"n": 5}
    assert ends == [True]  # one end: run_and_commit's, none from get_session
    assert _count(database) == 1
    database.dispose()


def test_run_and_commit_rolls_back_when_the_work_raises(tmp_path: Path) -> None:
    database = _database(tmp_path, busy_ms=1000)
    app, _ = _session_app(database)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/one-trip/-1").status_code == 500
        # The write lock was freed: the next writer gets in at once.
        assert client.post("/one-trip/2").status_code == 200
    assert _count(database) == 1
    database.dispose()


def test_a_session_that_never_reached_the_database_ends_without_io(tmp_path: Path) -> None:
    database = _database(tmp_path)
    app, seen = _session_app(database)
    with patch("modelyard.db.run_in_threadpool") as trip, TestClient(app) as client:
        assert client.get("/nothing").json() == {"ok": True}
    trip.assert_not_called()
    assert seen and not seen[0].in_transaction()
    database.dispose()


def test_a_new_sqlite_file_gets_large_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    database = _database(tmp_path)
    with database.engine.connect() as conn:
        assert conn.execute(text("PRAGMA page_size")).scalar() == SQLITE_PAGE_SIZE == 16384
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    database.dispose()

    old_path = tmp_path / "old.sqlite"
    with sqlite3.connect(old_path) as old:  # made elsewhere, in SQLite's default pages
        old.execute("PRAGMA page_size=4096")
        old.execute("CREATE TABLE t (n INTEGER)")
        old.execute("INSERT INTO t VALUES (1)")
    old.close()
    reopened = Database(f"sqlite:///{old_path}")
    with reopened.engine.connect() as conn:
        assert conn.execute(text("PRAGMA page_size")).scalar() == 4096
        assert conn.execute(text("SELECT n FROM t")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    reopened.dispose()
