"""The dispatchers on their own: direct, queue, batching; throttling; a full queue; timeouts.

A fake model (the ``PredictCall`` extension point) answers each row's own first value, so a
request that got someone else's rows back is seen at once.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from modelyard.registry.loaders import Prediction
from modelyard.serving.exceptions import (
    PredictFailed,
    PredictTimeout,
    QueueFull,
    ServingStopped,
    Throttled,
)
from modelyard.serving.modes import (
    BatchingDispatcher,
    Dispatcher,
    ModeOptions,
    build_dispatcher,
    split_prediction,
)


class EchoModel:
    """Predicts each row's first value; probabilities [v, -v]; counts calls and batch sizes."""

    def __init__(self, delay: float = 0.0, fail_on: float | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.batches: list[int] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()
        self.gate: threading.Event | None = None

    def __call__(self, matrix: np.ndarray) -> Prediction:
        with self._lock:
            self.batches.append(len(matrix))
            self.threads.add(threading.current_thread().name)
        if self.gate is not None:
            self.gate.wait(10)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in matrix[:, 0]:
            raise ValueError(f"row {self.fail_on} breaks the model")
        firsts = matrix[:, 0].tolist()
        return Prediction(firsts, [[v, -v] for v in firsts], ["a", "b"])


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro())  # type: ignore[arg-type]


def rows(start: float, n: int, width: int = 3) -> np.ndarray:
    matrix = np.zeros((n, width))
    matrix[:, 0] = np.arange(start, start + n)
    return matrix


@pytest.mark.parametrize("mode", ["direct", "queue", "batching"])
def test_each_mode_answers_the_rows_it_was_given(mode: str) -> None:
    model = EchoModel()
    dispatcher = build_dispatcher(model, ModeOptions(mode=mode))  # type: ignore[arg-type]

    async def main() -> Prediction:
        try:
            return await dispatcher.predict(rows(10, 3))
        finally:
            await dispatcher.close()

    prediction = run(main)
    assert dispatcher.mode == mode
    assert prediction.predictions == [10.0, 11.0, 12.0]
    assert prediction.probabilities == [[10.0, -10.0], [11.0, -11.0], [12.0, -12.0]]
    assert prediction.classes == ["a", "b"]
    # The model runs in a worker thread, never on the event loop's.
    assert "MainThread" not in model.threads


def test_batching_under_heavy_concurrency_gives_every_request_exactly_its_own_rows() -> None:
    model = EchoModel(delay=0.002)
    options = ModeOptions(mode="batching", max_batch_rows=50, max_wait_ms=3, max_queue_size=1000)
    dispatcher = build_dispatcher(model, options)
    rng = random.Random(7)
    sizes = [rng.randint(1, 17) for _ in range(400)]
    starts = np.cumsum([0, *sizes[:-1]]) * 1.0

    async def one(start: float, size: int) -> tuple[float, int, Prediction]:
        await asyncio.sleep(rng.random() * 0.05)
        return start, size, await dispatcher.predict(rows(start, size))

    async def main() -> list[tuple[float, int, Prediction]]:
        try:
            return await asyncio.gather(*(one(s, n) for s, n in zip(starts, sizes, strict=True)))
        finally:
            await dispatcher.close()

    for start, size, prediction in run(main):
        expected = [start + i for i in range(size)]
        assert prediction.predictions == expected
        assert prediction.probabilities == [[v, -v] for v in expected]
    # Merged: far fewer model calls than requests, none above the batch size but the
    # requests that are bigger on their own.
    assert len(model.batches) < len(sizes) / 3
    assert sum(model.batches) == sum(sizes)
    assert max(model.batches) <= 50


def test_batching_sends_a_batch_once_it_holds_max_batch_rows() -> None:
    model = EchoModel()
    options = ModeOptions(mode="batching", max_batch_rows=4, max_wait_ms=5_000)
    dispatcher = build_dispatcher(model, options)

    async def main() -> float:
        started = time.monotonic()
        try:
            await asyncio.gather(*(dispatcher.predict(rows(i * 2, 2)) for i in range(4)))
        finally:
            await dispatcher.close()
        return time.monotonic() - started

    elapsed = run(main)
    assert model.batches == [4, 4]
    assert elapsed < 2  # never waited for max_wait_ms (5 s): the batches were full


def test_batching_sends_a_partial_batch_after_max_wait_ms() -> None:
    model = EchoModel()
    dispatcher = build_dispatcher(
        model, ModeOptions(mode="batching", max_batch_rows=1000, max_wait_ms=150)
    )

    async def main() -> float:
        started = time.monotonic()
        try:
            await asyncio.gather(dispatcher.predict(rows(0, 1)), dispatcher.predict(rows(1, 2)))
        finally:
            await dispatcher.close()
        return time.monotonic() - started

    elapsed = run(main)
    assert model.batches == [3]
    assert 0.14 <= elapsed < 3


def test_batching_never_mixes_matrices_of_different_widths() -> None:
    model = EchoModel()
    dispatcher = build_dispatcher(
        model, ModeOptions(mode="batching", max_batch_rows=100, max_wait_ms=50)
    )

    async def main() -> list[Prediction]:
        try:
            return await asyncio.gather(
                dispatcher.predict(rows(0, 2, width=3)),
                dispatcher.predict(rows(5, 2, width=4)),
                dispatcher.predict(rows(9, 1, width=3)),
            )
        finally:
            await dispatcher.close()

    first, second, third = run(main)
    assert first.predictions == [0.0, 1.0]
    assert second.predictions == [5.0, 6.0]
    assert third.predictions == [9.0]
    assert sorted(model.batches) == [1, 2, 2]


def test_a_failing_request_in_a_batch_fails_alone() -> None:
    model = EchoModel(fail_on=7.0)
    dispatcher = build_dispatcher(
        model, ModeOptions(mode="batching", max_batch_rows=100, max_wait_ms=50)
    )

    async def main() -> list[Any]:
        try:
            return await asyncio.gather(
                dispatcher.predict(rows(0, 2)),
                dispatcher.predict(rows(6, 2)),  # holds 7.0
                dispatcher.predict(rows(20, 1)),
                return_exceptions=True,
            )
        finally:
            await dispatcher.close()

    good, bad, other = run(main)
    assert good.predictions == [0.0, 1.0]
    assert other.predictions == [20.0]
    assert isinstance(bad, PredictFailed)
    assert "row 7.0 breaks the model" in bad.message
    assert model.batches[0] == 5  # tried together first, then one by one


@pytest.mark.parametrize("mode", ["queue", "batching"])
def test_a_full_queue_answers_queue_full_with_retry_after(mode: str) -> None:
    model = EchoModel()
    model.gate = threading.Event()  # the model is stuck until the gate opens
    options = ModeOptions(mode=mode, max_queue_size=2, max_wait_ms=0, retry_after_seconds=3)  # type: ignore[arg-type]
    dispatcher = build_dispatcher(model, options)

    async def main() -> tuple[QueueFull, list[Prediction]]:
        try:
            running = [asyncio.ensure_future(dispatcher.predict(rows(0, 1)))]
            while not model.batches:  # noqa: ASYNC110 (the first one is in the model)
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.02)
            waiting = [asyncio.ensure_future(dispatcher.predict(rows(i, 1))) for i in (1, 2)]
            await asyncio.sleep(0.02)
            with pytest.raises(QueueFull) as refused:
                await dispatcher.predict(rows(3, 1))
            model.gate.set()  # type: ignore[union-attr]
            return refused.value, await asyncio.gather(*running, *waiting)
        finally:
            model.gate.set()  # type: ignore[union-attr]
            await dispatcher.close()

    refused, answered = run(main)
    assert refused.status_code == 503
    assert refused.headers == {"Retry-After": "3"}
    assert "2 requests are waiting" in refused.message
    assert [p.predictions for p in answered] == [[0.0], [1.0], [2.0]]


def test_queue_workers_call_the_model_in_parallel() -> None:
    model = EchoModel()
    # Each call waits for the other three: only four calls at once get through.
    barrier = threading.Barrier(4, timeout=10)
    inner = model.__call__

    def together(matrix: np.ndarray) -> Prediction:
        barrier.wait()
        return inner(matrix)

    dispatcher = build_dispatcher(together, ModeOptions(mode="queue", workers=4))

    async def main() -> list[Prediction]:
        try:
            return await asyncio.gather(*(dispatcher.predict(rows(i, 1)) for i in range(4)))
        finally:
            await dispatcher.close()

    assert [p.predictions for p in run(main)] == [[float(i)] for i in range(4)]
    assert not barrier.broken


def test_queue_with_one_worker_calls_the_model_one_request_at_a_time() -> None:
    model = EchoModel(delay=0.05)
    dispatcher = build_dispatcher(model, ModeOptions(mode="queue", workers=1))

    async def main() -> list[Prediction]:
        try:
            return await asyncio.gather(*(dispatcher.predict(rows(i, 1)) for i in range(5)))
        finally:
            await dispatcher.close()

    answers = run(main)
    assert [a.predictions for a in answers] == [[float(i)] for i in range(5)]
    assert model.batches == [1] * 5
    assert len(model.threads) >= 1


@pytest.mark.parametrize("mode", ["direct", "queue", "batching"])
def test_max_concurrent_requests_refuses_the_next_with_throttled(mode: str) -> None:
    model = EchoModel()
    model.gate = threading.Event()
    options = ModeOptions(mode=mode, max_concurrent_requests=2, max_wait_ms=0, workers=2)  # type: ignore[arg-type]
    dispatcher = build_dispatcher(model, options)

    async def main() -> tuple[Throttled, list[Prediction], Prediction]:
        try:
            first = [asyncio.ensure_future(dispatcher.predict(rows(i, 1))) for i in (0, 1)]
            await asyncio.sleep(0.05)
            assert dispatcher.in_flight == 2
            with pytest.raises(Throttled) as refused:
                await dispatcher.predict(rows(2, 1))
            model.gate.set()  # type: ignore[union-attr]
            done = await asyncio.gather(*first)
            # Places are given back: the next request goes through.
            return refused.value, done, await dispatcher.predict(rows(3, 1))
        finally:
            model.gate.set()  # type: ignore[union-attr]
            await dispatcher.close()

    refused, done, later = run(main)
    assert refused.status_code == 429
    assert refused.code == "throttling_error"
    assert refused.details["limit"] == "max_concurrent_requests"
    assert [p.predictions for p in done] == [[0.0], [1.0]]
    assert later.predictions == [3.0]
    assert dispatcher.in_flight == 0


def test_max_request_rows_compares_the_row_count_with_the_limit() -> None:
    model = EchoModel()
    dispatcher = build_dispatcher(model, ModeOptions(max_request_rows=3))

    async def main() -> Prediction:
        try:
            with pytest.raises(Throttled) as refused:
                await dispatcher.predict(rows(0, 4))
            assert refused.value.details == {"limit": "max_request_rows", "rows": 4, "max": 3}
            assert "4 rows in one request; this model takes at most 3" in refused.value.message
            return await dispatcher.predict(rows(0, 3))  # at the limit: fine (mlup refused it)
        finally:
            await dispatcher.close()

    assert run(main).predictions == [0.0, 1.0, 2.0]
    assert model.batches == [3]


@pytest.mark.parametrize("mode", ["queue", "batching"])
def test_a_client_that_waits_too_long_gets_predict_timeout(mode: str) -> None:
    model = EchoModel(delay=0.5)
    dispatcher = build_dispatcher(
        model,
        ModeOptions(mode=mode, client_wait_seconds=0.1, max_wait_ms=0),  # type: ignore[arg-type]
    )

    async def main() -> PredictTimeout:
        try:
            with pytest.raises(PredictTimeout) as late:
                await dispatcher.predict(rows(0, 1))
            return late.value
        finally:
            await dispatcher.close()

    late = run(main)
    assert late.status_code == 408
    assert late.details == {"client_wait_seconds": 0.1}


def test_closing_fails_what_is_still_queued_and_refuses_more() -> None:
    model = EchoModel()
    model.gate = threading.Event()
    dispatcher = build_dispatcher(model, ModeOptions(mode="queue"))

    async def main() -> list[Any]:
        first = asyncio.ensure_future(dispatcher.predict(rows(0, 1)))
        queued = asyncio.ensure_future(dispatcher.predict(rows(1, 1)))
        await asyncio.sleep(0.05)
        closing = asyncio.ensure_future(dispatcher.close())
        await asyncio.sleep(0.05)
        model.gate.set()  # type: ignore[union-attr]
        await closing
        with pytest.raises(ServingStopped):
            await dispatcher.predict(rows(2, 1))
        return await asyncio.gather(first, queued, return_exceptions=True)

    outcomes = run(main)
    assert all(isinstance(o, ServingStopped) for o in outcomes[1:])


def test_split_refuses_a_model_that_answers_the_wrong_number_of_rows() -> None:
    prediction = Prediction([1, 2, 3])
    assert [p.predictions for p in split_prediction(prediction, [1, 2])] == [[1], [2, 3]]
    with pytest.raises(PredictFailed, match="answered 3 rows for a batch of 4"):
        split_prediction(prediction, [2, 2])


def test_options_from_mlup_names_and_their_checks() -> None:
    options = ModeOptions.from_mlup(
        "batching",
        max_queue_size=7,
        ttl_predicted_data=11,
        ttl_client_wait=2.5,
        min_batch_len=12,
        batch_worker_timeout=0.25,
        throttling_max_requests=3,
        throttling_max_request_len=4,
    )
    assert options == ModeOptions(
        mode="batching",
        max_queue_size=7,
        result_ttl_seconds=11,
        client_wait_seconds=2.5,
        max_batch_rows=12,
        max_wait_ms=250.0,
        max_concurrent_requests=3,
        max_request_rows=4,
    )
    assert options.merged({"mode": "queue", "workers": None, "unknown": 1}).mode == "queue"
    with pytest.raises(ValueError, match="mode must be one of"):
        ModeOptions(mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_queue_size must be at least 1"):
        ModeOptions(max_queue_size=0)
    assert isinstance(build_dispatcher(EchoModel(), options), BatchingDispatcher)
    assert isinstance(build_dispatcher(EchoModel(), ModeOptions()), Dispatcher)


def stops(matrix: np.ndarray) -> Prediction:
    """A model whose predict lets a StopIteration out (``next()`` on an exhausted iterator)."""
    return next(iter(()))  # type: ignore[no-any-return]


@pytest.mark.timeout(30)  # before the fix each case hung until the suite's 300 s
@pytest.mark.parametrize("mode", ["direct", "queue", "batching"])
def test_a_model_raising_stop_iteration_fails_its_request_and_frees_the_model(mode: str) -> None:
    # An asyncio future refuses a StopIteration: handed over as it was, the request waited
    # for ever and the batch (or queue worker) holding it never let the model go.
    options = ModeOptions(mode=mode, workers=1, client_wait_seconds=5)  # type: ignore[arg-type]
    dispatcher = build_dispatcher(stops, options)

    async def main() -> list[BaseException]:
        errors: list[BaseException] = []
        try:
            async with asyncio.timeout(10):
                for _ in range(3):  # with workers=1, a stuck first call would hold up the rest
                    with pytest.raises(PredictFailed) as raised:
                        await dispatcher.predict(rows(0, 2))
                    errors.append(raised.value)
            return errors
        finally:
            await dispatcher.close()

    errors = run(main)
    assert len(errors) == 3
    assert all("StopIteration" in str(error) for error in errors)
    assert dispatcher.in_flight == 0
