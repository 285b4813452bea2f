"""Async predictions: start one now, fetch its result by id later, from any replica.

``AsyncResults.start`` records the id as pending, runs the prediction in a background task and
stores its outcome (a JSON result, or the error it ended in) for ``ttl_seconds``. The records
live in the ephemeral store (``modelyard.kv``): a dict in this process by default, Redis when a
broker URL is set, so the replica that answers the fetch need not be the one that predicted.

``fetch`` waits up to the client wait time for a pending id, polling the store; then:

* the result → returned (the adapter renders it: native, mlup, ...);
* still pending → ``PredictTimeout`` (408);
* unknown, expired, or another caller's → ``PredictionNotFound`` (404);
* the prediction failed → ``StoredPredictError`` with the status and code it failed with.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable
from contextlib import suppress
from typing import Any

import anyio.to_thread

from modelyard.errors import ModelyardError
from modelyard.kv import EphemeralStore, MemoryStore
from modelyard.registry.loaders import summarise
from modelyard.serving.exceptions import PredictionNotFound, PredictTimeout, StoredPredictError

__all__ = ["AsyncResults"]

log = logging.getLogger(__name__)

_KEY = "predict:"


class AsyncResults:
    def __init__(self, store: EphemeralStore, *, poll_seconds: float = 0.02) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        # The in-process store answers at once; Redis goes to a worker thread (a network call).
        self._local = isinstance(store, MemoryStore)
        self._tasks: set[asyncio.Task[None]] = set()

    async def _set(self, predict_id: str, record: dict[str, Any], ttl: float) -> None:
        data = json.dumps(record, separators=(",", ":")).encode()
        if self._local:
            self.store.set_bytes(_KEY + predict_id, data, ttl)
        else:
            await anyio.to_thread.run_sync(self.store.set_bytes, _KEY + predict_id, data, ttl)

    async def get(self, predict_id: str) -> dict[str, Any] | None:
        """The stored record (``state``: pending, done or failed), or None."""
        if self._local:
            data = self.store.get_bytes(_KEY + predict_id)
        else:
            data = await anyio.to_thread.run_sync(self.store.get_bytes, _KEY + predict_id)
        if data is None:
            return None
        record: dict[str, Any] = json.loads(data)
        return record

    async def start(
        self,
        predict_id: str,
        work: Awaitable[dict[str, Any]],
        *,
        owner_id: int | None,
        ttl_seconds: float,
        client_wait_seconds: float,
    ) -> None:
        """Record ``predict_id`` as pending and run ``work`` in the background.

        ``work`` answers a JSON-able result (what ``fetch`` returns later); a ``ModelyardError``
        it raises is stored with its status and code, anything else as a 500 ``predict_error``.
        The pending mark lives as long as a result would, plus the client wait time.
        """
        base = {"owner_id": owner_id, "wait": client_wait_seconds, "started": time.time()}
        await self._set(predict_id, {**base, "state": "pending"}, ttl_seconds + client_wait_seconds)

        async def run() -> None:
            try:
                result = await work
                record = {**base, "state": "done", "status": 200, "result": result}
            except ModelyardError as exc:
                record = {
                    **base,
                    "state": "failed",
                    "status": exc.status_code,
                    "code": exc.code,
                    "message": exc.message,
                    "details": exc.details,
                    # Retry-After of a 503, answered again with the stored error.
                    "headers": exc.headers,
                }
            except Exception as exc:
                log.exception("async prediction %s failed", predict_id)
                record = {
                    **base,
                    "state": "failed",
                    "status": 500,
                    "code": "predict_error",
                    "message": f"{type(exc).__name__}: {summarise(exc)}",
                    "details": None,
                }
            try:
                await self._set(predict_id, record, ttl_seconds)
            except Exception:
                log.exception("async prediction %s: its result could not be stored", predict_id)

        task = asyncio.get_running_loop().create_task(run(), name=f"predict-{predict_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def fetch(
        self,
        predict_id: str,
        *,
        owner_id: int | None = None,
        check_owner: bool = True,
        wait_seconds: float | None = None,
    ) -> Any:
        """The result of ``predict_id``, waiting up to ``wait_seconds`` (default: the wait
        time given at ``start``) while it is pending. See the module's docstring for errors."""
        deadline: float | None = None
        while True:
            record = await self.get(predict_id)
            if record is None or (check_owner and record.get("owner_id") != owner_id):
                raise PredictionNotFound(details={"predict_id": predict_id})
            state = record.get("state")
            if state == "done":
                return record.get("result")
            if state == "failed":
                raise StoredPredictError(
                    int(record.get("status", 500)),
                    str(record.get("code", "predict_error")),
                    str(record.get("message", "The model failed to predict")),
                    record.get("details"),
                    headers=record.get("headers"),
                )
            now = time.monotonic()
            if deadline is None:
                wait = float(record.get("wait", 30.0)) if wait_seconds is None else wait_seconds
                deadline = now + max(0.0, wait)
            if now >= deadline:
                raise PredictTimeout(
                    "The prediction is not ready yet; ask again later",
                    details={"predict_id": predict_id},
                )
            await asyncio.sleep(min(self.poll_seconds, max(0.0, deadline - now)))

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel the predictions still running (their ids stay pending until they expire)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with suppress(asyncio.CancelledError, Exception):
                await task
