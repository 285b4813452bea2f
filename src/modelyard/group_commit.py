"""Group commit: single-row INSERTs of concurrent requests, written several to a transaction.

A request whose whole write is one new row (a small confusion matrix, say) can hand the row to
``GroupCommit.insert`` instead of opening a session: one writer thread takes every row waiting
when it wakes, inserts them in one transaction (one ``executemany`` per table) and commits, then
wakes each waiting request with one call into its event loop. ``insert`` returns once the row is
committed, so the request still answers only what is stored; what it saves is the per-request
cost of a write: a worker-thread trip, a session, a transaction and its commit (on SQLite, the
file's write lock taken and handed over once per group instead of once per row). Nothing waits
for a group to fill: a row that arrives while the writer is idle is written at once, alone.

This departs from "the request owns the transaction" (STYLE.md) on purpose and only for such
rows: the transaction holds nothing but the rows, each request's own row either commits or
fails for that request alone (when a group fails, its rows are written again one by one, so a
bad row takes down only its own request), and the caller learns the outcome before answering.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, insert

__all__ = ["GroupCommit"]

log = logging.getLogger(__name__)

# Rows written in one transaction at most (a burst larger than this takes several).
MAX_GROUP = 64


@dataclass(slots=True)
class _Row:
    table: Table
    values: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


_STOP = object()


class GroupCommit:
    """One writer thread for ``engine``, started when the first row comes."""

    def __init__(self, engine: Engine, *, max_group: int = MAX_GROUP) -> None:
        self._engine = engine
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Row | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def insert(self, table: Table, values: dict[str, Any]) -> None:
        """Insert one row; returns once it is committed, raises what writing it raised.

        Never from a request whose own session has begun a transaction (see
        ``db.session_is_idle``): on SQLite the writer could wait for that transaction's write
        lock while the transaction waits for this insert.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._start()
        self._queue.put(_Row(table, values, loop, future))
        # A request cancelled meanwhile (its client hung up) cancels only its wait: the row is
        # written all the same, as a worker thread's write would be.
        await future

    def _start(self) -> None:
        # Not alive in a forked child either: the child starts its own writer.
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("the database is closed")
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._run, name="modelyard-group-commit")
                thread.daemon = True  # close() ends it; a crashed server must still exit
                thread.start()
                self._thread = thread

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            assert isinstance(first, _Row)
            group = [first]
            stop = False
            while len(group) < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                assert isinstance(item, _Row)
                group.append(item)
            self._write(group)
            if stop:
                return

    def _write(self, group: list[_Row]) -> None:
        try:
            self._execute(group)
        except Exception as exc:
            if len(group) == 1:
                _settle(group, [exc])
                return
            # One bad row must not fail the rest: each is written again on its own.
            outcomes: list[BaseException | None] = []
            for row in group:
                try:
                    self._execute([row])
                except Exception as row_exc:
                    outcomes.append(row_exc)
                else:
                    outcomes.append(None)
            _settle(group, outcomes)
        else:
            _settle(group, [None] * len(group))

    def _execute(self, group: Sequence[_Row]) -> None:
        by_table: dict[Table, list[dict[str, Any]]] = {}
        for row in group:
            by_table.setdefault(row.table, []).append(row.values)
        with self._engine.begin() as connection:
            for table, rows in by_table.items():
                connection.execute(insert(table), rows)


def _settle(group: Sequence[_Row], outcomes: Sequence[BaseException | None]) -> None:
    """Wake the waiting requests: one call into each event loop for the whole group."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], Any]]] = {}
    for row, outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(row.loop, []).append((row.future, outcome))
    for loop, results in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, results)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            log.warning("group commit: %d rows written for a closed event loop", len(results))


def _resolve(results: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for future, outcome in results:
        if future.done():
            continue
        if outcome is None:
            future.set_result(None)
        else:
            future.set_exception(outcome)
