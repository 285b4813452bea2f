"""Password hashing (argon2id), JWT access tokens (HS256 only) and API key material."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from modelyard.auth.cache import CredentialCache
from modelyard.auth.exceptions import InvalidToken, SignInBusy
from modelyard.config import AuthSettings
from modelyard.db import utcnow

__all__ = [
    "API_KEY_MARK",
    "ApiKeyMaterial",
    "HashGate",
    "Security",
    "api_key_matches",
    "digest_api_key",
    "generate_api_key",
    "split_api_key",
]

JWT_ALGORITHM = "HS256"
API_KEY_MARK = "mdy"


class HashGate:
    """At most ``slots`` password hashes at once in this process; up to ``queue`` more callers
    wait for one, each for ``wait_seconds`` at most; anyone else gets ``SignInBusy`` at once.

    An argon2 hash takes its memory (64 MiB by default) and a CPU for its duration: unbounded,
    a burst of sign-ins took the memory and starved every other request. The waiting room is
    bounded too, because each waiter holds a worker thread that other requests need.
    """

    def __init__(self, slots: int, queue: int, wait_seconds: float) -> None:
        self.slots = slots
        self.queue = queue
        self.wait_seconds = wait_seconds
        self._running = 0
        self._waiting = 0
        self._cond = threading.Condition()

    @property
    def retry_after(self) -> str:
        return str(max(1, math.ceil(self.wait_seconds)))

    def _busy(self) -> SignInBusy:
        return SignInBusy(headers={"Retry-After": self.retry_after})

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            if self._running >= self.slots:
                if self._waiting >= self.queue:
                    raise self._busy()
                self._waiting += 1
                try:
                    free = self._cond.wait_for(
                        lambda: self._running < self.slots, timeout=self.wait_seconds
                    )
                finally:
                    self._waiting -= 1
                if not free:
                    raise self._busy()
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify()


class Security:
    """The service's secrets and the operations that need them.

    Hashing and verifying a password are slow on purpose: callers must not hold a database
    connection across them (see ``auth.service``), and they pass through ``hash_gate``.
    """

    def __init__(self, secret_key: str, settings: AuthSettings) -> None:
        self._secret = secret_key
        self.settings = settings
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self.hash_gate = HashGate(
            settings.hash_slots, settings.hash_waiting, settings.hash_wait_seconds
        )
        # Verified against when the account does not exist, so that an unknown account and a
        # wrong password take the same time.
        self._decoy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self.credentials = CredentialCache(settings.credential_cache_seconds)

    def hash_password(self, password: str) -> str:
        """The argon2id hash of ``password``; ``SignInBusy`` when too many are being computed."""
        with self.hash_gate.slot():
            return self._hasher.hash(password)

    def verify_password(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches; ``SignInBusy`` when too many hashes are being computed."""
        with self.hash_gate.slot():
            try:
                return self._hasher.verify(password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def spend_verify_time(self, password: str) -> None:
        self.verify_password(self._decoy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def issue_access_token(self, user_id: int) -> tuple[str, int]:
        lifetime = timedelta(minutes=self.settings.access_token_minutes)
        now = utcnow()
        claims = {"sub": str(user_id), "iat": now, "exp": now + lifetime, "typ": "access"}
        token = jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM)
        return token, int(lifetime.total_seconds())

    def read_access_token(self, token: str) -> int:
        """The user id in a valid token; ``InvalidToken`` for anything else."""
        return self.read_access_claims(token)[0]

    def read_access_claims(self, token: str) -> tuple[int, float]:
        """The user id and the expiry (Unix time) of a valid token; ``InvalidToken`` otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],  # pinned: 'none' and RS/HS confusion are refused
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken() from exc
        if claims.get("typ") != "access":
            raise InvalidToken()
        try:
            return int(claims["sub"]), float(claims["exp"])
        except (TypeError, ValueError) as exc:
            raise InvalidToken() from exc


@dataclass(frozen=True)
class ApiKeyMaterial:
    key: str  # shown to the user once
    prefix: str  # public, stored, used to find the row
    digest: str  # stored


def digest_api_key(key: str) -> str:
    # A key holds 256 random bits, so one fast hash is as safe as a slow one and keeps
    # every authenticated request cheap.
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key() -> ApiKeyMaterial:
    prefix = secrets.token_hex(6)
    key = f"{API_KEY_MARK}_{prefix}_{secrets.token_urlsafe(32)}"
    return ApiKeyMaterial(key=key, prefix=prefix, digest=digest_api_key(key))


def split_api_key(raw: str) -> str | None:
    """The prefix of something shaped like a modelyard API key, else None."""
    mark, _, rest = raw.partition("_")
    prefix, _, secret = rest.partition("_")
    if mark != API_KEY_MARK or len(prefix) != 12 or not secret:
        return None
    return prefix


def api_key_matches(raw: str, digest: str) -> bool:
    return hmac.compare_digest(digest_api_key(raw), digest)
