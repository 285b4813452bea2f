"""The Open Inference Protocol (KServe v2 REST) over the serving core.

A thin adapter: tensors in, rows to the core, tensors out. A request carries either one tensor
of shape ``[rows, features]`` (the form MLServer and Triton clients send) or one tensor of shape
``[rows]`` per input column, named after the model's input schema. Outputs are named as
MLServer's scikit-learn runtime names them: ``predict`` and, for classifiers, ``predict_proba``.
Errors are ``{"error": "..."}``, as the protocol asks.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field

from modelyard import __version__
from modelyard.errors import InvalidInput
from modelyard.registry.dependencies import ModelName, VersionRef
from modelyard.registry.input_schema import Column
from modelyard.registry.schemas import ServingTarget
from modelyard.serving.dependencies import (
    CoreDep,
    PredictContextDep,
    PredictIdRoute,
    predict_id_of,
)

__all__ = ["router"]

Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
_INTEGER = {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
_FLOAT = {"FP16", "FP32", "FP64"}
_COLUMN_DATATYPE: dict[str, Datatype] = {
    "float": "FP64",
    "int": "INT64",
    "bool": "BOOL",
    "str": "BYTES",
}
PREDICT, PREDICT_PROBA = "predict", "predict_proba"


def _v2_error_body(status: int, code: str, message: str, details: Any) -> Any:
    if details and isinstance(details, list) and isinstance(details[0], dict):
        first = details[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return {"error": f"{message}: {where}: {first.get('msg', '')}".strip()}
    return {"error": message}


class _V2Route(PredictIdRoute):
    error_style = staticmethod(_v2_error_body)


router = APIRouter(prefix="/v2", tags=["Open Inference Protocol (v2)"], route_class=_V2Route)


class TensorIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=200)
    shape: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, max_length=2)
    datatype: Datatype
    data: list[Any]
    parameters: dict[str, Any] | None = None


class RequestedOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, max_length=200)
    parameters: dict[str, Any] | None = None
    inputs: list[TensorIn] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = None


class TensorOut(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    data: list[Any]


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    outputs: list[TensorOut]


class TensorMetadata(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class _BadTensor(InvalidInput):
    status_code = 400
    code = "bad_request"


def _flatten(data: list[Any]) -> list[Any]:
    # Clients send tensor data flat (the protocol's canonical form) or nested row by row.
    if data and isinstance(data[0], list):
        return [item for row in data for item in _flatten(row if isinstance(row, list) else [row])]
    return data


def _check_items(tensor: TensorIn, items: list[Any]) -> None:
    expected = math.prod(tensor.shape)
    if len(items) != expected:
        raise _BadTensor(
            f"input {tensor.name!r}: shape {tensor.shape} holds {expected} values, "
            f"data has {len(items)}"
        )
    kind = tensor.datatype
    for item in items:
        if kind == "BYTES":
            ok = isinstance(item, str)
        elif kind == "BOOL":
            ok = isinstance(item, bool)
        elif kind in _INTEGER:
            ok = isinstance(item, int) and not isinstance(item, bool)
        else:
            ok = isinstance(item, int | float) and not isinstance(item, bool)
        if not ok:
            raise _BadTensor(f"input {tensor.name!r}: {item!r} is not a {kind} value")


def rows_of(request: InferenceRequest, schema: list[Column] | None) -> Any:
    """The core's body for a v2 request: ``{"X": rows}`` or a list of records."""
    tensors = request.inputs
    for tensor in tensors:
        _check_items(tensor, tensor_items := _flatten(tensor.data))
        tensor.data = tensor_items
    if len(tensors) == 1 and len(tensors[0].shape) == 2:
        tensor = tensors[0]
        n_rows, n_cols = tensor.shape
        data = tensor.data
        return {"X": [data[i * n_cols : (i + 1) * n_cols] for i in range(n_rows)]}
    # One tensor per column.
    names = {column.name for column in schema or []}
    unknown = [tensor.name for tensor in tensors if tensor.name not in names]
    if unknown:
        raise _BadTensor(
            f"unknown input {unknown[0]!r}: send one [rows, features] tensor, or one tensor per "
            f"input column ({', '.join(sorted(names)) or 'this model has no input schema'})"
        )
    counts = {tensor.shape[0] for tensor in tensors}
    if len(counts) != 1 or any(len(t.shape) == 2 and t.shape[1] != 1 for t in tensors):
        raise _BadTensor("column tensors must all have the shape [rows] or [rows, 1]")
    n_rows = counts.pop()
    return [{tensor.name: tensor.data[i] for tensor in tensors} for i in range(n_rows)]


def _datatype_of(values: list[Any]) -> Datatype:
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"


def _available_outputs(target: ServingTarget) -> list[str]:
    return [PREDICT, PREDICT_PROBA] if target.kind == "classifier" else [PREDICT]


def _input_metadata(target: ServingTarget) -> list[TensorMetadata]:
    columns = target.input_schema
    if not columns:
        return [TensorMetadata(name="input-0", datatype="FP64", shape=[-1, -1])]
    types = {column.type for column in columns}
    if types <= {"float", "int", "bool"}:
        return [TensorMetadata(name="input-0", datatype="FP64", shape=[-1, len(columns)])]
    return [
        TensorMetadata(name=c.name, datatype=_COLUMN_DATATYPE[c.type], shape=[-1]) for c in columns
    ]


def _output_metadata(target: ServingTarget) -> list[TensorMetadata]:
    outputs = [TensorMetadata(name=PREDICT, datatype="BYTES", shape=[-1])]
    if target.kind == "classifier":
        n_classes = len(target.classes) if target.classes else -1
        outputs.append(TensorMetadata(name=PREDICT_PROBA, datatype="FP64", shape=[-1, n_classes]))
    return outputs


@router.get("/health/live")
async def live() -> dict[str, bool]:
    """Say whether the server is up (the protocol's liveness probe)."""
    return {"live": True}


@router.get("/health/ready")
async def ready() -> dict[str, bool]:
    """Say whether the server can take inference requests."""
    return {"ready": True}


@router.get("")
async def server_metadata() -> dict[str, Any]:
    """Describe this server (name, version, protocol extensions)."""
    return {"name": "modelyard", "version": __version__, "extensions": []}


def _metadata(context: Any) -> ModelMetadata:
    target: ServingTarget = context.target
    return ModelMetadata(
        name=target.model_name,
        versions=[str(target.version)],
        platform=f"modelyard-{target.format}",
        inputs=_input_metadata(target),
        outputs=_output_metadata(target),
    )


@router.get("/models/{name}", response_model=ModelMetadata)
async def model_metadata(name: ModelName, context: PredictContextDep) -> ModelMetadata:
    """Describe a model's served version: its input and output tensors."""
    return _metadata(context)


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata)
async def version_metadata(
    name: ModelName, version: VersionRef, context: PredictContextDep
) -> ModelMetadata:
    """Describe one version of a model: its input and output tensors."""
    return _metadata(context)


async def _ready(core: Any, context: Any) -> dict[str, Any]:
    target: ServingTarget = context.target
    if target.quarantine is not None:  # its predicts answer 503 until it is cleared
        return {"name": target.model_name, "ready": False}
    try:
        await anyio.to_thread.run_sync(core.cache.get, target)
        loaded = True
    except Exception:  # a model that cannot load is simply not ready
        loaded = False
    return {"name": target.model_name, "ready": loaded}


@router.get("/models/{name}/ready")
async def model_ready(name: ModelName, core: CoreDep, context: PredictContextDep) -> dict[str, Any]:
    """Say whether a model's served version is loaded and can predict."""
    return await _ready(core, context)


@router.get("/models/{name}/versions/{version}/ready")
async def version_ready(
    name: ModelName, version: VersionRef, core: CoreDep, context: PredictContextDep
) -> dict[str, Any]:
    """Say whether one version of a model is loaded and can predict."""
    return await _ready(core, context)


async def _infer(
    request: Request, body: InferenceRequest, core: Any, context: Any
) -> InferenceResponse:
    target: ServingTarget = context.target
    available = _available_outputs(target)
    wanted = [output.name for output in body.outputs] if body.outputs else available
    for name in wanted:
        if name not in available:
            raise _BadTensor(f"unknown output {name!r}; this model has {', '.join(available)}")
    predict_id = predict_id_of(request)
    result = await core.predict(
        target,
        rows_of(body, target.input_schema),
        predict_id=predict_id,
        user_id=context.user_id,
        source="v2",
    )
    prediction = result.prediction
    outputs: list[TensorOut] = []
    for name in wanted:
        if name == PREDICT:
            values = prediction.predictions
            outputs.append(
                TensorOut(
                    name=PREDICT, shape=[len(values)], datatype=_datatype_of(values), data=values
                )
            )
        elif prediction.probabilities is not None:
            matrix = prediction.probabilities
            width = len(matrix[0]) if matrix else 0
            flat = [p for row in matrix for p in row]
            outputs.append(
                TensorOut(
                    name=PREDICT_PROBA, shape=[len(matrix), width], datatype="FP64", data=flat
                )
            )
        else:
            raise _BadTensor("this model gives no probabilities")
    return InferenceResponse(
        model_name=target.model_name,
        model_version=str(target.version),
        id=body.id or predict_id,
        parameters={
            "predict_id": predict_id,
            **({"classes": prediction.classes} if prediction.classes else {}),
        },
        outputs=outputs,
    )


@router.post("/models/{name}/infer", response_model=InferenceResponse)
async def infer(
    name: ModelName,
    request: Request,
    body: Annotated[InferenceRequest, Body()],
    core: CoreDep,
    context: PredictContextDep,
) -> InferenceResponse:
    """Run inference with a model's served version (tensors in, tensors out)."""
    return await _infer(request, body, core, context)


@router.post("/models/{name}/versions/{version}/infer", response_model=InferenceResponse)
async def infer_version(
    name: ModelName,
    version: VersionRef,
    request: Request,
    body: Annotated[InferenceRequest, Body()],
    core: CoreDep,
    context: PredictContextDep,
) -> InferenceResponse:
    """Run inference with one version of a model (tensors in, tensors out)."""
    return await _infer(request, body, core, context)
