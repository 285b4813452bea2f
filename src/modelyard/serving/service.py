"""The prediction core: input → validated matrix → model → result, and a log entry. No HTTP.

Transport adapters (the native REST route, the compatibility routes, later the inference
protocol) resolve who asks and which version, then call ``ServingCore.predict``. Everything
CPU-bound (JSON decoding, validation, loading, the model call) runs in worker threads, so the
event loop only moves bytes; two exceptions, each because it costs less than the trip to a
thread: a small body (``SMALL_BODY_BYTES``) in the queue and batching modes is decoded and
checked on the loop, and, when the operator opts in (``inline_budget_seconds`` > 0; off by
default, so no model call ever holds the loop), in direct mode a small body
(``INLINE_MAX_BODY_BYTES``) of a version measured to cost under that budget runs there whole
(see ``ServingCore``). How
the model is called (direct, queue, batching), throttling and async results are in ``modes``
and ``results``. A body ``{"X": rows}`` of plain numbers is read straight into its matrix
(``json_matrix``); any other takes ``loads_strict`` and the schema's ``coerce_*``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import UTC
from typing import Any, Literal

import numpy as np
import orjson
import pydantic_core
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db import utcnow
from modelyard.errors import ModelyardError
from modelyard.kv import MemoryStore
from modelyard.registry import service as registry
from modelyard.registry.exceptions import ModelCrashed, ModelTimedOut
from modelyard.registry.input_schema import coerce_arrays, coerce_records
from modelyard.registry.loaders import ModelRuntime, Prediction, summarise
from modelyard.registry.sandbox import ModelError
from modelyard.registry.schemas import ServingOptions, ServingTarget
from modelyard.schemas import Page
from modelyard.serving import repository
from modelyard.serving.cache import ModelCache
from modelyard.serving.exceptions import InvalidPredictInput, PredictFailed, TooManyRows
from modelyard.serving.json_matrix import numeric_matrix
from modelyard.serving.log import RequestLogWriter
from modelyard.serving.models import LOG_MARKER, NumericInput, RawJSON
from modelyard.serving.modes import Dispatcher, ModeOptions, build_dispatcher
from modelyard.serving.results import AsyncResults
from modelyard.serving.schemas import (
    EffectiveServing,
    PredictionLogRead,
    ServingOptionsRead,
)
from modelyard.serving.targets import TargetCache

__all__ = [
    "PredictResult",
    "ServingCore",
    "encode_output",
    "get_serving_options",
    "list_caller_log",
    "list_request_log",
    "loads_strict",
    "parse_rows",
    "predict_response",
    "predict_response_json",
    "production_log_mark",
    "production_requests",
    "set_serving_options",
    "utc_bounds",
]

InputForm = Literal["records", "arrays"]
# Inputs larger than this are logged as a row count only, so one huge request cannot bloat
# the log table.
MAX_LOGGED_ROWS = 1000
# Queue and batching modes decode and validate bodies up to this size on the event loop (a
# 1-row request is about 400 bytes, 20 rows about 8 KB); larger ones in a worker thread.
SMALL_BODY_BYTES = 8 * 1024
# Direct mode: the largest body that may run on the event loop (about 160 rows of 20 numbers),
# when its version's requests cost little (``ServingCore``'s ``inline_budget_seconds``).
INLINE_MAX_BODY_BYTES = 64 * 1024
# Weight of the newest request in a version's average CPU cost per request.
_COST_WEIGHT = 0.2


@dataclass
class PredictResult:
    predict_id: str
    target: ServingTarget
    prediction: Prediction
    # The predictions (and probabilities) as JSON, encoded once for the log and the answer.
    output_json: bytes | None = None


def _invalid(msg: str, kind: str, loc: list[Any] | None = None) -> InvalidPredictInput:
    return InvalidPredictInput(msg, details=[{"loc": loc or ["body"], "msg": msg, "type": kind}])


def loads_strict(raw: bytes) -> Any:
    """Decode a JSON body; NaN and Infinity (which PostgreSQL's json refuses) raise ValueError."""
    # orjson: 1.8x pydantic-core's parser on a 100-row body of numbers (107 us against 192 for
    # 41 KB), strict JSON (no NaN or Infinity), no lone surrogates (which PostgreSQL's json
    # would refuse in the log). What it refuses goes to pydantic-core, which decides as before:
    # valid JSON orjson will not read (a number no double holds, 1e400 or 400 digits) then
    # decodes, and the row's check names its cell; anything else raises its ValueError.
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return pydantic_core.from_json(raw, allow_inf_nan=False)


def parse_rows(body: Any) -> tuple[InputForm, list[Any]]:
    """Tell the input's form: a list of records, ``{"X": [[...]]}``, or ``{"X": [{...}]}``."""
    if isinstance(body, dict):
        if set(body) != {"X"}:
            raise _invalid('Send a list of records or {"X": [[...], ...]}', "body_shape")
        body = body["X"]
        if not isinstance(body, list):
            raise _invalid("X must be a list of rows", "list_type", ["body", "X"])
        if body and all(isinstance(row, dict) for row in body):
            return "records", body
        return "arrays", body
    if isinstance(body, list):
        return "records", body
    raise _invalid('Send a list of records or {"X": [[...], ...]}', "body_shape")


class ServingCore:
    """Input → validated matrix → the version's dispatcher (its mode) → result, and a log entry.

    ``direct``: decoding, validation and the model call share ONE worker thread; or, when the
    body is at most ``INLINE_MAX_BODY_BYTES`` and the version's answered requests have cost at
    most ``inline_budget_seconds`` of CPU lately, they run right on the event loop: the trip
    to a worker thread and back (two wake-ups, the GIL handed over twice) costs more CPU than
    such a request itself, and a thread would hold the GIL all the same. A version that gets
    dearer goes back to threads on its own (its average is kept on every request); 0 (the
    default) turns this off. ``queue`` and ``batching``: decoding and validation run in a
    worker thread (on the loop for small bodies), then the matrix goes to the version's
    dispatcher (see ``modes``). Throttling applies in every mode.
    """

    def __init__(
        self,
        cache: ModelCache,
        log: RequestLogWriter,
        *,
        max_rows: int,
        defaults: ModeOptions | None = None,
        results: AsyncResults | None = None,
        targets: TargetCache | None = None,
        inline_budget_seconds: float = 0.0,
    ) -> None:
        self.cache = cache
        self.inline_budget_seconds = inline_budget_seconds
        self._in_threads = 0  # direct requests in worker threads now
        self.targets = targets or TargetCache(0)
        self.log = log
        self.max_rows = max_rows
        self.defaults = defaults or ModeOptions()
        self.results = results or AsyncResults(MemoryStore())
        self._dispatchers: OrderedDict[tuple[int, str], Dispatcher] = OrderedDict()
        self._made_for: dict[tuple[int, str], ServingTarget] = {}
        self._retired: set[asyncio.Task[None]] = set()

    # -- modes --------------------------------------------------------------------------------

    def options_for(self, target: ServingTarget) -> ModeOptions:
        """The server's defaults with the version's own serving options on top."""
        return self.defaults.merged(target.serving)

    def dispatcher_for(self, target: ServingTarget) -> Dispatcher:
        """The version's dispatcher (made on first use, remade when its options change)."""
        key = (target.version_id, target.sha256)
        dispatcher = self._dispatchers.get(key)
        # The target cache hands out the same object while nothing changed: then so is the
        # dispatcher, without merging the options again.
        if (
            dispatcher is not None
            and self._made_for.get(key) is target
            and dispatcher.bound_to_running_loop()
        ):
            return dispatcher
        options = self.options_for(target)
        if (
            dispatcher is not None
            and dispatcher.options == options
            and dispatcher.bound_to_running_loop()
        ):
            self._dispatchers.move_to_end(key)
            self._made_for[key] = target
            return dispatcher
        if dispatcher is not None:
            self._retire(dispatcher)

        def call(matrix: np.ndarray) -> Prediction:
            return self.cache.get(target).predict(matrix)

        dispatcher = build_dispatcher(call, options)
        self._dispatchers[key] = dispatcher
        self._made_for[key] = target
        # Kept for more versions than the model cache holds: a dispatcher is small.
        while len(self._dispatchers) > max(4 * self.cache.capacity, 64):
            old_key, old = self._dispatchers.popitem(last=False)
            self._made_for.pop(old_key, None)
            self._retire(old)
        return dispatcher

    def _retire(self, dispatcher: Dispatcher) -> None:
        if not dispatcher.bound_to_running_loop():
            dispatcher.release_threads()  # its loop is gone, and its tasks with it
            return
        task = asyncio.get_running_loop().create_task(self._drain(dispatcher))
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    @staticmethod
    async def _drain(dispatcher: Dispatcher, limit_seconds: float = 30.0) -> None:
        # Requests already queued are answered by the old dispatcher before it stops; a
        # poll, as this happens once per options change.
        deadline = time.monotonic() + limit_seconds
        while dispatcher.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await dispatcher.close()

    async def close(self) -> None:
        """Stop every dispatcher and the async predictions still running."""
        await self.results.close()
        for task in list(self._retired):  # options changed moments ago: let them drain
            with suppress(Exception):
                await task
        for dispatcher in self._dispatchers.values():
            if dispatcher.bound_to_running_loop():
                await dispatcher.close()
            else:
                dispatcher.release_threads()
        self._dispatchers.clear()
        self._made_for.clear()
        # Users' models' worker processes end with the core.
        self.cache.close()

    # -- one request --------------------------------------------------------------------------

    def _matrix(self, target: ServingTarget, body: Any) -> tuple[np.ndarray, int]:
        form, rows = parse_rows(body)
        if not rows:
            raise _invalid("Send at least one row", "too_short")
        # Counted before any row is looked at, so a huge request costs only its parsing.
        if len(rows) > self.max_rows:
            raise TooManyRows(
                f"{len(rows)} rows in one request; the limit is {self.max_rows}",
                details={"rows": len(rows), "max_rows": self.max_rows},
            )
        columns = target.input_schema
        if form == "records":
            if columns is None:
                raise _invalid('This model has no input schema; send {"X": [[...]]}', "no_schema")
            matrix, errors = coerce_records(rows, columns)
        else:
            matrix, errors = coerce_arrays(rows, columns)
        if matrix is None:
            raise InvalidPredictInput(details=errors)
        return matrix, len(rows)

    def _validated(
        self, target: ServingTarget, seen: dict[str, Any], dispatcher: Dispatcher
    ) -> np.ndarray:
        matrix = self._read(target, seen)
        dispatcher.check_rows(seen["n_rows"])
        if (
            "raw" in seen
            # {"X": rows}: decoded, or read as a matrix with its bytes left as they came.
            and isinstance(seen["body"], dict | bytes)
            and matrix.dtype == np.float64
            and matrix.ndim == 2
        ):
            # For the log's compact form (NumericInput), copied before the model sees it: a
            # model may change its input in place.
            seen["matrix"] = (matrix.tobytes(), matrix.shape)
        return matrix

    def _read(self, target: ServingTarget, seen: dict[str, Any]) -> np.ndarray:
        """The body's matrix; notes its row count (and the raw bytes, for the log) in ``seen``."""
        body = seen["body"]
        if isinstance(body, bytes):
            matrix = numeric_matrix(body, target.input_schema, self.max_rows)
            if matrix is not None:
                # Never decoded: the log keeps these bytes, or the matrix (NumericInput).
                seen["raw"], seen["n_rows"] = body, len(matrix)
                return matrix
            try:
                seen["body"] = loads_strict(body)
            except ValueError as exc:
                seen["body"] = {"unparsed_bytes": len(body)}
                raise _invalid(f"The body is not JSON: {exc}", "json_invalid") from exc
            # Valid JSON, so the log may store these very bytes instead of encoding them again.
            seen["raw"], body = body, seen["body"]
        matrix, seen["n_rows"] = self._matrix(target, body)
        return matrix

    def _runtime(self, target: ServingTarget) -> ModelRuntime:
        try:
            runtime: ModelRuntime = self.cache.get(target)
        except ModelyardError:
            raise
        except Exception as exc:
            raise PredictFailed(f"the model cannot be loaded: {summarise(exc)}") from exc
        return runtime

    def _prepare(
        self, target: ServingTarget, seen: dict[str, Any], dispatcher: Dispatcher
    ) -> tuple[np.ndarray, ModelRuntime]:
        matrix = self._validated(target, seen, dispatcher)
        return matrix, self._runtime(target)

    def _run(
        self,
        target: ServingTarget,
        seen: dict[str, Any],
        dispatcher: Dispatcher,
        alone_on_loop: bool = False,
    ) -> Prediction:
        # Measured when the choice of running inline is about it: a small body, and a model
        # loaded already (a load is once per process, not this request's cost).
        measured = _inline_size(seen["raw_size"]) and _in_process(self.cache.peek(target))
        cpu, wall = time.thread_time(), time.perf_counter()
        matrix, runtime = self._prepare(target, seen, dispatcher)
        try:
            prediction = runtime.predict(matrix)
        except ModelyardError:
            raise  # a model worker that crashed or hung (model_crashed, model_timeout)
        except ModelError as exc:  # the model's own exception, told by its worker
            raise PredictFailed(summarise(exc)) from exc
        except Exception as exc:
            raise PredictFailed(f"{type(exc).__name__}: {summarise(exc)}") from exc
        # Encoded here, in the request's own thread, not on the event loop.
        seen["output"] = encode_output(prediction)
        # Answered requests only: a refused one never reaches the model, and must not make a
        # dear model look cheap.
        if measured:
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            _note_cost(
                dispatcher,
                cpu,
                wall,
                alone_on_loop=alone_on_loop,
                budget=self.inline_budget_seconds,
            )
        return prediction

    def _inline(self, target: ServingTarget, body: Any, dispatcher: Dispatcher) -> bool:
        """Whether a direct request runs on the event loop (see the class's docstring)."""
        average = dispatcher.request_cost_seconds
        return (
            average is not None
            and average <= self.inline_budget_seconds
            and dispatcher.inline_waits < _MAX_INLINE_WAITS
            and isinstance(body, bytes)
            and _inline_size(len(body))
            and _in_process(self.cache.peek(target))
        )

    async def _submit(
        self, target: ServingTarget, seen: dict[str, Any], dispatcher: Dispatcher
    ) -> asyncio.Future[Prediction]:
        body = seen["body"]
        if (
            isinstance(body, bytes)
            and len(body) <= SMALL_BODY_BYTES
            and self.cache.peek(target) is not None
        ):
            # A few rows of a loaded model: decoding and checking them costs less than the
            # trip to a worker thread would (tens of microseconds), so it happens right here.
            matrix = self._validated(target, seen, dispatcher)
        else:
            matrix, _ = await dispatcher.run_in_thread(self._prepare, target, seen, dispatcher)
        return dispatcher.submit(matrix)

    def _entry(
        self,
        target: ServingTarget,
        seen: dict[str, Any],
        *,
        predict_id: str,
        user_id: int | None,
        source: str,
        status: int,
        error: str | None,
        output: RawJSON | None,
        started: float,
    ) -> dict[str, Any]:
        return {
            "predict_id": predict_id,
            "model_id": target.model_id,
            "version_id": target.version_id,
            "model_name": target.model_name,
            "version": target.version,
            "user_id": user_id,
            "source": source,
            "status": status,
            "error": error,
            "n_rows": seen["n_rows"],
            "input": _logged_input(
                seen["body"], seen.get("raw"), seen.get("matrix"), seen["n_rows"]
            ),
            "output": output,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "created_at": utcnow(),
        }

    async def predict(
        self,
        target: ServingTarget,
        body: Any,
        *,
        predict_id: str,
        user_id: int | None,
        source: str,
    ) -> PredictResult:
        """Validate ``body`` (raw JSON bytes or decoded) against ``target`` and predict.

        Returns once the answer's log entry is committed (``serving.log``), unless the
        version's log is ``best_effort``; raises ``LogUnavailable`` (503) when it cannot be.
        """
        started = time.perf_counter()
        # Filled in by the worker thread as far as it gets: the decoded body and its row count
        # (and, in direct mode, the encoded output).
        seen: dict[str, Any] = {"body": body, "n_rows": 0, "raw_size": _size(body)}
        try:
            if target.quarantine is not None:
                raise registry.quarantine_error(target)
            dispatcher = self.dispatcher_for(target)
            if dispatcher.mode == "direct":
                with dispatcher.hold():
                    if self._inline(target, body, dispatcher):
                        # A wait is the model's only while no worker thread competes.
                        alone = self._in_threads == 0
                        prediction = self._run(target, seen, dispatcher, alone_on_loop=alone)
                    else:
                        self._in_threads += 1
                        try:
                            prediction = await dispatcher.run_in_thread(
                                self._run, target, seen, dispatcher
                            )
                        finally:
                            self._in_threads -= 1
            else:
                prediction = await dispatcher.wait(await self._submit(target, seen, dispatcher))
            encoded = seen.get("output") or encode_output(prediction)
        except BaseException as exc:
            # An error answer is logged but not waited for: the client got no prediction to
            # lose, and a refusal (429, 503) must stay cheap under the load that causes it.
            self._log_failure(target, seen, exc, predict_id, user_id, source, started)
            raise
        await self._log_answer(
            dispatcher.options, target, seen, encoded, predict_id, user_id, source, started
        )
        return PredictResult(predict_id, target, prediction, encoded)

    async def _log_answer(
        self,
        options: ModeOptions,
        target: ServingTarget,
        seen: dict[str, Any],
        encoded: bytes,
        predict_id: str,
        user_id: int | None,
        source: str,
        started: float,
    ) -> None:
        """Log an answered prediction: committed before the answer goes out (durable), or
        queued (``best_effort``, the version's opt-in)."""
        entry = self._entry(
            target,
            seen,
            predict_id=predict_id,
            user_id=user_id,
            source=source,
            status=200,
            error=None,
            output=RawJSON(encoded),
            started=started,
        )
        if options.request_log == "durable":
            await self.log.commit(entry, retry_after=options.retry_after_seconds)
        else:
            self.log.submit(entry)

    def _log_failure(
        self,
        target: ServingTarget,
        seen: dict[str, Any],
        exc: BaseException,
        predict_id: str,
        user_id: int | None,
        source: str,
        started: float,
    ) -> None:
        if isinstance(exc, ModelyardError):
            _name_predict(exc, predict_id)
            status, error = exc.status_code, exc.message
        else:  # what the error handler answers for it (or, cancelled, nobody heard)
            status, error = 500, type(exc).__name__
        self.log.submit(
            self._entry(
                target,
                seen,
                predict_id=predict_id,
                user_id=user_id,
                source=source,
                status=status,
                error=error,
                output=None,
                started=started,
            )
        )

    async def predict_async(
        self,
        target: ServingTarget,
        body: Any,
        *,
        predict_id: str,
        user_id: int | None,
        source: str,
        render: Callable[[PredictResult], Any],
    ) -> None:
        """Accept a prediction to be fetched later with ``results.fetch(predict_id, ...)``.

        Returns once the request is validated and handed to the model (its id is then
        pending in the results store); bad input (422/413), throttling (429) and a full queue
        (503) are raised here, at once. ``render`` turns the result into what ``fetch``
        answers (JSON-able). The log entry is written when the prediction ends; an answered
        one is committed before its result can be fetched (unless ``best_effort``).
        """
        started = time.perf_counter()
        seen: dict[str, Any] = {"body": body, "n_rows": 0}
        options = self.options_for(target)
        try:
            if target.quarantine is not None:
                raise registry.quarantine_error(target)
            dispatcher = self.dispatcher_for(target)
            future = await self._submit(target, seen, dispatcher)
        except ModelyardError as exc:
            self._log_failure(target, seen, exc, predict_id, user_id, source, started)
            raise

        async def finish() -> Any:
            try:
                # Bounded: an id nobody can fetch any more is not worth waiting for.
                prediction = await dispatcher.wait(
                    future, options.result_ttl_seconds + options.client_wait_seconds
                )
                encoded = encode_output(prediction)
            except BaseException as exc:
                self._log_failure(target, seen, exc, predict_id, user_id, source, started)
                raise
            # The result is fetchable only once its log entry is committed (durable).
            await self._log_answer(
                dispatcher.options, target, seen, encoded, predict_id, user_id, source, started
            )
            return render(PredictResult(predict_id, target, prediction, encoded))

        await self.results.start(
            predict_id,
            finish(),
            owner_id=user_id,
            ttl_seconds=options.result_ttl_seconds,
            client_wait_seconds=options.client_wait_seconds,
        )


# An inline request that spent this much longer than its CPU time (waiting on the model's own
# threads, on I/O) counts as a wait; after this many, its version never runs inline again.
# Generous, as a busy machine may also leave a thread waiting for a core now and then, and
# counted only while none of the core's requests runs in a worker thread (which would hold
# the GIL a while).
_INLINE_WAIT_SECONDS = 0.05
_MAX_INLINE_WAITS = 3


def _in_process(runtime: ModelRuntime | None) -> bool:
    """A loaded model that runs in this process (a model worker's never runs on the loop)."""
    return runtime is not None and not getattr(runtime, "isolated", False)


def _name_predict(exc: ModelyardError, predict_id: str) -> None:
    """Name the request in a crashed or hung model's error (its body, besides
    ``X-Predict-Id``), so the client can quote it and the log entry be found."""
    if isinstance(exc, ModelCrashed | ModelTimedOut) and isinstance(exc.details, dict | None):
        exc.details = {**(exc.details or {}), "predict_id": predict_id}


def _size(body: Any) -> int | None:
    return len(body) if isinstance(body, bytes) else None


def _inline_size(size: int | None) -> bool:
    return size is not None and size <= INLINE_MAX_BODY_BYTES


def _note_cost(
    dispatcher: Dispatcher, cpu: float, wall: float, *, alone_on_loop: bool, budget: float
) -> None:
    """Fold one answered request's CPU time into its version's average cost.

    CPU time, as what matters is the work the loop would do: wall time includes waiting for
    the GIL, which grows with every other thread of the process, not with the request. A
    model that waits (its own threads, I/O) costs little CPU but holds the loop as long as it
    waits; on the loop, with no worker thread competing for the GIL, that shows as wall time
    well above CPU time, and after ``_MAX_INLINE_WAITS`` such requests its version stays in
    threads.
    """
    if alone_on_loop and wall - cpu > max(_INLINE_WAIT_SECONDS, 50 * budget):
        dispatcher.inline_waits += 1
    average = dispatcher.request_cost_seconds
    dispatcher.request_cost_seconds = (
        cpu if average is None else average + _COST_WEIGHT * (cpu - average)
    )


def encode_output(prediction: Prediction) -> bytes:
    """``{"predictions": [...], "probabilities": [...]}`` (no probabilities: a regressor) as JSON.

    What the log keeps of an answer, and the answer's larger part (``predict_response_json``):
    encoded once per request. NaN and infinities (a model may answer them) become ``null``, so
    both stay JSON that PostgreSQL's json and every client's parser take.
    """
    output: dict[str, Any] = {"predictions": prediction.predictions}
    if prediction.probabilities is not None:
        output["probabilities"] = prediction.probabilities
    # orjson: half pydantic-core's time on 100 rows of 3 probabilities (15 us against 30), the
    # same text; it writes NaN and infinities as null too.
    return _json(output)


def _logged_input(
    body: Any,
    raw: bytes | None,
    matrix: tuple[bytes, tuple[int, ...]] | None = None,
    n_rows: int = 0,
) -> Any:
    """What the log keeps of an input: the decoded ``body``, or ``raw``, the bytes it was
    decoded from (the same document, not encoded again) or read as a matrix without decoding
    (``body`` is ``raw`` then), or, for ``{"X": rows}`` of numbers, ``matrix``, the float64
    matrix of them (``NumericInput``, which writes raw where the matrix would not give the
    body back); a row count for a huge one (``n_rows``, the rows the request was read as)."""
    rows = body.get("X") if isinstance(body, dict) else body
    count = len(rows) if isinstance(rows, list) else n_rows
    if count > MAX_LOGGED_ROWS:
        return {"truncated": True, "rows": count}
    if isinstance(body, dict) and LOG_MARKER in body:
        # The key of the log's own forms: wrapped, so it reads back as it came.
        return {LOG_MARKER: "json", "value": body}
    if raw is not None:
        return RawJSON(raw) if matrix is None else NumericInput(raw, *matrix)
    return body


def predict_response(result: PredictResult) -> dict[str, Any]:
    """The native API's answer to a prediction (also what an async fetch returns)."""
    # A dict in PredictResponse's shape, built directly: validating our own output per
    # request would cost more than the model call of a small model.
    # The keys in predict_response_json's order, so a sync and an async answer read alike.
    prediction = result.prediction
    answer: dict[str, Any] = {
        "predict_id": result.predict_id,
        "model": result.target.model_name,
        "version": result.target.version,
    }
    if prediction.classes is not None:
        answer["classes"] = prediction.classes
    answer["predictions"] = prediction.predictions
    if prediction.probabilities is not None:
        answer["probabilities"] = prediction.probabilities
    return answer


def predict_response_json(result: PredictResult) -> bytes:
    """``predict_response`` as JSON, around the output the log got (the same bytes)."""
    output = result.output_json or encode_output(result.prediction)
    target = result.target
    head: dict[str, Any] = {
        "predict_id": result.predict_id,
        "model": target.model_name,
        "version": target.version,
    }
    if result.prediction.classes is not None:
        head["classes"] = result.prediction.classes
    # ``{...head}`` + ``,`` + ``"predictions": ...}``: one object, the output's keys last.
    return b"".join((_json(head)[:-1], b",", output[1:]))


def _json(value: Any) -> bytes:
    """orjson's encoding of the service's own values (see ``encode_output``), or pydantic-core's
    for what orjson does not know (an integer beyond 64 bits, a Decimal label, ...)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return pydantic_core.to_json(value, inf_nan_mode="null")


def _options_read(
    core: ServingCore, target: ServingTarget, options: ServingOptions
) -> ServingOptionsRead:
    return ServingOptionsRead(
        model=target.model_name,
        version=target.version,
        options=options,
        effective=EffectiveServing(**asdict(core.options_for(target))),
    )


def get_serving_options(
    session: Session, core: ServingCore, caller: User, name: str, ref: str, owner_id: int | None
) -> ServingOptionsRead:
    """How one of the caller's versions is served."""
    target, options = registry.get_serving_options(session, caller, name, ref, owner_id)
    return _options_read(core, target, options)


def set_serving_options(
    session: Session,
    core: ServingCore,
    caller: User,
    name: str,
    ref: str,
    options: ServingOptions,
    owner_id: int | None,
) -> ServingOptionsRead:
    """Replace how one of the caller's versions is served; every replica applies it at the
    version's next request (the options travel with the version, read per request)."""
    try:
        core.defaults.merged(options.model_dump(exclude_none=True))
    except ValueError as exc:  # a combination the fields' own bounds cannot see
        raise _invalid(str(exc), "value_error", ["body"]) from exc
    target = registry.set_serving_options(session, caller, name, ref, options, owner_id)
    return _options_read(core, target, options)


def utc_bounds(filters: dict[str, Any]) -> dict[str, Any]:
    """The filters with ``since``/``until`` given without a zone taken as UTC."""
    return {
        key: value.replace(tzinfo=UTC)
        if key in ("since", "until") and value is not None and value.tzinfo is None
        else value
        for key, value in filters.items()
    }


def list_request_log(
    session: Session,
    caller: User,
    name: str,
    owner_id: int | None,
    *,
    limit: int,
    offset: int,
    **filters: Any,
) -> Page[PredictionLogRead]:
    """The prediction log of one of the caller's models, newest first."""
    model = registry.resolve_model(session, caller, name, owner_id)
    filters = utc_bounds(filters)
    items = repository.list_logs(session, limit=limit, offset=offset, model_id=model.id, **filters)
    return Page[PredictionLogRead](
        items=[PredictionLogRead.model_validate(item) for item in items],
        total=repository.count_logs(session, model_id=model.id, **filters),
        limit=limit,
        offset=offset,
    )


def list_caller_log(
    session: Session, caller: User, *, source: str, limit: int, offset: int
) -> list[PredictionLogRead]:
    """The caller's own logged requests from one source, oldest first (all of them for an admin)."""
    user_id = None if caller.is_admin else caller.id
    items = repository.list_logs(
        session, limit=limit, offset=offset, oldest_first=True, user_id=user_id, source=source
    )
    return [PredictionLogRead.model_validate(item) for item in items]


def production_log_mark(session: Session, model_id: int, version: int) -> tuple[int, int]:
    """(answered requests, newest log id) of one version: what its production data is now."""
    filters: dict[str, Any] = {"model_id": model_id, "version": version, "status": 200}
    newest = repository.list_logs(session, limit=1, offset=0, **filters)
    return repository.count_logs(session, **filters), newest[0].id if newest else 0


def production_requests(
    session: Session,
    model_id: int,
    version: int,
    *,
    until_id: int,
    max_rows: int,
    batch: int = 200,
) -> list[PredictionLogRead]:
    """The newest answered requests of a version up to log id ``until_id``, newest first,
    until they hold ``max_rows`` rows (the last one may hold more)."""
    found: list[PredictionLogRead] = []
    rows = 0
    before = until_id + 1
    while rows < max_rows:
        items = repository.list_logs(
            session,
            limit=batch,
            offset=0,
            model_id=model_id,
            version=version,
            status=200,
            before_id=before,
        )
        if not items:
            break
        for item in items:
            found.append(PredictionLogRead.model_validate(item))
            rows += max(item.n_rows, 0)
            if rows >= max_rows:
                break
        before = items[-1].id
    return found
