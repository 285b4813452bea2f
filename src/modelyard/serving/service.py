"""The prediction core: input → validated matrix → model → result, and a log entry. No HTTP.

Transport adapters (the native REST route, the compatibility routes, later the inference
protocol) resolve who asks and which version, then call ``ServingCore.predict``. Everything
CPU-bound (JSON decoding, validation, loading, the model call) runs in one worker thread per
request, so the event loop only moves bytes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

import anyio.to_thread
import numpy as np
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db import utcnow
from modelyard.errors import ModelyardError
from modelyard.registry import service as registry
from modelyard.registry.input_schema import coerce_arrays, coerce_records
from modelyard.registry.loaders import ModelRuntime, Prediction
from modelyard.registry.schemas import ServingTarget
from modelyard.schemas import Page
from modelyard.serving import repository
from modelyard.serving.cache import ModelCache
from modelyard.serving.exceptions import InvalidPredictInput, PredictFailed, TooManyRows
from modelyard.serving.log import RequestLogWriter
from modelyard.serving.schemas import PredictionLogRead

__all__ = [
    "PredictResult",
    "ServingCore",
    "list_caller_log",
    "list_request_log",
    "loads_strict",
    "parse_rows",
    "production_log_mark",
    "production_requests",
    "utc_bounds",
]

InputForm = Literal["records", "arrays"]
# Inputs larger than this are logged as a row count only, so one huge request cannot bloat
# the log table.
MAX_LOGGED_ROWS = 1000


@dataclass
class PredictResult:
    predict_id: str
    target: ServingTarget
    prediction: Prediction


def _invalid(msg: str, kind: str, loc: list[Any] | None = None) -> InvalidPredictInput:
    return InvalidPredictInput(msg, details=[{"loc": loc or ["body"], "msg": msg, "type": kind}])


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads_strict(raw: bytes) -> Any:
    """Decode a JSON body; NaN and Infinity (which PostgreSQL's json refuses) raise ValueError."""
    return json.loads(raw, parse_constant=_refuse_constant)


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
    """Direct mode: each request is one model call in a worker thread."""

    def __init__(self, cache: ModelCache, log: RequestLogWriter, *, max_rows: int) -> None:
        self.cache = cache
        self.log = log
        self.max_rows = max_rows

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

    def _run(self, target: ServingTarget, seen: dict[str, Any]) -> Prediction:
        body = seen["body"]
        if isinstance(body, bytes):
            try:
                body = seen["body"] = loads_strict(body)
            except ValueError as exc:
                seen["body"] = {"unparsed_bytes": len(body)}
                raise _invalid(f"The body is not JSON: {exc}", "json_invalid") from exc
        matrix, seen["n_rows"] = self._matrix(target, body)
        try:
            runtime: ModelRuntime = self.cache.get(target)
        except ModelyardError:
            raise
        except Exception as exc:
            raise PredictFailed(f"the model cannot be loaded: {exc}") from exc
        try:
            return runtime.predict(matrix)
        except Exception as exc:
            raise PredictFailed(f"{type(exc).__name__}: {exc}") from exc

    async def predict(
        self,
        target: ServingTarget,
        body: Any,
        *,
        predict_id: str,
        user_id: int | None,
        source: str,
    ) -> PredictResult:
        """Validate ``body`` (raw JSON bytes or decoded) against ``target`` and predict."""
        started = time.perf_counter()
        status, error, output = 200, None, None
        # Filled in by the worker thread as far as it gets: the decoded body and its row count.
        seen: dict[str, Any] = {"body": body, "n_rows": 0}
        try:
            prediction = await anyio.to_thread.run_sync(self._run, target, seen)
            output = _logged_output(prediction)
            return PredictResult(predict_id, target, prediction)
        except ModelyardError as exc:
            status, error = exc.status_code, exc.message
            raise
        finally:
            self.log.submit(
                {
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
                    "input": _logged_input(seen["body"]),
                    "output": output,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                    "created_at": utcnow(),
                }
            )


def _logged_output(prediction: Prediction) -> dict[str, Any]:
    output: dict[str, Any] = {"predictions": prediction.predictions}
    if prediction.probabilities is not None:
        output["probabilities"] = prediction.probabilities
    return output


def _logged_input(body: Any) -> Any:
    rows = body.get("X") if isinstance(body, dict) else body
    if isinstance(rows, list) and len(rows) > MAX_LOGGED_ROWS:
        return {"truncated": True, "rows": len(rows)}
    return body


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
