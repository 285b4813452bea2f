"""The model cache: load once, share between threads, evict the least recently used."""

from __future__ import annotations

import threading
import time
from typing import Any

from modelyard.registry.loaders import ModelRuntime
from modelyard.registry.schemas import ServingTarget
from modelyard.serving.cache import ModelCache
from tests.serving.helpers import serving_target


def target(version_id: int) -> ServingTarget:
    return serving_target(
        version_id=version_id,
        version=version_id,
        classes=None,
        artifact_key="models/x",
        sha256=str(version_id),
    )


def test_least_recently_used_is_evicted() -> None:
    loaded: list[int] = []

    def load(t: ServingTarget) -> Any:
        loaded.append(t.version_id)
        return object()

    cache = ModelCache(2, load)
    cache.get(target(1))
    cache.get(target(2))
    cache.get(target(1))  # 1 is now the most recent
    cache.get(target(3))  # evicts 2
    assert cache.peek(target(2)) is None
    assert cache.peek(target(1)) is not None
    cache.get(target(2))
    assert loaded == [1, 2, 3, 2]
    assert len(cache) == 2


def test_concurrent_first_requests_load_once() -> None:
    calls = 0

    def slow_load(t: ServingTarget) -> ModelRuntime:
        nonlocal calls
        calls += 1
        time.sleep(0.1)
        return object()  # type: ignore[return-value]

    cache = ModelCache(4, slow_load)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(target(1)))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == 1
    assert len({id(r) for r in results}) == 1


def test_a_pinned_model_is_never_evicted_nor_reloaded() -> None:
    loaded: list[int] = []

    def load(t: ServingTarget) -> Any:
        loaded.append(t.version_id)
        return object()

    cache = ModelCache(1, load)
    pinned: Any = object()
    cache.pin(target(7), pinned)
    for version in (1, 2, 3):  # each evicts the one before it, never the pinned one
        cache.get(target(version))
    cache.clear()
    assert cache.get(target(7)) is pinned
    assert cache.peek(target(7)) is pinned
    assert loaded == [1, 2, 3]
    assert len(cache) == 1
