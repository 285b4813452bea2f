"""Users, sign-in, tokens, API keys and admin operations, free of HTTP."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import timedelta
from functools import partial

from pydantic.networks import validate_email
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.auth import repository
from modelyard.auth.cache import attach, current_generation
from modelyard.auth.exceptions import (
    AccountDisabled,
    ApiKeyNotFound,
    CannotChangeOwnAccount,
    EmailTaken,
    InvalidApiKey,
    InvalidToken,
    SignInBusy,
    UnknownAccount,
    UsernameTaken,
    UserNotFound,
    WeakPassword,
    WrongPassword,
)
from modelyard.auth.models import ApiKey, Role, User
from modelyard.auth.schemas import TokenRead
from modelyard.auth.security import (
    Security,
    api_key_matches,
    generate_api_key,
    split_api_key,
)
from modelyard.auth.throttle import LoginThrottle
from modelyard.config import AuthSettings
from modelyard.db import after_commit, utcnow
from modelyard.errors import InvalidInput
from modelyard.storage import ArtifactStore, delete_quietly

__all__ = [
    "USERNAME_PATTERN",
    "authenticate_credential",
    "authenticate_password",
    "cached_credential",
    "cached_identity",
    "create_api_key",
    "delete_user",
    "ensure_admin",
    "ensure_bootstrap_admins",
    "ensure_service_account",
    "find_by_login",
    "get_user",
    "issue_access_token",
    "issue_sign_in_key",
    "key_prefixes",
    "list_api_keys",
    "list_users",
    "on_user_delete",
    "release_connection",
    "revoke_api_key",
    "sign_up",
    "update_user",
    "user_from_token",
]

log = logging.getLogger(__name__)

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,149}$"
_USERNAME = re.compile(USERNAME_PATTERN)
SIGN_IN_KEYS_KEPT = 5
_WROTE = "modelyard.auth.wrote"


@event.listens_for(Session, "after_flush")
def _mark_written(session: Session, _context: object) -> None:
    # A flush leaves nothing in new/dirty/deleted; this remembers that the transaction wrote.
    session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_written(session: Session) -> None:
    session.info.pop(_WROTE, None)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_password_rules(password: str, settings: AuthSettings) -> None:
    problems = []
    if not password.strip():
        problems.append("must not be empty or only spaces")
    if len(password) < settings.password_min_length:
        problems.append(f"must be at least {settings.password_min_length} characters")
    if len(password) > settings.password_max_length:
        problems.append(f"must be at most {settings.password_max_length} characters")
    if problems:
        raise WeakPassword(
            "Password " + "; ".join(problems),
            details=[{"loc": ["body", "password"], "msg": p} for p in problems],
        )


def sign_up(
    session: Session,
    security: Security,
    *,
    password: str,
    email: str | None = None,
    username: str | None = None,
    role: str = Role.USER,
    any_username: bool = False,
) -> User:
    """Create an account; the e-mail (case-insensitive) and the username are unique.

    The password is hashed with no database connection held (see ``release_connection``).

    ``any_username``: the name comes from the operator's settings (pycm-api's admin may be
    any name), checked there, not against the sign-up rules.
    """
    if email is None and username is None:
        raise InvalidInput("An account needs an e-mail or a username")
    if username is not None and not any_username and not _USERNAME.match(username):
        raise InvalidInput(
            "A username is 1-150 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    check_password_rules(password, security.settings)
    email = normalize_email(email) if email is not None else None
    if email is not None and repository.get_user_by_email(session, email) is not None:
        raise EmailTaken()
    if username is not None and repository.get_user_by_username(session, username) is not None:
        raise UsernameTaken()
    release_connection(session)
    password_hash = security.hash_password(password)
    user = User(
        email=email,
        username=username,
        password_hash=password_hash,
        role=role,
        is_active=True,
    )
    try:
        with session.begin_nested():
            repository.add(session, user)
    except IntegrityError as exc:
        # Two sign-ups raced past the checks above; the unique constraint decided.
        raise EmailTaken() if email is not None else UsernameTaken() from exc
    return user


def release_connection(session: Session) -> None:
    """End ``session``'s transaction when it has only read, so its connection goes back to
    the pool before a password is hashed.

    A hash takes a tenth of a second or more: held across it, a burst of sign-ins took every
    connection of the pool and the requests behind them failed after the pool's timeout. The
    session stays usable: loaded objects keep their values (no expiry on commit) and the next
    query begins a new, short transaction. A session holding changes keeps its transaction,
    since ending it would commit work that is not this function's to commit.
    """
    if session.new or session.dirty or session.deleted or session.info.get(_WROTE):
        return
    if session.in_transaction():
        session.commit()


def find_by_login(session: Session, login: str) -> User | None:
    """An account by e-mail (anything with '@') or by username."""
    login = login.strip()
    if "@" in login:
        user = repository.get_user_by_email(session, normalize_email(login))
        # pycm-api's admin may be named like an address (PYCM_API_ADMIN=ops@example.com)
        # while the account's e-mail is another (MODELYARD_ADMIN_EMAIL).
        return user or repository.get_user_by_username(session, login)
    return repository.get_user_by_username(session, login)


def authenticate_password(
    session: Session, security: Security, throttle: LoginThrottle, login: str, password: str
) -> User:
    """The account for these credentials, or an error.

    The guess is counted before the password is checked (``LoginThrottled`` beyond the limits
    of ``auth/throttle.py``), and the check runs with no database connection held and through
    the hashing gate (``SignInBusy`` when it is full).
    """
    guess = throttle.attempt(login)
    user = find_by_login(session, login)
    release_connection(session)
    try:
        if user is None:
            security.spend_verify_time(password)
            raise UnknownAccount()
        if not security.verify_password(user.password_hash, password):
            raise WrongPassword()
    except SignInBusy:
        throttle.not_checked(guess)
        raise
    throttle.succeeded(guess)
    if not user.is_active:
        raise AccountDisabled()
    if security.needs_rehash(user.password_hash):
        # Stronger settings since this hash was made; with the gate full, the next sign-in will.
        with suppress(SignInBusy):
            user.password_hash = security.hash_password(password)
    return user


def issue_access_token(security: Security, user: User) -> TokenRead:
    token, expires_in = security.issue_access_token(user.id)
    return TokenRead(access_token=token, expires_in=expires_in)


def _active(user: User | None, error: Exception) -> User:
    if user is None:
        raise error
    if not user.is_active:
        raise AccountDisabled()
    return user


def user_from_token(session: Session, security: Security, token: str) -> User:
    return _user_from_token(session, security, token)[0]


def _user_from_token(session: Session, security: Security, token: str) -> tuple[User, float]:
    user_id, expires = security.read_access_claims(token)
    user = _active(repository.get_user(session, user_id), InvalidToken())
    return user, expires - time.time()


def user_from_api_key(session: Session, security: Security, raw: str) -> User:
    return _user_from_api_key(session, security, raw)[0]


def _user_from_api_key(session: Session, security: Security, raw: str) -> tuple[User, float]:
    prefix = split_api_key(raw)
    key = repository.get_api_key_by_prefix(session, prefix) if prefix else None
    if key is None or key.revoked_at is not None or not api_key_matches(raw, key.key_hash):
        raise InvalidApiKey()
    user = _active(key.user, InvalidApiKey())
    now = utcnow()
    touch_after = timedelta(seconds=security.settings.api_key_touch_seconds)
    # Writing on every request would serialize readers on SQLite; a minute's staleness is fine.
    if key.last_used_at is None or now - key.last_used_at >= touch_after:
        key.last_used_at = now
    # A cached use writes nothing, so the entry ends when the next write of last_used_at is due.
    return user, (key.last_used_at + touch_after - now).total_seconds()


def cached_credential(session: Session, security: Security, raw: str) -> User | None:
    """The user behind ``raw`` if it was verified moments ago (see auth/cache.py), else None.

    No I/O: safe to call on the event loop.
    """
    cached = security.credentials.get(raw.strip())
    return attach(session, cached) if cached is not None else None


def cached_identity(security: Security, raw: str) -> User | None:
    """Like ``cached_credential`` without a session: the cached user itself, or None.

    Read-only: a detached copy shared by every request that presents ``raw``; read its columns
    (``id``, ``is_admin``...), never change it or add it to a session. No I/O, no merge.
    """
    return security.credentials.get(raw.strip())


def authenticate_credential(session: Session, security: Security, raw: str) -> User:
    """The user behind a bearer credential: a modelyard API key or a JWT access token."""
    raw = raw.strip()
    cache = security.credentials
    cached = cache.get(raw)
    if cached is not None:
        return attach(session, cached)
    generation = current_generation()
    # A lookup inside a transaction that already read or wrote may see an older snapshot.
    fresh = not session.in_transaction()
    if split_api_key(raw) is not None:
        user, lifetime = _user_from_api_key(session, security, raw)
    else:
        user, lifetime = _user_from_token(session, security, raw)
    if fresh:
        cache.put(raw, user, lifetime=lifetime, generation=generation)
    return user


def create_api_key(session: Session, user: User, name: str) -> tuple[ApiKey, str]:
    """A new key for ``user``; the secret is returned here and never again."""
    material = generate_api_key()
    key = ApiKey(user_id=user.id, name=name, prefix=material.prefix, key_hash=material.digest)
    repository.add(session, key)
    return key, material.key


def issue_sign_in_key(session: Session, user: User, name: str) -> str:
    """A fresh key for a client that signs in to get one (pycm-api's sign-in answers a key).

    Keys are stored hashed, so an old one cannot be shown again; the newest few are kept so
    that clients already holding one keep working.
    """
    _, secret = create_api_key(session, user, name)
    older = repository.active_keys_named(session, user.id, name)[SIGN_IN_KEYS_KEPT:]
    repository.revoke_keys(session, [key.id for key in older])
    return secret


def list_api_keys(session: Session, user: User) -> Sequence[ApiKey]:
    return repository.list_api_keys(session, user.id)


def revoke_api_key(session: Session, user: User, key_id: int) -> None:
    key = repository.get_api_key(session, user.id, key_id)
    if key is None:
        raise ApiKeyNotFound()
    if key.revoked_at is None:
        key.revoked_at = utcnow()


def key_prefixes(session: Session, users: Sequence[User]) -> dict[int, str]:
    return repository.latest_active_key_prefixes(session, [user.id for user in users])


def list_users(session: Session, *, limit: int, offset: int) -> tuple[Sequence[User], int]:
    return repository.list_users(session, limit=limit, offset=offset), repository.count_users(
        session
    )


def get_user(session: Session, user_id: int) -> User:
    user = repository.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    return user


def update_user(
    session: Session,
    actor: User,
    user_id: int,
    *,
    is_active: bool | None = None,
    role: str | None = None,
) -> User:
    user = get_user(session, user_id)
    if user.id == actor.id and (is_active is False or (role is not None and role != Role.ADMIN)):
        raise CannotChangeOwnAccount()
    if is_active is not None:
        user.is_active = is_active
    if role is not None:
        user.role = role
    session.flush()
    return user


# The files the domains keep for what a user owns (model files, reports, datasets). The rows
# go with the user by the foreign keys' cascade; the files are named here, before the rows are
# gone, and deleted once the deletion is committed.
OwnerFiles = Callable[[Session, int], list[str]]
_owner_files: dict[str, OwnerFiles] = {}


def on_user_delete(domain: str, files: OwnerFiles) -> None:
    """Have ``files(session, user_id)`` name a domain's files to delete with a user."""
    _owner_files[domain] = files


def delete_user(session: Session, actor: User, user_id: int, store: ArtifactStore) -> None:
    """Delete the user, everything they own, and (once committed) its stored files."""
    user = get_user(session, user_id)
    if user.id == actor.id:
        raise CannotChangeOwnAccount()
    keys = sorted({key for files in _owner_files.values() for key in files(session, user.id)})
    session.delete(user)
    session.flush()
    after_commit(session, partial(delete_quietly, store, keys))


def ensure_admin(
    session: Session,
    security: Security,
    *,
    password: str,
    email: str | None = None,
    username: str | None = None,
    any_username: bool = False,
) -> User:
    """Make sure an active admin with this login and password exists; returns it."""
    user = None
    if email is not None:
        user = repository.get_user_by_email(session, normalize_email(email))
    if user is None and username is not None:
        user = repository.get_user_by_username(session, username)
    if user is None:
        return sign_up(
            session,
            security,
            password=password,
            email=email,
            username=username,
            role=Role.ADMIN,
            any_username=any_username,
        )
    user.role = Role.ADMIN
    user.is_active = True
    if not security.verify_password(user.password_hash, password):
        check_password_rules(password, security.settings)
        user.password_hash = security.hash_password(password)
    session.flush()
    return user


def ensure_service_account(session: Session, security: Security, username: str) -> User:
    """The account ``username`` (an e-mail when it has '@'), created when missing with a random
    password nobody is told: it owns what the operator registers from the command line, and
    nobody signs in as it until ``modelyard create-admin`` gives it a password."""
    user = find_by_login(session, username)
    if user is not None:
        return user
    email, name = (username, None) if "@" in username else (None, username)
    return sign_up(
        session, security, password=secrets.token_urlsafe(32), email=email, username=name
    )


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValueError:  # pydantic's PydanticCustomError
        return False
    return True


def ensure_bootstrap_admins(session: Session, security: Security, settings: AuthSettings) -> None:
    """Create or update the admin named in the settings, if any."""
    if settings.admin_password is None:
        if settings.admin_email or settings.admin_username:
            log.warning("an admin login is set but no admin password; no admin was created")
        return
    if settings.admin_email is None and settings.admin_username is None:
        log.warning("an admin password is set but no admin e-mail or username")
        return
    username = settings.admin_username
    email = settings.admin_email
    if username is not None and email is None and _is_email(username):
        # pycm-api's PYCM_API_ADMIN may be an e-mail address.
        email, username = username, None
    ensure_admin(
        session,
        security,
        password=settings.admin_password.get_secret_value(),
        email=email,
        username=username,
        any_username=True,
    )
