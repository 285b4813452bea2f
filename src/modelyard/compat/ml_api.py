"""The Machine learning API's user and token routes (document 001 in shared/seeds), unchanged.

Its bodies are ``{"message": ...}`` (plus ``user_id`` where the source had it). Fixed on the way:
the user-admin routes need an admin (the source left them open to anyone), passwords are argon2id
hashes, and tokens are HS256-pinned JWTs with an expiry.

``POST /predict`` serves the model named by ``MODELYARD_SERVING_ML_API_MODEL``, owned by an admin
(so no user can take over the name), at its ``production`` alias, else its latest version; every
signed-in user may call it, as in the source, where one model served every user. Kept: the token
alone in ``Authorization`` (``Bearer`` also works), one record of named features,
``{"yhat_prob": "<p>", "yhat": "0"|"1"}``, 400 ``{"message": "Bad request"}``. Fixed: a missing or
bad token is 401 ``{"error": "Unauthorized"}`` (the source answered 200 and null). Features the
model does not take are ignored, as the source ignored them; a missing or ill-typed one is a 400.
The request log is the source's Requests and Responses tables (``GET /requests``, ``/responses``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, EmailStr, Field
from sqlalchemy.orm import Session

from modelyard.auth import service as auth
from modelyard.auth.dependencies import (
    LenientUser,
    SecurityDep,
    ThrottleDep,
    credential_from_authorization,
)
from modelyard.auth.exceptions import (
    AdminRequired,
    EmailTaken,
    InvalidCredentials,
)
from modelyard.auth.models import User
from modelyard.config import Settings
from modelyard.db import Database, SessionDep
from modelyard.errors import (
    BadRequest,
    ModelyardError,
    ServiceUnavailable,
    Unauthenticated,
    styled_route,
)
from modelyard.pagination import MAX_DB_INT, IntId
from modelyard.registry import service as registry
from modelyard.registry.schemas import ServingTarget
from modelyard.serving import service as serving
from modelyard.serving.dependencies import CoreDep, PredictIdRoute, predict_id_of
from modelyard.serving.exceptions import InvalidPredictInput
from modelyard.serving.schemas import PredictionLogRead
from modelyard.storage.dependencies import ArtifactsDep

__all__ = ["SOURCE", "predict_error_body", "predict_record", "predict_router", "router"]


def ml_error_body(status: int, code: str, message: str, details: Any) -> Any:
    body: dict[str, Any] = {"message": message}
    if details is not None:
        body["detail"] = details
    return body


router = APIRouter(route_class=styled_route(ml_error_body), tags=["compat: Machine learning API"])


class Message(BaseModel):
    message: str


class UserMessage(Message):
    user_id: int | None


class RegisterBody(BaseModel):
    username: str = Field(pattern=auth.USERNAME_PATTERN)
    password: str = Field(min_length=1, max_length=4096)
    email: EmailStr | None = None


class TokenBody(BaseModel):
    username: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=4096)


class TokenAnswer(BaseModel):
    token: str


def _admin(user: User) -> User:
    if not user.is_admin:
        raise AdminRequired()
    return user


@router.post(
    "/register-user",
    response_model=UserMessage,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": UserMessage, "description": "The username is taken."}},
)
def register_user(body: RegisterBody, session: SessionDep, security: SecurityDep) -> Any:
    """Register a user by username, password and e-mail."""
    existing = auth.find_by_login(session, body.username)
    if existing is not None:
        return JSONResponse(
            {"message": "User already exists", "user_id": existing.id}, status_code=409
        )
    try:
        user = auth.sign_up(
            session, security, username=body.username, email=body.email, password=body.password
        )
    except EmailTaken:
        return JSONResponse(
            {"message": "Email already registered", "user_id": None}, status_code=409
        )
    return UserMessage(message="User created successfully", user_id=user.id)


@router.post("/token", response_model=TokenAnswer, responses={401: {"model": Message}})
def get_token(
    body: TokenBody, session: SessionDep, security: SecurityDep, throttle: ThrottleDep
) -> TokenAnswer:
    """Exchange a username and password for a JWT."""
    try:
        user = auth.authenticate_password(session, security, throttle, body.username, body.password)
    except InvalidCredentials as exc:
        raise Unauthenticated("Invalid credentials") from exc
    return TokenAnswer(token=auth.issue_access_token(security, user).access_token)


@router.get("/token_status/{token}", response_model=Message, responses={401: {"model": Message}})
def token_status(token: str, session: SessionDep, security: SecurityDep) -> Message:
    """Tell whether a token is valid."""
    try:
        auth.user_from_token(session, security, token)
    except ModelyardError as exc:
        raise Unauthenticated("Invalid token") from exc
    return Message(message="Token is valid")


@router.put(
    "/toggle-user-permission/{user_id}/{permission}",
    response_model=UserMessage,
    responses={404: {"model": Message}},
)
def toggle_user_permission(
    user_id: IntId, permission: bool, user: LenientUser, session: SessionDep
) -> UserMessage:
    """Enable (true/1) or disable (false/0) a user (admins only)."""
    target = auth.update_user(session, _admin(user), user_id, is_active=permission)
    return UserMessage(message="User permission updated successfully", user_id=target.id)


@router.delete(
    "/remove-user/{user_id}", response_model=Message, responses={404: {"model": Message}}
)
def remove_user(
    user_id: IntId, user: LenientUser, session: SessionDep, store: ArtifactsDep
) -> Message:
    """Delete a user and everything they own (admins only)."""
    auth.delete_user(session, _admin(user), user_id, store)
    return Message(message="User deleted successfully")


SOURCE = "ml_api"


def predict_error_body(status: int, code: str, message: str, details: Any) -> Any:
    if status == 401:
        return {"error": "Unauthorized"}
    return {"message": message}


class _PredictRoute(PredictIdRoute):
    error_style = staticmethod(predict_error_body)


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


@dataclass(frozen=True)
class _Context:
    user_id: int
    target: ServingTarget


def _context(
    request: Request, security: SecurityDep, api_key: Annotated[str | None, Depends(_api_key)]
) -> _Context:
    raw = api_key or credential_from_authorization(request.headers.get("authorization"))
    if not raw:
        raise Unauthenticated()
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.database
    with database.session() as session:
        user = auth.authenticate_credential(session, security, raw)
        name = settings.serving.ml_api_model
        if not name:
            raise ServiceUnavailable(
                "No model is configured for /predict: set MODELYARD_SERVING_ML_API_MODEL"
            )
        return _Context(user.id, registry.ml_api_target(session, name))


def _payload(raw: bytes | Any, target: ServingTarget) -> Any:
    """One record for the core; a body that is not one goes there too, to be refused and logged.

    ``raw``: the body's bytes, or the body already decoded.
    """
    record = raw
    if isinstance(raw, bytes):
        try:
            record = serving.loads_strict(raw)
        except ValueError:
            return raw
    if not isinstance(record, dict) or target.input_schema is None:
        return [record]
    names = {column.name for column in target.input_schema}
    return [{key: value for key, value in record.items() if key in names}]


def yhat_answer(probabilities: list[float]) -> dict[str, str]:
    """The source's answer: the positive class's probability, and 1 when it is the likelier."""
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return {"yhat_prob": format(probabilities[1], ".7g"), "yhat": str(best)}


async def predict_record(
    core: serving.ServingCore,
    target: ServingTarget,
    body: bytes | Any,
    *,
    predict_id: str,
    user_id: int | None,
) -> dict[str, str]:
    """The source's answer to one record of named features (``body``: bytes or decoded)."""
    # Bodies that are not one record reach the core all the same, so every call is logged.
    if target.kind != "classifier" or len(target.classes or []) != 2:
        raise ServiceUnavailable("The model configured for /predict is not a binary classifier")
    try:
        result = await core.predict(
            target,
            _payload(body, target),
            predict_id=predict_id,
            user_id=user_id,
            source=SOURCE,
        )
    except InvalidPredictInput as exc:
        raise BadRequest() from exc
    assert result.prediction.probabilities is not None
    return yhat_answer(result.prediction.probabilities[0])


async def predict(
    request: Request, core: CoreDep, context: Annotated[_Context, Depends(_context)]
) -> dict[str, str]:
    """Predict one record of named features with the configured binary classifier."""
    return await predict_record(
        core,
        context.target,
        await request.body(),
        predict_id=predict_id_of(request),
        user_id=context.user_id,
    )


# Apart from the other routes: the single-model server (compat/mlup.py) answers the root
# /predict with a route of its own that serves this face and mlup's.
predict_router = APIRouter(route_class=_PredictRoute, tags=["compat: Machine learning API"])
predict_router.add_api_route(
    "/predict",
    predict,
    methods=["POST"],
    responses={
        400: {"description": "Bad request"},
        401: {"description": "Unauthorized"},
        503: {"description": "No model is configured for /predict."},
    },
)

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_DB_INT)]


def _rows(session: Session, user: User, limit: int, offset: int) -> list[PredictionLogRead]:
    return serving.list_caller_log(session, user, source=SOURCE, limit=limit, offset=offset)


def _output(item: PredictionLogRead) -> dict[str, Any]:
    probabilities = (item.output or {}).get("probabilities")
    if item.status == 200 and probabilities:
        return yhat_answer(probabilities[0])
    # The client saw 400 for rows that did not fit; anything else, the logged message.
    return {"message": "Bad request" if item.status == 422 else item.error}


@router.get("/requests")
def list_requests(
    session: SessionDep, user: LenientUser, limit: Limit = 100, offset: Offset = 0
) -> list[dict[str, Any]]:
    """List your /predict requests as the source's Requests table (every user's for admins)."""
    return [
        {
            "id": item.id,
            "user_id": item.user_id,
            "input": item.input[0] if isinstance(item.input, list) and item.input else item.input,
            "created_datetime": item.created_at,
            "updated_datetime": item.created_at,
        }
        for item in _rows(session, user, limit, offset)
    ]


@router.get("/responses")
def list_responses(
    session: SessionDep, user: LenientUser, limit: Limit = 100, offset: Offset = 0
) -> list[dict[str, Any]]:
    """List the answers to your /predict requests as the source's Responses table."""
    return [
        {
            "id": item.id,
            "request_id": item.id,
            "output": _output(item),
            "created_datetime": item.created_at,
            "updated_datetime": item.created_at,
        }
        for item in _rows(session, user, limit, offset)
    ]
