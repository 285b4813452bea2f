"""Request and response bodies of the native auth API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

__all__ = [
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyRead",
    "TokenRead",
    "TokenRequest",
    "UserAdminUpdate",
    "UserCreate",
    "UserRead",
]

USERNAME_FIELD = Field(
    default=None,
    pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,149}$",
    description="Letters, digits, '_', '.', '-'; up to 150 characters.",
)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    username: str | None = USERNAME_FIELD
    password: str = Field(min_length=1, max_length=4096)

    @model_validator(mode="after")
    def _needs_login(self) -> UserCreate:
        if self.email is None and self.username is None:
            raise ValueError("give an email or a username")
        return self


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None
    username: str | None
    role: Literal["user", "admin"]
    is_active: bool
    created_at: datetime


class UserAdminUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_active: bool | None = None
    role: Literal["user", "admin"] | None = None


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(min_length=1, max_length=320, description="E-mail or username.")
    password: str = Field(min_length=1, max_length=4096)


class TokenRead(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int = Field(description="Seconds until the token expires.")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=100)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key. It is shown this once and never again.")
