"""Which version a predict request names, kept for a moment so most requests ask no database.

A predict request names a model and maybe a version or alias; resolving that costs two or
three queries (the model with its aliases, the version). The answer, a ``ServingTarget``, is
kept per (caller, admin or not, name, version, owner) for ``ttl_seconds`` (2 s by default,
``MODELYARD_SERVING_TARGET_CACHE_SECONDS``; 0 turns it off).

When an entry stops being served:

* **in this process, at once**: any flush that adds, changes or deletes a registered model, a
  version, an alias or a user (uploads, deletes, aliases, serving options) moves a process-wide
  generation on, at the flush and again at the commit; entries of an older generation are never
  served, and a lookup that began before a move is not stored;
* **in another process** (another replica): after at most ``ttl_seconds``.

Who may see what is not cached here: the caller is authenticated on every request (by auth),
and the key holds the caller's id and whether they are an admin.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.registry.models import ModelAlias, ModelVersion, RegisteredModel
from modelyard.registry.schemas import ServingTarget

__all__ = ["TargetCache", "TargetKey", "current_generation"]

TargetKey = tuple[int, bool, str, str | None, int | None]
# Users too: deleting one deletes their models in the database (ON DELETE CASCADE), unseen here.
_REGISTRY_TYPES = (RegisteredModel, ModelVersion, ModelAlias, User)
_CHANGED = "modelyard.registry_changed"

_lock = threading.Lock()
_generation = 0


def current_generation() -> int:
    return _generation


def _move_on() -> None:
    global _generation
    with _lock:
        _generation += 1


def _touches_registry(session: Session) -> bool:
    return any(
        isinstance(item, _REGISTRY_TYPES)
        for group in (session.new, session.dirty, session.deleted)
        for item in group
    )


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    if _touches_registry(session):
        session.info[_CHANGED] = True
        _move_on()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Again at the commit: a lookup between the flush and the commit may have read the old rows.
    if session.info.pop(_CHANGED, False):
        _move_on()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_CHANGED, None)


class TargetCache:
    def __init__(self, ttl_seconds: float, capacity: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.capacity = capacity
        self._items: OrderedDict[TargetKey, tuple[ServingTarget, float, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: TargetKey, *, count_miss: bool = True) -> ServingTarget | None:
        """The cached target, or None (no I/O: safe on the event loop).

        ``count_miss=False``: a caller that asks again on a miss (the hot path, before the
        route) does not count it twice.
        """
        if self.ttl_seconds <= 0:
            return None
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                self.misses += count_miss
                return None
            target, expires, generation = entry
            if expires <= time.monotonic() or generation != _generation:
                del self._items[key]
                self.misses += count_miss
                return None
            self.hits += 1
            return target

    def put(self, key: TargetKey, target: ServingTarget, generation: int) -> None:
        """Keep ``target``, looked up while ``generation`` was current (else it is dropped)."""
        if self.ttl_seconds <= 0 or generation != _generation:
            return
        with self._lock:
            self._items[key] = (target, time.monotonic() + self.ttl_seconds, generation)
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
