"""The OpenAPI document tells the truth: every operation lists the answers it gives.

FastAPI documents a route's success answer and, for a route with parameters, a 422 in its own
``HTTPValidationError`` shape, which no route here answers (errors are rendered by
``errors.py``, in the native shape or the shape of the system a compatibility route imitates).
So once the document is generated, each operation gets, in its route's error shape:

- what follows from how the route is built (``answers_of``): a credential -> 401 and 403 (a
  disabled account; a non-admin on an admin route), a path parameter -> 404, a body -> 400 (not
  parseable), 413 and 422, any parameter -> 422, ``owner_id`` (two users' models share a name)
  -> 409, sign-in throttling -> 429, a predict context (throttling per model, rows per request,
  a full queue) -> 413, 429 and 503;
- what a route declares itself in its decorator's ``responses=`` (409 conflicts, 408 pending,
  ...): a description there is enough, the schema is filled in here.

The page size's bound, a setting, is written into each paged operation's ``limit`` as well.

One place, not a copy per route. ``schemathesis`` checks the result against the running
server in CI (tests/test_openapi_schemathesis.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.security.base import SecurityBase

from modelyard.auth.dependencies import get_throttle, require_admin
from modelyard.errors import ErrorStyle, native_error_body
from modelyard.pagination import get_page_params
from modelyard.serving.dependencies import get_predict_context
from modelyard.serving.open_inference import open_inference_context

__all__ = ["ERROR_SCHEMAS", "answers_of", "document_answers", "install_openapi"]

_REF = "#/components/schemas/"

_VALIDATION_ITEM: dict[str, Any] = {
    "type": "object",
    "required": ["loc", "msg", "type"],
    "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
        "type": {"type": "string"},
    },
}

# Component name -> JSON Schema of each error shape the service answers.
_COMPONENTS: dict[str, dict[str, Any]] = {
    "Error": {
        "title": "Error",
        "description": "Every error of the native API (`details`: where and why, or null).",
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {},
                },
            }
        },
    },
    "PycmApiError": {
        "title": "PycmApiError",
        "description": "pycm-api's errors: FastAPI's `detail`, a message or validation items.",
        "type": "object",
        "required": ["detail"],
        "properties": {
            "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": _VALIDATION_ITEM}]}
        },
    },
    "MlApiError": {
        "title": "MlApiError",
        "description": "The Machine learning API's errors: a `message`, with the validation "
        "items as `detail` when the request was malformed.",
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string"},
            "detail": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["loc", "msg"],
                    "properties": _VALIDATION_ITEM["properties"],
                },
            },
        },
    },
    "MlApiPredictError": {
        "title": "MlApiPredictError",
        "description": 'The Machine learning API\'s `/predict` errors: `{"error": '
        '"Unauthorized"}` for a missing or wrong credential, else a `message`.',
        "anyOf": [
            {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            {
                "type": "object",
                "required": ["message"],
                "properties": {"message": {"type": "string"}},
            },
        ],
    },
    "MlupError": {
        "title": "MlupError",
        "description": "mlup's errors: validation items as `detail`, and the request's id.",
        "type": "object",
        "required": ["detail", "predict_id"],
        "properties": {
            "detail": {"type": "array", "items": _VALIDATION_ITEM},
            "predict_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    },
    "CustomClassifierError": {
        "title": "CustomClassifierError",
        "description": "The Custom Classifier's envelope with the error's status and text; its "
        'delete routes answer `{"status": text}`.',
        "anyOf": [
            {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string"}},
            },
            {"$ref": _REF + "CustomClassifierEnvelope"},
        ],
    },
    "CustomClassifierEnvelope": {
        "title": "CustomClassifierEnvelope",
        "type": "object",
        "required": ["status", "data", "error"],
        "properties": {
            "status": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
            },
            "data": {},
            "error": {"type": "string"},
            "number_documents_treated": {"type": "integer"},
            "number_documents_non_treated": {"type": "integer"},
            "list_id_not_treated": {"type": "array"},
        },
    },
    "HydroVisualizationError": {
        "title": "HydroVisualizationError",
        "description": "hydro-visualization's errors.",
        "type": "object",
        "required": ["message", "code", "details"],
        "properties": {"message": {"type": "string"}, "code": {"type": "string"}, "details": {}},
    },
    "InferenceError": {
        "title": "InferenceError",
        "description": "The Open Inference Protocol's errors: one `error` text.",
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
}
_COMPONENTS["RootPredictError"] = {
    "title": "RootPredictError",
    "description": "`POST /predict` answers mlup's clients in mlup's shape and the Machine "
    "learning API's in its own.",
    "anyOf": [{"$ref": _REF + "MlApiPredictError"}, {"$ref": _REF + "MlupError"}],
}

# Each error style (errors.py) -> the component that describes what it renders. By name: the
# compatibility modules import the app (mlup's single-model server builds one), so this module,
# which the app imports, cannot import them. A style missing here stops the document's
# generation (``document_answers``), and the tests generate it for both apps.
ERROR_SCHEMAS: dict[str, str] = {
    "modelyard.errors.native_error_body": "Error",
    "modelyard.compat.pycm_api.pycm_error_body": "PycmApiError",
    "modelyard.compat.ml_api.ml_error_body": "MlApiError",
    "modelyard.compat.ml_api.predict_error_body": "MlApiPredictError",
    "modelyard.compat.mlup.mlup_error_body": "MlupError",
    "modelyard.compat.mlup._root_predict_error_body": "RootPredictError",
    "modelyard.compat.custom_classifier.custom_classifier_error_body": "CustomClassifierError",
    "modelyard.compat.hydro_visualization.hydro_error_body": "HydroVisualizationError",
    "modelyard.serving.open_inference._v2_error_body": "InferenceError",
}

_DESCRIPTIONS = {
    400: "Bad request.",
    401: "Missing or invalid credentials.",
    403: "Not allowed: a disabled account, or not an admin on an admin route.",
    404: "Not found (or not yours).",
    408: "Not ready in time.",
    409: "Conflict with the current state.",
    413: "The request body, or a part of it, is too large.",
    422: "The request is not valid: where and why in the details.",
    429: "Too many requests (see Retry-After).",
    503: "Unavailable for now (see Retry-After).",
}


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def _calls(route: APIRoute | RouteContext) -> set[Callable[..., Any]]:
    return {dep.call for dep in _walk(route.dependant) if dep.call is not None}


def answers_of(route: APIRoute | RouteContext, operation: dict[str, Any]) -> set[int]:
    """The error statuses that follow from how ``route`` is built (see the module's text)."""
    calls = _calls(route)
    answers: set[int] = set()
    if any(isinstance(call, SecurityBase) for call in calls):
        answers |= {401, 403}
    if require_admin in calls:
        answers.add(403)
    has_body = "requestBody" in operation
    if any(dep.path_params for dep in _walk(route.dependant)):
        answers.add(404)
    if has_body:  # 400: a body that cannot be parsed at all (not JSON, a broken form)
        answers |= {400, 413, 422}
    if has_body or operation.get("parameters"):
        answers.add(422)
    queries = (param.alias for dep in _walk(route.dependant) for param in dep.query_params)
    if "owner_id" in queries:
        answers.add(409)  # two users' models share the name: say whose (admins)
    if get_throttle in calls:
        answers.add(429)
    if get_predict_context in calls or open_inference_context in calls:
        answers |= {401, 403, 413, 429, 503}
    return answers


def _style_of(route: Any) -> ErrorStyle:
    style = getattr(route, "error_style", None)
    return style if style is not None else native_error_body


def _is_error(status: str) -> bool:
    return status[:1] in {"4", "5"}


def document_answers(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Add every operation's error answers, in its route's error shape, to ``schema``."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    # A route of an included router is found through its context (FastAPI >= 0.16x keeps
    # included routers as they are): the context has the full path and every dependency.
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        style = _style_of(route.original_route)
        component = ERROR_SCHEMAS.get(f"{style.__module__}.{style.__qualname__}")
        if component is None:
            raise LookupError(f"no OpenAPI schema for the error style of {route.path}")
        for method in route.methods or ():
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            if get_page_params in _calls(route):
                _bound_limit(operation, app.state.settings.http.max_page_size)
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for answer in answers_of(route, operation):
                responses.setdefault(str(answer), {})
            for status, response in responses.items():
                if not _is_error(status):
                    continue
                content = response.get("content", {}).get("application/json")
                # FastAPI's own 422 (HTTPValidationError) is never answered here: replaced.
                if content is None or _is_fastapi_validation(content):
                    response["content"] = {
                        "application/json": {"schema": {"$ref": _REF + component}}
                    }
                if not response.get("description") or response["description"] == (
                    "Validation Error"
                ):
                    response["description"] = _DESCRIPTIONS.get(int(status), "Error.")
            operation["responses"] = dict(sorted(responses.items()))
    for name, body in _COMPONENTS.items():
        components[name] = body
    _drop_unreferenced(schema, ("HTTPValidationError", "ValidationError"))
    return schema


def _bound_limit(operation: dict[str, Any], most: int) -> None:
    # The page size's bound is a setting (get_page_params checks it), so it is written into
    # the document of this server rather than into the route.
    for parameter in operation.get("parameters", []):
        if parameter["name"] == "limit" and parameter["in"] == "query":
            schema = parameter["schema"]
            for kind in schema.get("anyOf", [schema]):
                if kind.get("type") == "integer":
                    kind["maximum"] = most


def _is_fastapi_validation(content: dict[str, Any]) -> bool:
    return content.get("schema", {}).get("$ref") == _REF + "HTTPValidationError"


def _drop_unreferenced(schema: dict[str, Any], names: tuple[str, ...]) -> None:
    text = repr(schema["paths"]) + repr(
        {k: v for k, v in schema["components"]["schemas"].items() if k not in names}
    )
    for name in names:
        if f"'{_REF}{name}'" not in text:
            schema["components"]["schemas"].pop(name, None)


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json`` and ``/docs``) document every answer."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_answers(app, generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
