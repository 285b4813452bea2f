"""How a request proves who it is: typed dependency aliases for routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from modelyard.auth import service
from modelyard.auth.exceptions import AdminRequired, MissingCredentials
from modelyard.auth.models import User
from modelyard.auth.security import Security
from modelyard.auth.throttle import LoginThrottle, client_address
from modelyard.db import SessionDep

__all__ = [
    "AdminUser",
    "CurrentUser",
    "LenientUser",
    "SecurityDep",
    "ThrottleDep",
    "credential_from_authorization",
    "current_user",
    "get_current_user",
    "request_client",
]

_bearer = HTTPBearer(auto_error=False, description="A JWT from /api/v1/auth/token, or an API key.")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")


# Dependencies that only read app state are async: a plain ``def`` one would cost each request
# a trip through the thread pool.
async def get_security(request: Request) -> Security:
    security: Security = request.app.state.security
    return security


def request_client(request: Request) -> str:
    """The client address sign-ins are counted against (see ``throttle.client_address``)."""
    settings = request.app.state.settings.auth
    peer = request.client.host if request.client else None
    return client_address(
        peer, request.headers.getlist("x-forwarded-for"), settings.trusted_proxies
    )


async def get_throttle(request: Request) -> LoginThrottle:
    settings = request.app.state.settings.auth
    return LoginThrottle(request.app.state.ephemeral, settings, request_client(request))


SecurityDep = Annotated[Security, Depends(get_security)]
ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]


async def _authenticate(session: Session, security: Security, raw: str) -> User:
    # A credential verified moments ago costs no query and no trip through the thread pool.
    user = service.cached_credential(session, security, raw)
    if user is None:
        user = await run_in_threadpool(service.authenticate_credential, session, security, raw)
    return user


def _presented(bearer: HTTPAuthorizationCredentials | None, api_key: str | None) -> str:
    raw = api_key or (bearer.credentials if bearer else None)
    if not raw:
        raise MissingCredentials(headers={"WWW-Authenticate": "Bearer"})
    return raw


def get_current_user(
    session: Session,
    security: Security,
    bearer: HTTPAuthorizationCredentials | None,
    api_key: str | None,
) -> User:
    """The signed-in user, for code that already runs in a worker thread (blocking)."""
    return service.authenticate_credential(session, security, _presented(bearer, api_key))


async def current_user(
    session: SessionDep,
    security: SecurityDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> User:
    return await _authenticate(session, security, _presented(bearer, api_key))


CurrentUser = Annotated[User, Depends(current_user)]


async def require_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise AdminRequired()
    return user


AdminUser = Annotated[User, Depends(require_admin)]


def credential_from_authorization(header: str | None) -> str | None:
    """``Bearer X`` or a bare ``X``: some clients put the raw token in the header."""
    if not header or not header.strip():
        return None
    scheme, _, value = header.strip().partition(" ")
    if value and scheme.lower() == "bearer":
        return value.strip()
    return header.strip() if not value else None


async def get_lenient_user(
    request: Request,
    session: SessionDep,
    security: SecurityDep,
    api_key: Annotated[str | None, Depends(_api_key)],
) -> User:
    raw = api_key or credential_from_authorization(request.headers.get("authorization"))
    if not raw:
        raise MissingCredentials(headers={"WWW-Authenticate": "Bearer"})
    return await _authenticate(session, security, raw)


# For compatibility routes whose clients send the token without "Bearer".
LenientUser = Annotated[User, Depends(get_lenient_user)]
