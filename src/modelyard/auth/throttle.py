"""Sign-in guesses counted before they are checked, per account and client address.

OWASP's advice against lockout abuse: a count per account alone lets anyone lock the owner out
(five wrong guesses from anywhere and the right password is refused). So a guess is counted:

- per (account, client address): ``login_max_failures`` (5) in ``login_lockout_seconds`` (15
  minutes); the attacker's pair is throttled, the owner's pair from another address is not;
- per client address, any account: ``login_max_failures_per_address`` (password spraying);
- per account, every address together: ``login_max_failures_per_account``, much higher than the
  pair's (distributed guessing); an address that signed in to the account before (within
  ``login_known_address_days``) is not held by it, so the owner still gets in.

Each count is raised atomically (Redis INCR, a database upsert, a locked dict: see ``kv.py``)
*before* the password is checked, so parallel guesses cannot all pass a check made before any of
them is counted. A guess refused by one count does not raise the next ones. A success clears its
pair's count and gives back what it added to the others, which thus count failures only; a guess
that was never checked (the hashing was too busy) is given back too.

The client address comes from ``client_address``: the socket's peer, or with trusted proxies
named, the right-most address of ``X-Forwarded-For`` that is not one of them.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from modelyard.auth.exceptions import LoginThrottled
from modelyard.config import AuthSettings
from modelyard.kv import EphemeralStore

__all__ = ["Guess", "LoginThrottle", "client_address"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAX_ADDRESS = 64  # a forwarded value is the client's to choose: keep keys short


def _digest(*parts: str) -> str:
    # Hashed, so the store never holds e-mail addresses or client addresses in clear.
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Guess:
    """One counted sign-in attempt: the keys it raised."""

    pair: str
    known: str
    raised: tuple[str, ...]


class LoginThrottle:
    """The sign-in counts of one client address."""

    def __init__(self, store: EphemeralStore, settings: AuthSettings, client: str) -> None:
        self._store = store
        self._settings = settings
        self.client = client

    def _refuse(self, key: str) -> LoginThrottled:
        retry_after = self._store.ttl(key) or self._settings.login_lockout_seconds
        return LoginThrottled(headers={"Retry-After": str(retry_after)})

    def attempt(self, login: str) -> Guess:
        """Count a guess at ``login`` from this client; ``LoginThrottled`` (429) beyond a limit.

        Called before the password is checked; pass what it returns to ``succeeded`` or
        ``not_checked``.
        """
        settings, window = self._settings, self._settings.login_lockout_seconds
        account = _digest(login.strip().lower())
        pair = "login-pair:" + _digest(account, self.client)
        known = "login-known:" + _digest(account, self.client)
        if self._store.incr(pair, window) > settings.login_max_failures:
            raise self._refuse(pair)
        address = "login-address:" + _digest(self.client)
        if self._store.incr(address, window) > settings.login_max_failures_per_address:
            raise self._refuse(address)
        per_account = "login-account:" + account
        over = self._store.incr(per_account, window) > settings.login_max_failures_per_account
        if over and self._store.get_bytes(known) is None:
            raise self._refuse(per_account)
        return Guess(pair=pair, known=known, raised=(address, per_account))

    def succeeded(self, guess: Guess) -> None:
        """The password was right: forget this pair's failures, give back the guess, and
        remember the address as one the owner uses."""
        self._store.delete(guess.pair)
        self._give_back(guess.raised)
        days = self._settings.login_known_address_days
        if days > 0:
            self._store.set_bytes(guess.known, b"1", days * 86_400)

    def not_checked(self, guess: Guess) -> None:
        """The password was never checked (no hashing slot): the guess does not count."""
        self._give_back((guess.pair, *guess.raised))

    def _give_back(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._store.incr(key, self._settings.login_lockout_seconds, amount=-1)


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _is_trusted(address: str, networks: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[str]) -> str:
    """The address a sign-in is counted against.

    The socket's ``peer``, unless it is one of the ``trusted`` proxies: then the right-most
    ``X-Forwarded-For`` entry that is not a trusted proxy (entries to its left were written by
    the client and may be anything). Without trusted proxies the header is ignored.
    """
    peer = peer or "unknown"
    networks = _networks(tuple(trusted))
    if not networks or not _is_trusted(peer, networks):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return hop[:_MAX_ADDRESS]
    return hops[0][:_MAX_ADDRESS] if hops else peer
