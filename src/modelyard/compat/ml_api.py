"""The Machine learning API's user and token routes (document 001 in shared/seeds), unchanged.

Its bodies are ``{"message": ...}`` (plus ``user_id`` where the source had it). Fixed on the way:
the user-admin routes need an admin (the source left them open to anyone), passwords are argon2id
hashes, and tokens are HS256-pinned JWTs with an expiry.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, EmailStr, Field

from modelyard.auth import service as auth
from modelyard.auth.dependencies import LenientUser, SecurityDep, ThrottleDep
from modelyard.auth.exceptions import (
    AdminRequired,
    EmailTaken,
    InvalidCredentials,
)
from modelyard.auth.models import User
from modelyard.db import SessionDep
from modelyard.errors import ModelyardError, Unauthenticated, styled_route

__all__ = ["router"]


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
    user_id: int, permission: bool, user: LenientUser, session: SessionDep
) -> UserMessage:
    """Enable (true/1) or disable (false/0) a user (admins only)."""
    target = auth.update_user(session, _admin(user), user_id, is_active=permission)
    return UserMessage(message="User permission updated successfully", user_id=target.id)


@router.delete(
    "/remove-user/{user_id}", response_model=Message, responses={404: {"model": Message}}
)
def remove_user(user_id: int, user: LenientUser, session: SessionDep) -> Message:
    """Delete a user (admins only)."""
    auth.delete_user(session, _admin(user), user_id)
    return Message(message="User deleted successfully")
