"""Direct mode runs a cheap version's small requests on the event loop, a dear one's in threads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time

import numpy as np

from modelyard.config import ServingSettings
from modelyard.db import Database
from modelyard.registry.loaders import Prediction
from modelyard.serving.cache import ModelCache
from modelyard.serving.exceptions import InvalidPredictInput
from modelyard.serving.service import INLINE_MAX_BODY_BYTES, ServingCore
from tests.serving.helpers import recording_log, serving_target

TARGET = serving_target()
ONE_ROW = b'{"X": [[1, 2]]}'


class Model:
    """Burns ``cpu`` seconds of CPU and sleeps ``wait`` seconds; notes the thread of each call."""

    kind = "classifier"
    n_features = 2
    feature_names = None

    def __init__(self, cpu: float = 0.0, wait: float = 0.0) -> None:
        self.classes = [0, 1]
        self.cpu = cpu
        self.wait = wait
        self.threads: list[str] = []

    def predict(self, matrix: np.ndarray) -> Prediction:
        self.threads.append(threading.current_thread().name)
        until = time.thread_time() + self.cpu
        while time.thread_time() < until:
            pass
        time.sleep(self.wait)
        n = len(matrix)
        return Prediction([0] * n, [[1.0, 0.0]] * n, [0, 1])


# A budget far above the cheap model's cost and far below the dear one's, so a loaded machine
# (both suites at once) cannot tip either across it.
def serve(database: Database, model: Model, bodies: list[bytes], budget: float = 0.01) -> None:
    core = ServingCore(
        ModelCache(4, lambda target: model),  # type: ignore[arg-type, return-value]
        recording_log(database)[0],
        max_rows=10_000,
        inline_budget_seconds=budget,
    )

    async def main() -> None:
        for i, body in enumerate(bodies):
            with contextlib.suppress(InvalidPredictInput):
                await core.predict(TARGET, body, predict_id=str(i), user_id=1, source="native")
        await core.close()

    asyncio.run(main())


def on_loop(model: Model) -> list[bool]:
    return [name == threading.main_thread().name for name in model.threads]


def test_a_cheap_model_runs_on_the_loop_after_its_first_request(database: Database) -> None:
    model = Model()
    serve(database, model, [ONE_ROW] * 5)
    # The first loads the model, the second is measured, both in a worker thread.
    assert on_loop(model) == [False, False, True, True, True]


def test_a_model_dearer_than_the_budget_stays_in_threads(database: Database) -> None:
    model = Model(cpu=0.03)
    serve(database, model, [ONE_ROW] * 5)
    assert on_loop(model) == [False] * 5


def test_a_budget_of_zero_turns_it_off(database: Database) -> None:
    model = Model()
    serve(database, model, [ONE_ROW] * 5, budget=0.0)
    assert on_loop(model) == [False] * 5


def test_a_large_body_goes_to_a_thread_even_for_a_cheap_model(database: Database) -> None:
    rows = [[1.0, 2.0]] * (INLINE_MAX_BODY_BYTES // 10)
    large = json.dumps({"X": rows}).encode()
    assert len(large) > INLINE_MAX_BODY_BYTES
    model = Model()
    serve(database, model, [ONE_ROW, ONE_ROW, large, ONE_ROW])
    assert on_loop(model) == [False, False, False, True]


def test_refused_requests_do_not_count_as_cheap(database: Database) -> None:
    model = Model(cpu=0.03)
    bad = b'{"X": "nope"}'
    serve(database, model, [bad] * 10 + [ONE_ROW, ONE_ROW])
    assert on_loop(model) == [False, False]


def test_a_model_that_waits_stops_running_on_the_loop(database: Database) -> None:
    # Little CPU but a long wait (its own threads, I/O): on the loop that wait holds every
    # other request. It is found out there, and after three such requests stays in threads.
    model = Model(wait=0.06)
    serve(database, model, [ONE_ROW] * 40, budget=0.001)
    flags = on_loop(model)
    assert sum(flags) == 3
    last_inline = max(i for i, inline in enumerate(flags) if inline)
    assert last_inline < 30  # and the ten after it or more, all in threads


def test_inline_requests_are_logged_like_the_others(database: Database) -> None:
    model = Model()
    writer, entries = recording_log(database)
    core = ServingCore(
        ModelCache(4, lambda target: model),  # type: ignore[arg-type, return-value]
        writer,
        max_rows=10_000,
        inline_budget_seconds=0.01,
    )

    async def main() -> None:
        for i in range(3):
            await core.predict(TARGET, ONE_ROW, predict_id=str(i), user_id=1, source="native")
        await core.close()

    asyncio.run(main())
    assert on_loop(model) == [False, False, True]
    assert [e["predict_id"] for e in entries] == ["0", "1", "2"]
    assert all(e["status"] == 200 and e["n_rows"] == 1 for e in entries)
    # Integers: the body itself (a float64 matrix would give them back as 1.0 and 2.0).
    assert all(json.loads(e["input"].json()) == {"X": [[1, 2]]} for e in entries)


def test_by_default_no_model_call_runs_on_the_event_loop(database: Database) -> None:
    assert ServingSettings().inline_budget_ms == 0  # the issue: model calls never block the loop
    model = Model()
    writer, _ = recording_log(database)
    core = ServingCore(
        ModelCache(4, lambda target: model),  # type: ignore[arg-type, return-value]
        writer,
        max_rows=10_000,
    )

    async def main() -> None:
        for i in range(20):
            await core.predict(TARGET, ONE_ROW, predict_id=str(i), user_id=1, source="native")
        await core.close()

    asyncio.run(main())
    assert on_loop(model) == [False] * 20


class WorkerModel(Model):
    """Stands for a model-worker runtime (``ProcessRuntime``: its call blocks on a socket)."""

    isolated = True


def test_a_model_in_a_worker_process_never_runs_on_the_loop(database: Database) -> None:
    model = WorkerModel()
    serve(database, model, [ONE_ROW] * 6, budget=0.05)
    assert len(model.threads) == 6
    assert not any(on_loop(model))
