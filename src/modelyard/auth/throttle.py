"""Failed sign-ins counted per account, in the shared ephemeral store."""

from __future__ import annotations

import hashlib

from modelyard.auth.exceptions import LoginThrottled
from modelyard.kv import EphemeralStore

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """After ``max_failures`` failures within ``window_seconds``, the account is locked until the
    window ends; a success clears the count."""

    def __init__(self, store: EphemeralStore, max_failures: int, window_seconds: int) -> None:
        self._store = store
        self._max = max_failures
        self._window = window_seconds

    @staticmethod
    def _key(login: str) -> str:
        # Hashed, so the store never holds e-mail addresses in clear.
        return "login-failures:" + hashlib.sha256(login.strip().lower().encode()).hexdigest()

    def check(self, login: str) -> None:
        key = self._key(login)
        if self._store.get_int(key) >= self._max:
            retry_after = self._store.ttl(key) or self._window
            raise LoginThrottled(headers={"Retry-After": str(retry_after)})

    def failed(self, login: str) -> None:
        self._store.incr(self._key(login), self._window)

    def succeeded(self, login: str) -> None:
        self._store.delete(self._key(login))
