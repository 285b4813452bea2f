"""mlup's web app (document 004 in shared/seeds): one model served at the root, unchanged.

``modelyard serve --model FILE`` registers the operator's file in the registry (under an
operator account, so the request log, the dashboard and the other faces see it) and serves the
whole app plus mlup's routes at the root:

* ``HEAD|GET|OPTIONS /health`` → ``{"status_code": 200}`` (no credentials: it is for monitors);
* ``GET /info`` → ``model_info`` and ``web_app_info``; with ``debug`` also ``web_app_config``
  and ``model_config`` in the document's shape;
* ``POST /predict`` with ``{"X": [...]}`` or ``{"data_for_predict": [...]}`` →
  ``{"predict_result": [...]}``; the same root route answers the Machine learning API's clients
  (one record of named features): the body's shape decides;
* ``GET /get-predict/{predict_id}`` with ``is_long_predict`` in the queue and batching modes;
* the Open Inference Protocol's ``/v2/models/{name}[/versions/{version}]`` (metadata, ready,
  infer) for the served model, under its name; ``{version}`` is its registry version,
  ``latest`` or mlup's ``ml.version`` (what ``/info`` shows), with the same credentials rule.

Errors are mlup's ``{"detail": [{"loc", "msg", "type"}], "predict_id"}`` and every response of
these routes carries ``X-Predict-Id``. Without ``--public`` the routes other than ``/health`` ask
for the platform's credentials (an API key or a JWT, with or without ``Bearer``); with it they
run without, as mlup did. Fixed on the way: mlup refused every request once
``throttling_max_request_len`` was set; here the row count is compared with the limit.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from modelyard.app import create_app
from modelyard.auth import service as auth
from modelyard.auth.dependencies import SecurityDep, credential_from_authorization
from modelyard.auth.security import Security
from modelyard.compat import ml_api
from modelyard.compat.mlup_config import (
    FLAGS,
    MLUP_MODE_PATHS,
    Flag,
    MlupConfig,
    build_config,
    read_config_file,
)
from modelyard.config import ConfigError, Settings, resolve_secret_key
from modelyard.db import Database
from modelyard.errors import ModelyardError, NotFound, Unauthenticated
from modelyard.registry import service as registry
from modelyard.registry.dependencies import OwnerId
from modelyard.registry.loaders import ModelRuntime, Prediction
from modelyard.registry.schemas import ServingOptions, ServingTarget
from modelyard.serving.dependencies import (
    PREDICT_ID_HEADER,
    CredentialDep,
    PredictIdRoute,
    predict_id_of,
)
from modelyard.serving.exceptions import (
    InvalidPredictInput,
    PredictionNotFound,
    PredictTimeout,
    QueueFull,
    Throttled,
)
from modelyard.serving.modes import ModeOptions
from modelyard.serving.open_inference import InferenceContext, open_inference_context
from modelyard.serving.service import ServingCore, loads_strict
from modelyard.storage import build_artifact_store

__all__ = [
    "FLAGS",
    "PREDICT_ID_HEADER",
    "Flag",
    "MlupConfig",
    "ServedModel",
    "build_config",
    "create_single_model_app",
    "info_document",
    "is_mlup_body",
    "mlup_error_body",
    "prepare_served_model",
    "read_config_file",
    "root_predict",
]

log = logging.getLogger(__name__)

SOURCE = "mlup"


# --- the served model ---------------------------------------------------------------------


@dataclass
class ServedModel:
    """The one model the server answers for at the root, and how."""

    config: MlupConfig
    target: ServingTarget
    runtime: ModelRuntime
    public: bool = False
    host: str = "127.0.0.1"
    port: int = 8000

    def answers_to(self, name: str, version: str | None) -> bool:
        """Whether a v2 path's model name and version are the served model's."""
        if name != self.target.model_name:
            return False
        return version in {None, str(self.target.version), registry.LATEST, self.config.ml.version}

    def pin(self, core: ServingCore) -> None:
        # The operator's file may be a pickle, which the shared loader refuses to load; so the
        # runtime loaded at start stays in the cache for the life of the process.
        if core.cache.peek(self.target) is None:
            core.cache.pin(self.target, self.runtime)


def _schema_document(schema_path: Path | None, config: MlupConfig) -> Any:
    if schema_path is not None:
        try:
            return json.loads(schema_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the schema {schema_path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise ConfigError(f"the schema {schema_path} is not JSON: {exc}") from exc
    return config.ml.columns


def _model_path(model: Path | None, config: MlupConfig) -> Path:
    if model is None:
        # mlup's own way to name the file: a disk storage's path_to_files.
        path = config.ml.storage_kwargs.get("path_to_files")
        if not isinstance(path, str) or not Path(path).is_file():
            raise ConfigError("give --model FILE (or a disk storage's path_to_files in --config)")
        model = Path(path)
    if not model.is_file():
        raise ConfigError(f"no model file at {model}")
    return model


def prepare_served_model(
    settings: Settings,
    config: MlupConfig,
    *,
    model: Path | None,
    schema: Path | None = None,
    owner: str = "operator",
    public: bool = False,
) -> ServedModel:
    """Register the operator's file (skops, ONNX, or pickle/joblib: the operator may) under the
    ``owner`` account, reusing the latest version when it is the same file, and load it."""
    path = _model_path(model, config)
    data = path.read_bytes()
    upload = registry.Upload(
        name=config.ml.name,
        data=data,
        description=f"served by `modelyard serve --model {path.name}` (mlup {config.ml.version})",
        input_schema=_schema_document(schema, config),
    )
    try:
        options = ServingOptions.model_validate(
            {k: v for k, v in serving_options(config).items() if k in ServingOptions.model_fields}
        )
    except ValidationError as exc:
        raise ConfigError(f"the serving core refuses these values: {exc}") from exc
    security = Security(resolve_secret_key(settings), settings.auth)
    database = Database.from_settings(settings)
    try:
        with database.session() as session:
            user = auth.ensure_service_account(session, security, owner)
            target = registry.register_operator_model(
                session, build_artifact_store(settings), settings.registry, user, upload
            )
            # mlup's mode and limits are stored on the version, so every face (mlup's, the
            # native route, /v2) serves it the same way, with one dispatcher.
            target = registry.set_serving_options(
                session, user, target.model_name, str(target.version), options
            )
    finally:
        database.dispose()
    runtime = registry.load_runtime(data, target.format, settings.registry, operator=True)
    if config.ml.predict_method_name == "predict_proba" and runtime.kind != "classifier":
        raise ConfigError("predict_method_name predict_proba needs a classifier")
    if config.web.is_long_predict and config.web.mode == "direct":
        log.warning("is_long_predict works in the queue and batching modes only; ignored")
    if config.web.uvicorn_kwargs:
        log.warning("uvicorn_kwargs are not used: modelyard runs its own server settings")
    return ServedModel(config=config, target=target, runtime=runtime, public=public)


def serving_options(config: MlupConfig) -> dict[str, Any]:
    """mlup's names as the serving core's options for this version (see serving/modes.py)."""
    web = config.web
    options = ModeOptions.from_mlup(
        web.mode,
        max_queue_size=web.max_queue_size,
        ttl_predicted_data=web.ttl_predicted_data,
        ttl_client_wait=web.ttl_client_wait,
        min_batch_len=web.min_batch_len,
        batch_worker_timeout=web.batch_worker_timeout,
        throttling_max_requests=web.throttling_max_requests,
        throttling_max_request_len=web.throttling_max_request_len,
    )
    # mlup has no such knob: the server's own default (MODELYARD_SERVING_MAX_THREADS) applies.
    return {k: v for k, v in asdict(options).items() if k != "max_threads"}


def long_predict(config: MlupConfig) -> bool:
    """``is_long_predict`` applies, as in mlup, to the queue and batching modes only."""
    return config.web.is_long_predict and config.web.mode != "direct"


# --- errors -------------------------------------------------------------------------------

_PREDICT_ID: ContextVar[str | None] = ContextVar("mlup_predict_id", default=None)
_FACE: ContextVar[str] = ContextVar("root_predict_face", default=SOURCE)


# mlup's own messages for the core's errors, so its clients read what they always read.
_TOO_MANY_ROWS = (
    "The query exceeded the limit on the number of rows for the predict. "
    "Please downsize your request."
)
_TOO_MANY_REQUESTS = "Max requests in app. Please try again later."
_TIMED_OUT = "Response timed out. Repeat request please."


class WaitTimedOut(ModelyardError):
    status_code = 408
    code = "predict_wait_result_error"
    message = _TIMED_OUT


def _as_mlup(exc: ModelyardError, key: str) -> ModelyardError:
    """The core's error in mlup's words (its types, messages and error locations)."""
    if isinstance(exc, Throttled):
        rows = isinstance(exc.details, dict) and exc.details.get("limit") == "max_request_rows"
        return Throttled(_TOO_MANY_ROWS if rows else _TOO_MANY_REQUESTS, details=exc.details)
    if isinstance(exc, PredictTimeout):
        return WaitTimedOut()
    if isinstance(exc, QueueFull):
        return QueueFull("Queue is full. Please try later.", retry_after=exc.retry_after)
    if isinstance(exc, InvalidPredictInput):
        return _relocated(exc, key)
    return exc


def _is_mlup_detail(details: Any) -> bool:
    return (
        isinstance(details, list)
        and bool(details)
        and all(isinstance(d, dict) and {"loc", "msg", "type"} <= set(d) for d in details)
    )


def mlup_error_body(status: int, code: str, message: str, details: Any) -> Any:
    """``{"detail": [{"loc", "msg", "type"}], "predict_id"}``, as mlup answers every error."""
    if _is_mlup_detail(details):
        detail = [{"loc": d["loc"], "msg": d["msg"], "type": d["type"]} for d in details]
    else:
        detail = [{"loc": [], "msg": message, "type": code}]
    return {"detail": detail, "predict_id": _PREDICT_ID.get()}


def _root_predict_error_body(status: int, code: str, message: str, details: Any) -> Any:
    if _FACE.get() == ml_api.SOURCE:
        return ml_api.predict_error_body(status, code, message, details)
    return mlup_error_body(status, code, message, details)


class _MlupRoute(PredictIdRoute):
    error_style = staticmethod(mlup_error_body)


class _RootPredictRoute(PredictIdRoute):
    error_style = staticmethod(_root_predict_error_body)


async def _bind_predict_id(request: Request) -> None:
    # Async, so it runs in the request's own context and the error renderer sees the id.
    _PREDICT_ID.set(predict_id_of(request))


# --- routes -------------------------------------------------------------------------------

router = APIRouter(
    route_class=_MlupRoute,
    tags=["compat: mlup"],
    dependencies=[Depends(_bind_predict_id)],
    responses={
        401: {"description": "Missing or invalid credentials (unless the server is --public)."},
        404: {"description": "/get-predict without is_long_predict."},
        408: {"description": "Not ready within ttl_client_wait, or an unknown id."},
    },
)


def _served(request: Request) -> ServedModel:
    served: ServedModel = request.app.state.mlup
    return served


def _authenticate(request: Request, raw: str) -> int:
    database: Database = request.app.state.database
    with database.session() as session:
        return auth.authenticate_credential(session, request.app.state.security, raw).id


async def _caller(request: Request, served: ServedModel) -> int | None:
    """Who asks: a user id, or None on a ``--public`` server when no credential is sent."""
    raw = request.headers.get("x-api-key") or credential_from_authorization(
        request.headers.get("authorization")
    )
    if not raw:
        if served.public:
            return None
        raise Unauthenticated(headers={"WWW-Authenticate": "Bearer"})
    return await anyio.to_thread.run_sync(_authenticate, request, raw)


@router.api_route("/health", methods=["HEAD", "GET", "OPTIONS"])
async def health(request: Request) -> Response:
    """Tell monitors the web app is up."""
    if request.method == "HEAD":
        return Response(status_code=200)
    return JSONResponse({"status_code": 200})


def _columns(target: ServingTarget) -> list[dict[str, Any]] | None:
    if target.input_schema is None:
        return None
    return [column.model_dump() for column in target.input_schema]


def _model_type(target: ServingTarget) -> str:
    return "onnx" if target.format == "onnx" else "sklearn"


def info_document(served: ServedModel) -> dict[str, Any]:
    """``/info``: what is served; with ``debug``, the whole config in the document's shape."""
    ml, web, target = served.config.ml, served.config.web, served.target
    answer: dict[str, Any] = {
        "model_info": {
            "name": ml.name,
            "version": ml.version,
            "type": _model_type(target),
            "columns": _columns(target),
        },
        "web_app_info": {"version": web.web_app_version},
    }
    if not web.debug:
        return answer
    answer["web_app_config"] = {
        "host": served.host,
        "port": served.port,
        "web_app_version": web.web_app_version,
        "column_validation": web.column_validation,
        "custom_column_pydantic_model": None,
        "mode": MLUP_MODE_PATHS[web.mode],
        "max_queue_size": web.max_queue_size,
        "ttl_predicted_data": web.ttl_predicted_data,
        "ttl_client_wait": web.ttl_client_wait,
        "min_batch_len": web.min_batch_len,
        "batch_worker_timeout": web.batch_worker_timeout,
        "is_long_predict": web.is_long_predict,
        "show_docs": web.show_docs,
        "debug": web.debug,
        "throttling_max_requests": web.throttling_max_requests,
        "throttling_max_request_len": web.throttling_max_request_len,
        "timeout_for_shutdown_daemon": web.timeout_for_shutdown_daemon,
        "item_id_col_name": web.item_id_col_name,
    }
    answer["model_config"] = {
        "name": ml.name,
        "version": ml.version,
        "type": _model_type(target),
        "columns": _columns(target),
        "predict_method_name": ml.predict_method_name,
        "auto_detect_predict_params": ml.auto_detect_predict_params,
        "storage_type": ml.storage_type,
        "binarization_type": ml.binarization_type,
        "use_thread_loop": ml.use_thread_loop,
        "max_thread_loop_workers": ml.max_thread_loop_workers,
        "data_transformer_for_predict": ml.data_transformer_for_predict,
        "data_transformer_for_predicted": ml.data_transformer_for_predicted,
        "dtype_for_predict": ml.dtype_for_predict,
    }
    return answer


@router.get("/info")
async def info(request: Request) -> dict[str, Any]:
    """Describe the served model and web app (and, in debug mode, their whole config)."""
    served = _served(request)
    await _caller(request, served)
    return info_document(served)


@router.get("/get-predict/{predict_id}")
async def get_predict(predict_id: str, request: Request) -> Any:
    """Fetch the result of a long prediction (is_long_predict), waiting up to ttl_client_wait."""
    served = _served(request)
    user_id = await _caller(request, served)
    if not long_predict(served.config):
        raise NotFound("/get-predict answers in the queue and batching modes with is_long_predict")
    core: ServingCore = request.app.state.serving
    try:
        # Without --public a result is its caller's own: another user's id is not found.
        return await core.results.fetch(predict_id, owner_id=user_id, check_owner=not served.public)
    except PredictionNotFound as exc:
        # mlup answered an unknown (or expired) id with 408 once the client wait was over;
        # the same 408, without keeping the client waiting for an id that cannot come.
        raise WaitTimedOut() from exc
    except PredictTimeout as exc:
        raise WaitTimedOut() from exc


# Bodies above this size are decoded in a worker thread rather than on the event loop.
_INLINE_DECODE_BYTES = 64 * 1024


async def _decode(raw: bytes) -> Any:
    if len(raw) > _INLINE_DECODE_BYTES:
        return await anyio.to_thread.run_sync(loads_strict, raw)
    return loads_strict(raw)


def is_mlup_body(body: Any) -> bool:
    """mlup's body (``X`` or ``data_for_predict``), as opposed to a record of named features."""
    return isinstance(body, dict) and ("X" in body or "data_for_predict" in body)


def _relocated(exc: InvalidPredictInput, key: str) -> InvalidPredictInput:
    """The core's error locations (``rows``, i, column) as mlup's (``X``, i, column)."""
    details = exc.details if _is_mlup_detail(exc.details) else []
    moved = []
    for item in details:
        loc = list(item["loc"])
        if loc[:1] == ["rows"]:
            loc[0] = key
        elif loc[:2] == ["body", "X"]:
            loc = [key, *loc[2:]]
        moved.append({**item, "loc": loc})
    return InvalidPredictInput(exc.message, details=moved or exc.details)


def _result(prediction: Prediction, method: str) -> Any:
    if method == "predict_proba":
        return prediction.probabilities
    return prediction.predictions


async def _predict_mlup(
    request: Request, served: ServedModel, body: dict[str, Any], predict_id: str
) -> dict[str, Any]:
    user_id = await _caller(request, served)
    if "X" in body and "data_for_predict" in body:
        raise InvalidPredictInput(
            details=[{"loc": [], "msg": "Send X or data_for_predict, not both", "type": "body"}]
        )
    key = "X" if "X" in body else "data_for_predict"
    core: ServingCore = request.app.state.serving
    served.pin(core)
    method = served.config.ml.predict_method_name
    # The core throttles (rows against throttling_max_request_len, requests in flight against
    # throttling_max_requests), queues or batches as the target's options say.
    try:
        if long_predict(served.config):
            await core.predict_async(
                served.target,
                {"X": body[key]},
                predict_id=predict_id,
                user_id=user_id,
                source=SOURCE,
                render=lambda result: {"predict_result": _result(result.prediction, method)},
            )
            return {"predict_id": predict_id}
        result = await core.predict(
            served.target, {"X": body[key]}, predict_id=predict_id, user_id=user_id, source=SOURCE
        )
    except ModelyardError as exc:
        raise _as_mlup(exc, key) from exc
    return {"predict_result": _result(result.prediction, method)}


async def _predict_ml_api(
    request: Request, served: ServedModel, body: Any, predict_id: str
) -> dict[str, str]:
    user_id = await _caller(request, served)
    core: ServingCore = request.app.state.serving
    served.pin(core)
    return await ml_api.predict_record(
        core, served.target, body, predict_id=predict_id, user_id=user_id
    )


async def root_predict(request: Request) -> Any:
    """Predict: mlup's `{"X": [...]}` / `{"data_for_predict": [...]}`, or one record of named
    features from a Machine learning API client."""
    predict_id = predict_id_of(request)
    _PREDICT_ID.set(predict_id)
    served = _served(request)
    raw = await request.body()
    try:
        body: Any = await _decode(raw)
    except ValueError:
        body = raw  # not JSON: the Machine learning API's face refuses (and logs) it
    if is_mlup_body(body):
        _FACE.set(SOURCE)
        return await _predict_mlup(request, served, body, predict_id)
    _FACE.set(ml_api.SOURCE)
    return await _predict_ml_api(request, served, body, predict_id)


_root_router = APIRouter(route_class=_RootPredictRoute, tags=["compat: mlup"])
_root_router.add_api_route(
    "/predict",
    root_predict,
    methods=["POST"],
    responses={
        422: {"description": "mlup: the rows do not fit the model"},
        429: {"description": "mlup: throttling_error"},
        400: {"description": "Machine learning API: Bad request"},
        401: {"description": "Missing or invalid credentials"},
        409: ml_api.PREDICT_RESPONSES[409],
        408: {"description": "mlup: not ready within ttl_client_wait"},
        503: {"description": "mlup: the queue is full"},
    },
)


async def served_inference_context(
    request: Request, security: SecurityDep, credential: CredentialDep, owner_id: OwnerId = None
) -> InferenceContext:
    """The v2 routes' caller and version: the served model for its name, as mlup's routes
    serve it (``--public``: anyone); any other model as on the main server."""
    served = _served(request)
    name: str = request.path_params["name"]
    if owner_id is None and served.answers_to(name, request.path_params.get("version")):
        user_id = await _caller(request, served)
        served.pin(request.app.state.serving)
        return InferenceContext(user_id, served.target)
    return await open_inference_context(request, security, credential, owner_id)


_DOCS_PATHS = frozenset({"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"})


def create_single_model_app(settings: Settings, served: ServedModel) -> FastAPI:
    """The whole service, plus mlup's routes at the root for ``served``; the root ``/predict``
    answers mlup's and the Machine learning API's clients alike."""
    app = create_app(settings, root_predict=_root_router)
    app.state.mlup = served
    if not served.config.web.show_docs:
        app.router.routes[:] = [
            route for route in app.router.routes if getattr(route, "path", None) not in _DOCS_PATHS
        ]
        app.docs_url = app.redoc_url = app.openapi_url = None
    app.include_router(router)
    app.dependency_overrides[open_inference_context] = served_inference_context
    return app
