"""Dependencies of the evaluation routes: the domain's context and large JSON bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import pydantic_core
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from modelyard.evaluation.service import Evaluation

__all__ = ["EvaluationDep", "json_body", "json_body_openapi"]

ModelT = TypeVar("ModelT", bound=BaseModel)
# A wrong 1,000,000-label body could list an error per label; the first few say enough.
_MAX_ERRORS = 20
# Bodies up to this size parse in tens of microseconds: less than a trip to a worker thread.
_INLINE_PARSE_BYTES = 16 * 1024


async def get_evaluation(request: Request) -> Evaluation:
    return Evaluation(
        artifacts=request.app.state.artifacts, settings=request.app.state.settings.evaluation
    )


EvaluationDep = Annotated[Evaluation, Depends(get_evaluation)]


def _parse_large(model: type[ModelT], raw: bytes) -> ModelT:
    """``model.model_validate_json(raw)`` for a large body, in two steps that take less time.

    pydantic-core's parser makes the Python objects, then the model validates them: for a
    million labels per vector this takes about a quarter less time than validating while
    parsing, with the same result and the same errors (tests/evaluation/test_json_body.py).
    """
    try:
        data = pydantic_core.from_json(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # Not JSON, or not an object: model_validate_json words the error for a JSON body.
        return model.model_validate_json(raw)
    return model.model_validate(data)


def json_body(model: type[ModelT]) -> Callable[[Request], Awaitable[ModelT]]:
    """A dependency that parses the body as ``model`` in a worker thread.

    FastAPI would parse a JSON body on the event loop with ``json.loads`` and validate it in a
    second pass; pydantic-core's parser is faster (``_parse_large``), and a million-label body
    then never holds up other requests. A small body is parsed where it is, on the event loop.
    """

    async def parse(request: Request) -> ModelT:
        raw = await request.body()
        try:
            if len(raw) <= _INLINE_PARSE_BYTES:
                return model.model_validate_json(raw)
            return await run_in_threadpool(_parse_large, model, raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)[:_MAX_ERRORS]
            raise RequestValidationError(
                [{**error, "loc": ("body", *error["loc"])} for error in errors]
            ) from exc

    return parse


def json_body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """The ``openapi_extra`` that documents a body read by ``json_body``."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
