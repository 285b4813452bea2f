"""The request/response log, written off the hot path.

A request hands its entry to a bounded queue and goes on; one background thread writes the
entries in batches (every ``flush_rows`` entries or ``flush_ms`` milliseconds after the oldest
waiting one, whichever comes first) and drains the queue at shutdown. A full queue drops the
entry and counts it rather than slowing every request down to the database's pace.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from typing import Any

from modelyard.db import Database
from modelyard.serving import repository

__all__ = ["RequestLogWriter"]

log = logging.getLogger(__name__)


class RequestLogWriter:
    def __init__(
        self, database: Database, *, queue_size: int, flush_rows: int, flush_ms: int
    ) -> None:
        self._database = database
        self._queue_size = queue_size
        # (sequence number, monotonic time queued, entry). A deque, not queue.Queue: appending
        # takes no lock and wakes nobody, so a request pays nothing for the writer thread; the
        # thread wakes on its own timer, or when a full batch is waiting.
        self._entries: deque[tuple[int, float, dict[str, Any]]] = deque()
        self._flush_rows = flush_rows
        self._flush_seconds = flush_ms / 1000
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._sequence = itertools.count(1)
        self._submitted = 0  # sequence number of the newest entry queued
        self._processed = 0  # ... and of the newest one written (or dropped on a failed write)
        self._urgent = 0  # flush(): write at once up to this sequence number
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="modelyard-request-log", daemon=True)
        self._thread.start()

    def submit(self, entry: dict[str, Any]) -> None:
        """Queue one entry; never blocks."""
        if len(self._entries) >= self._queue_size:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("request log queue full: %d entries dropped so far", self.dropped)
            return
        number = next(self._sequence)
        self._entries.append((number, time.monotonic(), entry))
        self._submitted = number
        if len(self._entries) == self._flush_rows:
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every entry queued so far is written (tests, exports)."""
        if self._thread is None or not self._thread.is_alive():
            return False
        target = self._submitted
        self._urgent = max(self._urgent, target)
        self._wake.set()
        with self._progress:
            return self._progress.wait_for(lambda: self._processed >= target, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def _take(self, limit: int) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        last = 0
        while self._entries and len(batch) < limit:
            last, _, entry = self._entries.popleft()
            batch.append(entry)
        self._write(batch)
        if last:
            with self._progress:
                self._processed = max(self._processed, last)
                self._progress.notify_all()
        return batch

    def _run(self) -> None:
        while True:
            while len(self._entries) >= self._flush_rows:
                self._take(self._flush_rows)
            if self._entries:
                oldest_number, oldest_time, _ = self._entries[0]
                wait = oldest_time + self._flush_seconds - time.monotonic()
                if wait <= 0 or self._stopping or oldest_number <= self._urgent:
                    self._take(self._flush_rows)
                    continue
            else:
                if self._stopping:
                    return
                wait = self._flush_seconds
            self._wake.wait(wait)
            self._wake.clear()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        try:
            with self._database.session() as session:
                repository.insert_logs(session, batch)
            self.written += len(batch)
            return
        except Exception:
            log.warning("request log batch failed; writing its %d rows one by one", len(batch))
        for entry in batch:
            try:
                with self._database.session() as session:
                    repository.insert_logs(session, [entry])
                self.written += 1
            except Exception:
                # Its model was deleted in the meantime, most likely; the rest still count.
                self.dropped += 1
                log.exception("request log entry %s dropped", entry.get("predict_id"))
