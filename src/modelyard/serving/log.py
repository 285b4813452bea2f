"""The request/response log, group-committed: an answer waits for its entry's commit.

A durable entry (``commit``, the default for every answered prediction) is queued, and the
request waits until the transaction that holds it has committed; only then is the answer
sent, so what a client was answered is in the log, also after the server is killed (-9). One
writer thread takes everything queued, writes it in one transaction (at most ``flush_rows``
rows each; a backlog takes several) and commits, wakes the waiting requests, and repeats: a
batch commits as soon as the previous commit ends, with no timer in between, and under load
batches grow on their own (the commits of concurrent requests are shared, as in PostgreSQL's
and InnoDB's group commit). The requests of one batch wait on ONE asyncio future per event
loop, resolved with one ``call_soon_threadsafe``: a request pays no future, no lock wait and
no wake-up of its own, except the first of a batch when the writer is idle.

A best-effort entry (``submit``: a version that opted in with ``request_log: best_effort``,
and the log entries of refused or failed requests, which answer an error anyway) is queued
and not waited for; it rides with the next batch, or is written ``flush_ms`` after it came
when no durable entry wakes the writer sooner. It may be lost if the process dies before
then, and a full queue drops it (counted in ``dropped``).

A durable entry that cannot be written (the queue holds ``queue_size`` entries, the database
refuses or cannot be reached, the writer is not running) raises ``LogUnavailable``: the caller
answers 503 with ``Retry-After`` instead of an answer that the log would not hold.

Durability of a commit: PostgreSQL's is durable (``synchronous_commit`` on, its default).
SQLite runs in WAL mode with ``synchronous=NORMAL`` (``db.py``): a committed transaction is in
the WAL file, i.e. handed to the operating system, so it survives the process being killed;
a power cut or an OS crash may lose the last transactions (``synchronous=FULL`` would fsync
every commit).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from modelyard.db import Database
from modelyard.serving import repository
from modelyard.serving.exceptions import LogUnavailable

__all__ = ["RequestLogWriter"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Failure:
    """What went wrong with a batch: ``failed`` holds the predict ids not written."""

    reason: str
    failed: frozenset[str]


# A batch's outcome, shared by every request that waited on it: None when all was written.
_Outcome = _Failure | None


class RequestLogWriter:
    def __init__(
        self, database: Database, *, queue_size: int, flush_rows: int, flush_ms: int
    ) -> None:
        self._database = database
        self._queue_size = queue_size
        self._flush_rows = flush_rows
        self._flush_seconds = flush_ms / 1000
        # Everything below ``_lock`` is read and changed under it, by requests (on their event
        # loops) and by the writer thread. A plain lock: uncontended, taking it costs about as
        # much as a dict lookup, and the writer holds it only to swap the lists.
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._oldest_at = 0.0  # monotonic time the oldest entry waiting was queued
        # The future each event loop's durable entries of the waiting batch share.
        self._waiters: dict[asyncio.AbstractEventLoop, asyncio.Future[_Outcome]] = {}
        self._idle = False  # the writer waits on ``_wake``: the next durable entry sets it
        self._submitted = 0  # entries queued so far
        self._processed = 0  # ... and written (or dropped on a failed write)
        self._urgent = 0  # flush(): write at once up to this count
        self._stopping = False
        self._running = False
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        self._connection: Connection | None = None  # the writer thread's own
        self.dropped = 0
        self.written = 0

    def start(self) -> None:
        self._stopping = False
        self._running = True
        self._thread = threading.Thread(target=self._run, name="modelyard-request-log", daemon=True)
        self._thread.start()

    def submit(self, entry: dict[str, Any]) -> None:
        """Queue one best-effort entry; never blocks, never raises (a full queue drops it)."""
        with self._lock:
            if len(self._entries) >= self._queue_size:
                self.dropped += 1
                dropped = self.dropped
            else:
                dropped = 0
                if not self._entries:
                    self._oldest_at = time.monotonic()
                self._entries.append(entry)
                self._submitted += 1
                wake = self._idle and len(self._entries) >= self._flush_rows
                if wake:
                    self._idle = False
        if dropped:
            if dropped == 1 or dropped % 1000 == 0:
                log.warning("request log queue full: %d entries dropped so far", dropped)
        elif wake:
            self._wake.set()

    async def commit(self, entry: dict[str, Any], *, retry_after: int = 1) -> None:
        """Queue one entry and return once the transaction holding it has committed.

        Raises ``LogUnavailable`` (503, ``Retry-After: retry_after``) when it cannot be
        written: the queue is full, the writer is not running, or the database failed it.
        Cancelling the caller (its client hung up) cancels only its wait: the entry is
        written all the same.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if not self._running or len(self._entries) >= self._queue_size:
                full = self._running
                future = None
            else:
                if not self._entries:
                    self._oldest_at = time.monotonic()
                self._entries.append(entry)
                self._submitted += 1
                future = self._waiters.get(loop)
                if future is None:
                    future = self._waiters[loop] = loop.create_future()
                wake = self._idle
                self._idle = False  # one wake-up per idle spell, not one per request
        if future is None:
            self.dropped += 1
            reason = "its queue is full" if full else "its writer is not running"
            raise LogUnavailable(
                f"The request log cannot take the entry now ({reason}), so the answer is "
                "withheld; try again later",
                retry_after=retry_after,
                details={"predict_id": entry.get("predict_id"), "reason": reason},
            )
        if wake:
            self._wake.set()
        # Shielded: the future is the batch's, and a cancelled request must not cancel the
        # wait of the others that share it.
        outcome = await asyncio.shield(future)
        if outcome is not None and entry.get("predict_id") in outcome.failed:
            raise LogUnavailable(
                "The request log could not be written, so the answer is withheld; try again later",
                retry_after=retry_after,
                details={"predict_id": entry.get("predict_id"), "reason": outcome.reason},
            )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every entry queued so far is written (tests, exports)."""
        if self._thread is None or not self._thread.is_alive():
            return False
        with self._lock:
            target = self._submitted
            self._urgent = max(self._urgent, target)
            self._idle = False
        self._wake.set()
        with self._progress:
            return self._progress.wait_for(lambda: self._processed >= target, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread; durable entries after this get 503."""
        if self._thread is None:
            return
        with self._lock:
            self._running = False
            self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            with self._lock:
                entries = self._entries
                ready = bool(entries) and (
                    bool(self._waiters)
                    or self._stopping
                    or self._urgent > self._processed
                    or len(entries) >= self._flush_rows
                    or time.monotonic() - self._oldest_at >= self._flush_seconds
                )
                if ready:
                    self._entries = []
                    waiters, self._waiters = self._waiters, {}
                    taken = self._submitted
                    self._idle = False
                elif self._stopping:
                    self._close_connection()
                    return
                else:
                    # Checked and marked under the lock: a durable entry queued after this
                    # sees the mark and wakes the writer; one queued before was seen above.
                    self._idle = True
                    wait = (
                        self._oldest_at + self._flush_seconds - time.monotonic()
                        if entries
                        else self._flush_seconds
                    )
            if not ready:
                self._wake.wait(max(wait, 0.0))
                # A set() that lands after this clear() only makes a later wait return early;
                # the state is read again under the lock either way.
                self._wake.clear()
                continue
            outcome: _Outcome = _Failure("the request log writer failed", _ids(entries))
            try:
                outcome = self._write_all(entries)
            except Exception:  # never leave a request waiting for ever
                log.exception("request log writer: a batch of %d entries failed", len(entries))
            finally:
                _settle(waiters, outcome)
                with self._progress:
                    self._processed = max(self._processed, taken)
                    self._progress.notify_all()

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        """One transaction on the writer's own connection, kept from batch to batch: with a
        commit per batch, batches are small under light load, and a pool checkout and an ORM
        session per batch cost more than their rows (bench/README.md, 2026-12-06). A failed
        transaction drops the connection; the next batch checks out a fresh one."""
        connection = self._connection
        if connection is None:
            connection = self._connection = self._database.engine.connect()
        try:
            with connection.begin():
                repository.insert_logs(connection, rows)
        except BaseException:
            self._close_connection()
            raise

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(Exception):
                connection.close()

    def _write_all(self, entries: list[dict[str, Any]]) -> _Outcome:
        failures = [
            outcome
            for start in range(0, len(entries), self._flush_rows)
            if (outcome := self._write(entries[start : start + self._flush_rows])) is not None
        ]
        if not failures:
            return None
        return _Failure(
            failures[0].reason, frozenset().union(*(failure.failed for failure in failures))
        )

    def _write(self, batch: list[dict[str, Any]]) -> _Outcome:
        """Write ``batch`` in one transaction; when that fails, row by row."""
        if not batch:
            return None
        try:
            self._insert(batch)
            self.written += len(batch)
            return None
        except Exception as exc:
            reason = _reason(exc)
            log.warning(
                "request log batch failed (%s); writing its %d rows one by one", reason, len(batch)
            )
        failed: set[str] = set()
        for index, entry in enumerate(batch):
            try:
                self._insert([entry])
                self.written += 1
            except (sa_exc.OperationalError, sa_exc.TimeoutError) as exc:
                # The database, not this row (unreachable, locked, out of space): the rest
                # would fail alike, each after its own timeout.
                rest = batch[index:]
                self.dropped += len(rest)
                failed.update(_ids(rest))
                reason = _reason(exc)
                log.error("request log: %d entries not written: %s", len(rest), reason)
                break
            except Exception:
                # Its model was deleted in the meantime, most likely; the rest still count.
                self.dropped += 1
                failed.add(str(entry.get("predict_id")))
                log.exception("request log entry %s dropped", entry.get("predict_id"))
        return _Failure(reason, frozenset(failed)) if failed else None


def _ids(entries: Iterable[dict[str, Any]]) -> frozenset[str]:
    return frozenset(str(entry.get("predict_id")) for entry in entries)


def _reason(exc: BaseException) -> str:
    # The driver's first line only: no SQL statement or parameters (the rows' data) in it.
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _settle(
    waiters: dict[asyncio.AbstractEventLoop, asyncio.Future[_Outcome]], outcome: _Outcome
) -> None:
    """Wake the batch's requests: one call into each event loop."""
    for loop, future in waiters.items():
        # A closed loop raises RuntimeError: nobody is waiting there any more.
        with suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, future, outcome)


def _resolve(future: asyncio.Future[_Outcome], outcome: _Outcome) -> None:
    if not future.done():
        future.set_result(outcome)
