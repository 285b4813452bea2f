"""Group commit: concurrent single-row inserts share transactions, and fail only alone."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, select
from sqlalchemy.exc import IntegrityError

from modelyard.db import Database

_meta = MetaData()
_rows = Table(
    "rows",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), unique=True, nullable=False),
)


def _database(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    _meta.create_all(database.engine)
    return database


def _names(database: Database) -> list[str]:
    with database.engine.connect() as connection:
        return sorted(connection.scalars(select(_rows.c.name)))


def _count_commits(database: Database) -> list[int]:
    commits = [0]

    def on_commit(_connection: Any) -> None:
        commits[0] += 1

    event.listen(database.engine, "commit", on_commit)
    return commits


def test_concurrent_rows_share_commits_and_all_land(tmp_path: Path) -> None:
    database = _database(tmp_path)
    commits = _count_commits(database)
    # Hold the writer on its first row so the others queue behind it, as under load.
    entered, release = threading.Event(), threading.Event()

    def slow_first(*_args: Any) -> None:
        if not entered.is_set():
            entered.set()
            release.wait(10)

    event.listen(database.engine, "before_cursor_execute", slow_first)

    async def main() -> None:
        first = asyncio.create_task(database.group_commit.insert(_rows, {"name": "r0"}))
        await asyncio.to_thread(entered.wait, 10)
        rest = [
            asyncio.create_task(database.group_commit.insert(_rows, {"name": f"r{i}"}))
            for i in range(1, 40)
        ]
        await asyncio.sleep(0.05)  # every insert is queued
        release.set()
        await asyncio.gather(first, *rest)

    asyncio.run(main())
    assert _names(database) == sorted(f"r{i}" for i in range(40))
    assert commits[0] == 2  # the first row alone, then the 39 that queued behind it
    database.dispose()


def test_a_bad_row_fails_only_its_own_insert(tmp_path: Path) -> None:
    database = _database(tmp_path)
    entered, release = threading.Event(), threading.Event()

    def slow_first(*_args: Any) -> None:
        if not entered.is_set():
            entered.set()
            release.wait(10)

    event.listen(database.engine, "before_cursor_execute", slow_first)

    async def main() -> list[BaseException | None]:
        first = asyncio.create_task(database.group_commit.insert(_rows, {"name": "a"}))
        await asyncio.to_thread(entered.wait, 10)
        # One group: two good rows around one that repeats a unique name.
        group = [
            asyncio.create_task(database.group_commit.insert(_rows, {"name": name}))
            for name in ("b", "a", "c")
        ]
        await asyncio.sleep(0.05)
        release.set()
        await first
        return list(await asyncio.gather(*group, return_exceptions=True))

    outcomes = asyncio.run(main())
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], IntegrityError)
    assert _names(database) == ["a", "b", "c"]
    database.dispose()


def test_a_cancelled_wait_still_writes_the_row(tmp_path: Path) -> None:
    database = _database(tmp_path)

    async def main() -> None:
        task = asyncio.create_task(database.group_commit.insert(_rows, {"name": "gone"}))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await database.group_commit.insert(_rows, {"name": "next"})

    asyncio.run(main())
    assert _names(database) == ["gone", "next"]
    database.dispose()


def test_close_writes_what_is_queued_then_refuses(tmp_path: Path) -> None:
    database = _database(tmp_path)
    writer = database.group_commit

    async def main() -> None:
        await writer.insert(_rows, {"name": "kept"})
        writer.close()
        with pytest.raises(RuntimeError, match="closed"):
            await writer.insert(_rows, {"name": "late"})

    asyncio.run(main())
    assert _names(database) == ["kept"]
    database.dispose()
