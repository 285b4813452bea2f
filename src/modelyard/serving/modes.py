"""Serving modes for one loaded model: direct, queue and batching, with per-model throttling.

Transport-free: a dispatcher takes a validated numpy matrix and answers a ``Prediction``; the
REST routes, the compatibility servers (mlup) and the inference protocol sit on top.

* ``direct``: every request is its own model call in a worker thread.
* ``queue``: requests wait in a bounded queue (``max_queue_size``); ``workers`` tasks take them
  one at a time, each running the model in a worker thread. A full queue raises ``QueueFull``
  (503 with Retry-After) at once instead of letting latency grow without bound.
* ``batching``: requests wait in the same bounded queue; one collector merges them until the
  batch holds ``max_batch_rows`` rows or ``max_wait_ms`` has passed since its first request,
  makes ONE model call on the stacked matrix, and hands each request exactly its own slice.
  While a batch runs, the next one keeps filling, so under load batches grow on their own.

Worker threads, per version: ``max_threads`` bounds the worker threads a version's requests use
at once in this process (direct mode's requests, and the decoding of large bodies in the queue
and batching modes, whose model calls ``workers`` bounds already); the others wait their turn
in the version's thread pool. One Python process runs one thread at a time (the GIL), so a
CPU-bound model gains nothing from more threads than that, and many threads handing the GIL to
one another cost CPU of their own; a model that releases the GIL (its own native threads, I/O)
can take more. Each version has its own limit: a slow version at 1 never holds up another one.
The bound is the version's own thread pool (``max_threads`` threads; null: a pool of 40 shared
by every such version), whose queue holds the requests waiting their turn: handing a call to a
pool thread and back costs about 30 us of CPU, where ``anyio.to_thread.run_sync`` with a
capacity limiter cost 105 us and a wake-up of the event loop per waiter. A cancelled caller
(the server shutting down) gives up a call still queued; one that has begun it waits for.

Throttling, in every mode: ``max_request_rows`` rows per request and ``max_concurrent_requests``
requests in flight (queued or running) per dispatcher, i.e. per model version and process;
beyond either, ``Throttled`` (429).

A dispatcher belongs to the event loop it first ran on; ``bound_to_running_loop`` tells the
owner when a new one is needed (tests start a loop per client).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import numpy as np

from modelyard.registry.loaders import Prediction, summarise
from modelyard.registry.sandbox import ModelError
from modelyard.serving.exceptions import (
    PredictFailed,
    PredictTimeout,
    QueueFull,
    ServingStopped,
    Throttled,
)

__all__ = [
    "DEFAULT_MAX_THREADS",
    "MODES",
    "BatchingDispatcher",
    "DirectDispatcher",
    "Dispatcher",
    "Mode",
    "ModeOptions",
    "PredictCall",
    "QueueDispatcher",
    "RequestLogMode",
    "build_dispatcher",
    "in_thread",
    "shared_pool",
    "split_prediction",
]

log = logging.getLogger(__name__)

Mode = Literal["direct", "queue", "batching"]
RequestLogMode = Literal["durable", "best_effort"]
MODES: tuple[Mode, ...] = ("direct", "queue", "batching")

# A blocking model call (numpy matrix in, one prediction per row out); runs in a worker thread.
PredictCall = Callable[[np.ndarray], Prediction]

# Worker threads per version unless its options or the server say otherwise: see bench/README.md
# (2026-12-02) for 1 against 2 and anyio's shared 40.
DEFAULT_MAX_THREADS = 1


@dataclass(frozen=True)
class ModeOptions:
    """How one model version is served. mlup's names in brackets."""

    mode: Mode = "direct"
    # queue and batching: requests waiting; one more gets QueueFull [max_queue_size]
    max_queue_size: int = 100
    # queue: worker tasks; batching: batches running at once
    workers: int = 1
    # batching: a batch is sent once it holds this many rows [min_batch_len]
    max_batch_rows: int = 64
    # batching: ... or this long after its first request arrived [batch_worker_timeout, in s]
    max_wait_ms: float = 5.0
    # requests in flight (queued or running) [throttling_max_requests]; None: no limit
    max_concurrent_requests: int | None = None
    # rows in one request [throttling_max_request_len]; None: no limit
    max_request_rows: int | None = None
    # how long a client waits for its result before PredictTimeout (408) [ttl_client_wait]
    client_wait_seconds: float = 30.0
    # how long an async result is kept [ttl_predicted_data]
    result_ttl_seconds: int = 60
    # the Retry-After a full queue answers
    retry_after_seconds: int = 1
    # worker threads this version's requests use at once (see the module's docstring);
    # None: no limit of its own (the process's shared pool of 40 threads)
    max_threads: int | None = DEFAULT_MAX_THREADS
    # "durable": an answer waits for the commit of its log entry (serving.log); "best_effort":
    # it does not, and may be missing from the log after a crash
    request_log: RequestLogMode = "durable"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.request_log not in ("durable", "best_effort"):
            raise ValueError(
                f"request_log must be durable or best_effort, not {self.request_log!r}"
            )
        for name in ("max_queue_size", "workers", "max_batch_rows", "result_ttl_seconds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_wait_ms < 0 or self.client_wait_seconds <= 0:
            raise ValueError("max_wait_ms must be >= 0 and client_wait_seconds > 0")
        for name in ("max_concurrent_requests", "max_request_rows", "max_threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None: no limit)")

    def merged(self, overrides: dict[str, Any] | None) -> ModeOptions:
        """These options with ``overrides`` (None values and unknown keys ignored)."""
        if not overrides:
            return self
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if k in known and v is not None})

    @classmethod
    def from_mlup(
        cls,
        mode: Mode,
        *,
        max_queue_size: int = 100,
        ttl_predicted_data: int = 60,
        ttl_client_wait: float = 30.0,
        min_batch_len: int = 10,
        batch_worker_timeout: float = 1.0,
        throttling_max_requests: int | None = None,
        throttling_max_request_len: int | None = None,
    ) -> ModeOptions:
        """Options from mlup's config names (and its defaults)."""
        return cls(
            mode=mode,
            max_queue_size=max_queue_size,
            max_batch_rows=min_batch_len,
            max_wait_ms=batch_worker_timeout * 1000,
            max_concurrent_requests=throttling_max_requests,
            max_request_rows=throttling_max_request_len,
            client_wait_seconds=ttl_client_wait,
            result_ttl_seconds=ttl_predicted_data,
        )


def split_prediction(prediction: Prediction, sizes: Sequence[int]) -> list[Prediction]:
    """Cut one batch's prediction into consecutive parts of ``sizes`` rows."""
    total = sum(sizes)
    if len(prediction.predictions) != total or (
        prediction.probabilities is not None and len(prediction.probabilities) != total
    ):
        raise PredictFailed(
            f"the model answered {len(prediction.predictions)} rows for a batch of {total}"
        )
    parts, start = [], 0
    for size in sizes:
        end = start + size
        probabilities = (
            prediction.probabilities[start:end] if prediction.probabilities is not None else None
        )
        parts.append(
            Prediction(prediction.predictions[start:end], probabilities, prediction.classes)
        )
        start = end
    return parts


_SHARED_POOL_THREADS = 40  # as anyio's default thread limiter


@functools.cache
def shared_pool() -> ThreadPoolExecutor:
    """The worker threads of versions without ``max_threads`` and of the queued modes' model
    calls (those bound by their ``workers``): one pool per process, made on first use (on an
    event loop: the dispatchers ask for it from there only)."""
    return ThreadPoolExecutor(_SHARED_POOL_THREADS, thread_name_prefix="modelyard-predict-shared")


async def in_thread(pool: ThreadPoolExecutor, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a thread of ``pool``, with the caller's context variables.

    Cancelling the caller cancels a call still waiting in the pool's queue (it never runs);
    one that has begun is waited for before the cancellation goes on, so what the caller
    counts as in flight (throttling, draining a retired dispatcher) stays true."""
    # One loop future, settled by the thread with one call_soon_threadsafe: 30 us of CPU per
    # trip here, where wrapping the pool's future (asyncio.wrap_future) and shielding it cost 49.
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if answer.done():  # its caller was cancelled meanwhile
            return
        if error is None:
            answer.set_result(result)
        else:
            answer.set_exception(error)

    def run() -> None:
        try:
            result = context.run(function, *args)
        except StopIteration as exc:
            # A future refuses one (and the caller would wait for ever): as in a generator
            # (PEP 479), it arrives as a RuntimeError.
            error = RuntimeError(f"StopIteration: {exc}")
            error.__cause__ = exc
            loop.call_soon_threadsafe(settle, None, error)
        except BaseException as exc:  # the caller's to raise, whatever it is
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    future = pool.submit(run)
    try:
        return await answer
    except asyncio.CancelledError:
        if not future.cancel():
            await _until_done(asyncio.wrap_future(future))
        raise


async def _until_done(waiting: asyncio.Future[Any]) -> None:
    while not waiting.done():
        with suppress(asyncio.CancelledError):  # cancelled again: still wait for the thread
            await asyncio.wait([waiting])
    if not waiting.cancelled():
        waiting.exception()  # the cancelled caller takes no result; mark the error as seen


def _model_error(exc: Exception) -> Exception:
    if isinstance(exc, PredictFailed | ServingStopped):
        return exc
    from modelyard.errors import ModelyardError

    if isinstance(exc, ModelyardError):
        return exc
    if isinstance(exc, ModelError):  # the model's own exception, told by its worker
        return PredictFailed(summarise(exc))
    # The library's own text (source paths and all) stays in the server's log.
    return PredictFailed(f"{type(exc).__name__}: {summarise(exc)}")


class Dispatcher:
    """Throttling shared by every mode; subclasses say how the model is called."""

    mode: Mode = "direct"

    def __init__(self, call: PredictCall, options: ModeOptions) -> None:
        self.call = call
        self.options = options
        self.in_flight = 0
        self.calls = 0  # model calls made (a batch counts once)
        # What one request of the serving core's direct path has cost lately (its average;
        # None until one is answered) and how often one waited on the loop: ``ServingCore``'s.
        self.request_cost_seconds: float | None = None
        self.inline_waits = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._pool: ThreadPoolExecutor | None = None

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The version's own worker threads (``max_threads`` of them, made on first use); with
        ``max_threads`` null, the pool every such version shares."""
        if self.options.max_threads is None:
            return shared_pool()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self.options.max_threads, thread_name_prefix="modelyard-predict"
            )
        return self._pool

    async def run_in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in one of ``pool``'s threads, with the caller's context variables
        (the request id of its log lines); the caller waits on the event loop meanwhile."""
        return await in_thread(self.pool, function, *args)

    # -- throttling ---------------------------------------------------------------------------

    def check_rows(self, n_rows: int) -> None:
        """Refuse a request of more rows than ``max_request_rows`` (thread-safe, no state)."""
        limit = self.options.max_request_rows
        if limit is not None and n_rows > limit:
            raise Throttled(
                f"{n_rows} rows in one request; this model takes at most {limit}",
                details={"limit": "max_request_rows", "rows": n_rows, "max": limit},
            )

    def _acquire(self) -> None:
        if self._closed:
            raise ServingStopped()
        limit = self.options.max_concurrent_requests
        if limit is not None and self.in_flight >= limit:
            raise Throttled(
                f"{limit} requests are in flight for this model already; try again later",
                details={"limit": "max_concurrent_requests", "max": limit},
            )
        self.in_flight += 1

    def _release(self, *_: object) -> None:
        self.in_flight -= 1

    def _done(self, future: asyncio.Future[Prediction]) -> None:
        self._release()
        # Its error is the waiter's to raise; a waiter that gave up (408) must not leave
        # asyncio logging "exception was never retrieved".
        if not future.cancelled():
            future.exception()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Count the caller as one request in flight while it predicts by itself (or 429).

        The serving core's direct path uses it to decode, validate and predict in ONE worker
        thread; everyone else calls ``submit`` or ``predict``.
        """
        self._acquire()
        try:
            yield
        finally:
            self._release()

    # -- predicting ---------------------------------------------------------------------------

    def submit(self, matrix: np.ndarray) -> asyncio.Future[Prediction]:
        """Throttle and hand ``matrix`` to the model; the future holds its prediction.

        Raises at once, on the event loop: ``Throttled`` (429), ``QueueFull`` (503),
        ``ServingStopped`` (503). The request counts as in flight until the future is done.
        """
        self.check_rows(len(matrix))
        self._bind()
        self._acquire()
        try:
            future = self._submit(matrix)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._done)
        return future

    async def wait(
        self, future: asyncio.Future[Prediction], seconds: float | None = None
    ) -> Prediction:
        """The prediction of ``submit``; ``PredictTimeout`` (408) after ``seconds``
        (default ``client_wait_seconds``). Giving up never cancels the model's work."""
        seconds = self.options.client_wait_seconds if seconds is None else seconds
        if future.done():
            return future.result()
        try:
            # asyncio.timeout, not wait_for: no extra task per request.
            async with asyncio.timeout(seconds):
                return await asyncio.shield(future)
        except TimeoutError:
            raise PredictTimeout(
                f"no result within {seconds:g} s", details={"client_wait_seconds": seconds}
            ) from None

    async def predict(self, matrix: np.ndarray, seconds: float | None = None) -> Prediction:
        """``submit`` then ``wait``: the prediction of ``matrix`` in this dispatcher's mode."""
        return await self.wait(self.submit(matrix), seconds)

    def _submit(self, matrix: np.ndarray) -> asyncio.Future[Prediction]:
        raise NotImplementedError

    async def _call(self, matrix: np.ndarray) -> Prediction:
        self.calls += 1
        try:
            result: Prediction = await in_thread(self._call_pool(), self.call, matrix)
        except Exception as exc:
            raise _model_error(exc) from exc
        return result

    def _call_pool(self) -> ThreadPoolExecutor:
        # The queue and batching modes bound their model calls with ``workers`` already.
        return shared_pool()

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._start()
        elif self._loop is not loop:
            raise RuntimeError("a dispatcher is used from a second event loop")

    def bound_to_running_loop(self) -> bool:
        """False when this dispatcher started on another (maybe closed) event loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return self._loop is None or self._loop is loop

    def _start(self) -> None:
        """Start background tasks on the running loop (queue and batching)."""

    @property
    def queued(self) -> int:
        return 0

    async def close(self) -> None:
        """Refuse new requests, fail the queued ones, stop the background tasks."""
        self._closed = True
        await self._stop()
        self.release_threads()

    def release_threads(self) -> None:
        """End the version's own threads once idle (a call already running finishes)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    async def _stop(self) -> None:
        """What ``close`` ends of the mode's own (its calls in flight, its tasks, its queue)."""


class DirectDispatcher(Dispatcher):
    mode: Mode = "direct"

    def __init__(self, call: PredictCall, options: ModeOptions) -> None:
        super().__init__(call, options)
        self._tasks: set[asyncio.Future[Prediction]] = set()

    def _call_pool(self) -> ThreadPoolExecutor:
        return self.pool

    def _submit(self, matrix: np.ndarray) -> asyncio.Future[Prediction]:
        task = asyncio.get_running_loop().create_task(self._call(matrix))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _stop(self) -> None:
        for task in list(self._tasks):
            with suppress(Exception):  # its caller got the error already
                await task


@dataclass
class _Item:
    matrix: np.ndarray
    future: asyncio.Future[Prediction]


class _QueuedDispatcher(Dispatcher):
    def __init__(self, call: PredictCall, options: ModeOptions) -> None:
        super().__init__(call, options)
        self._queue: asyncio.Queue[_Item] | None = None
        # Requests waiting: in the queue, or held by the batch collector; not yet in the model.
        self._waiting = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def queued(self) -> int:
        return self._waiting

    def _start(self) -> None:
        # Unbounded: ``_waiting`` is the bound, as it also counts what a collector holds.
        self._queue = asyncio.Queue()
        self._tasks = [
            asyncio.get_running_loop().create_task(self._work(), name=f"modelyard-{self.mode}-{i}")
            for i in range(self._n_tasks())
        ]

    def _n_tasks(self) -> int:
        return self.options.workers

    async def _work(self) -> None:
        raise NotImplementedError

    def _submit(self, matrix: np.ndarray) -> asyncio.Future[Prediction]:
        assert self._queue is not None
        if self._waiting >= self.options.max_queue_size:
            raise QueueFull(
                f"{self.options.max_queue_size} requests are waiting for this model already",
                retry_after=self.options.retry_after_seconds,
                details={"max_queue_size": self.options.max_queue_size},
            )
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(matrix, future))
        self._waiting += 1
        return future

    @staticmethod
    def _settle(item: _Item, result: Prediction | BaseException) -> None:
        if item.future.done():
            return
        if isinstance(result, BaseException):
            item.future.set_exception(result)
        else:
            item.future.set_result(result)

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._queue is not None:
            while not self._queue.empty():
                self._settle(self._queue.get_nowait(), ServingStopped())
        self._waiting = 0


class QueueDispatcher(_QueuedDispatcher):
    mode: Mode = "queue"

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            self._waiting -= 1
            if item.future.done():
                continue
            try:
                result: Prediction | BaseException = await self._call(item.matrix)
            except asyncio.CancelledError:
                self._settle(item, ServingStopped())
                raise
            except Exception as exc:
                result = exc
            self._settle(item, result)


def _compatible(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape[1:] == b.shape[1:] and a.dtype == b.dtype


class BatchingDispatcher(_QueuedDispatcher):
    mode: Mode = "batching"

    def __init__(self, call: PredictCall, options: ModeOptions) -> None:
        super().__init__(call, options)
        self._carry: _Item | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self.batch_sizes: list[int] = []  # rows of the most recent batches (tests, metrics)

    def _n_tasks(self) -> int:
        return 1  # one collector; ``workers`` bounds the batches running at once

    def _start(self) -> None:
        self._slots = asyncio.Semaphore(self.options.workers)
        super()._start()

    def _take(self, batch: list[_Item], rows: int, item: _Item | None = None) -> tuple[bool, int]:
        """Add ``item`` (else the next waiting one) to ``batch`` if it fits: (added?, rows)."""
        assert self._queue is not None
        if item is None:
            item = self._queue.get_nowait()
        if item.future.done():  # settled already (closing): it waits no more
            self._waiting -= 1
            return True, rows
        n = len(item.matrix)
        if not _compatible(batch[0].matrix, item.matrix) or rows + n > self.options.max_batch_rows:
            self._carry = item
            return False, rows
        batch.append(item)
        return True, rows + n

    async def _work(self) -> None:
        assert self._queue is not None and self._slots is not None
        loop = asyncio.get_running_loop()
        limit = self.options.max_batch_rows
        while True:
            first, self._carry = self._carry, None
            if first is None:
                first = await self._queue.get()
            if first.future.done():
                self._waiting -= 1
                continue
            batch, rows = [first], len(first.matrix)
            deadline = loop.time() + self.options.max_wait_ms / 1000
            while rows < limit and self._carry is None:
                item = None
                if self._queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        async with asyncio.timeout(remaining):
                            item = await self._queue.get()
                    except TimeoutError:
                        break
                added, rows = self._take(batch, rows, item)
                if not added:
                    break
            await self._slots.acquire()
            # While we waited for a free slot more requests may have come: take them too.
            while rows < limit and self._carry is None and not self._queue.empty():
                added, rows = self._take(batch, rows)
                if not added:
                    break
            self._waiting -= len(batch)
            task = loop.create_task(self._run_batch(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run_batch(self, batch: list[_Item]) -> None:
        assert self._slots is not None
        try:
            sizes = [len(item.matrix) for item in batch]
            self.batch_sizes = [*self.batch_sizes[-99:], sum(sizes)]
            matrix = (
                batch[0].matrix if len(batch) == 1 else np.concatenate([i.matrix for i in batch])
            )
            try:
                parts: Sequence[Prediction | BaseException] = split_prediction(
                    await self._call(matrix), sizes
                )
            except Exception as exc:
                if len(batch) == 1:
                    parts = [exc]
                else:
                    # One bad request must not fail the others: call each one alone.
                    parts = [await self._alone(item.matrix) for item in batch]
            for item, part in zip(batch, parts, strict=True):
                self._settle(item, part)
        except asyncio.CancelledError:
            for item in batch:
                self._settle(item, ServingStopped())
            raise
        finally:
            self._slots.release()

    async def _alone(self, matrix: np.ndarray) -> Prediction | BaseException:
        try:
            return await self._call(matrix)
        except Exception as exc:
            return exc

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._carry is not None:
            self._settle(self._carry, ServingStopped())
            self._carry = None
        await super().close()


_CLASSES: dict[Mode, type[Dispatcher]] = {
    "direct": DirectDispatcher,
    "queue": QueueDispatcher,
    "batching": BatchingDispatcher,
}


def build_dispatcher(call: PredictCall, options: ModeOptions) -> Dispatcher:
    """A dispatcher for one loaded model in ``options.mode``; its tasks start on first use."""
    return _CLASSES[options.mode](call, options)
