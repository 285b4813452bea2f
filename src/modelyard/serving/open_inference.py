"""The Open Inference Protocol (KServe v2 REST) over the serving core.

A thin adapter: tensors in, rows to the core, tensors out. A request carries either one tensor
of shape ``[rows, features]`` (the form MLServer and Triton clients send) or one tensor of shape
``[rows]`` per input column, named after the model's input schema. Outputs are named as
MLServer's scikit-learn runtime names them: ``predict`` and, for classifiers, ``predict_proba``.
Errors are ``{"error": "..."}``, as the protocol asks.

Bodies are read as JSON whatever their ``Content-Type`` says (``tritonclient`` sends none), and
tensors may travel as raw bytes after the JSON header, as Triton's binary tensor extension
has them (``binary_tensors.py``): inputs with ``binary_data_size``, outputs asked for with
``binary_data`` (or ``binary_data_output`` for all of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio.to_thread
import numpy as np
import orjson
import pydantic_core
from fastapi import APIRouter, Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelyard import __version__
from modelyard.auth.dependencies import SecurityDep
from modelyard.db import Database
from modelyard.registry import service as registry
from modelyard.registry.dependencies import ModelName, OwnerId
from modelyard.registry.input_schema import Column
from modelyard.registry.schemas import VERSION_REF_PATTERN, ServingTarget
from modelyard.serving.binary_tensors import (
    BINARY_DATA,
    BINARY_DATA_OUTPUT,
    BINARY_DATA_SIZE,
    HEADER_LENGTH,
    BadTensor,
    decode_tensor,
    encode_tensor,
    split_body,
)
from modelyard.serving.content_encoding import decompressed
from modelyard.serving.dependencies import (
    CoreDep,
    CredentialDep,
    PredictIdRoute,
    get_predict_context,
    predict_id_of,
)
from modelyard.serving.service import ServingCore

__all__ = ["ContextDep", "InferenceContext", "open_inference_context", "router"]

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
_COLUMN_DATATYPE: dict[str, Datatype] = {
    "float": "FP64",
    "int": "INT64",
    "bool": "BOOL",
    "str": "BYTES",
}
PREDICT, PREDICT_PROBA = "predict", "predict_proba"
EXTENSIONS = ["binary_tensor_data"]
# JSON headers above this size are parsed in a worker thread rather than on the event loop.
_INLINE_PARSE_BYTES = 64 * 1024


def _v2_error_body(status: int, code: str, message: str, details: Any) -> Any:
    if details and isinstance(details, list) and isinstance(details[0], dict):
        first = details[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return {"error": f"{message}: {where}: {first.get('msg', '')}".strip()}
    return {"error": message}


class _V2Route(PredictIdRoute):
    error_style = staticmethod(_v2_error_body)


# The registry's version references, and a dotted version (``1.0.0.0``): the single-model
# server's model answers to mlup's version too, as its /info shows it; elsewhere, not found.
VersionRef = Annotated[
    str,
    Path(
        pattern=rf"{VERSION_REF_PATTERN}|^[0-9]{{1,9}}(?:\.[0-9]{{1,9}}){{1,3}}$",
        description="A version number, an alias, or `latest` (the single-model server: also "
        "mlup's model version, e.g. `1.0.0.0`).",
    ),
]

router = APIRouter(prefix="/v2", tags=["Open Inference Protocol (v2)"], route_class=_V2Route)


@dataclass(frozen=True)
class InferenceContext:
    # None: a caller without credentials, where the server allows it (a --public single model).
    user_id: int | None
    target: ServingTarget


async def open_inference_context(
    request: Request, security: SecurityDep, credential: CredentialDep, owner_id: OwnerId = None
) -> InferenceContext:
    """Who asks and which version. Its own dependency (not ``get_predict_context`` itself) so
    that the single-model server can answer for its model without touching the other faces."""
    context = await get_predict_context(request, security, credential, owner_id)
    return InferenceContext(context.user_id, context.target)


ContextDep = Annotated[InferenceContext, Depends(open_inference_context)]


MAX_DIMENSION = 2**31 - 1


class TensorIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=200)
    # Bounded: a dimension is a count of rows or features, never a size numpy cannot hold.
    shape: list[Annotated[int, Field(ge=0, le=MAX_DIMENSION)]] = Field(min_length=1, max_length=2)
    datatype: Datatype
    # Absent when the tensor's bytes follow the JSON header (parameters.binary_data_size).
    data: list[Any] | None = None
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
    # Absent when the output's bytes follow the JSON header (parameters.binary_data_size).
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = None


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


def _inlined_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON Schema with its nested models written in place (no ``$defs``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


_INFER_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "JSON, whatever the Content-Type says; with "
        f"`{HEADER_LENGTH}`, the JSON header is followed by the binary tensors' bytes.",
        "content": {"application/json": {"schema": _inlined_schema(InferenceRequest)}},
    }
}


@dataclass
class _Input:
    tensor: TensorIn
    # Flat, in C order: a JSON list, or an array read from the body's bytes.
    values: list[Any] | np.ndarray


def _flatten(data: list[Any]) -> list[Any]:
    # Clients send tensor data flat (the protocol's canonical form) or nested row by row.
    if data and isinstance(data[0], list):
        return [item for row in data for item in _flatten(row if isinstance(row, list) else [row])]
    return data


def _check_items(tensor: TensorIn, items: list[Any]) -> None:
    expected = math.prod(tensor.shape)
    if len(items) != expected:
        raise BadTensor(
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
            raise BadTensor(f"input {tensor.name!r}: {item!r} is not a {kind} value")


def _binary_size(tensor: TensorIn) -> int | None:
    size = (tensor.parameters or {}).get(BINARY_DATA_SIZE)
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadTensor(f"input {tensor.name!r}: {BINARY_DATA_SIZE} must be a whole number ≥ 0")
    return size


def _inputs(request: InferenceRequest, binary: memoryview) -> list[_Input]:
    """Each input's values, from its JSON ``data`` or its share of the binary part."""
    inputs: list[_Input] = []
    offset = 0
    for tensor in request.inputs:
        size = _binary_size(tensor)
        if size is None:
            if tensor.data is None:
                raise BadTensor(
                    f"input {tensor.name!r} has no data: send data, or its bytes after the JSON "
                    f"header with {BINARY_DATA_SIZE} and the {HEADER_LENGTH} header"
                )
            items = _flatten(tensor.data)
            _check_items(tensor, items)
            inputs.append(_Input(tensor, items))
            continue
        if tensor.data is not None:
            raise BadTensor(f"input {tensor.name!r} has both data and {BINARY_DATA_SIZE}")
        if offset + size > len(binary):
            raise BadTensor(
                f"input {tensor.name!r}: {BINARY_DATA_SIZE} is {size}, but "
                f"{len(binary) - offset} bytes follow the JSON header "
                f"(the {HEADER_LENGTH} header tells where it ends)"
            )
        chunk = binary[offset : offset + size]
        offset += size
        inputs.append(
            _Input(tensor, decode_tensor(tensor.name, tensor.datatype, tensor.shape, chunk))
        )
    if offset != len(binary):
        raise BadTensor(
            f"{len(binary) - offset} bytes after the JSON header belong to no input "
            f"(the inputs' {BINARY_DATA_SIZE} add up to {offset})"
        )
    return inputs


def _rows(values: list[Any] | np.ndarray, n_rows: int, n_cols: int) -> list[list[Any]]:
    if isinstance(values, np.ndarray):
        rows: list[list[Any]] = values.reshape(n_rows, n_cols).tolist()
        return rows
    return [values[i * n_cols : (i + 1) * n_cols] for i in range(n_rows)]


def rows_of(inputs: list[_Input], schema: list[Column] | None) -> Any:
    """The core's body for a v2 request: ``{"X": rows}`` or a list of records."""
    if len(inputs) == 1 and len(inputs[0].tensor.shape) == 2:
        n_rows, n_cols = inputs[0].tensor.shape
        if n_cols == 0:
            # Refused before its rows are built: [3000000, 0] carries no data, yet would make
            # as many empty rows.
            raise BadTensor(f"input {inputs[0].tensor.name!r} has no features (shape [rows, 0])")
        return {"X": _rows(inputs[0].values, n_rows, n_cols)}
    # One tensor per column.
    known = {column.name for column in schema or []}
    unknown = [item.tensor.name for item in inputs if item.tensor.name not in known]
    if unknown:
        raise BadTensor(
            f"unknown input {unknown[0]!r}: send one [rows, features] tensor, or one tensor per "
            f"input column ({', '.join(sorted(known)) or 'this model has no input schema'})"
        )
    shapes = [item.tensor.shape for item in inputs]
    counts = {shape[0] for shape in shapes}
    if len(counts) != 1 or any(len(shape) == 2 and shape[1] != 1 for shape in shapes):
        raise BadTensor("column tensors must all have the shape [rows] or [rows, 1]")
    names = [item.tensor.name for item in inputs]
    columns = [
        item.values.tolist() if isinstance(item.values, np.ndarray) else item.values
        for item in inputs
    ]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _datatype_of(values: list[Any]) -> Datatype:
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"


def _label_datatype(target: ServingTarget) -> Datatype:
    """What ``predict`` holds, as metadata declares it and infer answers it: a regressor's
    numbers are FP64; a classifier's labels have its classes' type (INT64 for integer labels,
    BYTES for text)."""
    if target.kind != "classifier":
        return "FP64"
    if not target.classes:
        return "BYTES"
    return _datatype_of(target.classes)


def _conformed(values: list[Any], declared: Datatype) -> tuple[Datatype, list[Any]]:
    """``values`` as ``declared`` (the type metadata gives), or as what they are when a model
    answers otherwise than its classes say."""
    actual = _datatype_of(values)
    if declared == "BYTES" or actual == "BYTES":
        return "BYTES", [value if isinstance(value, str) else str(value) for value in values]
    if declared == "FP64" and actual in {"INT64", "FP64"}:
        return "FP64", [float(value) for value in values]
    return actual, values


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
    outputs = [TensorMetadata(name=PREDICT, datatype=_label_datatype(target), shape=[-1])]
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
    return {"name": "modelyard", "version": __version__, "extensions": EXTENSIONS}


def _version_numbers(database: Database, model_id: int) -> list[int]:
    with database.session() as session:
        return registry.version_numbers(session, model_id)


async def _metadata(request: Request, context: InferenceContext) -> ModelMetadata:
    target = context.target
    database: Database = request.app.state.database
    versions = await anyio.to_thread.run_sync(_version_numbers, database, target.model_id)
    return ModelMetadata(
        name=target.model_name,
        versions=[str(version) for version in versions],
        platform=f"modelyard-{target.format}",
        inputs=_input_metadata(target),
        outputs=_output_metadata(target),
    )


@router.get("/models/{name}", response_model=ModelMetadata)
async def model_metadata(name: ModelName, request: Request, context: ContextDep) -> ModelMetadata:
    """Describe a model's served version: its input and output tensors, and every version."""
    return await _metadata(request, context)


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata)
async def version_metadata(
    name: ModelName, version: VersionRef, request: Request, context: ContextDep
) -> ModelMetadata:
    """Describe one version of a model: its input and output tensors, and every version."""
    return await _metadata(request, context)


async def _ready(core: ServingCore, context: InferenceContext) -> Response:
    target = context.target
    reason = None
    if target.quarantine is not None:  # its predicts answer 503 until it is cleared
        reason = "it is quarantined"
    else:
        try:
            await anyio.to_thread.run_sync(core.cache.get, target)
        except Exception:  # a model that cannot load is simply not ready
            reason = "it cannot be loaded"
    if reason is None:
        return _json_response({"name": target.model_name, "ready": True})
    # The protocol tells readiness by the status (tritonclient's is_model_ready: 200 or not).
    message = f"model {target.model_name!r} version {target.version} is not ready: {reason}"
    return _json_response(
        {"error": message, "name": target.model_name, "ready": False}, status_code=400
    )


_READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": 'Ready: `{"name", "ready": true}`.'},
    400: {"description": "Not ready (quarantined, or it cannot be loaded); `ready` is false."},
}


@router.get("/models/{name}/ready", responses=_READY_RESPONSES)
async def model_ready(name: ModelName, core: CoreDep, context: ContextDep) -> Response:
    """Say whether a model's served version is loaded and can predict (200 when it is)."""
    return await _ready(core, context)


@router.get("/models/{name}/versions/{version}/ready", responses=_READY_RESPONSES)
async def version_ready(
    name: ModelName, version: VersionRef, core: CoreDep, context: ContextDep
) -> Response:
    """Say whether one version of a model is loaded and can predict (200 when it is)."""
    return await _ready(core, context)


def _parse_header(header: bytes) -> InferenceRequest:
    try:
        return InferenceRequest.model_validate_json(header)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)[:20]
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from exc


async def read_inference_request(request: Request) -> tuple[InferenceRequest, list[_Input]]:
    """The request's JSON header (read as JSON whatever the Content-Type) and its inputs."""
    raw = await request.body()
    encoding = request.headers.get("content-encoding")
    header_length = request.headers.get(HEADER_LENGTH)
    limit: int = request.app.state.settings.http.max_body_bytes
    if encoding is not None or len(raw) > _INLINE_PARSE_BYTES:
        return await anyio.to_thread.run_sync(_read, raw, encoding, header_length, limit)
    return _read(raw, encoding, header_length, limit)


def _read(
    raw: bytes, encoding: str | None, header_length: str | None, limit: int
) -> tuple[InferenceRequest, list[_Input]]:
    header, binary = split_body(decompressed(raw, encoding, limit), header_length)
    body = _parse_header(header)
    return body, _inputs(body, binary)


def _flag(parameters: dict[str, Any] | None, key: str, default: bool) -> bool:
    value = (parameters or {}).get(key, default)
    if not isinstance(value, bool):
        raise BadTensor(f"parameter {key!r} must be true or false")
    return value


def _wanted_outputs(body: InferenceRequest, target: ServingTarget) -> list[tuple[str, bool]]:
    """(name, as binary) of each output to answer, in the order asked."""
    available = _available_outputs(target)
    all_binary = _flag(body.parameters, BINARY_DATA_OUTPUT, False)
    if not body.outputs:
        return [(name, all_binary) for name in available]
    wanted = []
    for output in body.outputs:
        if output.name not in available:
            raise BadTensor(
                f"unknown output {output.name!r}; this model has {', '.join(available)}"
            )
        if (output.parameters or {}).get("classification"):
            raise BadTensor("the classification extension is not supported; ask for predict")
        wanted.append((output.name, _flag(output.parameters, BINARY_DATA, all_binary)))
    return wanted


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # what orjson does not take (an integer beyond 64 bits, ...)
        return pydantic_core.to_json(value)


def _json_response(value: Any, status_code: int = 200) -> Response:
    return Response(_dumps(value), status_code=status_code, media_type="application/json")


def _output(
    name: str, datatype: Datatype, shape: list[int], values: list[Any], binary: bool
) -> tuple[dict[str, Any], bytes | None]:
    if not binary:
        return {"name": name, "datatype": datatype, "shape": shape, "data": values}, None
    raw = encode_tensor(datatype, values)
    head = {
        "name": name,
        "datatype": datatype,
        "shape": shape,
        "parameters": {BINARY_DATA_SIZE: len(raw)},
    }
    return head, raw


async def _infer(request: Request, core: ServingCore, context: InferenceContext) -> Response:
    target = context.target
    body, inputs = await read_inference_request(request)
    wanted = _wanted_outputs(body, target)
    predict_id = predict_id_of(request)
    result = await core.predict(
        target,
        rows_of(inputs, target.input_schema),
        predict_id=predict_id,
        user_id=context.user_id,
        source="v2",
    )
    prediction = result.prediction
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, binary in wanted:
        if name == PREDICT:
            datatype, values = _conformed(prediction.predictions, _label_datatype(target))
            head, raw = _output(PREDICT, datatype, [len(values)], values, binary)
        elif prediction.probabilities is not None:
            matrix = prediction.probabilities
            width = len(matrix[0]) if matrix else 0
            flat = [p for row in matrix for p in row]
            head, raw = _output(PREDICT_PROBA, "FP64", [len(matrix), width], flat, binary)
        else:
            raise BadTensor("this model gives no probabilities")
        outputs.append(head)
        if raw is not None:
            chunks.append(raw)
    answer = {
        "model_name": target.model_name,
        "model_version": str(target.version),
        "id": body.id or predict_id,
        "parameters": {
            "predict_id": predict_id,
            **({"classes": prediction.classes} if prediction.classes else {}),
        },
        "outputs": outputs,
    }
    header = _dumps(answer)
    if not chunks:
        return Response(header, media_type="application/json")
    return Response(
        b"".join([header, *chunks]),
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(len(header))},
    )


@router.post("/models/{name}/infer", response_model=InferenceResponse, openapi_extra=_INFER_DOC)
async def infer(name: ModelName, request: Request, core: CoreDep, context: ContextDep) -> Response:
    """Run inference with a model's served version (tensors in, tensors out)."""
    return await _infer(request, core, context)


@router.post(
    "/models/{name}/versions/{version}/infer",
    response_model=InferenceResponse,
    openapi_extra=_INFER_DOC,
)
async def infer_version(
    name: ModelName, version: VersionRef, request: Request, core: CoreDep, context: ContextDep
) -> Response:
    """Run inference with one version of a model (tensors in, tensors out)."""
    return await _infer(request, core, context)
