"""The SQLite engine: writers of one process take turns without SQLite's sleeping busy handler."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.exc import OperationalError

from modelyard.db import Database

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
