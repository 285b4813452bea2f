"""Short-lived shared state (counters, results with a time to live).

In-process by default; Redis when a broker URL is set, so every replica sees the same values.
Sign-in throttling and async prediction results (``serving/results.py``) use it.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

__all__ = ["EphemeralStore", "MemoryStore", "RedisStore", "build_store"]


class EphemeralStore(Protocol):
    def incr(self, key: str, ttl_seconds: int) -> int:
        """Add one to a counter; the counter expires ``ttl_seconds`` after its first increment."""
        ...

    def get_int(self, key: str) -> int: ...

    def ttl(self, key: str) -> int:
        """Seconds until ``key`` expires (0 when absent)."""
        ...

    def delete(self, key: str) -> None: ...

    def set_bytes(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_seconds``, replacing what was there."""
        ...

    def get_bytes(self, key: str) -> bytes | None:
        """The live value stored by ``set_bytes``, or None."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """A dict with expiry times, safe across threads of one process."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, float]] = {}
        self._blobs: dict[str, tuple[bytes, float]] = {}

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._values.get(key)
        if entry is not None and entry[1] <= self._clock():
            del self._values[key]
            return None
        return entry

    def incr(self, key: str, ttl_seconds: int) -> int:
        with self._lock:
            entry = self._live(key)
            if entry is None:
                entry = (0, self._clock() + ttl_seconds)
            value = entry[0] + 1
            self._values[key] = (value, entry[1])
            return value

    def get_int(self, key: str) -> int:
        with self._lock:
            entry = self._live(key)
            return 0 if entry is None else entry[0]

    def ttl(self, key: str) -> int:
        with self._lock:
            entry = self._live(key)
            return 0 if entry is None else max(1, int(entry[1] - self._clock() + 0.999))

    def delete(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)
            self._blobs.pop(key, None)

    def set_bytes(self, key: str, value: bytes, ttl_seconds: float) -> None:
        with self._lock:
            now = self._clock()
            self._blobs[key] = (value, now + ttl_seconds)
            # Swept now and then, so ids nobody fetches do not pile up.
            if len(self._blobs) % 1024 == 0:
                for stale in [k for k, (_, end) in self._blobs.items() if end <= now]:
                    del self._blobs[stale]

    def get_bytes(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._blobs.get(key)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._blobs[key]
                return None
            return entry[0]

    def close(self) -> None:
        with self._lock:
            self._values.clear()
            self._blobs.clear()


class RedisStore:
    """The same operations on Redis, with keys under one prefix."""

    def __init__(self, url: str, prefix: str = "modelyard:") -> None:
        import redis  # the scale-out extra; only needed when a broker URL is set

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix

    def incr(self, key: str, ttl_seconds: int) -> int:
        name = self._prefix + key
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, ttl_seconds, nx=True)
        value, _ = pipe.execute()
        return int(value)

    def get_int(self, key: str) -> int:
        value = self._redis.get(self._prefix + key)
        return int(value) if value is not None else 0

    def ttl(self, key: str) -> int:
        value = int(self._redis.ttl(self._prefix + key))
        return max(value, 0)

    def delete(self, key: str) -> None:
        self._redis.delete(self._prefix + key)

    def set_bytes(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._redis.set(self._prefix + key, value, px=max(1, int(ttl_seconds * 1000)))

    def get_bytes(self, key: str) -> bytes | None:
        value = self._redis.get(self._prefix + key)
        return value if isinstance(value, bytes) else None

    def close(self) -> None:
        self._redis.close()


def build_store(broker_url: str | None, prefix: str = "modelyard:") -> EphemeralStore:
    if broker_url and broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(broker_url, prefix)
    return MemoryStore()
