"""Loaded models, kept per process and evicted least-recently-used by count.

A model is loaded once: concurrent first requests for the same version wait for one load
instead of each loading it. A runtime that holds processes (``close``: a user's model in its
model workers) is closed when it is evicted, cleared, or the cache is closed at shutdown.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from modelyard.registry.loaders import ModelRuntime
from modelyard.registry.schemas import ServingTarget

__all__ = ["ModelCache"]

CacheKey = tuple[int, str, bool]


def _key(target: ServingTarget) -> CacheKey:
    # The digest too: a version id reused after a database reset never serves a stale file;
    # and where it runs, so an admin's in-process choice takes effect at the next load.
    return (target.version_id, target.sha256, target.isolated)


def _close(runtimes: list[ModelRuntime]) -> None:
    for runtime in runtimes:
        close = getattr(runtime, "close", None)
        if callable(close):
            close()


class ModelCache:
    def __init__(self, capacity: int, loader: Callable[[ServingTarget], ModelRuntime]) -> None:
        self.capacity = capacity
        self._loader = loader
        self._lock = threading.Lock()
        self._items: OrderedDict[CacheKey, ModelRuntime] = OrderedDict()
        self._loading: dict[CacheKey, threading.Lock] = {}
        # Models the cache must never evict nor reload (an operator's pickle served by
        # ``modelyard serve --model``: the loader would refuse to load it again).
        self._pinned: dict[CacheKey, ModelRuntime] = {}
        self.loads = 0

    def peek(self, target: ServingTarget) -> ModelRuntime | None:
        """The loaded model, or None; never loads (safe on the event loop)."""
        key = _key(target)
        with self._lock:
            pinned = self._pinned.get(key)
            if pinned is not None:
                return pinned
            runtime = self._items.get(key)
            if runtime is not None:
                self._items.move_to_end(key)
            return runtime

    def get(self, target: ServingTarget) -> ModelRuntime:
        """The loaded model, loading it first if needed (blocks: call from a worker thread)."""
        runtime = self.peek(target)
        if runtime is not None:
            return runtime
        key = _key(target)
        with self._lock:
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            runtime = self.peek(target)
            if runtime is None:
                runtime = self._loader(target)
                self.put(target, runtime)
                self.loads += 1
        with self._lock:
            self._loading.pop(key, None)
        return runtime

    def pin(self, target: ServingTarget, runtime: ModelRuntime) -> None:
        """Keep ``runtime`` for ``target`` for the life of the process: never evicted, never
        reloaded, outside the capacity."""
        with self._lock:
            self._pinned[_key(target)] = runtime

    def put(self, target: ServingTarget, runtime: ModelRuntime) -> None:
        evicted = []
        with self._lock:
            old = self._items.get(_key(target))
            if old is not None and old is not runtime:
                evicted.append(old)
            self._items[_key(target)] = runtime
            self._items.move_to_end(_key(target))
            while len(self._items) > self.capacity:
                evicted.append(self._items.popitem(last=False)[1])
        # A request may still hold an evicted runtime: a process runtime ends its busy
        # workers when they answer.
        _close(evicted)

    def runtimes(self) -> list[ModelRuntime]:
        """The loaded models (tests, operators: a model worker's pids)."""
        with self._lock:
            return [*self._items.values(), *self._pinned.values()]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items) + len(self._pinned)

    def clear(self) -> None:
        """Forget the loaded models (the pinned ones stay)."""
        with self._lock:
            evicted = list(self._items.values())
            self._items.clear()
        _close(evicted)

    def close(self) -> None:
        """Forget every model, the pinned ones too, and stop their worker processes."""
        with self._lock:
            evicted = [*self._items.values(), *self._pinned.values()]
            self._items.clear()
            self._pinned.clear()
        _close(evicted)
