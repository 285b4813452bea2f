"""Verified credentials kept for a few seconds, so a signed-in request need not ask the database.

An entry maps the SHA-256 digest of a credential that was verified (an API key or a JWT) to a
detached copy of its user; a request that presents the same credential again gets that copy
merged into its session without a query.

When an entry stops being served:

- **in this process, at once**: any flush that changes or deletes a user, or changes (other than
  its ``last_used_at``) or deletes an API key, and any bulk UPDATE or DELETE of either table
  through the ORM, moves a process-wide generation on, at the flush and again when the
  transaction commits. An entry from an older generation is never served, and a lookup that
  began before the move is not stored, so a revoked key, a disabled, deleted or demoted user
  and a changed password are refused by the next request;
- **in another process** (another replica, a CLI command next to the server): entries live at
  most ``MODELYARD_AUTH_CREDENTIAL_CACHE_SECONDS`` (5 s by default; 0 turns the cache off), so
  a change made there is seen here within that bound;
- a JWT's entry never outlives the token's ``exp``, and an API key's entry ends when the key's
  ``last_used_at`` is due to be rewritten, so that write still happens.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, make_transient_to_detached

from modelyard.auth.models import ApiKey, User

__all__ = ["CredentialCache", "current_generation", "invalidate_all"]

_CHANGED = "modelyard.auth_changed"
# An API key's own bookkeeping, written on use: it changes nothing about who may sign in.
_KEY_BOOKKEEPING = frozenset({"last_used_at"})

_generation_lock = threading.Lock()
_generation = 0


def current_generation() -> int:
    return _generation


def invalidate_all() -> None:
    """Stop serving every entry cached so far, in every cache of this process."""
    global _generation
    with _generation_lock:
        _generation += 1


@dataclass(frozen=True, slots=True)
class _Entry:
    user: User  # detached: never added to a session, only merged into one
    expires: float  # on the cache's clock (time.monotonic)
    generation: int


class CredentialCache:
    """Digest of a credential -> a detached copy of its user, for ``ttl_seconds`` at most."""

    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[bytes, _Entry] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    @staticmethod
    def digest(raw: str) -> bytes:
        return hashlib.sha256(raw.encode()).digest()

    def get(self, raw: str) -> User | None:
        """The cached user of this credential (detached), or None."""
        if not self.enabled:
            return None
        digest = self.digest(raw)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.generation != _generation or entry.expires <= self.clock():
            with self._lock:
                if self._entries.get(digest) is entry:
                    del self._entries[digest]
            return None
        return entry.user

    def put(self, raw: str, user: User, *, lifetime: float, generation: int) -> None:
        """Keep ``user`` for ``raw`` for ``lifetime`` seconds (capped by the TTL).

        ``generation`` is ``current_generation()`` read before the user was looked up: when
        credentials changed since, what was read may be stale and is not kept.
        """
        lifetime = min(lifetime, self.ttl_seconds)
        if not self.enabled or lifetime <= 0:
            return
        entry = _Entry(detached_copy(user), self.clock() + lifetime, generation)
        with self._lock:
            if generation != _generation:
                return
            if len(self._entries) >= self.max_entries:
                self._evict()
            self._entries[self.digest(raw)] = entry

    def _evict(self) -> None:
        now = self.clock()
        stale = [
            d for d, e in self._entries.items() if e.generation != _generation or e.expires <= now
        ]
        for digest in stale:
            del self._entries[digest]
        # Still full: drop the oldest tenth (dicts keep insertion order).
        overflow = len(self._entries) - self.max_entries + 1
        if overflow > 0:
            for digest in list(self._entries)[: max(overflow, self.max_entries // 10)]:
                del self._entries[digest]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_USER_COLUMNS = tuple(attr.key for attr in inspect(User).column_attrs)


def detached_copy(user: User) -> User:
    """A copy of ``user``'s columns that belongs to no session, as if freshly loaded."""
    copy = User(**{key: getattr(user, key) for key in _USER_COLUMNS})
    make_transient_to_detached(copy)
    return copy


def attach(session: Session, cached: User) -> User:
    """``cached`` as an object of ``session``, without a query (it was read moments ago)."""
    return session.merge(cached, load=False)


# --- invalidation ---------------------------------------------------------------------------


def _changes_credentials(session: Session) -> bool:
    for obj in session.deleted:
        if isinstance(obj, (User, ApiKey)):
            return True
    for obj in session.dirty:
        if isinstance(obj, User) and session.is_modified(obj):
            return True
        if isinstance(obj, ApiKey):
            state = inspect(obj)
            changed = {a.key for a in state.attrs if a.history.has_changes()}
            if changed - _KEY_BOOKKEEPING:
                return True
    return False


def _mark_changed(session: Session) -> None:
    session.info[_CHANGED] = True
    invalidate_all()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    # new/dirty/deleted still show what this flush wrote.
    if _changes_credentials(session):
        _mark_changed(session)


@event.listens_for(Session, "do_orm_execute")
def _on_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    if any(mapper.class_ in (User, ApiKey) for mapper in state.all_mappers):
        _mark_changed(state.session)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Again once the change is visible: a lookup that read the old rows between the flush and
    # the commit stored its entry under the generation of the flush, which this ends.
    if session.info.pop(_CHANGED, False):
        invalidate_all()
