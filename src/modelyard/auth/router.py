"""Native auth routes: sign-up, tokens, the current user, API keys, user admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from modelyard.auth import service
from modelyard.auth.dependencies import AdminUser, CurrentUser, SecurityDep, ThrottleDep
from modelyard.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    TokenRead,
    TokenRequest,
    UserAdminUpdate,
    UserCreate,
    UserRead,
)
from modelyard.db import SessionDep
from modelyard.pagination import IntId, PageParamsDep
from modelyard.schemas import Page
from modelyard.storage.dependencies import ArtifactsDep

__all__ = ["admin_router", "api_keys_router", "auth_router", "users_router"]

auth_router = APIRouter(prefix="/auth", tags=["auth"])

_BUSY: dict[int | str, dict[str, Any]] = {
    503: {"description": "Too many passwords being hashed at once (see Retry-After)."}
}
_SIGN_IN: dict[int | str, dict[str, Any]] = {
    **_BUSY,
    401: {"description": "Wrong login or password."},
    403: {"description": "The account is disabled."},
    429: {"description": "Too many guesses from this address (see Retry-After)."},
}
users_router = APIRouter(prefix="/users", tags=["auth"])
api_keys_router = APIRouter(prefix="/api-keys", tags=["auth"])
admin_router = APIRouter(prefix="/admin", tags=["admin"])

_OWN_ACCOUNT: dict[int | str, dict[str, Any]] = {
    409: {"description": "An admin cannot disable, demote or delete their own account."}
}


@users_router.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses={**_BUSY, 409: {"description": "The e-mail or username is taken."}},
)
def sign_up(body: UserCreate, session: SessionDep, security: SecurityDep) -> object:
    """Create an account with an e-mail or a username and a password."""
    return service.sign_up(
        session, security, email=body.email, username=body.username, password=body.password
    )


@users_router.get("/me", response_model=UserRead)
async def read_me(user: CurrentUser) -> object:
    """Show the account the credentials belong to."""
    # No I/O (the user's columns are loaded): async saves two trips to the thread pool.
    return user


@auth_router.post("/token", response_model=TokenRead, responses=_SIGN_IN)
def issue_token(
    body: TokenRequest, session: SessionDep, security: SecurityDep, throttle: ThrottleDep
) -> TokenRead:
    """Exchange an e-mail or username and password for a short-lived JWT access token."""
    user = service.authenticate_password(session, security, throttle, body.login, body.password)
    return service.issue_access_token(security, user)


@api_keys_router.get("", response_model=list[ApiKeyRead])
def list_api_keys(user: CurrentUser, session: SessionDep) -> object:
    """List my API keys (never their secrets)."""
    return service.list_api_keys(session, user)


@api_keys_router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_api_key(body: ApiKeyCreate, user: CurrentUser, session: SessionDep) -> ApiKeyCreated:
    """Create an API key; its secret is in this response only."""
    key, secret = service.create_api_key(session, user, body.name)
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=secret)


@api_keys_router.delete(
    "/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
def revoke_api_key(key_id: IntId, user: CurrentUser, session: SessionDep) -> None:
    """Revoke one of my API keys; it stops working at once."""
    service.revoke_api_key(session, user, key_id)


@admin_router.get("/users", response_model=Page[UserRead])
def list_users(admin: AdminUser, session: SessionDep, page: PageParamsDep) -> object:
    """List every user (admins only)."""
    users, total = service.list_users(session, limit=page.limit, offset=page.offset)
    return {"items": users, "total": total, "limit": page.limit, "offset": page.offset}


@admin_router.get("/users/{user_id}", response_model=UserRead)
def read_user(user_id: IntId, admin: AdminUser, session: SessionDep) -> object:
    """Show one user (admins only)."""
    return service.get_user(session, user_id)


@admin_router.patch(
    "/users/{user_id}",
    response_model=UserRead,
    responses=_OWN_ACCOUNT,
)
def update_user(
    user_id: IntId, body: UserAdminUpdate, admin: AdminUser, session: SessionDep
) -> object:
    """Enable or disable a user, or change their role (admins only)."""
    return service.update_user(session, admin, user_id, is_active=body.is_active, role=body.role)


@admin_router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_OWN_ACCOUNT,
)
def delete_user(user_id: IntId, admin: AdminUser, session: SessionDep, store: ArtifactsDep) -> None:
    """Delete a user and everything they own, stored files included (admins only)."""
    service.delete_user(session, admin, user_id, store)
