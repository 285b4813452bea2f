"""Errors of the auth domain."""

from __future__ import annotations

from modelyard.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    TooManyRequests,
    Unauthenticated,
)

__all__ = [
    "AccountDisabled",
    "AdminRequired",
    "ApiKeyNotFound",
    "CannotChangeOwnAccount",
    "EmailTaken",
    "InvalidApiKey",
    "InvalidCredentials",
    "InvalidToken",
    "LoginThrottled",
    "MissingCredentials",
    "SignInBusy",
    "UnknownAccount",
    "UserNotFound",
    "UsernameTaken",
    "WeakPassword",
    "WrongPassword",
]


class MissingCredentials(Unauthenticated):
    code = "missing_credentials"
    message = "Credentials required: send 'Authorization: Bearer <token or API key>' or 'X-API-Key'"


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    message = "Invalid credentials"


class UnknownAccount(InvalidCredentials):
    """No such account; shown to clients exactly like a wrong password."""


class WrongPassword(InvalidCredentials):
    """Wrong password; shown to clients exactly like an unknown account."""


class InvalidToken(Unauthenticated):
    code = "invalid_token"
    message = "Invalid or expired token"


class InvalidApiKey(Unauthenticated):
    code = "invalid_api_key"
    message = "Invalid or revoked API key"


class AccountDisabled(PermissionDenied):
    code = "account_disabled"
    message = "This account is disabled"


class AdminRequired(PermissionDenied):
    code = "admin_required"
    message = "Admin rights required"


class LoginThrottled(TooManyRequests):
    code = "login_throttled"
    message = "Too many failed sign-in attempts; try again later"


class SignInBusy(ServiceUnavailable):
    code = "sign_in_busy"
    message = "Too many sign-ins at once; try again in a moment"


class EmailTaken(Conflict):
    code = "email_taken"
    message = "Email already registered"


class UsernameTaken(Conflict):
    code = "username_taken"
    message = "Username already taken"


class CannotChangeOwnAccount(Conflict):
    code = "own_account"
    message = "Admins cannot disable, demote or delete their own account"


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "User not found"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
    message = "API key not found"


class WeakPassword(InvalidInput):
    code = "weak_password"
    message = "Password does not meet the rules"
