"""pycm-api's routes (document 000 in shared/seeds), unchanged for its clients.

Errors keep pycm-api's FastAPI shape, ``{"detail": "..."}``, with its status codes and messages.
Fixed on the way: API keys are stored hashed (sign-in hands out a fresh working key), e-mails are
validated, the admin listings check a real admin account's password, updates check ownership,
the cached report and plot follow an update, a delete removes the files, string labels are
accepted, ROC and PR are two curves, undefined values are null, and another user's matrix is
"Confusion matrix not found" (pycm-api said "Unauthorized access", telling that the uid exists).
A compare that names an unknown uid answers 404 with the compare fields set to null, so a client
reading ``best_name`` (the document's own workflow does) reads null instead of failing.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute

from modelyard.auth import service as auth
from modelyard.auth.dependencies import SecurityDep, ThrottleDep
from modelyard.auth.exceptions import EmailTaken, InvalidCredentials, UnknownAccount, WrongPassword
from modelyard.auth.models import User
from modelyard.compat.pycm_api_schemas import (
    PycmCM,
    PycmCMCreate,
    PycmCMData,
    PycmCMRead,
    PycmCompareRequest,
    PycmCompareResult,
    PycmCredentials,
    PycmCurveRequest,
    PycmCurveResult,
    PycmMessage,
    PycmMultiLabelRequest,
    PycmMultiLabelResult,
    PycmUser,
)
from modelyard.db import DatabaseDep, SessionDep
from modelyard.errors import (
    BadRequest,
    ModelyardError,
    NotFound,
    Unauthenticated,
    styled_route,
    validation_detail,
)
from modelyard.evaluation import analysis
from modelyard.evaluation import service as evaluation
from modelyard.evaluation.dependencies import EvaluationDep, json_body, json_body_openapi
from modelyard.evaluation.exceptions import ConfusionMatrixNotFound
from modelyard.evaluation.models import ConfusionMatrixRecord
from modelyard.evaluation.responses import html_response, png_response
from modelyard.evaluation.schemas import (
    ConfusionMatrixBrief,
    ConfusionMatrixCreate,
    CurveRequest,
    MultiLabelRequest,
)
from modelyard.pagination import MAX_DB_INT

__all__ = ["create_route", "create_router", "router"]

SIGN_IN_KEY_NAME = "pycm-api"


def pycm_error_body(status: int, code: str, message: str, details: Any) -> Any:
    if status == 422:
        # FastAPI's validation shape, as the routes' OpenAPI document says of every 422 (a
        # refusal of the service's own, such as a short password, was a string).
        return {"detail": validation_detail(code, message, details)}
    return {"detail": message}


# What any of pycm-api's routes may answer besides its own: 400 (e.g. an e-mail already
# registered, a wrong password), 404 (an unknown API key, user or matrix uid).
_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad request (an e-mail already registered, a wrong password, ...)."},
    404: {"description": "An unknown API key, user or confusion matrix."},
}
router = APIRouter(
    route_class=styled_route(pycm_error_body), tags=["compat: pycm-api"], responses=_ANSWERS
)
# The busiest route alone, so the app can match it early without making every later route
# try all of pycm-api's first (each route tried costs a request about 8 µs).
create_router = APIRouter(
    route_class=styled_route(pycm_error_body), tags=["compat: pycm-api"], responses=_ANSWERS
)


class _Utf8Basic(HTTPBasic):
    """HTTP Basic credentials read as UTF-8 (RFC 7617's ``charset="UTF-8"``, what curl and
    browsers send): FastAPI's reads ASCII only, which refused an admin named ``Zoë`` (pycm-api's
    admin may have any name) and any password beyond ASCII."""

    async def __call__(self, request: HTTPConnection) -> HTTPBasicCredentials | None:  # type: ignore[override]
        scheme, param = get_authorization_scheme_param(request.headers.get("Authorization"))
        if scheme.lower() != "basic":
            return None
        try:
            data = b64decode(param, validate=True).decode("utf-8")
        except (ValueError, binascii.Error):
            return None
        username, separator, password = data.partition(":")
        return HTTPBasicCredentials(username=username, password=password) if separator else None


_basic = _Utf8Basic(auto_error=False)


def _user_objects(
    session: SessionDep, users: Sequence[User], keys: Sequence[str]
) -> list[PycmUser]:
    uids = evaluation.uids_by_owner(session, [user.id for user in users])
    return [
        PycmUser(
            id=user.id,
            email=user.email,
            api_key=key,
            credit=user.credit,
            is_active=user.is_active,
            cms=[PycmCM(uid=uid) for uid in uids.get(user.id, [])],
        )
        for user, key in zip(users, keys, strict=True)
    ]


@router.post("/sign_up/", response_model=PycmUser)
def sign_up(body: PycmCredentials, session: SessionDep, security: SecurityDep) -> PycmUser:
    """Register a new user; the answer holds the API key for every other call."""
    try:
        user = auth.sign_up(session, security, email=body.email, password=body.password)
    except EmailTaken as exc:
        raise BadRequest("Email already registered") from exc
    key = auth.issue_sign_in_key(session, user, SIGN_IN_KEY_NAME)
    return _user_objects(session, [user], [key])[0]


@router.post("/sign_in/", response_model=PycmUser)
def sign_in(
    body: PycmCredentials, session: SessionDep, security: SecurityDep, throttle: ThrottleDep
) -> PycmUser:
    """Sign in; the answer holds a working API key (a new one: keys are stored hashed)."""
    try:
        user = auth.authenticate_password(session, security, throttle, body.email, body.password)
    except UnknownAccount as exc:
        raise NotFound("User not found") from exc
    except WrongPassword as exc:
        raise BadRequest("Invalid password") from exc
    key = auth.issue_sign_in_key(session, user, SIGN_IN_KEY_NAME)
    return _user_objects(session, [user], [key])[0]


def _admin_by_basic_auth(
    session: SessionDep,
    security: SecurityDep,
    throttle: ThrottleDep,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> User:
    denied = Unauthenticated("Unauthorized access", headers={"WWW-Authenticate": "Basic"})
    if credentials is None:
        raise denied
    try:
        user = auth.authenticate_password(
            session, security, throttle, credentials.username, credentials.password
        )
    except InvalidCredentials as exc:
        raise denied from exc
    if not user.is_admin:
        raise denied
    return user


BasicAdmin = Annotated[User, Depends(_admin_by_basic_auth)]
Skip = Annotated[int, Query(ge=0, le=MAX_DB_INT)]
Limit = Annotated[int, Query(ge=0, le=1000)]


@router.get("/users/", response_model=list[PycmUser])
def list_users(
    admin: BasicAdmin, session: SessionDep, skip: Skip = 0, limit: Limit = 100
) -> list[PycmUser]:
    """List users (admin, HTTP Basic); API keys show only their public prefix."""
    users, _ = auth.list_users(session, limit=limit, offset=skip)
    prefixes = auth.key_prefixes(session, users)
    keys = [f"mdy_{prefixes[u.id]}_..." if u.id in prefixes else "" for u in users]
    return _user_objects(session, users, keys)


def _owner(session: SessionDep, security: SecurityDep, api_key: str) -> User:
    try:
        return auth.authenticate_credential(session, security, api_key)
    except ModelyardError as exc:
        raise NotFound("Invalid API key") from exc


def _read(record: ConfusionMatrixRecord) -> PycmCMRead:
    return PycmCMRead(
        uid=record.uid,
        confusion_matrix=record.matrix,
        **record.headline,
    )


def _data(brief: ConfusionMatrixBrief) -> PycmCMData:
    return PycmCMData(
        accuracy=brief.accuracy,
        precision=brief.precision,
        recall=brief.recall,
        f1=brief.f1,
        confusion_matrix=brief.matrix,
    )


def _as_create(body: PycmCMCreate) -> ConfusionMatrixCreate:
    # Already validated as labels while parsing; a million of them need not be checked twice.
    return ConfusionMatrixCreate.model_construct(
        actual=body.actual_vector, predicted=body.predicted_vector
    )


CreateBody = Annotated[PycmCMCreate, Depends(json_body(PycmCMCreate))]
_CREATE_DOC = json_body_openapi(PycmCMCreate)
_PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}
_HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}}}


@router.get("/cms/", response_model=list[PycmCMRead])
def list_cms(
    admin: BasicAdmin, session: SessionDep, skip: Skip = 0, limit: Limit = 100
) -> list[PycmCMRead]:
    """List every confusion matrix (admin, HTTP Basic)."""
    return [_read(record) for record in evaluation.list_all(session, limit=limit, offset=skip)]


@create_router.post("/cm/create", response_model=PycmCM, openapi_extra=_CREATE_DOC)
async def create_cm(
    body: CreateBody, database: DatabaseDep, security: SecurityDep, ev: EvaluationDep
) -> PycmCM:
    """Create a confusion matrix from actual and predicted vectors."""
    created = _as_create(body)
    # The busiest write of this API. A key verified moments ago and a small body need no
    # session, no query and no worker thread: counted here, the row is committed together
    # with the other creates of the moment (modelyard/group_commit.py).
    cached = auth.cached_identity(security, body.api_key)
    if cached is not None and evaluation.is_small(created):
        row = await evaluation.create_grouped(database.group_commit, ev, cached.id, created)
        return PycmCM(uid=row.uid)

    # Otherwise the key check, the create and the commit take one trip to a worker thread.
    def work() -> PycmCM:
        with database.session() as session:
            user = _owner(session, security, body.api_key)
            return PycmCM(uid=evaluation.create(session, ev, user.id, created).uid)

    return await run_in_threadpool(work)


def create_route() -> BaseRoute:
    """The ``POST /cm/create`` route (the fast path answers as it, see pycm_api_fast_path.py)."""
    [route] = create_router.routes
    return route


@router.post("/cm/update", response_model=PycmCM, openapi_extra=_CREATE_DOC)
def update_cm(
    cm_uid: Annotated[str, Query(max_length=64)],
    body: CreateBody,
    session: SessionDep,
    security: SecurityDep,
    ev: EvaluationDep,
) -> PycmCM:
    """Replace one of my confusion matrices with new vectors."""
    user = _owner(session, security, body.api_key)
    return PycmCM(uid=evaluation.replace(session, ev, cm_uid, user.id, _as_create(body)).uid)


ApiKey = Annotated[str, Query(max_length=512)]
CmUid = Annotated[str, Query(max_length=64)]


@router.get("/cm/", response_model=PycmCMRead)
def read_cm(
    api_key: ApiKey, cm_uid: CmUid, session: SessionDep, security: SecurityDep
) -> PycmCMRead:
    """Show a confusion matrix with its accuracy, macro precision, recall and F1."""
    user = _owner(session, security, api_key)
    return _read(evaluation.get(session, cm_uid, user.id))


@router.delete("/cm/{cm_uid}", response_model=PycmMessage)
def delete_cm(
    cm_uid: str, api_key: ApiKey, session: SessionDep, security: SecurityDep, ev: EvaluationDep
) -> PycmMessage:
    """Delete one of my confusion matrices and its files."""
    user = _owner(session, security, api_key)
    evaluation.delete(session, ev, cm_uid, user.id)
    return PycmMessage(message="Confusion matrix deleted")


@router.get("/cm/report", response_class=Response, responses=_HTML)
def report_cm(
    api_key: ApiKey, cm_uid: CmUid, session: SessionDep, security: SecurityDep, ev: EvaluationDep
) -> Response:
    """Show PyCM's HTML report of a confusion matrix."""
    user = _owner(session, security, api_key)
    return html_response(evaluation.report(session, ev, cm_uid, user.id))


@router.get("/cm/plot", response_class=Response, responses=_PNG)
def plot_cm(
    api_key: ApiKey, cm_uid: CmUid, session: SessionDep, security: SecurityDep, ev: EvaluationDep
) -> Response:
    """Draw a confusion matrix as a PNG."""
    user = _owner(session, security, api_key)
    return png_response(evaluation.plot(session, ev, cm_uid, user.id))


@router.post(
    "/compare/",
    response_model=PycmCompareResult,
    responses={404: {"description": "An unknown uid; the compare fields are null."}},
)
def compare(
    body: PycmCompareRequest, session: SessionDep, security: SecurityDep, ev: EvaluationDep
) -> Any:
    """Compare several of my confusion matrices (PyCM's Compare)."""
    user = _owner(session, security, body.api_key)
    try:
        result = evaluation.compare(session, ev.settings, user.id, body.cm_uids)
    except ConfusionMatrixNotFound:
        empty = PycmCompareResult(cm_uids=body.cm_uids).model_dump()
        return JSONResponse({"detail": "Confusion matrix not found", **empty}, status_code=404)
    return PycmCompareResult(
        cm_uids=body.cm_uids,
        best_name=result.best_name,
        cm_scores=result.scores,
        cm_orders=result.order,
    )


@router.post("/mlcm/", response_model=PycmMultiLabelResult)
def multilabel(
    body: PycmMultiLabelRequest, session: SessionDep, security: SecurityDep, ev: EvaluationDep
) -> PycmMultiLabelResult:
    """Evaluate multi-label predictions per class and per sample (nothing is stored)."""
    user = _owner(session, security, body.api_key)
    request = MultiLabelRequest(
        actual=body.actual_vector, predicted=body.predicted_vector, classes=body.classes
    )
    result = analysis.multilabel(session, ev, user.id, request)
    return PycmMultiLabelResult(
        multihot_actual=result.multihot_actual,
        multihot_predicted=result.multihot_predicted,
        classes=result.classes,
        cm_by_classes={label: _data(brief) for label, brief in result.by_class.items()},
        cm_by_samples={i: _data(brief) for i, brief in enumerate(result.by_sample)},
    )


@router.post("/curve", response_model=PycmCurveResult)
def curve(
    body: PycmCurveRequest, session: SessionDep, security: SecurityDep, ev: EvaluationDep
) -> PycmCurveResult:
    """Compute a ROC or a PR curve: thresholds and the area under each class's curve."""
    _owner(session, security, body.api_key)
    request = CurveRequest(
        type=body.type,
        actual=body.actual_vector,
        probabilities=body.probability_vector,
        classes=body.classes,
    )
    read = analysis.curve(ev, request)
    return PycmCurveResult(thresholds=read.thresholds, auc_trp=read.auc)
