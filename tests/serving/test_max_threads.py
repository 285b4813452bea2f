"""Direct mode's worker threads per version (``max_threads``): the cap holds, and it is each
version's own, so a version busy up to its cap never holds up another one."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np
import pytest

from modelyard.config import ServingSettings
from modelyard.db import Database
from modelyard.registry.loaders import Prediction
from modelyard.registry.schemas import ServingTarget
from modelyard.serving.cache import ModelCache
from modelyard.serving.modes import DEFAULT_MAX_THREADS, ModeOptions, in_thread, shared_pool
from modelyard.serving.service import ServingCore
from tests.serving.helpers import recording_log, serving_target

ONE_ROW = b'{"X": [[1, 2]]}'


def target(version_id: int, **serving: Any) -> ServingTarget:
    return serving_target(
        version_id=version_id,
        version=version_id,
        artifact_key=f"k{version_id}",
        sha256=str(version_id) * 64,
        serving={"mode": "direct", **serving},
    )


class Gated:
    """Holds every call until ``gate`` opens; counts the calls running at once."""

    kind = "classifier"
    n_features = 2
    feature_names = None
    classes: ClassVar[list[int]] = [0, 1]

    def __init__(self, gated: bool = True) -> None:
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.running = 0
        self.most = 0
        self.calls = 0
        self._lock = threading.Lock()

    def predict(self, matrix: np.ndarray) -> Prediction:
        with self._lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        try:
            # Bounded, so a broken cap fails the test instead of hanging it.
            self.gate.wait(10)
        finally:
            with self._lock:
                self.running -= 1
        return Prediction([0] * len(matrix), [[1.0, 0.0]] * len(matrix), [0, 1])


def make_core(database: Database, models: dict[int, Gated]) -> ServingCore:
    return ServingCore(
        ModelCache(4, lambda t: models[t.version_id]),  # type: ignore[arg-type, return-value]
        recording_log(database)[0],
        max_rows=10_000,
    )


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 10 s")


def predict(core: ServingCore, t: ServingTarget, i: int) -> asyncio.Task[Any]:
    return asyncio.create_task(
        core.predict(t, ONE_ROW, predict_id=f"{t.version_id}-{i}", user_id=1, source="native")
    )


@pytest.mark.parametrize("cap", [1, 2])
def test_a_version_never_runs_more_calls_at_once_than_its_max_threads(
    database: Database, cap: int
) -> None:
    slow = Gated()
    core = make_core(database, {1: slow})
    version = target(1, max_threads=cap)

    async def main() -> None:
        tasks = [predict(core, version, i) for i in range(cap + 3)]
        await until(lambda: slow.running == cap)
        # The others wait their turn on the event loop: give them every chance to start.
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert slow.running == cap and slow.calls == cap
        slow.gate.set()
        await asyncio.gather(*tasks)
        await core.close()

    asyncio.run(main())
    assert slow.most == cap
    assert slow.calls == cap + 3


def test_a_version_at_its_cap_does_not_hold_up_another_version(database: Database) -> None:
    slow, quick = Gated(), Gated(gated=False)
    core = make_core(database, {1: slow, 2: quick})
    held, free = target(1, max_threads=1), target(2, max_threads=1)

    async def main() -> None:
        tasks = [predict(core, held, i) for i in range(3)]
        await until(lambda: slow.running == 1)
        # Version 2 is answered while version 1's three requests are still held.
        await asyncio.wait_for(predict(core, free, 0), 10)
        assert quick.calls == 1
        assert not any(task.done() for task in tasks) and slow.running == 1
        slow.gate.set()
        await asyncio.gather(*tasks)
        await core.close()

    asyncio.run(main())
    assert slow.most == 1


def test_the_server_default_applies_and_a_version_overrides_it() -> None:
    assert ServingSettings().max_threads == DEFAULT_MAX_THREADS
    defaults = ModeOptions(max_threads=3)
    assert defaults.merged({"mode": "direct"}).max_threads == 3
    assert defaults.merged({"max_threads": 1}).max_threads == 1
    with pytest.raises(ValueError, match="max_threads"):
        ModeOptions(max_threads=0)


def test_a_call_in_a_worker_thread_sees_the_callers_context_variables() -> None:
    # The request id of a log line written from the model's thread comes from here.
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")

    async def main() -> tuple[str, str]:
        request_id.set("req-1")
        pool = ThreadPoolExecutor(1)
        try:
            seen = await in_thread(pool, request_id.get)
            name = await in_thread(pool, lambda: threading.current_thread().name)
        finally:
            pool.shutdown()
        return seen, name

    seen, name = asyncio.run(main())
    assert seen == "req-1"
    assert name != threading.main_thread().name


def test_a_cancelled_call_still_waiting_for_a_thread_never_runs() -> None:
    gate, ran = threading.Event(), []

    async def main() -> None:
        pool = ThreadPoolExecutor(1)
        busy = asyncio.ensure_future(in_thread(pool, gate.wait, 10))
        waiting = asyncio.ensure_future(in_thread(pool, ran.append, "ran"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        gate.set()
        assert await busy is True
        pool.shutdown(wait=True)

    asyncio.run(main())
    assert ran == []


def test_a_cancelled_caller_waits_for_its_call_that_has_begun() -> None:
    # What the caller counts as in flight (throttling, draining) must stay true until the
    # model call in the thread has ended.
    gate, started = threading.Event(), threading.Event()

    def call() -> str:
        started.set()
        gate.wait(10)
        return "done"

    async def main() -> bool:
        pool = ThreadPoolExecutor(1)
        caller = asyncio.ensure_future(in_thread(pool, call))
        await asyncio.to_thread(started.wait, 10)
        caller.cancel()
        await asyncio.sleep(0.05)
        waited = not caller.done()  # still waiting for the running call
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await caller
        pool.shutdown(wait=True)
        return waited

    assert asyncio.run(main()) is True


def test_closing_a_dispatcher_ends_its_own_threads(database: Database) -> None:
    quick = Gated(gated=False)
    core = make_core(database, {1: quick})
    version = target(1, max_threads=2)

    async def main() -> ThreadPoolExecutor:
        await predict(core, version, 0)
        pool = core.dispatcher_for(version).pool
        assert pool is not shared_pool()
        await core.close()
        return pool

    pool = asyncio.run(main())
    with pytest.raises(RuntimeError, match="shutdown"):
        pool.submit(print)
