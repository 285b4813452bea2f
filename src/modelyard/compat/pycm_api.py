"""pycm-api's routes (document 000 in shared/seeds), unchanged for its clients.

Errors keep pycm-api's FastAPI shape, ``{"detail": "..."}``, with its status codes and messages.
Fixed on the way: API keys are stored hashed (sign-in hands out a fresh working key), e-mails are
validated, and the admin listing checks a real admin account's password.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, EmailStr, Field

from modelyard.auth import service as auth
from modelyard.auth.dependencies import SecurityDep, ThrottleDep
from modelyard.auth.exceptions import EmailTaken, InvalidCredentials, UnknownAccount, WrongPassword
from modelyard.auth.models import User
from modelyard.db import SessionDep
from modelyard.errors import BadRequest, NotFound, Unauthenticated, styled_route

__all__ = ["router"]

SIGN_IN_KEY_NAME = "pycm-api"


def pycm_error_body(status: int, code: str, message: str, details: Any) -> Any:
    if code == "validation_error" and details is not None:
        return {"detail": details}
    return {"detail": message}


router = APIRouter(route_class=styled_route(pycm_error_body), tags=["compat: pycm-api"])
_basic = HTTPBasic(auto_error=False)


class PycmCredentials(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=4096)


class PycmCM(BaseModel):
    uid: str


class PycmUser(BaseModel):
    id: int
    email: str | None
    api_key: str
    credit: float
    is_active: bool
    cms: list[PycmCM] = Field(default_factory=list)


def _user_object(user: User, api_key: str) -> PycmUser:
    return PycmUser(
        id=user.id, email=user.email, api_key=api_key, credit=user.credit, is_active=user.is_active
    )


@router.post("/sign_up/", response_model=PycmUser)
def sign_up(body: PycmCredentials, session: SessionDep, security: SecurityDep) -> PycmUser:
    """Register a new user; the answer holds the API key for every other call."""
    try:
        user = auth.sign_up(session, security, email=body.email, password=body.password)
    except EmailTaken as exc:
        raise BadRequest("Email already registered") from exc
    return _user_object(user, auth.issue_sign_in_key(session, user, SIGN_IN_KEY_NAME))


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
    return _user_object(user, auth.issue_sign_in_key(session, user, SIGN_IN_KEY_NAME))


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


@router.get("/users/", response_model=list[PycmUser])
def list_users(
    admin: BasicAdmin,
    session: SessionDep,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> list[PycmUser]:
    """List users (admin, HTTP Basic); API keys show only their public prefix."""
    users, _ = auth.list_users(session, limit=limit, offset=skip)
    prefixes = auth.key_prefixes(session, users)
    return [
        _user_object(user, f"mdy_{prefixes[user.id]}_..." if user.id in prefixes else "")
        for user in users
    ]
