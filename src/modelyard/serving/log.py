"""The request/response log, written off the hot path.

A request hands its entry to a bounded queue and goes on; one background thread writes the
entries in batches (every ``flush_rows`` entries or ``flush_ms`` milliseconds, whichever comes
first) and drains the queue at shutdown. A full queue drops the entry and counts it rather than
slowing every request down to the database's pace.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from modelyard.db import Database
from modelyard.serving import repository

__all__ = ["RequestLogWriter"]

log = logging.getLogger(__name__)


class _Flush:
    """A marker in the queue: the entries before it are written when ``done`` is set."""

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class RequestLogWriter:
    def __init__(
        self, database: Database, *, queue_size: int, flush_rows: int, flush_ms: int
    ) -> None:
        self._database = database
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._flush_rows = flush_rows
        self._flush_seconds = flush_ms / 1000
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="modelyard-request-log", daemon=True)
        self._thread.start()

    def submit(self, entry: dict[str, Any]) -> None:
        """Queue one entry; never blocks."""
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("request log queue full: %d entries dropped so far", self.dropped)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every entry queued so far is written (tests, exports)."""
        if self._thread is None or not self._thread.is_alive():
            return False
        marker = _Flush()
        self._queue.put(marker, timeout=timeout)
        return marker.done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        batch: list[dict[str, Any]] = []
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if isinstance(item, dict):
                batch.append(item)
                deadline = deadline or time.monotonic() + self._flush_seconds
                if len(batch) < self._flush_rows:
                    continue
            self._write(batch)
            batch, deadline = [], None
            if isinstance(item, _Flush):
                item.done.set()
            elif item is _STOP:
                return

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
